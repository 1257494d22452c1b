import { importJWK, type CryptoKey } from 'jose'
import { isVerifierAlgorithm, keyTypeFor, MIN_RSA_BITS, type VerifierAlgorithm } from './algorithms.js'

/** A published key the verifier will use: public, asymmetric, for signatures, with its own `alg`. */
export interface VerificationKey {
  readonly kid: string
  readonly alg: VerifierAlgorithm
  readonly key: CryptoKey
  /** Canonical public members, to reuse the import when the next JWKS lists the same key. */
  readonly fingerprint: string
}

/** The usable keys of one JWKS response, by `kid`, and how many entries were ignored. */
export interface KeySet {
  readonly keys: ReadonlyMap<string, VerificationKey>
  readonly ignored: number
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const
const PUBLIC_MEMBERS: Record<string, readonly string[]> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] }
const MAX_KID_LENGTH = 256

/** Thrown when the document is not a JWK Set at all (then the previous set is kept). */
export class NotAJwkSetError extends Error {
  constructor() {
    super('response is not a JWK Set')
    this.name = 'NotAJwkSetError'
  }
}

/**
 * Keeps the public members of a JWK if it is one the verifier may trust, else `undefined`. Rules: a string `kid`;
 * `kty` RSA, EC or OKP (never `oct`); no private members; `use` absent or `sig`; `key_ops` absent or containing
 * `verify`; an `alg` that is in the allow-list and matches the key type and curve. Keys without `alg` are ignored:
 * keyturn always publishes one, and checking the token's `alg` against the key's own is what makes algorithm
 * confusion impossible.
 */
export function publicSigningJwk(
  jwk: unknown,
  algorithms: ReadonlySet<VerifierAlgorithm>,
): { kid: string; alg: VerifierAlgorithm; members: Record<string, string> } | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return undefined
  const k = jwk as Record<string, unknown>
  if (typeof k.kid !== 'string' || k.kid === '' || k.kid.length > MAX_KID_LENGTH) return undefined
  if (PRIVATE_MEMBERS.some((m) => m in k)) return undefined
  if (k.use !== undefined && k.use !== 'sig') return undefined
  if (k.key_ops !== undefined && !(Array.isArray(k.key_ops) && k.key_ops.includes('verify'))) return undefined
  if (!isVerifierAlgorithm(k.alg) || !algorithms.has(k.alg)) return undefined
  const want = keyTypeFor(k.alg)
  if (k.kty !== want.kty || (want.crv !== undefined && k.crv !== want.crv)) return undefined
  const members: Record<string, string> = { kty: want.kty }
  for (const name of PUBLIC_MEMBERS[want.kty] ?? []) {
    const value = k[name]
    if (typeof value !== 'string' || value === '') return undefined
    members[name] = value
  }
  return { kid: k.kid, alg: k.alg, members }
}

/**
 * Turns a JWKS document into usable keys. Entries that fail {@link publicSigningJwk}, fail to import, are RSA
 * keys under 2048 bits, or share a `kid` with another entry (ambiguous) are ignored and counted. Keys already
 * imported from the previous set are reused when their public members are identical.
 */
export async function importKeySet(
  document: unknown,
  algorithms: ReadonlySet<VerifierAlgorithm>,
  previous?: ReadonlyMap<string, VerificationKey>,
): Promise<KeySet> {
  if (typeof document !== 'object' || document === null || !Array.isArray((document as { keys?: unknown }).keys)) {
    throw new NotAJwkSetError()
  }
  const entries = (document as { keys: unknown[] }).keys
  const seen = new Map<string, number>()
  for (const entry of entries) {
    const kid = (entry as { kid?: unknown } | null)?.kid
    if (typeof kid === 'string') seen.set(kid, (seen.get(kid) ?? 0) + 1)
  }
  const keys = new Map<string, VerificationKey>()
  let ignored = 0
  for (const entry of entries) {
    const candidate = publicSigningJwk(entry, algorithms)
    if (candidate === undefined || seen.get(candidate.kid) !== 1) {
      ignored++
      continue
    }
    const fingerprint = JSON.stringify([candidate.alg, candidate.members])
    const reused = previous?.get(candidate.kid)
    if (reused?.fingerprint === fingerprint) {
      keys.set(candidate.kid, reused)
      continue
    }
    const key = await importPublicKey(candidate.members, candidate.alg)
    if (key === undefined) {
      ignored++
      continue
    }
    keys.set(candidate.kid, Object.freeze({ kid: candidate.kid, alg: candidate.alg, key, fingerprint }))
  }
  return { keys, ignored }
}

async function importPublicKey(members: Record<string, string>, alg: VerifierAlgorithm): Promise<CryptoKey | undefined> {
  try {
    const key = await importJWK(members, alg)
    if (key instanceof Uint8Array || key.type !== 'public') return undefined
    const modulusLength = (key.algorithm as { modulusLength?: number }).modulusLength
    if (modulusLength !== undefined && modulusLength < MIN_RSA_BITS) return undefined
    return key
  } catch {
    return undefined
  }
}
