/**
 * Signing algorithms as data: one row per JWS `alg` keyturn can sign with. jose performs every operation;
 * this table only says which key to generate and how to recognise it. An unknown alg is refused by `isAlg`.
 */
export const ALGORITHMS = {
  RS256: { kty: 'RSA', generate: { modulusLength: 2048 }, description: 'RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit' },
  ES256: { kty: 'EC', crv: 'P-256', generate: {}, description: 'ECDSA on P-256 with SHA-256' },
} as const

export type Alg = keyof typeof ALGORITHMS

export const SUPPORTED_ALGS = Object.keys(ALGORITHMS) as Alg[]

export function isAlg(value: unknown): value is Alg {
  return typeof value === 'string' && Object.hasOwn(ALGORITHMS, value)
}
