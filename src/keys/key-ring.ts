import type { Logger } from 'pino'
import type { CryptoKey } from 'jose'
import type { KeySetStore } from '../store/types.js'
import type { Alg } from './algorithms.js'
import { EMPTY_KEY_SET, activeKey, nextChangeAt, type KeySet, type RotationPolicy } from './key-set.js'
import { openPrivateKey, type KeyEncryptionKey } from './key-material.js'
import { buildJwks, type JwksDocument } from './jwks.js'

export interface SigningKey {
  readonly kid: string
  readonly alg: Alg
  readonly key: CryptoKey
}

/** A consistent snapshot: the set, its signing keys and its serialized JWKS all belong to one version. */
interface Snapshot {
  readonly set: KeySet
  readonly signing: ReadonlyMap<Alg, SigningKey>
  readonly jwks: JwksDocument
  readonly revokedKids: ReadonlySet<string>
  /** `nextChangeAt` of the set, worked out once per version rather than per JWKS request. */
  readonly nextChange: number | undefined
}

/**
 * What a running process knows of the key set. It re-reads the store every `reloadMs` and swaps in a whole new
 * snapshot when the version changed; requests read the current snapshot without any I/O.
 */
export interface KeyRing {
  refresh(): Promise<KeySet>
  signingKey(alg: Alg): SigningKey | undefined
  jwks(): JwksDocument
  /** Seconds a JWKS response may be cached (DESIGN §3). */
  jwksMaxAge(): number
  current(): KeySet
  isRevoked(kid: string): boolean
  /** The last reload error, if the most recent reload failed (the ring keeps serving its last good snapshot). */
  lastError(): Error | undefined
  start(): void
  stop(): void
}

export interface KeyRingDeps {
  readonly store: KeySetStore
  readonly kek: KeyEncryptionKey
  readonly policy: RotationPolicy
  readonly jwksMaxAgeMs: number
  readonly reloadMs: number
  readonly now: () => number
  readonly log: Logger
}

export function createKeyRing({ store, kek, policy, jwksMaxAgeMs, reloadMs, now, log }: KeyRingDeps): KeyRing {
  let snapshot: Snapshot = { set: EMPTY_KEY_SET, signing: new Map(), jwks: buildJwks(EMPTY_KEY_SET), revokedKids: new Set(), nextChange: undefined }
  let failure: Error | undefined
  let timer: NodeJS.Timeout | undefined
  let queue: Promise<unknown> = Promise.resolve()

  async function load(): Promise<KeySet> {
    if ((await store.version()) === snapshot.set.version) return snapshot.set
    const set = await store.load()
    if (set.version === snapshot.set.version) return set
    const signing = new Map<Alg, SigningKey>()
    for (const alg of policy.algs) {
      const active = activeKey(set, alg)
      if (!active) continue
      const known = snapshot.signing.get(alg)
      signing.set(alg, known?.kid === active.kid ? known : { kid: active.kid, alg, key: await openPrivateKey(active, kek) })
    }
    const revokedKids = new Set(set.keys.filter((key) => key.state === 'revoked').map((key) => key.kid))
    snapshot = { set, signing, jwks: buildJwks(set), revokedKids, nextChange: nextChangeAt(set, policy) }
    const active = Object.fromEntries([...signing].map(([alg, key]) => [alg, key.kid]))
    log.info({ event: 'key.set_loaded', version: set.version, active, revoked: revokedKids.size }, 'key set loaded')
    return set
  }

  function refresh(): Promise<KeySet> {
    // Reloads run one after another, and each caller's starts after its call: a caller that just wrote a new
    // version is sure to see it.
    const run = queue.then(load).then(
      (set) => {
        failure = undefined
        return set
      },
      (error: Error) => {
        failure = error
        throw error
      },
    )
    queue = run.catch(() => undefined)
    return run
  }

  return {
    refresh,
    signingKey: (alg) => snapshot.signing.get(alg),
    jwks: () => snapshot.jwks,
    jwksMaxAge() {
      const at = now()
      const change = snapshot.nextChange
      const untilChange = change === undefined ? Infinity : Math.max(0, change - at)
      return Math.floor(Math.min(jwksMaxAgeMs, policy.propagationMs / 2, untilChange) / 1000)
    },
    current: () => snapshot.set,
    isRevoked: (kid) => snapshot.revokedKids.has(kid),
    lastError: () => failure,
    start() {
      timer ??= setInterval(() => {
        refresh().catch((error: Error) => log.error({ err: error }, 'key set reload failed; still serving the last good key set'))
      }, reloadMs)
      timer.unref()
    },
    stop() {
      if (timer) clearInterval(timer)
      timer = undefined
    },
  }
}
