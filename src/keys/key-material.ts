import { hkdfSync } from 'node:crypto'
import { calculateJwkThumbprint, compactDecrypt, CompactEncrypt, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { KeyturnError } from '../errors.js'
import { ALGORITHMS, type Alg } from './algorithms.js'
import type { KeyRecord, PublicJwk } from './key-set.js'
import type { NewKey } from './rotation-plan.js'

/** The 256-bit key that encrypts private keys at rest, derived from the configured secret. */
export type KeyEncryptionKey = Uint8Array & { readonly __brand: 'KeyEncryptionKey' }

/** Derives a purpose-bound 256-bit key from the operator's secret (HKDF-SHA256), so one secret can serve several uses. */
export function deriveKey(secret: string, purpose: 'key-encryption' | 'client-secret'): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'keyturn', `keyturn/${purpose}/v1`, 32))
}

export function keyEncryptionKey(secret: string): KeyEncryptionKey {
  return deriveKey(secret, 'key-encryption') as KeyEncryptionKey
}

/** Generates a key pair for `alg`: kid = RFC 7638 thumbprint, private part sealed as JWE (`dir` + `A256GCM`). */
export async function generateKey(alg: Alg, kek: KeyEncryptionKey): Promise<NewKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { ...ALGORITHMS[alg].generate, extractable: true })
  const publicJwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256')
  const published = toPublicJwk({ ...publicJwk, kid, alg })
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg }
  const privateJwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
    // `kid` in the protected header binds the ciphertext to its record: a blob moved to another record fails.
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, cty: 'jwk+json' })
    .encrypt(kek)
  return { kid, alg, publicJwk: published, privateJwe }
}

/**
 * Decrypts and imports a key's private part for signing.
 * @throws KeyturnError `ERR_KEY_DECRYPT` for a wrong secret, a tampered blob, or a key that does not match its kid.
 */
export async function openPrivateKey(key: KeyRecord, kek: KeyEncryptionKey): Promise<CryptoKey> {
  if (!key.privateJwe) throw new KeyturnError('ERR_KEY_STATE', `key ${key.kid} has no private part (state ${key.state})`)
  let jwk: JWK
  try {
    const { plaintext, protectedHeader } = await compactDecrypt(key.privateJwe, kek, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] })
    if (protectedHeader.kid !== key.kid) throw new Error('kid mismatch')
    jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JWK
  } catch (cause) {
    throw new KeyturnError('ERR_KEY_DECRYPT', `cannot decrypt the private key ${key.kid}: wrong KEYTURN_KEY_ENCRYPTION_SECRET or a damaged key file`, { cause })
  }
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart } = jwk
  if ((await calculateJwkThumbprint(publicPart, 'sha256')) !== key.kid) {
    throw new KeyturnError('ERR_KEY_DECRYPT', `private key ${key.kid} does not match its kid`)
  }
  return (await importJWK(jwk, key.alg)) as CryptoKey
}

/** Copies exactly the public members of a JWK: the allow-list is what keeps private members from ever leaving. */
export function toPublicJwk(jwk: JWK & { kid: string; alg: Alg }): PublicJwk {
  if (jwk.kty === 'RSA') return { kty: 'RSA', kid: jwk.kid, alg: jwk.alg, use: 'sig', n: String(jwk.n), e: String(jwk.e) }
  if (jwk.kty === 'EC') return { kty: 'EC', kid: jwk.kid, alg: jwk.alg, use: 'sig', crv: String(jwk.crv), x: String(jwk.x), y: String(jwk.y) }
  throw new KeyturnError('ERR_KEYSET_CORRUPT', `unsupported key type ${String(jwk.kty)}`)
}
