import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { ERROR, GRANT, type ErrorCode, type GrantType } from '../oauth.js'
import type { KeyRing } from '../keys/key-ring.js'
import { activeKey, keysOf, promotesAt, type KeySet, type RotationPolicy } from '../keys/key-set.js'
import type { Alg } from '../keys/algorithms.js'

/** `grant` label: a type from the grant registry, or `unknown` when the request named none keyturn serves. */
export type GrantLabel = GrantType | 'unknown'
/** `outcome` label of a token request: `issued`, the RFC 6749 §5.2 error code sent, or `rate_limited` (429). */
export type TokenOutcome = 'issued' | ErrorCode | 'rate_limited'

export const TOKEN_OUTCOMES: readonly TokenOutcome[] = ['issued', ...Object.values(ERROR), 'rate_limited']

/**
 * The issuer's Prometheus metrics, in a registry of their own (not prom-client's global one), so that every app
 * built in one process counts separately. Every label value comes from a fixed set: never client-supplied text.
 * docs/metrics.md describes each metric.
 */
export interface Metrics {
  readonly registry: Registry
  /** Every POST /token answered, by grant and outcome: the denominator and numerators of error-rate alerts. */
  readonly tokenRequests: Counter<'grant' | 'outcome'>
  /** Access tokens signed, by grant and algorithm. */
  readonly tokensIssued: Counter<'grant' | 'alg'>
  readonly tokenDuration: Histogram<'grant'>
  /** JWKS responses by status: `200` (body sent) or `304` (the verifier's copy is current). */
  readonly jwksResponses: Counter<'status'>
  /** Refresh tokens presented after they had been used (RFC 9700 §4.14.2); each revoked its family. */
  readonly refreshReuse: Counter
  /** Requests refused by a rate limit, by route path and `LimitScope` (src/http/rate-limits.ts `onLimited`). */
  readonly rateLimited: Counter<'route' | 'scope'>
  /** The text served at /metrics: this registry's, or in a cluster worker every worker's summed (./cluster.ts). */
  scrape(): Promise<string>
  readonly contentType: string
}

export interface MetricsDeps {
  readonly keys: KeyRing
  /** The rotation policy the rotation job plans with; its `algs` label the key gauges. */
  readonly policy: RotationPolicy
  readonly now: () => number
  /** Replaces the default scrape of `registry` (a cluster worker asks the primary for every worker's metrics). */
  readonly scrape?: (registry: Registry) => Promise<string>
}

/** Spans a 1–50 ms service with room for the slow tail (password hashing, a slow database). */
const TOKEN_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/**
 * Creates the registry with default process metrics (`process_*`, `nodejs_*`) and keyturn's own (`keyturn_*`).
 * @example const metrics = createMetrics({ keys, policy: rotationPolicy(config), now: Date.now })
 */
export function createMetrics({ keys, policy, now, scrape }: MetricsDeps): Metrics {
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })

  const tokenRequests = new Counter({
    name: 'keyturn_token_requests_total', help: 'Token endpoint responses by grant type and outcome (issued, or the OAuth error code returned).',
    labelNames: ['grant', 'outcome'] as const, registers,
  })
  const tokensIssued = new Counter({
    name: 'keyturn_tokens_issued_total', help: 'Access tokens issued, by grant type and signing algorithm.', labelNames: ['grant', 'alg'] as const, registers,
  })
  const tokenDuration = new Histogram({
    name: 'keyturn_token_request_duration_seconds', help: 'Time from the start of a token request until its response is ready, by grant type.',
    labelNames: ['grant'] as const, buckets: TOKEN_DURATION_BUCKETS, registers,
  })
  const jwksResponses = new Counter({
    name: 'keyturn_jwks_responses_total', help: 'JWKS responses by HTTP status (200 with the key set, 304 not modified).', labelNames: ['status'] as const, registers,
  })
  const refreshReuse = new Counter({
    name: 'keyturn_refresh_token_reuse_total', help: 'Used refresh tokens presented again; each detection revoked the token family.', registers,
  })
  const rateLimited = new Counter({
    name: 'keyturn_rate_limited_total', help: 'Requests refused by a rate limit, by route and limit scope (ip, client, auth_failure).',
    labelNames: ['route', 'scope'] as const, registers,
  })

  // Series that exist from the start, so rates and ratios over them are defined before the first event.
  for (const grant of Object.values(GRANT)) for (const alg of policy.algs) tokensIssued.labels(grant, alg).inc(0)
  for (const status of ['200', '304']) jwksResponses.labels(status).inc(0)

  // Read from the key ring at scrape time. In a cluster the worst worker's view wins (see docs/metrics.md).
  const perAlg = (name: string, help: string, aggregator: 'max' | 'min', seconds: (set: KeySet, alg: Alg, at: number) => number | undefined): void => {
    new Gauge({
      name, help, labelNames: ['alg'] as const, registers, aggregator,
      collect() {
        this.reset()
        const set = keys.current()
        const at = now()
        for (const alg of policy.algs) {
          const value = seconds(set, alg, at)
          if (value !== undefined) this.set({ alg }, value)
        }
      },
    })
  }
  perAlg('keyturn_signing_key_age_seconds', 'Seconds since the active signing key of each algorithm started signing.', 'max', (set, alg, at) => {
    const active = activeKey(set, alg)
    return active && (at - (active.activatedAt ?? active.createdAt)) / 1000
  })
  perAlg('keyturn_signing_key_rotation_in_seconds', 'Seconds until the scheduled rotation replaces the active signing key of each algorithm; negative when overdue.', 'min', (set, alg, at) => {
    const active = activeKey(set, alg)
    const next = keysOf(set, alg, 'next')[0]
    // Without a published next key the rotation job first creates one; the promotion is a propagation time later.
    return active && next ? (promotesAt(active, next, policy) - at) / 1000 : undefined
  })

  return {
    registry, tokenRequests, tokensIssued, tokenDuration, jwksResponses, refreshReuse, rateLimited,
    scrape: scrape ? () => scrape(registry) : () => registry.metrics(),
    contentType: registry.contentType,
  }
}
