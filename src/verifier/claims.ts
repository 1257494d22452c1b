import { VerifierError } from './errors.js'

/** RFC 8693 §4.1 delegation: who is acting on behalf of `sub`, possibly nested. */
export interface ActorClaim {
  readonly sub: string
  readonly act?: ActorClaim
  readonly [claim: string]: unknown
}

/**
 * The claims of a verified RFC 9068 access token. Required ones are guaranteed present with these types; any other
 * claim (e.g. `roles`) is passed through as `unknown`.
 */
export interface AccessTokenClaims {
  readonly iss: string
  readonly sub: string
  readonly aud: string | readonly string[]
  /** Expiry, seconds since the epoch. */
  readonly exp: number
  /** Issued at, seconds since the epoch. */
  readonly iat: number
  readonly jti: string
  readonly client_id: string
  /** Space-separated scopes (RFC 8693 §4.2); absent means none. Use {@link scopesOf} / {@link hasScopes}. */
  readonly scope?: string
  readonly nbf?: number
  readonly act?: ActorClaim
  readonly [claim: string]: unknown
}

/** What the claims are checked against. */
export interface ClaimExpectations {
  readonly issuer: string
  readonly audiences: readonly string[]
  /** Seconds. */
  readonly clockTolerance: number
  /** Current time, epoch milliseconds. */
  readonly now: number
}

const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v !== ''
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Checks a decoded payload against the RFC 9068 profile and returns it typed. Pure: time comes from `expect.now`.
 * Order: issuer, audience, required claim types, then time (so a token for someone else is reported as such).
 */
export function checkClaims(payload: unknown, expect: ClaimExpectations): AccessTokenClaims {
  if (!isObject(payload)) throw new VerifierError('ERR_TOKEN_MALFORMED', 'token payload is not a JSON object')
  const p = payload
  if (p.iss !== expect.issuer) throw new VerifierError('ERR_TOKEN_ISSUER', 'token iss is not the expected issuer')
  const aud = p.aud
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === 'string') ? (aud as string[]) : []
  if (!audiences.some((a) => expect.audiences.includes(a))) {
    throw new VerifierError('ERR_TOKEN_AUDIENCE', 'token aud does not include this service')
  }
  if (!isNumericDate(p.exp)) throw new VerifierError('ERR_TOKEN_CLAIMS', 'token exp is missing or not a number')
  if (!isNumericDate(p.iat)) throw new VerifierError('ERR_TOKEN_CLAIMS', 'token iat is missing or not a number')
  if (p.nbf !== undefined && !isNumericDate(p.nbf)) throw new VerifierError('ERR_TOKEN_CLAIMS', 'token nbf is not a number')
  for (const name of ['sub', 'jti', 'client_id'] as const) {
    if (!isNonEmptyString(p[name])) throw new VerifierError('ERR_TOKEN_CLAIMS', `token ${name} is missing or not a string`)
  }
  if (p.scope !== undefined && typeof p.scope !== 'string') throw new VerifierError('ERR_TOKEN_CLAIMS', 'token scope is not a string')
  if (p.act !== undefined && !(isObject(p.act) && isNonEmptyString(p.act.sub))) {
    throw new VerifierError('ERR_TOKEN_CLAIMS', 'token act is not an actor object')
  }

  const nowSec = expect.now / 1000
  const tol = expect.clockTolerance
  // RFC 7519 §4.1.4: the current time must be before exp.
  if (nowSec - tol >= p.exp) throw new VerifierError('ERR_TOKEN_EXPIRED', 'token has expired')
  if (p.nbf !== undefined && (p.nbf as number) > nowSec + tol) throw new VerifierError('ERR_TOKEN_NOT_YET_VALID', 'token nbf is in the future')
  if (p.iat > nowSec + tol) throw new VerifierError('ERR_TOKEN_NOT_YET_VALID', 'token iat is in the future')
  return p as AccessTokenClaims
}

/** The scopes of a token as a set (empty when there is no `scope` claim). */
export function scopesOf(claims: Pick<AccessTokenClaims, 'scope'>): ReadonlySet<string> {
  return new Set((claims.scope ?? '').split(' ').filter((s) => s !== ''))
}

/** True if the token carries every one of `required`. */
export function hasScopes(claims: Pick<AccessTokenClaims, 'scope'>, ...required: readonly string[]): boolean {
  const granted = scopesOf(claims)
  return required.every((s) => granted.has(s))
}
