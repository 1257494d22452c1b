import { randomBytes } from 'node:crypto'
import { SignJWT } from 'jose'
import { TemporarilyUnavailable } from '../errors.js'
import { ACCESS_TOKEN_JWT_TYPE } from '../oauth.js'
import type { Alg } from '../keys/algorithms.js'
import type { KeyRing } from '../keys/key-ring.js'

export interface AccessTokenClaims {
  readonly sub: string
  readonly clientId: string
  readonly audience: readonly string[]
  readonly scope: readonly string[]
  readonly ttlSeconds: number
  readonly alg: Alg
  /** Extra claims (e.g. `act` for exchanged tokens); never overrides a registered claim. */
  readonly extra?: Readonly<Record<string, unknown>>
}

export interface IssuedAccessToken {
  readonly token: string
  readonly jti: string
  readonly kid: string
  readonly alg: Alg
  readonly expiresIn: number
  readonly exp: number
}

export type AccessTokenIssuer = (claims: AccessTokenClaims) => Promise<IssuedAccessToken>

/**
 * Signs RFC 9068 JWT access tokens with the active key of the requested algorithm.
 * @throws TemporarilyUnavailable when no key of that algorithm is active yet (e.g. during first start-up).
 */
export function createAccessTokenIssuer(deps: { issuer: string; keys: KeyRing; now: () => number }): AccessTokenIssuer {
  return async (claims) => {
    const signing = deps.keys.signingKey(claims.alg)
    if (!signing) throw new TemporarilyUnavailable(`no active ${claims.alg} signing key yet`)
    const iat = Math.floor(deps.now() / 1000)
    const exp = iat + claims.ttlSeconds
    const jti = randomBytes(16).toString('base64url')
    const aud = claims.audience.length === 1 ? claims.audience[0]! : [...claims.audience]
    const payload = {
      ...claims.extra,
      iss: deps.issuer, sub: claims.sub, aud, exp, iat, jti, client_id: claims.clientId,
      ...(claims.scope.length > 0 ? { scope: claims.scope.join(' ') } : {}),
    }
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: claims.alg, kid: signing.kid, typ: ACCESS_TOKEN_JWT_TYPE })
      .sign(signing.key)
    return { token, jti, kid: signing.kid, alg: claims.alg, expiresIn: claims.ttlSeconds, exp }
  }
}
