import { clampFreshness, freshnessFromHeaders } from './cache-control.js'
import { discoverJwksUri } from './discovery.js'
import { isVerifierError, VerifierError, type VerifierErrorCode } from './errors.js'
import { getJson } from './http.js'
import { importKeySet, type VerificationKey } from './key-set.js'
import type { ResolvedOptions } from './options.js'

const JWKS_ACCEPT = { accept: 'application/jwk-set+json, application/json' }

/**
 * Health of the key cache, for `/readyz` and metrics. Times are epoch milliseconds from the injected clock.
 *
 * `state`: `empty` (nothing fetched yet), `fresh` (within the issuer's max-age), `revalidate` (past it; the next
 * verification refetches first), `stale` (past it, the issuer is failing, the last good set is still served until
 * `usableUntil`), `unavailable` (no usable set: verifications fail with `ERR_JWKS_UNAVAILABLE`/`ERR_DISCOVERY`).
 */
export interface VerifierStatus {
  readonly state: 'empty' | 'fresh' | 'revalidate' | 'stale' | 'unavailable'
  readonly jwksUri: string | null
  readonly keyCount: number
  readonly kids: readonly string[]
  /** Entries of the last JWKS that were not usable (private, symmetric, wrong alg, duplicate kid, …). */
  readonly ignoredKeys: number
  /** Last successful fetch (200 or 304). */
  readonly lastFetchAt: number | null
  /** Last 200 (the key set may have changed). */
  readonly lastChangeAt: number | null
  readonly freshUntil: number | null
  /** Set while serving keys past `freshUntil` because refreshing failed. */
  readonly staleSince: number | null
  readonly usableUntil: number | null
  readonly lastError: { readonly code: VerifierErrorCode; readonly message: string; readonly at: number } | null
  /** Counters since creation: JWKS 200s, JWKS 304s, failed refresh attempts. */
  readonly fetches: number
  readonly notModified: number
  readonly failures: number
}

/** The key cache behind a verifier. */
export interface JwksCache {
  /** The key for `kid`, refreshing first if the set is past its freshness, or once per cooldown if `kid` is unknown. */
  getKey(kid: string): Promise<VerificationKey>
  /** Fetches now (joining a fetch in flight). Resolves even on failure; inspect {@link JwksCache.status}. */
  refresh(): Promise<void>
  status(): VerifierStatus
}

/**
 * Creates the cache. No timers: every refresh is triggered by a verification (or {@link JwksCache.refresh}), and at
 * most one discovery/JWKS request is in flight at any time whatever the concurrency.
 */
export function createJwksCache(options: ResolvedOptions): JwksCache {
  const { now, cooldownMs, maxStaleMs } = options
  let jwksUri: URL | undefined
  let keys: ReadonlyMap<string, VerificationKey> | undefined
  let ignoredKeys = 0
  let etag: string | undefined
  let lastFetchAt: number | undefined
  let lastChangeAt: number | undefined
  let freshUntil = -Infinity
  let lastTtl = options.defaultCacheMs
  let lastAttemptAt = -Infinity
  let lastError: { code: VerifierErrorCode; message: string; at: number; error: VerifierError } | undefined
  let inflight: Promise<void> | undefined
  let fetches = 0
  let notModified = 0
  let failures = 0

  // "Failing" = the most recent attempt failed; cleared by the next success.
  const failing = () => lastError !== undefined
  const usableUntil = () => freshUntil + maxStaleMs

  async function fetchOnce(): Promise<void> {
    jwksUri ??= await discoverJwksUri(options)
    const conditional = etag !== undefined && keys !== undefined
    let res
    try {
      res = await getJson(jwksUri, {
        fetch: options.fetch,
        timeoutMs: options.timeoutMs,
        maxBytes: options.maxResponseBytes,
        headers: conditional ? { ...JWKS_ACCEPT, 'if-none-match': etag as string } : JWKS_ACCEPT,
        allowNotModified: conditional,
      })
      const declared = freshnessFromHeaders(res.headers)
      // A 304 updates the stored freshness (RFC 9111 §4.3.4); without Cache-Control it keeps the previous one.
      const ttl = res.status === 304 && declared === undefined ? lastTtl : clampFreshness(declared, options)
      lastTtl = ttl
      if (res.status === 304) {
        notModified++
      } else {
        const set = await importKeySet(res.body, options.algorithms, keys)
        // A fresh JWKS replaces the whole set: a key it no longer lists is dropped right here.
        keys = set.keys
        ignoredKeys = set.ignored
        etag = res.headers.get('etag') ?? undefined
        fetches++
        lastChangeAt = now()
      }
      lastFetchAt = now()
      freshUntil = lastFetchAt + ttl
    } catch (cause) {
      throw new VerifierError('ERR_JWKS_UNAVAILABLE', 'JWKS could not be fetched', { cause })
    }
  }

  function refresh(): Promise<void> {
    if (inflight !== undefined) return inflight
    lastAttemptAt = now()
    inflight = fetchOnce()
      .then(
        () => {
          lastError = undefined
        },
        (err: unknown) => {
          failures++
          const error = isVerifierError(err) ? err : new VerifierError('ERR_JWKS_UNAVAILABLE', 'JWKS could not be fetched', { cause: err })
          lastError = { code: error.code, message: error.message, at: now(), error }
        },
      )
      .finally(() => {
        inflight = undefined
      })
    return inflight
  }

  function usableSet(): ReadonlyMap<string, VerificationKey> {
    const t = now()
    if (keys !== undefined && t < freshUntil) return keys
    if (keys !== undefined && failing() && t < usableUntil()) return keys
    throw lastError?.error ?? new VerifierError('ERR_JWKS_UNAVAILABLE', 'no JWKS available')
  }

  async function ensureUsable(): Promise<ReadonlyMap<string, VerificationKey>> {
    const t = now()
    if (keys !== undefined && t < freshUntil) return keys
    const cooling = t - lastAttemptAt < cooldownMs
    if (keys !== undefined && failing() && t < usableUntil()) {
      // Known outage: serve the last good set at once; retry in the background at most once per cooldown.
      if (!cooling) void refresh()
      return keys
    }
    // Nothing usable and we just failed: fail fast instead of queueing every request behind a timeout.
    if (failing() && cooling && inflight === undefined) return usableSet()
    await refresh()
    return usableSet()
  }

  async function getKey(kid: string): Promise<VerificationKey> {
    let set = await ensureUsable()
    let key = set.get(kid)
    if (key === undefined && (inflight !== undefined || now() - lastAttemptAt >= cooldownMs)) {
      // Possibly a key published since our last fetch (e.g. after an emergency revoke): one refetch, shared.
      await refresh()
      set = usableSet()
      key = set.get(kid)
    }
    if (key === undefined) throw new VerifierError('ERR_KEY_UNKNOWN', 'no usable key with this kid in the issuer JWKS')
    return key
  }

  function status(): VerifierStatus {
    const t = now()
    const hasKeys = keys !== undefined
    let state: VerifierStatus['state']
    if (!hasKeys) state = failing() ? 'unavailable' : 'empty'
    else if (t < freshUntil) state = 'fresh'
    else if (!failing()) state = 'revalidate'
    else state = t < usableUntil() ? 'stale' : 'unavailable'
    return {
      state,
      jwksUri: jwksUri?.href ?? null,
      keyCount: keys?.size ?? 0,
      kids: [...(keys?.keys() ?? [])],
      ignoredKeys,
      lastFetchAt: lastFetchAt ?? null,
      lastChangeAt: lastChangeAt ?? null,
      freshUntil: hasKeys ? freshUntil : null,
      staleSince: hasKeys && failing() && t >= freshUntil ? freshUntil : null,
      usableUntil: hasKeys ? usableUntil() : null,
      lastError: lastError ? { code: lastError.code, message: lastError.message, at: lastError.at } : null,
      fetches,
      notModified,
      failures,
    }
  }

  return { getKey, refresh, status }
}
