import { createHash, randomBytes } from 'node:crypto'

/** A new refresh token: 256 random bits, base64url. Only its hash is ever stored. */
export function generateRefreshToken(): string {
  return randomBytes(32).toString('base64url')
}

/** SHA-256 is enough for a 256-bit random value: there is nothing to brute-force. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url')
}

/** An opaque identifier (family ids, …). */
export function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`
}

/** Cheap syntax check before any store lookup: 43 base64url characters. */
export function looksLikeRefreshToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token)
}
