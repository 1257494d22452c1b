import type { FastifyInstance } from 'fastify'
import { InvalidClient, InvalidRequest } from '../errors.js'
import { AUTH_METHOD, PATHS, TOKEN_HINT } from '../oauth.js'
import type { ClientRecord } from '../clients/client.js'
import { single, type FormBody } from '../form-body.js'
import { hashRefreshToken, looksLikeRefreshToken } from '../tokens/refresh-token.js'
import type { AppDeps, RouteServices } from '../app.js'
import { subjectStanding } from '../grants/subject.js'
import { CONFIDENTIAL_AUTH_METHODS, INTROSPECT_FORM, INTROSPECT_RESPONSES, TAG } from './schemas.js'

const INACTIVE = { active: false } as const

const responseSchema = {
  type: 'object',
  required: ['active'],
  properties: {
    active: { type: 'boolean' }, iss: { type: 'string' }, sub: { type: 'string' }, aud: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    exp: { type: 'integer' }, iat: { type: 'integer' }, jti: { type: 'string' }, client_id: { type: 'string' }, scope: { type: 'string' }, token_type: { type: 'string' },
    act: { type: 'object', additionalProperties: true },
  },
  additionalProperties: false,
} as const

/** The caller may see a token it was issued, or one whose audience is a resource the caller serves. */
function meantFor(caller: ClientRecord, clientId: string, audience: readonly string[]): boolean {
  return caller.id === clientId || audience.some((aud) => (caller.resources ?? []).includes(aud))
}

/**
 * POST /introspect (RFC 7662). Only confidential clients may ask, and only about tokens meant for them; every
 * other answer — expired, revoked, foreign, malformed, not yours — is the same `{ "active": false }`.
 */
export function introspectRoute(app: FastifyInstance, deps: AppDeps, { authenticate, inspect }: RouteServices): void {
  app.post<{ Body: FormBody }>(PATHS.introspect, {
    schema: {
      summary: 'Describe a token (RFC 7662)', operationId: 'introspect', tags: [TAG.oauth],
      description: 'Confidential clients only. A client sees tokens issued to it, and access tokens whose `aud` is a resource it serves; refresh tokens only their own client.',
      response: { 200: responseSchema },
      docs: { form: INTROSPECT_FORM, authMethods: CONFIDENTIAL_AUTH_METHODS, responses: INTROSPECT_RESPONSES, errors: [400, 401, 413, 429, 503] },
    },
  }, async (request, reply) => {
    void reply.header('cache-control', 'no-store')
    const body = request.body
    if (typeof body !== 'object' || body === null) throw new InvalidRequest('send the parameters as application/x-www-form-urlencoded')
    const { client: caller, method } = await authenticate(request.headers.authorization, body)
    if (method === AUTH_METHOD.none) throw new InvalidClient('public clients may not introspect')
    const token = single(body, 'token')
    if (token === undefined) throw new InvalidRequest('token is required')
    const hint = single(body, 'token_type_hint')
    const order = hint === TOKEN_HINT.refreshToken ? [refresh, access] : [access, refresh]
    for (const lookup of order) {
      const answer = await lookup(token, caller)
      if (answer) return answer
    }
    return INACTIVE
  })

  async function access(token: string, caller: ClientRecord): Promise<Record<string, unknown> | undefined> {
    const claims = await inspect(token)
    if (!claims) return undefined
    const audience = [claims.aud ?? []].flat()
    if (!meantFor(caller, claims.client_id, audience)) return INACTIVE
    if (await deps.store.revocations.isRevoked(claims.jti)) return INACTIVE
    // A token dies with its client: deleted or disabled since it was issued.
    const owner = caller.id === claims.client_id ? caller : await deps.store.clients.get(claims.client_id)
    if (!owner || owner.disabled) return INACTIVE
    // A token dies with its subject: a disabled or deleted user (or, for an exchanged service token, client).
    if (claims.sub !== claims.client_id && !(await subjectStanding(deps.store, claims.sub))) return INACTIVE
    return {
      active: true, iss: claims.iss, sub: claims.sub, aud: claims.aud, exp: claims.exp, iat: claims.iat, jti: claims.jti,
      client_id: claims.client_id, ...(claims.scope ? { scope: claims.scope } : {}), token_type: 'Bearer',
      // RFC 8693 §4.1: the delegation chain of an exchanged token.
      ...(claims.act === undefined ? {} : { act: claims.act }),
    }
  }

  async function refresh(token: string, caller: ClientRecord): Promise<Record<string, unknown> | undefined> {
    if (!looksLikeRefreshToken(token)) return undefined
    const found = await deps.store.refreshTokens.find(hashRefreshToken(token))
    if (!found) return undefined
    const { token: record, family } = found
    const now = deps.now()
    if (caller.id !== family.clientId || record.usedAt !== undefined || family.revokedAt !== undefined) return INACTIVE
    if (now >= record.expiresAt || now >= family.expiresAt) return INACTIVE
    const user = await deps.store.users.get(family.userId)
    if (!user || user.disabled || user.tokenVersion !== family.userTokenVersion) return INACTIVE
    return {
      active: true, sub: family.userId, client_id: family.clientId, exp: Math.floor(record.expiresAt / 1000), iat: Math.floor(record.createdAt / 1000),
      ...(family.scope.length > 0 ? { scope: family.scope.join(' ') } : {}), token_type: TOKEN_HINT.refreshToken,
    }
  }
}
