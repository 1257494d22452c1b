import type { FastifyInstance } from 'fastify'
import { InvalidRequest, UnauthorizedClient, UnsupportedGrantType } from '../errors.js'
import { PATHS } from '../oauth.js'
import { CREDENTIAL_PARAMS } from '../clients/authenticate.js'
import { single, type FormBody } from '../form-body.js'
import { GRANTS } from '../grants/index.js'
import type { GrantContext } from '../grants/types.js'
import type { AppDeps, RouteServices } from '../app.js'
import { GRANT } from '../oauth.js'
import { refreshFromCookie, setRefreshCookie } from './cookie-mode.js'
import { CLIENT_AUTH_METHODS, REFRESH_COOKIE_PARAM, TAG, TOKEN_FORM, TOKEN_RESPONSES } from './schemas.js'

const tokenResponseSchema = {
  type: 'object',
  required: ['access_token', 'token_type', 'expires_in'],
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' },
    refresh_token: { type: 'string' },
    issued_token_type: { type: 'string' },
  },
  additionalProperties: false,
} as const

/**
 * POST /token (RFC 6749 §3.2). Shared steps happen here once — no-store headers, client authentication, the
 * allowed-grant check, dropping parameters the grant does not declare — then the grant does its part.
 */
export function tokenRoute(app: FastifyInstance, deps: AppDeps, { authenticate, inspect, metrics }: RouteServices): void {
  app.post<{ Body: FormBody }>(PATHS.token, {
    schema: {
      summary: 'Issue an access token', operationId: 'token', tags: [TAG.oauth],
      description: 'client_credentials, password and refresh_token (RFC 6749) and token exchange (RFC 8693). Returns an RFC 9068 JWT access token.',
      response: { 200: tokenResponseSchema },
      docs: { form: TOKEN_FORM, authMethods: CLIENT_AUTH_METHODS, cookies: REFRESH_COOKIE_PARAM, responses: TOKEN_RESPONSES, errors: [400, 401, 413, 429, 503] },
    },
  }, async (request, reply) => {
    void reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const body = request.body
    if (typeof body !== 'object' || body === null) throw new InvalidRequest('send the parameters as application/x-www-form-urlencoded')
    const client = await authenticate(request.headers.authorization, body)
    const grantType = single(body, 'grant_type')
    if (grantType === undefined) throw new InvalidRequest('grant_type is required')
    const grant = GRANTS.get(grantType)
    if (!grant) throw new UnsupportedGrantType(`grant_type ${JSON.stringify(grantType.slice(0, 80))} is not supported`)
    if (!client.client.grantTypes.includes(grant.type)) throw new UnauthorizedClient(`this client may not use ${grant.type}`)

    const params: Record<string, string | readonly string[]> = {}
    for (const name of grant.params) {
      if (body[name] !== undefined && !CREDENTIAL_PARAMS.includes(name)) params[name] = body[name]
    }
    if (grant.type === GRANT.refreshToken && params.refresh_token === undefined) {
      const fromCookie = refreshFromCookie(request, client.client)
      if (fromCookie !== undefined) params.refresh_token = fromCookie
    }
    const context: GrantContext = {
      config: deps.config,
      store: deps.store,
      now: deps.now,
      log: request.log,
      inspectAccessToken: inspect,
      metrics,
      issueAccessToken: async (claims) => {
        const issued = await deps.issueAccessToken(claims)
        request.log.info({
          event: 'token.issued', grant: grant.type, client_id: claims.clientId, sub: claims.sub, jti: issued.jti, kid: issued.kid,
          alg: issued.alg, aud: claims.audience, scope: claims.scope.join(' '), exp: issued.exp,
        }, 'access token issued')
        metrics?.tokensIssued.inc({ grant: grant.type, alg: issued.alg })
        return issued
      },
    }
    const response = await grant.handle({ params, client }, context)
    if (client.client.refreshCookie && response.refresh_token !== undefined) {
      // Cookie mode: the refresh token never appears in a body a page script could read.
      const { refresh_token: refreshToken, ...rest } = response
      setRefreshCookie(reply, refreshToken, Math.floor(deps.config.refreshTokenTtlMs / 1000))
      return rest
    }
    return response
  })
}
