import { InvalidGrant, InvalidRequest, InvalidScope } from '../errors.js'
import { GRANT } from '../oauth.js'
import { single } from '../form-body.js'
import { generateRefreshToken, hashRefreshToken, looksLikeRefreshToken } from '../tokens/refresh-token.js'
import type { Grant } from './types.js'
import { parseScope } from './policy.js'
import { idleExpiry, userAccessToken } from './sessions.js'

/**
 * RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2): every use returns a new refresh token; a used
 * token presented again revokes its whole family. Scope may only narrow, and only for the access token: the
 * family keeps what was granted at sign-in.
 */
export const refreshTokenGrant: Grant = {
  type: GRANT.refreshToken,
  params: ['refresh_token', 'scope'],
  async handle({ params, client: { client } }, context) {
    const token = single(params, 'refresh_token')
    if (token === undefined) throw new InvalidRequest('refresh_token is required')
    const refused = new InvalidGrant('refresh token is invalid, expired or revoked')
    if (!looksLikeRefreshToken(token)) throw refused
    const hash = hashRefreshToken(token)
    const { store, log } = context
    const found = await store.refreshTokens.find(hash)
    if (!found) throw refused
    const { family } = found
    const now = context.now()
    if (family.clientId !== client.id) {
      // Bound to its client (RFC 6749 §6): another client holding it means it leaked.
      await store.refreshTokens.revokeFamily(family.id, 'wrong-client', now)
      log.warn({ event: 'security.refresh_wrong_client', family_id: family.id, client_id: client.id, owner: family.clientId }, 'refresh token presented by another client; family revoked')
      throw refused
    }
    const user = await store.users.get(family.userId)
    if (!user || user.disabled || user.tokenVersion !== family.userTokenVersion) {
      await store.refreshTokens.revokeFamily(family.id, user?.disabled ? 'user-disabled' : 'signed-out', now)
      throw refused
    }
    const granted = family.scope.filter((item) => client.scopes.includes(item))
    const requested = single(params, 'scope')
    const scope = requested === undefined ? granted : parseScope(requested)
    const extra = scope.filter((item) => !granted.includes(item))
    if (extra.length > 0) throw new InvalidScope(`scope exceeds what was granted: ${extra.join(' ').slice(0, 200)}`)

    const next = generateRefreshToken()
    const outcome = await store.refreshTokens.rotate(hash, { hash: hashRefreshToken(next), expiresAt: idleExpiry(context, family) }, now)
    if (outcome.kind === 'reused') {
      log.warn({ event: 'security.refresh_reuse', family_id: family.id, client_id: client.id, sub: family.userId }, 'refresh token reuse detected; family revoked')
      context.metrics?.refreshReuse.inc()
      throw refused
    }
    if (outcome.kind === 'invalid') throw refused
    return { ...(await userAccessToken(context, client, user, scope, family.audience)), refresh_token: next }
  },
}
