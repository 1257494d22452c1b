import type { FastifyInstance, FastifyRequest } from 'fastify'
import { InvalidRequest } from '../errors.js'
import { PATHS, TOKEN_HINT } from '../oauth.js'
import type { AuthenticatedClient } from '../clients/authenticate.js'
import { single, type FormBody } from '../form-body.js'
import { hashRefreshToken, looksLikeRefreshToken } from '../tokens/refresh-token.js'
import type { AppDeps, RouteServices } from '../app.js'
import { clearRefreshCookie, refreshFromCookie } from './cookie-mode.js'
import { CLIENT_AUTH_METHODS, REFRESH_COOKIE_PARAM, REVOKE_FORM, REVOKE_RESPONSES, SIGN_OUT_FORM, SIGN_OUT_RESPONSES, TAG } from './schemas.js'

/**
 * POST /revoke (RFC 7009) and POST /token/sign-out (cookie mode). A refresh token ends its whole family; an access
 * token's `jti` is refused by introspection until it expires. Unknown tokens, and tokens of other clients, get the
 * same empty 200 (RFC 7009 §2.2), which tells a caller nothing about them.
 */
export function revokeRoutes(app: FastifyInstance, deps: AppDeps, { authenticate: authenticateClient, inspect }: RouteServices): void {
  async function authenticate(request: FastifyRequest<{ Body: FormBody }>): Promise<AuthenticatedClient> {
    const body = request.body
    if (typeof body !== 'object' || body === null) throw new InvalidRequest('send the parameters as application/x-www-form-urlencoded')
    return authenticateClient(request.headers.authorization, body)
  }

  async function revokeRefresh(token: string, clientId: string, log: FastifyRequest['log']): Promise<boolean> {
    if (!looksLikeRefreshToken(token)) return false
    const found = await deps.store.refreshTokens.find(hashRefreshToken(token))
    if (!found) return false
    if (found.family.clientId === clientId && (await deps.store.refreshTokens.revokeFamily(found.family.id, 'revoked', deps.now()))) {
      log.info({ event: 'refresh.family_revoked', family_id: found.family.id, client_id: clientId }, 'refresh token family revoked')
    }
    return true
  }

  async function revokeAccess(token: string, clientId: string, log: FastifyRequest['log']): Promise<boolean> {
    const claims = await inspect(token, { ignoreExpiry: true })
    if (!claims) return false
    if (claims.client_id === clientId) {
      await deps.store.revocations.revoke(claims.jti, claims.exp * 1000)
      log.info({ event: 'token.revoked', jti: claims.jti, client_id: clientId }, 'access token revoked')
    }
    return true
  }

  app.post<{ Body: FormBody }>(PATHS.revoke, {
    schema: {
      summary: 'Revoke a token (RFC 7009)', operationId: 'revoke', tags: [TAG.oauth],
      description: 'A refresh token ends its whole family; an access token\'s `jti` is refused by introspection until it expires (local verifiers accept it until then).',
      docs: { form: REVOKE_FORM, authMethods: CLIENT_AUTH_METHODS, responses: REVOKE_RESPONSES, errors: [400, 401, 413, 429, 503] },
    },
  }, async (request, reply) => {
    const { client } = await authenticate(request)
    const token = single(request.body, 'token')
    if (token === undefined) throw new InvalidRequest('token is required')
    const order = single(request.body, 'token_type_hint') === TOKEN_HINT.accessToken ? [revokeAccess, revokeRefresh] : [revokeRefresh, revokeAccess]
    for (const attempt of order) if (await attempt(token, client.id, request.log)) break
    if (client.refreshCookie) clearRefreshCookie(reply)
    return reply.header('cache-control', 'no-store').code(200).send()
  })

  app.post<{ Body: FormBody }>(PATHS.signOut, {
    schema: {
      summary: 'Sign out (cookie mode)', operationId: 'signOut', tags: [TAG.oauth],
      docs: { form: SIGN_OUT_FORM, authMethods: CLIENT_AUTH_METHODS, cookies: REFRESH_COOKIE_PARAM, responses: SIGN_OUT_RESPONSES, errors: [400, 401, 413, 429, 503] },
    },
  }, async (request, reply) => {
    const { client } = await authenticate(request)
    const token = refreshFromCookie(request, client)
    if (token !== undefined) await revokeRefresh(token, client.id, request.log)
    clearRefreshCookie(reply)
    return reply.header('cache-control', 'no-store').code(200).send()
  })
}
