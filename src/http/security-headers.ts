import type { FastifyInstance } from 'fastify'
import { PUBLIC_PATHS } from './cors.js'

/**
 * Headers for a JSON API that no browser should render, frame or sniff. No HTML is ever served, so the strictest
 * CSP costs nothing. Only the public documents may be loaded by other sites' pages without CORS
 * (Cross-Origin-Resource-Policy). HSTS only when the issuer is https: a development issuer on http://localhost
 * must not pin itself to https.
 */
export function registerSecurityHeaders(app: FastifyInstance, issuer: string): void {
  const common: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    ...(issuer.startsWith('https:') ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  }
  const publicHeaders = { ...common, 'cross-origin-resource-policy': 'cross-origin' }
  const privateHeaders = { ...common, 'cross-origin-resource-policy': 'same-origin' }
  app.addHook('onRequest', (request, reply, done) => {
    void reply.headers(PUBLIC_PATHS.has(request.routeOptions.url ?? '') ? publicHeaders : privateHeaders)
    done()
  })
}
