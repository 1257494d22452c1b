/**
 * How long the issuer says a JWKS response stays fresh (RFC 9111 §4.2.1), in milliseconds: `max-age` minus `Age`,
 * `0` for `no-cache`/`no-store`, `undefined` when the response says nothing. `s-maxage` is for shared caches and is
 * ignored. Clamping to the verifier's bounds is the caller's job.
 */
export function freshnessFromHeaders(headers: Headers): number | undefined {
  const cacheControl = headers.get('cache-control')
  if (cacheControl === null) return undefined
  let maxAge: number | undefined
  for (const part of cacheControl.split(',')) {
    const [rawName = '', rawValue] = part.split('=', 2)
    const name = rawName.trim().toLowerCase()
    if (name === 'no-cache' || name === 'no-store') return 0
    if (name === 'max-age' && rawValue !== undefined) {
      const value = rawValue.trim().replace(/^"(.*)"$/, '$1')
      // Only plain delta-seconds; a malformed max-age means "say nothing" rather than a guess.
      if (/^\d{1,10}$/.test(value)) maxAge = Number(value)
    }
  }
  if (maxAge === undefined) return undefined
  const ageHeader = headers.get('age')?.trim() ?? ''
  const age = /^\d{1,10}$/.test(ageHeader) ? Number(ageHeader) : 0
  return Math.max(0, maxAge - age) * 1000
}

/** Clamps a freshness lifetime into `[min, max]`, using `fallback` when the response gave none. */
export function clampFreshness(freshMs: number | undefined, bounds: { minCacheMs: number; maxCacheMs: number; defaultCacheMs: number }): number {
  const value = freshMs ?? bounds.defaultCacheMs
  return Math.min(bounds.maxCacheMs, Math.max(bounds.minCacheMs, value))
}
