import { compactVerify, errors as joseErrors } from 'jose'
import { checkClaims, type AccessTokenClaims } from './claims.js'
import { VerifierError } from './errors.js'
import { createJwksCache, type VerifierStatus } from './jwks-cache.js'
import { resolveOptions, type VerifierOptions } from './options.js'
import { checkHeader, isCanonicalCompactJws } from './token-header.js'

/** A verifier for one issuer and audience. Holds no timers: nothing to close. */
export interface Verifier {
  /** The configured issuer, exactly as given. */
  readonly issuer: string
  /** The configured audiences. */
  readonly audiences: readonly string[]
  /**
   * Verifies an RFC 9068 access token and returns its claims, or throws a {@link VerifierError}. Never logs.
   */
  verify(token: string): Promise<AccessTokenClaims>
  /** Cache health: state, key ids, last fetch, stale-since, last error, counters. Cheap; no I/O. */
  status(): VerifierStatus
  /**
   * Discovers and fetches the JWKS now (joins a fetch in flight) and returns the resulting status. Use it to warm
   * up at start-up (`(await v.refresh()).state === 'fresh'`); it never throws for network errors.
   */
  refresh(): Promise<VerifierStatus>
}

/**
 * Creates a verifier for access tokens from `issuer`, meant for `audience`. Nothing is fetched until the first
 * `verify()` (or `refresh()`). Throws `TypeError` for invalid options.
 *
 * @example
 * ```ts
 * import { createVerifier } from 'keyturn/verifier'
 *
 * const verifier = createVerifier({ issuer: 'https://id.example.com', audience: 'https://api.example.com' })
 * const claims = await verifier.verify(token) // throws VerifierError with err.code on any problem
 * console.log(claims.sub, claims.client_id, claims.scope)
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const opts = resolveOptions(options)
  const cache = createJwksCache(opts)

  async function verify(token: string): Promise<AccessTokenClaims> {
    const header = checkHeader(token, opts)
    const key = await cache.getKey(header.kid)
    // The key says which algorithm it is for; a token claiming another one is an algorithm-confusion attempt.
    if (key.alg !== header.alg) throw new VerifierError('ERR_TOKEN_ALGORITHM', 'token alg differs from the key alg')
    let payload: Uint8Array
    try {
      ;({ payload } = await compactVerify(token, key.key, { algorithms: [key.alg] }))
    } catch (cause) {
      if (cause instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw new VerifierError('ERR_TOKEN_SIGNATURE', 'token signature is invalid')
      }
      throw new VerifierError('ERR_TOKEN_MALFORMED', 'token could not be verified', { cause })
    }
    // Checked once the signature holds, so that a damaged signature is still reported as ERR_TOKEN_SIGNATURE.
    if (!isCanonicalCompactJws(token)) throw new VerifierError('ERR_TOKEN_MALFORMED', 'token is not canonical base64url')
    return checkClaims(parsePayload(payload), {
      issuer: opts.issuer,
      audiences: opts.audiences,
      clockTolerance: opts.clockTolerance,
      now: opts.now(),
    })
  }

  return Object.freeze({
    issuer: opts.issuer,
    audiences: opts.audiences,
    verify,
    status: () => cache.status(),
    refresh: async () => {
      await cache.refresh()
      return cache.status()
    },
  })
}

function parsePayload(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (cause) {
    throw new VerifierError('ERR_TOKEN_MALFORMED', 'token payload is not JSON', { cause })
  }
}
