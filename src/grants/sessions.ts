import type { ClientRecord } from '../clients/client.js'
import { GRANT } from '../oauth.js'
import type { RefreshFamily, UserRecord } from '../store/types.js'
import { generateRefreshToken, hashRefreshToken, randomId } from '../tokens/refresh-token.js'
import type { GrantContext, TokenResponse } from './types.js'
import { accessTokenTtl, signingAlg } from './policy.js'

/** Signs a user's access token: `sub` is the user's opaque id; the user's claims ride along. */
export async function userAccessToken(
  context: GrantContext, client: ClientRecord, user: UserRecord, scope: readonly string[], audience: readonly string[],
): Promise<Pick<TokenResponse, 'access_token' | 'token_type' | 'expires_in' | 'scope'>> {
  const issued = await context.issueAccessToken({
    sub: user.id, clientId: client.id, audience, scope, ttlSeconds: accessTokenTtl(client, context.config), alg: signingAlg(client, context.config),
    extra: user.claims,
  })
  return { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, ...(scope.length > 0 ? { scope: scope.join(' ') } : {}) }
}

/** Starts a refresh-token family for a sign-in, if the client may refresh at all. @returns the first token. */
export async function startFamily(
  context: GrantContext, client: ClientRecord, user: UserRecord, scope: readonly string[], audience: readonly string[],
): Promise<string | undefined> {
  if (!client.grantTypes.includes(GRANT.refreshToken)) return undefined
  const now = context.now()
  const family: RefreshFamily = {
    id: randomId('fam'), clientId: client.id, userId: user.id, userTokenVersion: user.tokenVersion, scope, audience,
    createdAt: now, expiresAt: now + context.config.refreshTokenTtlMs,
  }
  const token = generateRefreshToken()
  await context.store.refreshTokens.createFamily(family, { hash: hashRefreshToken(token), expiresAt: idleExpiry(context, family) })
  context.log.info({ event: 'refresh.family_started', family_id: family.id, client_id: client.id, sub: user.id }, 'refresh token family started')
  return token
}

/** A refresh token's own expiry: the idle timeout, never past the family's absolute end. */
export function idleExpiry(context: GrantContext, family: RefreshFamily): number {
  return Math.min(context.now() + context.config.refreshTokenIdleMs, family.expiresAt)
}
