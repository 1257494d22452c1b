import { KeyturnError } from '../errors.js'
import { describeDuration } from '../duration.js'
import type { Alg } from './algorithms.js'
import { activeKey, deletesAt, keysOf, type KeyRecord, type KeySet, type KeyState, type RotationPolicy } from './key-set.js'

/** A freshly generated key, not yet part of any set. */
export type NewKey = Pick<KeyRecord, 'kid' | 'alg' | 'publicJwk' | 'privateJwe'>

/** One state change, as logged in the audit trail. `to: 'deleted'` means the key left the set. */
export interface Transition {
  readonly kid: string
  readonly alg: Alg
  readonly from: KeyState | 'new'
  readonly to: KeyState | 'deleted'
  readonly reason: string
}

/** Either the next set, or the number of fresh keys per algorithm the plan needs first. */
export type Plan =
  | { readonly kind: 'change'; readonly set: KeySet; readonly transitions: readonly Transition[] }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'needs-keys'; readonly needs: Partial<Record<Alg, number>> }

export type FreshKeys = Partial<Record<Alg, readonly NewKey[]>>

export interface RotationOptions {
  /** Promote these algorithms' `next` keys now, even if the rotation interval has not passed (`rotate --alg`). */
  readonly promote?: readonly Alg[]
  /** Promote even if `next` has been published for less than the propagation time (`rotate --force`). */
  readonly force?: boolean
}

/**
 * Working copy of a set: collects transitions and draws fresh keys; `finish` yields the plan.
 * Drawing a key that was not supplied records the need instead, so planning stays pure: the caller generates
 * the keys asked for and plans again with them.
 */
class Draft {
  readonly keys: KeyRecord[]
  readonly transitions: Transition[] = []
  private readonly needs: Partial<Record<Alg, number>> = {}
  private readonly used: Partial<Record<Alg, number>> = {}

  constructor(private readonly set: KeySet, private readonly fresh: FreshKeys, readonly now: number) {
    this.keys = [...set.keys]
  }

  update(key: KeyRecord, changes: Partial<KeyRecord>, reason: string, dropPrivate = false): void {
    const next: KeyRecord = { ...key, ...changes }
    if (dropPrivate) delete (next as { privateJwe?: string }).privateJwe
    this.keys[this.keys.indexOf(key)] = next
    this.transitions.push({ kid: key.kid, alg: key.alg, from: key.state, to: next.state, reason })
  }

  remove(key: KeyRecord, reason: string): void {
    this.keys.splice(this.keys.indexOf(key), 1)
    this.transitions.push({ kid: key.kid, alg: key.alg, from: key.state, to: 'deleted', reason })
  }

  mint(alg: Alg, state: 'next' | 'active', reason: string): void {
    const index = this.used[alg] ?? 0
    const fresh = this.fresh[alg]?.[index]
    this.used[alg] = index + 1
    if (!fresh) {
      this.needs[alg] = (this.needs[alg] ?? 0) + 1
      return
    }
    const key: KeyRecord = { ...fresh, state, createdAt: this.now, ...(state === 'active' ? { activatedAt: this.now } : {}) }
    this.keys.push(key)
    this.transitions.push({ kid: key.kid, alg, from: 'new', to: state, reason })
  }

  finish(): Plan {
    if (Object.keys(this.needs).length > 0) return { kind: 'needs-keys', needs: this.needs }
    if (this.transitions.length === 0) return { kind: 'unchanged' }
    const set: KeySet = { version: this.set.version + 1, updatedAt: this.now, keys: this.keys }
    return { kind: 'change', set, transitions: this.transitions }
  }
}

function promote(draft: Draft, active: KeyRecord | undefined, next: KeyRecord, reason: string): void {
  if (active) draft.update(active, { state: 'retired', retiredAt: draft.now }, reason, true)
  draft.update(next, { state: 'active', activatedAt: draft.now }, reason)
  draft.mint(next.alg, 'next', reason)
}

/**
 * Plans the scheduled (or requested) rotation of `set` at `now`. Pure: same inputs, same plan.
 * Per configured algorithm it keeps exactly one `active` and one `next` key, promotes `next` once the active key
 * is due and `next` has been published for the propagation time, and deletes retired keys whose tokens have all
 * expired. Keys of algorithms no longer configured retire (active) or go (next).
 * @throws KeyturnError `ERR_ROTATION_REFUSED` when a requested promotion would sign with a key published too briefly.
 */
export function planRotation(set: KeySet, now: number, policy: RotationPolicy, fresh: FreshKeys = {}, options: RotationOptions = {}): Plan {
  const draft = new Draft(set, fresh, now)
  for (const key of set.keys) {
    const expiry = deletesAt(key, policy)
    if (expiry !== undefined && now >= expiry) draft.remove(key, 'expired')
  }
  for (const alg of new Set(set.keys.map((key) => key.alg))) {
    if (policy.algs.includes(alg)) continue
    for (const key of keysOf(set, alg, 'active')) draft.update(key, { state: 'retired', retiredAt: now }, 'algorithm-disabled', true)
    for (const key of keysOf(set, alg, 'next')) draft.remove(key, 'algorithm-disabled')
  }
  for (const alg of policy.algs) {
    const active = activeKey(set, alg)
    const next = keysOf(set, alg, 'next')[0]
    const requested = options.promote?.includes(alg) ?? false
    if (!active) {
      // Nothing signs for this algorithm: use the published next key if there is one, else start the series.
      if (next) promote(draft, undefined, next, 'no-active-key')
      else {
        draft.mint(alg, 'active', 'bootstrap')
        draft.mint(alg, 'next', 'bootstrap')
      }
      continue
    }
    if (!next) {
      if (requested) throw refused(alg, 'it has no next key yet; run rotate again without --alg first, then wait for it to propagate')
      draft.mint(alg, 'next', 'missing-next')
      continue
    }
    const due = requested || now >= (active.activatedAt ?? active.createdAt) + policy.rotationIntervalMs
    if (!due) continue
    const publishedFor = now - next.createdAt
    if (publishedFor >= policy.propagationMs) promote(draft, active, next, requested ? 'manual' : 'scheduled')
    else if (requested && options.force) promote(draft, active, next, 'forced')
    else if (requested) {
      throw refused(alg, `next key ${next.kid} has been published for ${describeDuration(publishedFor)} of the ${describeDuration(policy.propagationMs)} propagation time; verifiers may not have it yet (use --force to promote anyway)`)
    }
  }
  return draft.finish()
}

/**
 * Plans an emergency revocation: the key leaves the JWKS at once and loses its private part; if it was signing,
 * its algorithm's next key (or a fresh one) becomes active at once, accepting that some verifiers have not seen it.
 * @throws KeyturnError `ERR_KEY_NOT_FOUND`, or `ERR_KEY_STATE` for a key already revoked.
 */
export function planRevoke(set: KeySet, kid: string, now: number, fresh: FreshKeys = {}): Plan {
  const key = set.keys.find((candidate) => candidate.kid === kid)
  if (!key) throw new KeyturnError('ERR_KEY_NOT_FOUND', `no key with kid ${kid}`)
  if (key.state === 'revoked') throw new KeyturnError('ERR_KEY_STATE', `key ${kid} is already revoked`)
  const draft = new Draft(set, fresh, now)
  draft.update(key, { state: 'revoked', revokedAt: now }, 'revoked', true)
  if (key.state === 'active') {
    const next = keysOf(set, key.alg, 'next')[0]
    if (next) promote(draft, undefined, next, 'emergency')
    else {
      draft.mint(key.alg, 'active', 'emergency')
      draft.mint(key.alg, 'next', 'emergency')
    }
  } else if (key.state === 'next') {
    draft.mint(key.alg, 'next', 'emergency')
  }
  return draft.finish()
}

/**
 * Plans a prune: retired keys whose tokens have expired go now (the rotation tick does this too), and with
 * `revoked: true` so do revoked keys whose tokens could no longer be valid anyway.
 */
export function planPrune(set: KeySet, now: number, policy: RotationPolicy, options: { revoked?: boolean } = {}): Plan {
  const draft = new Draft(set, {}, now)
  const lifetime = policy.reloadLagMs + policy.maxTokenTtlMs + policy.clockSkewMs
  for (const key of set.keys) {
    const expiry = deletesAt(key, policy)
    if (expiry !== undefined && now >= expiry) draft.remove(key, 'expired')
    else if (options.revoked && key.state === 'revoked' && now >= (key.revokedAt ?? 0) + lifetime) draft.remove(key, 'pruned')
  }
  return draft.finish()
}

function refused(alg: Alg, why: string): KeyturnError {
  return new KeyturnError('ERR_ROTATION_REFUSED', `${alg}: ${why}`)
}
