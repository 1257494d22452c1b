import { randomBytes } from 'node:crypto'
import { KeyturnError } from '../errors.js'

/** The form usernames are compared in: NFKC, lower case (so "Alice" and "ALICE" are one user). */
export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase()
}

/**
 * Checks a username: 1-254 characters (an e-mail address fits), no control characters or surrounding spaces.
 * @throws KeyturnError `ERR_USER_INVALID`
 */
export function validateUsername(username: string): string {
  if (username.length < 1 || username.length > 254 || username !== username.trim() || /[\x00-\x1f\x7f]/.test(username)) {
    throw new KeyturnError('ERR_USER_INVALID', 'username: 1-254 characters, no control characters or surrounding spaces')
  }
  return username
}

/** Claim names a user's custom claims may never set: registered JWT and RFC 9068 / 8693 claims. */
export const RESERVED_CLAIMS = new Set([
  'iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'client_id', 'scope', 'act', 'may_act', 'cnf', 'typ', 'auth_time', 'acr', 'amr', 'azp', 'sid', 'nonce',
])

/** Claim names: a letter or `_`, then up to 63 of letters, digits, `_`, `.`, `-`. */
export const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/
/** Ceiling on a user's claims as JSON (UTF-8 bytes): they ride in every access token. */
export const MAX_CLAIMS_BYTES = 4096

function invalidClaims(detail: string): never {
  throw new KeyturnError('ERR_USER_INVALID', detail)
}

/**
 * Parses `--claim` arguments. `name=value` gives a string; `name:=json` gives any JSON value (a number, a
 * boolean, a one-element array). A name given more than once collects its values, in order, into an array.
 * @example parseClaims(['roles=admin', 'roles=ops', 'team=x', 'level:=3']) // { roles: ['admin', 'ops'], team: 'x', level: 3 }
 * @throws KeyturnError `ERR_USER_INVALID` naming the claim
 */
export function parseClaims(args: readonly string[]): Record<string, unknown> {
  const values = new Map<string, unknown[]>()
  for (const arg of args) {
    const equals = arg.indexOf('=')
    if (equals < 1) invalidClaims(`claim ${JSON.stringify(arg)}: use name=value or name:=json`)
    const json = arg[equals - 1] === ':'
    const name = arg.slice(0, json ? equals - 1 : equals)
    const text = arg.slice(equals + 1)
    let value: unknown = text
    if (json) {
      try {
        value = JSON.parse(text)
      } catch {
        invalidClaims(`claim ${JSON.stringify(name)}: the value after := is not JSON`)
      }
    }
    checkClaimName(name)
    values.set(name, [...(values.get(name) ?? []), value])
  }
  return validateClaims(Object.fromEntries([...values].map(([name, list]) => [name, list.length === 1 ? list[0] : list])))
}

/**
 * Checks a user's claims before they are stored: names (see `CLAIM_NAME`), no reserved claim, at most 4 KiB of JSON.
 * @throws KeyturnError `ERR_USER_INVALID` naming the claim
 */
export function validateClaims(claims: Readonly<Record<string, unknown>>): Record<string, unknown> {
  for (const name of Object.keys(claims)) checkClaimName(name)
  const json = JSON.stringify(claims)
  if (Buffer.byteLength(json, 'utf8') > MAX_CLAIMS_BYTES) invalidClaims(`claims: at most ${MAX_CLAIMS_BYTES} bytes of JSON, got ${Buffer.byteLength(json, 'utf8')}`)
  return JSON.parse(json) as Record<string, unknown>
}

function checkClaimName(name: string): void {
  if (!CLAIM_NAME.test(name)) invalidClaims(`claim ${JSON.stringify(name)}: names are a letter or _ then up to 63 of A-Z a-z 0-9 _ . -`)
  if (RESERVED_CLAIMS.has(name)) invalidClaims(`claim ${JSON.stringify(name)} is reserved (a registered JWT claim keyturn sets itself)`)
  // Would be an own property in JSON but a prototype write in any later Object.assign into a payload.
  if (name === '__proto__') invalidClaims('claim "__proto__" is not allowed')
}

/** A new user id: opaque and random, because it is the `sub` of the user's tokens and must carry no personal data. */
export function newUserId(): string {
  return `usr_${randomBytes(16).toString('base64url')}`
}
