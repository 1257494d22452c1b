/**
 * The signature algorithms a verifier can be configured to accept, written down once as data: the key type (and
 * curve) each one requires. Only asymmetric algorithms are listed, so `none` and `HS*` can never be allowed.
 * The issuer reuses this table for the algorithms of `private_key_jwt` client assertions.
 */
export const ASYMMETRIC_ALGORITHMS = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
} as const satisfies Record<string, { kty: string; crv?: string }>

/** A JWS algorithm the verifier supports (asymmetric only). */
export type VerifierAlgorithm = keyof typeof ASYMMETRIC_ALGORITHMS

/** The default allow-list: what keyturn signs with. */
export const DEFAULT_ALGORITHMS: readonly VerifierAlgorithm[] = Object.freeze(['RS256', 'ES256'])

/** Minimum RSA modulus length accepted for a published key (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048

/** True if `alg` is a supported asymmetric algorithm name. */
export function isVerifierAlgorithm(alg: unknown): alg is VerifierAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(ASYMMETRIC_ALGORITHMS, alg)
}

/** The key type (and curve, for EC/OKP) that `alg` requires. */
export function keyTypeFor(alg: VerifierAlgorithm): { kty: string; crv?: string } {
  return ASYMMETRIC_ALGORITHMS[alg]
}
