import { DEFAULT_ALGORITHMS, isVerifierAlgorithm, type VerifierAlgorithm } from './algorithms.js'

/**
 * Options of {@link createVerifier}. Only `issuer` and `audience` are required; every duration is in
 * milliseconds except `clockTolerance`, which is in seconds like the JWT time claims it applies to.
 */
export interface VerifierOptions {
  /** The issuer identifier, compared exactly (no trailing-slash normalisation) with discovery `issuer` and token `iss`. */
  issuer: string
  /** This service's audience identifier(s); a token is accepted if its `aud` contains at least one. */
  audience: string | readonly string[]
  /** Accepted signature algorithms. Default `['RS256', 'ES256']`. Symmetric algorithms and `none` are impossible. */
  algorithms?: readonly VerifierAlgorithm[]
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. Default 30. */
  clockTolerance?: number
  /** Fetch implementation (for proxies, tests). Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number
  /** Floor for the JWKS cache lifetime, whatever `max-age` the issuer sends. Default 1000 (1 s). */
  minCacheMs?: number
  /** Ceiling for the JWKS cache lifetime; also the worst-case delay before a revoked key is dropped. Default 300000 (5 min). */
  maxCacheMs?: number
  /** Cache lifetime when the JWKS response has no `max-age` (clamped like any other). Default 60000 (1 min). */
  defaultCacheMs?: number
  /** Minimum time between two fetches triggered by an unknown `kid`, and between retries after a failure. Default 5000. */
  cooldownMs?: number
  /** How long past its freshness the last good JWKS may still be used while the issuer is unreachable. Default 3600000 (1 h). */
  maxStaleMs?: number
  /** Timeout of one discovery or JWKS request, including reading the body. Default 5000. */
  timeoutMs?: number
  /** Largest discovery or JWKS response body accepted. Default 262144 (256 KiB). */
  maxResponseBytes?: number
  /** Largest token accepted; longer ones are refused before any parsing. Default 16384 (16 KiB). */
  maxTokenBytes?: number
  /** Origins besides the issuer's from which a discovered `jwks_uri` may be fetched (e.g. a CDN). Default none. */
  trustedJwksOrigins?: readonly string[]
  /** Allow plain `http:` URLs for non-loopback hosts (loopback is always allowed, for development). Default false. */
  allowHttp?: boolean
}

/** Options after defaults and validation. Internal. */
export interface ResolvedOptions {
  readonly issuer: string
  readonly issuerUrl: URL
  readonly audiences: readonly string[]
  readonly algorithms: ReadonlySet<VerifierAlgorithm>
  readonly clockTolerance: number
  readonly fetch: typeof globalThis.fetch
  readonly now: () => number
  readonly minCacheMs: number
  readonly maxCacheMs: number
  readonly defaultCacheMs: number
  readonly cooldownMs: number
  readonly maxStaleMs: number
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  readonly maxTokenBytes: number
  readonly trustedJwksOrigins: ReadonlySet<string>
  readonly allowHttp: boolean
}

/** Default values, exported so documentation and tests quote the same numbers. */
export const VERIFIER_DEFAULTS = Object.freeze({
  clockTolerance: 30,
  minCacheMs: 1_000,
  maxCacheMs: 300_000,
  defaultCacheMs: 60_000,
  cooldownMs: 5_000,
  maxStaleMs: 3_600_000,
  timeoutMs: 5_000,
  maxResponseBytes: 262_144,
  maxTokenBytes: 16_384,
})

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** True if `url` may be fetched: https, or http to loopback, or http anywhere when `allowHttp`. */
export function isAllowedUrl(url: URL, allowHttp: boolean): boolean {
  if (url.protocol === 'https:') return true
  return url.protocol === 'http:' && (allowHttp || LOOPBACK.has(url.hostname))
}

function duration(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isFinite(v) || v < 0) throw new TypeError(`verifier option ${name} must be a finite number >= 0`)
  return v
}

/** Applies defaults and validates; throws `TypeError` naming the bad option. */
export function resolveOptions(options: VerifierOptions): ResolvedOptions {
  const d = VERIFIER_DEFAULTS
  if (typeof options?.issuer !== 'string' || options.issuer === '') throw new TypeError('verifier option issuer is required')
  let issuerUrl: URL
  try {
    issuerUrl = new URL(options.issuer)
  } catch {
    throw new TypeError('verifier option issuer must be an absolute URL')
  }
  if (issuerUrl.search !== '' || issuerUrl.hash !== '') throw new TypeError('verifier option issuer must not have a query or fragment')
  const allowHttp = options.allowHttp === true
  if (!isAllowedUrl(issuerUrl, allowHttp)) throw new TypeError('verifier option issuer must be https (or http on loopback, or set allowHttp)')

  const audiences = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])]
  if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) {
    throw new TypeError('verifier option audience must be a non-empty string or array of non-empty strings')
  }

  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS
  if (algorithms.length === 0 || !algorithms.every(isVerifierAlgorithm)) {
    throw new TypeError('verifier option algorithms must list asymmetric JWS algorithms (RS*, PS*, ES*, EdDSA)')
  }

  const trusted = new Set<string>()
  for (const origin of options.trustedJwksOrigins ?? []) {
    try {
      trusted.add(new URL(origin).origin)
    } catch {
      throw new TypeError('verifier option trustedJwksOrigins must contain absolute URLs')
    }
  }

  const fetchImpl = options.fetch ?? globalThis.fetch
  if (typeof fetchImpl !== 'function') throw new TypeError('verifier option fetch must be a function')
  const minCacheMs = duration('minCacheMs', options.minCacheMs, d.minCacheMs)
  const maxCacheMs = duration('maxCacheMs', options.maxCacheMs, d.maxCacheMs)
  if (maxCacheMs < minCacheMs) throw new TypeError('verifier option maxCacheMs must be >= minCacheMs')

  return Object.freeze({
    issuer: options.issuer,
    issuerUrl,
    audiences: Object.freeze(audiences),
    algorithms: new Set(algorithms),
    clockTolerance: duration('clockTolerance', options.clockTolerance, d.clockTolerance),
    fetch: fetchImpl,
    now: options.now ?? Date.now,
    minCacheMs,
    maxCacheMs,
    defaultCacheMs: duration('defaultCacheMs', options.defaultCacheMs, d.defaultCacheMs),
    cooldownMs: duration('cooldownMs', options.cooldownMs, d.cooldownMs),
    maxStaleMs: duration('maxStaleMs', options.maxStaleMs, d.maxStaleMs),
    timeoutMs: duration('timeoutMs', options.timeoutMs, d.timeoutMs),
    maxResponseBytes: duration('maxResponseBytes', options.maxResponseBytes, d.maxResponseBytes),
    maxTokenBytes: duration('maxTokenBytes', options.maxTokenBytes, d.maxTokenBytes),
    trustedJwksOrigins: trusted,
    allowHttp,
  })
}
