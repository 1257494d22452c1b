/**
 * Every failure of `keyturn/verifier` is a {@link VerifierError} with a stable `code`. Switch on `code`, never on
 * the message: messages are for humans, are constant strings, and never contain token contents.
 */

/** Codes for a token that was looked at and refused: answer `401 invalid_token`. */
export const TOKEN_ERROR_CODES = [
  'ERR_TOKEN_MALFORMED',
  'ERR_TOKEN_HEADER',
  'ERR_TOKEN_TYPE',
  'ERR_TOKEN_ALGORITHM',
  'ERR_TOKEN_SIGNATURE',
  'ERR_TOKEN_ISSUER',
  'ERR_TOKEN_AUDIENCE',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_NOT_YET_VALID',
  'ERR_TOKEN_CLAIMS',
  'ERR_KEY_UNKNOWN',
] as const

/** Codes for "could not check the token right now" (issuer unreachable): answer `503`, not `401`. */
export const UNAVAILABLE_ERROR_CODES = ['ERR_JWKS_UNAVAILABLE', 'ERR_DISCOVERY'] as const

/**
 * Stable error codes.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_TOKEN_MALFORMED` | not a compact JWS (3 canonical base64url parts, no padding), too large, or the header/payload is not a JSON object |
 * | `ERR_TOKEN_HEADER` | forbidden header parameter (`jwk`, `jku`, `x5u`, `x5c`, `crit`) or missing/invalid `kid` |
 * | `ERR_TOKEN_TYPE` | `typ` is not `at+jwt` / `application/at+jwt` (RFC 9068 §4) |
 * | `ERR_TOKEN_ALGORITHM` | `alg` not in the allow-list (`none`, `HS*`, …) or different from the key's own `alg` |
 * | `ERR_TOKEN_SIGNATURE` | the signature does not verify |
 * | `ERR_TOKEN_ISSUER` | `iss` is not the configured issuer |
 * | `ERR_TOKEN_AUDIENCE` | `aud` does not contain a configured audience |
 * | `ERR_TOKEN_EXPIRED` | `exp` has passed (beyond the clock tolerance) |
 * | `ERR_TOKEN_NOT_YET_VALID` | `nbf` or `iat` is in the future (beyond the clock tolerance) |
 * | `ERR_TOKEN_CLAIMS` | a required claim (`exp`, `iat`, `jti`, `sub`, `client_id`) is missing or has the wrong type |
 * | `ERR_KEY_UNKNOWN` | no usable key with this `kid` in the issuer's current JWKS |
 * | `ERR_JWKS_UNAVAILABLE` | the JWKS could not be fetched and no key set is usable (none yet, or stale past `maxStaleMs`) |
 * | `ERR_DISCOVERY` | the discovery document could not be fetched or is wrong (issuer mismatch, bad `jwks_uri`) |
 */
export type VerifierErrorCode = (typeof TOKEN_ERROR_CODES)[number] | (typeof UNAVAILABLE_ERROR_CODES)[number]

/**
 * The only error `verify()` throws.
 *
 * @example
 * ```ts
 * try { await verifier.verify(token) } catch (err) {
 *   if (err instanceof VerifierError && err.code === 'ERR_TOKEN_EXPIRED') { ... }
 * }
 * ```
 */
export class VerifierError extends Error {
  /** Stable machine-readable code. */
  readonly code: VerifierErrorCode

  constructor(code: VerifierErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VerifierError'
    this.code = code
  }

  /** True when the token itself was refused (as opposed to the issuer being unreachable). */
  get isTokenError(): boolean {
    return (TOKEN_ERROR_CODES as readonly string[]).includes(this.code)
  }
}

/** Narrows `err` to a {@link VerifierError}, optionally with a given code. */
export function isVerifierError(err: unknown, code?: VerifierErrorCode): err is VerifierError {
  return err instanceof VerifierError && (code === undefined || err.code === code)
}
