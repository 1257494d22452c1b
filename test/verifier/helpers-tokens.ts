import { randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

/** A signing key as keyturn would have it: RFC 7638 thumbprint kid, public JWK with alg/use. */
export interface TestKey {
  readonly kid: string
  readonly alg: 'RS256' | 'ES256' | 'PS256' | 'EdDSA'
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  readonly publicJwk: JWK
}

/** Generates a key pair and its publishable JWK. */
export async function makeKey(alg: TestKey['alg'] = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  return { kid, alg, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } }
}

/** A fake clock in epoch ms; `advance(ms)` moves it. */
export function fakeClock(start = Date.UTC(2030, 0, 1)): { t: number; now: () => number; advance: (ms: number) => void } {
  const clock = {
    t: start,
    now: () => clock.t,
    advance: (ms: number) => {
      clock.t += ms
    },
  }
  return clock
}

export const AUDIENCE = 'https://api.example.test'

/** RFC 9068 claims issued "now" (seconds of `nowMs`), valid 15 minutes, with overrides (`undefined` deletes). */
export function claimsAt(issuer: string, nowMs: number, overrides: Record<string, unknown> = {}): JWTPayload {
  const iat = Math.floor(nowMs / 1000)
  const claims: Record<string, unknown> = {
    iss: issuer,
    sub: 'user-123',
    aud: AUDIENCE,
    exp: iat + 900,
    iat,
    jti: randomUUID(),
    client_id: 'client-abc',
    scope: 'orders:read profile',
    ...overrides,
  }
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k]
  return claims
}

/** Signs `claims` as an RFC 9068 access token with `key` (header overrides allowed, `undefined` deletes). */
export async function mint(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const h: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k]
  return new SignJWT(claims).setProtectedHeader(h as { alg: string }).sign(key.privateKey)
}
