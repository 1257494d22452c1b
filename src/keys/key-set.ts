import type { Alg } from './algorithms.js'

/**
 * A key's place in its lifecycle (DESIGN §3):
 * `next` is published but does not sign; `active` signs (one per algorithm); `retired` is published until every
 * token it signed has expired; `revoked` is never published again and is kept, public part only, for audit.
 */
export type KeyState = 'next' | 'active' | 'retired' | 'revoked'

/** The public members of a signing key, as published in the JWKS. */
export interface PublicJwk {
  readonly kty: 'RSA' | 'EC'
  readonly kid: string
  readonly alg: Alg
  readonly use: 'sig'
  readonly n?: string
  readonly e?: string
  readonly crv?: string
  readonly x?: string
  readonly y?: string
}

/** One key of the set. Times are epoch milliseconds. */
export interface KeyRecord {
  /** RFC 7638 JWK thumbprint (SHA-256) of the public key. */
  readonly kid: string
  readonly alg: Alg
  readonly state: KeyState
  /** When the key was created, which is also when it was first published. */
  readonly createdAt: number
  readonly activatedAt?: number
  readonly retiredAt?: number
  readonly revokedAt?: number
  readonly publicJwk: PublicJwk
  /**
   * The private JWK as a compact JWE (`dir` + `A256GCM`) under the key-encryption key. Only keys that may still
   * sign (`next`, `active`) carry it; it is dropped the moment a key retires or is revoked.
   */
  readonly privateJwe?: string
}

/** The whole key set at one version. `version` only grows; every write is a compare-and-swap on it. */
export interface KeySet {
  readonly version: number
  readonly updatedAt: number
  readonly keys: readonly KeyRecord[]
}

/** The timings that decide when keys move between states. */
export interface RotationPolicy {
  readonly algs: readonly Alg[]
  readonly rotationIntervalMs: number
  readonly propagationMs: number
  /** The longest access-token lifetime any client can get. */
  readonly maxTokenTtlMs: number
  readonly clockSkewMs: number
  /**
   * How long a process may keep signing with a key after the set changed (its reload interval): a retired key
   * stays published that much longer, since a lagging process may still sign with it.
   */
  readonly reloadLagMs: number
}

export const EMPTY_KEY_SET: KeySet = Object.freeze({ version: 0, updatedAt: 0, keys: Object.freeze([]) })

export const isPublished = (key: KeyRecord): boolean => key.state !== 'revoked'

export function keysOf(set: KeySet, alg: Alg, state: KeyState): KeyRecord[] {
  return set.keys.filter((key) => key.alg === alg && key.state === state)
}

export function activeKey(set: KeySet, alg: Alg): KeyRecord | undefined {
  return set.keys.find((key) => key.alg === alg && key.state === 'active')
}

/** When a retired key may leave the JWKS: every token it could have signed has expired by then. */
export function deletesAt(key: KeyRecord, policy: RotationPolicy): number | undefined {
  if (key.state !== 'retired' || key.retiredAt === undefined) return undefined
  return key.retiredAt + policy.reloadLagMs + policy.maxTokenTtlMs + policy.clockSkewMs
}

/** When a scheduled rotation promotes `next` over `active`: the active key is due and `next` has propagated. */
export function promotesAt(active: KeyRecord, next: KeyRecord, policy: RotationPolicy): number {
  return Math.max((active.activatedAt ?? active.createdAt) + policy.rotationIntervalMs, next.createdAt + policy.propagationMs)
}

/**
 * The earliest planned change of the published set (a promotion adds a key; an expiry removes one).
 * `undefined` when nothing is planned, e.g. for an empty set.
 */
export function nextChangeAt(set: KeySet, policy: RotationPolicy): number | undefined {
  let earliest: number | undefined
  const consider = (at: number | undefined): void => {
    if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at
  }
  for (const key of set.keys) consider(deletesAt(key, policy))
  for (const alg of policy.algs) {
    const active = activeKey(set, alg)
    const next = keysOf(set, alg, 'next')[0]
    if (active && next) consider(promotesAt(active, next, policy))
  }
  return earliest
}
