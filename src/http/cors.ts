import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../oauth.js'

/** Public documents any page may read: keys, metadata, the API description. Their routes send `*` themselves. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set([PATHS.jwks, PATHS.openidConfiguration, PATHS.oauthMetadata, PATHS.openapi])
/** What a browser client (an SPA, cookie mode) calls: sign in, refresh, sign out, revoke. Never /introspect. */
const BROWSER_PATHS: ReadonlySet<string> = new Set([PATHS.token, PATHS.signOut, PATHS.revoke])

const PUBLIC_PREFLIGHT = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD',
  'access-control-allow-headers': 'if-none-match',
  'access-control-max-age': '86400',
}
const BROWSER_PREFLIGHT = {
  'access-control-allow-credentials': 'true',
  'access-control-allow-methods': 'POST',
  'access-control-allow-headers': 'content-type',
  'access-control-max-age': '600',
}
const BROWSER_RESPONSE = { 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'retry-after, www-authenticate' }

/**
 * CORS only where it is useful, and only on those routes, so no other request pays for it.
 * - JWKS, discovery, /openapi.json: any origin, no credentials (the routes send `*`; preflights answered here).
 * - /token, /token/sign-out, /revoke: only the origins in KEYTURN_CORS_ORIGINS, echoed back, with credentials (the
 *   refresh cookie). An unlisted origin gets no CORS headers at all, so its page cannot read a response.
 * - Everything else, /introspect included: none; a preflight there is a 404.
 * Written here rather than with @fastify/cors: its hook runs on every request, which measurably slowed the JWKS
 * route (see docs/performance.md), for a policy this small.
 */
export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  const allowed = new Set(origins)
  const grant = (request: FastifyRequest, reply: FastifyReply, headers: Record<string, string>): void => {
    void reply.header('vary', 'Origin')
    const origin = request.headers.origin
    if (origin !== undefined && allowed.has(origin)) void reply.header('access-control-allow-origin', origin).headers(headers)
  }

  for (const path of PUBLIC_PATHS) {
    app.options(path, { schema: { hide: true } }, async (_request, reply) => reply.code(204).headers(PUBLIC_PREFLIGHT).send())
  }
  if (allowed.size === 0) return
  for (const path of BROWSER_PATHS) {
    app.options(path, { schema: { hide: true } }, async (request, reply) => {
      grant(request, reply, BROWSER_PREFLIGHT)
      return reply.code(204).send()
    })
  }
  app.addHook('onRoute', (route) => {
    if (!BROWSER_PATHS.has(route.url) || ![route.method].flat().includes('POST')) return
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat()
    route.onRequest = [...own, (request, reply, done) => {
      grant(request, reply, BROWSER_RESPONSE)
      done()
    }]
  })
}
