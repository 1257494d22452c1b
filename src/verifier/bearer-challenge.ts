import type { VerifierErrorCode } from './errors.js'

/** RFC 6750 §3.1 error codes. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

/** What goes into a `WWW-Authenticate: Bearer …` challenge. */
export interface BearerChallenge {
  readonly realm: string
  /** Omitted when the request carried no credentials at all (RFC 6750 §3.1, last paragraph). */
  readonly error?: BearerErrorCode
  readonly description?: string
  /** Space-separated scopes needed (with `insufficient_scope`). */
  readonly scope?: string
}

/** Fixed, client-safe descriptions per verifier code; never derived from token contents. */
export const DESCRIPTIONS: Readonly<Record<VerifierErrorCode, string>> = Object.freeze({
  ERR_TOKEN_MALFORMED: 'the access token is malformed',
  ERR_TOKEN_HEADER: 'the access token header is not acceptable',
  ERR_TOKEN_TYPE: 'the token is not an access token (typ at+jwt)',
  ERR_TOKEN_ALGORITHM: 'the access token algorithm is not acceptable',
  ERR_TOKEN_SIGNATURE: 'the access token signature is invalid',
  ERR_TOKEN_ISSUER: 'the access token was issued by another issuer',
  ERR_TOKEN_AUDIENCE: 'the access token is not meant for this service',
  ERR_TOKEN_EXPIRED: 'the access token expired',
  ERR_TOKEN_NOT_YET_VALID: 'the access token is not valid yet',
  ERR_TOKEN_CLAIMS: 'the access token lacks required claims',
  ERR_KEY_UNKNOWN: 'the access token was signed with an unknown key',
  ERR_JWKS_UNAVAILABLE: 'the token issuer keys are unavailable',
  ERR_DISCOVERY: 'the token issuer could not be discovered',
})

// RFC 6750 §3: realm/description are quoted-strings limited to %x20-21 / %x23-5B / %x5D-7E (no `"` or `\`).
function quoted(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`
}

/** Formats the `WWW-Authenticate` header value. */
export function formatChallenge(c: BearerChallenge): string {
  const params = [`realm=${quoted(c.realm)}`]
  if (c.error !== undefined) params.push(`error="${c.error}"`)
  if (c.description !== undefined) params.push(`error_description=${quoted(c.description)}`)
  if (c.scope !== undefined) params.push(`scope=${quoted(c.scope)}`)
  return `Bearer ${params.join(', ')}`
}

/** RFC 6750 §3 scope-token: %x21 / %x23-5B / %x5D-7E. */
export function isScopeToken(scope: string): boolean {
  return /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)
}

/**
 * Reads `Authorization: Bearer <b64token>` (RFC 6750 §2.1; the scheme is case-insensitive). Returns `undefined` when
 * there is no Bearer credential, `null` when there is one but it is syntactically invalid.
 */
export function bearerToken(authorization: string | undefined): string | null | undefined {
  if (authorization === undefined) return undefined
  const match = /^Bearer(?: +(.*))?$/i.exec(authorization)
  if (match === null) return undefined
  const token = match[1]?.trim() ?? ''
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(token) ? token : null
}
