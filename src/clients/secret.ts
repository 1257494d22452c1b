import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** Generates a client secret: 256 random bits, base64url. It is shown once and never stored. */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * The stored form of a secret: HMAC-SHA256 under a server key. A generated 256-bit secret cannot be guessed, so it
 * needs no slow hash (which would cap /token throughput); the key means a leaked clients file alone does not
 * let anyone check candidate secrets.
 */
export function hashClientSecret(secret: string, key: Uint8Array): string {
  return createHmac('sha256', key).update(secret, 'utf8').digest('base64url')
}

/** Constant-time check of a presented secret against a stored hash (a missing hash still costs one HMAC). */
export function verifyClientSecret(secret: string, storedHash: string | undefined, key: Uint8Array): boolean {
  const presented = Buffer.from(hashClientSecret(secret, key), 'base64url')
  const expected = storedHash === undefined ? Buffer.alloc(presented.length) : Buffer.from(storedHash, 'base64url')
  return expected.length === presented.length && timingSafeEqual(presented, expected) && storedHash !== undefined
}
