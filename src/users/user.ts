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
