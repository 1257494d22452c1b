import { decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWTPayload } from 'jose'
import { ACCESS_TOKEN_JWT_TYPE } from '../oauth.js'
import type { KeyRing } from '../keys/key-ring.js'
import type { KeyRecord } from '../keys/key-set.js'
import { isCanonicalCompactJws } from '../verifier/token-header.js'

/** The claims of one of our access tokens, once its signature, issuer and type have been checked. */
export interface AccessTokenPayload extends JWTPayload {
  readonly sub: string
  readonly jti: string
  readonly exp: number
  readonly iat: number
  readonly client_id: string
  readonly scope?: string
}

const MAX_TOKEN_LENGTH = 16 * 1024

/**
 * Verifies that `token` is an access token this issuer signed with a key it still publishes. Returns undefined
 * (never throws) for anything else: malformed, foreign, signed by a revoked or deleted key, wrong `typ`.
 * With `ignoreExpiry`, an expired token still passes (for revocation, where expiry changes nothing).
 */
export function createAccessTokenInspector(deps: { issuer: string; keys: KeyRing; now: () => number; clockSkewMs: number }) {
  const publicKeys = new Map<string, Promise<CryptoKey | Uint8Array>>()
  const publicKey = (key: KeyRecord): Promise<CryptoKey | Uint8Array> => {
    let imported = publicKeys.get(key.kid)
    if (!imported) {
      imported = importJWK({ ...key.publicJwk }, key.alg)
      publicKeys.set(key.kid, imported)
    }
    return imported
  }

  return async (token: string, options: { ignoreExpiry?: boolean } = {}): Promise<AccessTokenPayload | undefined> => {
    // One token, one spelling: the same refusal of non-canonical base64url as keyturn/verifier.
    if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3 || !isCanonicalCompactJws(token)) return undefined
    try {
      const { kid, alg } = decodeProtectedHeader(token)
      const key = deps.keys.current().keys.find((candidate) => candidate.kid === kid)
      // A revoked key's tokens are dead at once, whatever their expiry.
      if (!key || key.state === 'revoked' || key.alg !== alg) return undefined
      const at = deps.now()
      const { payload } = await jwtVerify(token, await publicKey(key), {
        issuer: deps.issuer, typ: ACCESS_TOKEN_JWT_TYPE, algorithms: [key.alg], clockTolerance: Math.floor(deps.clockSkewMs / 1000),
        currentDate: new Date(options.ignoreExpiry ? 0 : at), requiredClaims: ['sub', 'jti', 'exp', 'iat', 'client_id'],
      })
      if (typeof payload.client_id !== 'string' || typeof payload.jti !== 'string' || typeof payload.sub !== 'string') return undefined
      if (!options.ignoreExpiry && payload.iat! * 1000 > at + deps.clockSkewMs) return undefined
      return payload as AccessTokenPayload
    } catch {
      return undefined
    }
  }
}

export type AccessTokenInspector = ReturnType<typeof createAccessTokenInspector>
