import type { Logger } from 'pino'
import { KeyturnError } from '../errors.js'
import type { KeySetStore } from '../store/types.js'
import { SUPPORTED_ALGS, type Alg } from './algorithms.js'
import type { KeySet, RotationPolicy } from './key-set.js'
import { generateKey, openPrivateKey, type KeyEncryptionKey } from './key-material.js'
import { activeKey } from './key-set.js'
import { planPrune, planRevoke, planRotation, type FreshKeys, type Plan, type RotationOptions, type Transition } from './rotation-plan.js'

export interface RotationResult {
  /** The set as stored after the call (changed or not). */
  readonly set: KeySet
  readonly transitions: readonly Transition[]
}

export interface Rotation {
  /** Runs the scheduled plan (or a requested promotion); a no-op when nothing is due. */
  rotate(options?: RotationOptions): Promise<RotationResult>
  /** Emergency revocation of one key. */
  revoke(kid: string): Promise<RotationResult>
  prune(options?: { revoked?: boolean }): Promise<RotationResult>
}

export interface RotationDeps {
  readonly store: KeySetStore
  readonly policy: RotationPolicy
  readonly kek: KeyEncryptionKey
  readonly now: () => number
  readonly log: Logger
}

const MAX_ATTEMPTS = 10

/**
 * The only code that changes a key set: a pure plan, keys generated outside any critical section, then a
 * compare-and-swap on the version. When another process wins the race we reload and plan again, which for a
 * scheduled rotation finds nothing left to do: N processes racing produce exactly one rotation.
 */
export function createRotation({ store, policy, kek, now, log }: RotationDeps): Rotation {
  const opened = new Set<string>()
  /**
   * Refuses to write with a secret that cannot open the set's sealed keys: otherwise a process started with the
   * wrong secret would seal new keys under it, and once promoted no correctly configured process could sign.
   */
  async function assertSecretOpens(set: KeySet): Promise<void> {
    const sealed = set.keys.find((key) => key.privateJwe !== undefined)
    if (!sealed || opened.has(sealed.kid)) return
    await openPrivateKey(sealed, kek)
    opened.add(sealed.kid)
  }

  async function generate(needs: Partial<Record<Alg, number>>): Promise<FreshKeys> {
    const fresh: FreshKeys = {}
    for (const [alg, count] of Object.entries(needs) as [Alg, number][]) {
      fresh[alg] = await Promise.all(Array.from({ length: count }, () => generateKey(alg, kek)))
    }
    return fresh
  }

  async function apply(plan: (set: KeySet, at: number, fresh: FreshKeys) => Plan, retry: (first: KeySet, latest: KeySet) => boolean): Promise<RotationResult> {
    let first: KeySet | undefined
    // Keys generated for an attempt that lost its race are kept for the next one: on a slow machine RSA generation
    // can take longer than the gap between other processes' writes, and regenerating would lose every race.
    let pool: FreshKeys = {}
    for (let attempt = 1; ; attempt++) {
      const set = await store.load()
      await assertSecretOpens(set)
      first ??= set
      if (attempt > 1 && !retry(first, set)) {
        throw new KeyturnError('ERR_KEYSET_CONFLICT', 'another process changed the same keys at the same moment; look at the key list and try again')
      }
      const at = now()
      let result = plan(set, at, pool)
      if (result.kind === 'needs-keys') {
        const extra = await generate(result.needs)
        pool = Object.fromEntries(SUPPORTED_ALGS.map((alg) => [alg, [...(pool[alg] ?? []), ...(extra[alg] ?? [])]]))
        result = plan(set, at, pool)
      }
      if (result.kind === 'needs-keys') throw new Error('rotation plan asked for keys twice') // a bug, never input
      if (result.kind === 'unchanged') return { set, transitions: [] }
      if (await store.compareAndSwap(result.set)) {
        for (const t of result.transitions) {
          log.info({ event: 'key.transition', kid: t.kid, alg: t.alg, from: t.from, to: t.to, reason: t.reason, version: result.set.version }, 'signing key state changed')
        }
        return { set: result.set, transitions: result.transitions }
      }
      log.info({ event: 'key.conflict', version: set.version }, 'another process changed the key set first')
      if (attempt >= MAX_ATTEMPTS) {
        throw new KeyturnError('ERR_KEYSET_CONFLICT', 'another process changed the key set at the same moment; look at the key list and try again')
      }
    }
  }

  const always = (): boolean => true
  return {
    rotate: (options = {}) => apply(
      (set, at, fresh) => planRotation(set, at, policy, fresh, options),
      // A requested promotion is replanned only while the keys it meant to retire still sign: if the winner
      // promoted them already, doing it again would rotate twice.
      (first, latest) => (options.promote ?? []).every((alg) => activeKey(first, alg)?.kid === activeKey(latest, alg)?.kid),
    ),
    revoke: (kid) => apply((set, at, fresh) => planRevoke(set, kid, at, fresh), always),
    prune: (options = {}) => apply((set, at) => planPrune(set, at, policy, options), always),
  }
}

/** The policy a process applies, from its configuration. */
export function rotationPolicy(config: {
  signingAlgs: readonly Alg[]; rotationIntervalMs: number; propagationMs: number; accessTokenTtlMs: number; clockSkewMs: number; keysReloadMs: number
}): RotationPolicy {
  return {
    algs: config.signingAlgs,
    rotationIntervalMs: config.rotationIntervalMs,
    propagationMs: config.propagationMs,
    maxTokenTtlMs: config.accessTokenTtlMs,
    clockSkewMs: config.clockSkewMs,
    reloadLagMs: config.keysReloadMs,
  }
}
