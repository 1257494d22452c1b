import type { FastifyInstance, FastifyRequest } from 'fastify'
import cors, { type FastifyCorsOptions } from '@fastify/cors'
import { PATHS } from '../oauth.js'

/** Public documents any page may read: keys, metadata, the API description. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set([PATHS.jwks, PATHS.openidConfiguration, PATHS.oauthMetadata, PATHS.openapi])
/** What a browser client (an SPA, cookie mode) calls: sign in, refresh, sign out, revoke. Never /introspect. */
const BROWSER_PATHS: ReadonlySet<string> = new Set([PATHS.token, PATHS.signOut, PATHS.revoke])

const PUBLIC: FastifyCorsOptions = { origin: '*', methods: ['GET', 'HEAD'], allowedHeaders: ['if-none-match'], maxAge: 86_400 }
const NONE: FastifyCorsOptions = { origin: false }

/**
 * CORS only where it is useful. JWKS and discovery: any origin, no credentials. `/token`, `/token/sign-out` and
 * `/revoke`: only the origins in KEYTURN_CORS_ORIGINS, with credentials (the refresh cookie); an unlisted origin
 * gets no CORS headers at all, so its page cannot read a response. Everything else: none.
 */
export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  const allowed = new Set(origins)
  const browser: FastifyCorsOptions = {
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['POST'],
    allowedHeaders: ['content-type'],
    exposedHeaders: ['retry-after', 'www-authenticate'],
    credentials: true,
    maxAge: 600,
  }
  void app.register(cors, {
    hideOptionsRoute: true,
    // The preflight path is the resource's own path (an OPTIONS request matches no route of ours).
    delegator: (request: FastifyRequest, callback) => {
      const path = request.url.split('?')[0] ?? ''
      callback(null, PUBLIC_PATHS.has(path) ? PUBLIC : BROWSER_PATHS.has(path) && allowed.size > 0 ? browser : NONE)
    },
  })
}
