import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidRequest } from '../errors.js'
import { PATHS, REFRESH_COOKIE } from '../oauth.js'
import type { ClientRecord } from '../clients/client.js'

/**
 * Cookie mode for browser clients: the refresh token lives in an HttpOnly, Secure, SameSite=Strict cookie scoped to
 * the token endpoint path, out of reach of page scripts. A request that authenticates with that cookie must come
 * from one of the client's registered origins: SameSite=Strict is the first CSRF defence, the `Origin` check the
 * second (browsers always send `Origin` on a POST).
 */
export function refreshFromCookie(request: FastifyRequest, client: ClientRecord): string | undefined {
  if (!client.refreshCookie) return undefined
  // Parsed here, the one place a cookie is read, rather than by a hook on every request.
  const header = request.headers.cookie
  const token = header === undefined ? undefined : request.server.parseCookie(header)[REFRESH_COOKIE]
  if (token === undefined) return undefined
  const origin = request.headers.origin
  if (origin === undefined || !(client.origins ?? []).includes(origin)) {
    throw new InvalidRequest('cookie-authenticated requests must come from a registered origin of this client')
  }
  return token
}

export function setRefreshCookie(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
  void reply.setCookie(REFRESH_COOKIE, token, { httpOnly: true, secure: true, sameSite: 'strict', path: PATHS.token, maxAge: maxAgeSeconds })
}

export function clearRefreshCookie(reply: FastifyReply): void {
  void reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, secure: true, sameSite: 'strict', path: PATHS.token })
}
