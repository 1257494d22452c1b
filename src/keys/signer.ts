import { createPublicKey, KeyObject, sign } from 'node:crypto'
import { compactVerify, type CryptoKey } from 'jose'
import { KeyturnError } from '../errors.js'
import type { Alg } from './algorithms.js'

/**
 * Signs JWS compact serializations (RFC 7515 §7.1) with one key and one fixed protected header, which is encoded
 * once: per token only the payload is serialized and signed.
 */
export interface CompactSigner {
  readonly kid: string
  readonly alg: Alg
  sign(payload: Readonly<Record<string, unknown>>): Promise<string>
}

/** node:crypto's parameters of each algorithm. */
const SIGNING = {
  RS256: { digest: 'sha256', dsaEncoding: undefined },
  // JWS wants ECDSA signatures as r || s (RFC 7518 §3.4), not DER.
  ES256: { digest: 'sha256', dsaEncoding: 'ieee-p1363' },
} as const satisfies Record<Alg, { digest: string; dsaEncoding: 'ieee-p1363' | undefined }>

/**
 * Builds a signer for `key`. jose imported the key, and jose verifies a probe token from the new signer before it
 * is used, so a signature or serialization mistake here fails at key load, never in a verifier.
 *
 * Why not jose's `SignJWT` per token: it goes through WebCrypto, whose argument checks and job hand-off cost some
 * 80 µs of event-loop time per ES256 token, the largest share of a token request's (see docs/performance.md).
 * node:crypto makes the same OpenSSL call for about half of that.
 * @throws KeyturnError `ERR_KEY_STATE` if the probe token does not verify.
 */
export async function createCompactSigner(key: CryptoKey, header: { readonly alg: Alg; readonly kid: string; readonly typ: string }): Promise<CompactSigner> {
  const privateKey = KeyObject.from(key)
  const { digest, dsaEncoding } = SIGNING[header.alg]
  const options = { key: privateKey, ...(dsaEncoding ? { dsaEncoding } : {}) }
  const encodedHeader = Buffer.from(JSON.stringify({ alg: header.alg, kid: header.kid, typ: header.typ })).toString('base64url')

  // With a callback, node:crypto signs on the libuv pool: the event loop only serializes and hands over. Even for
  // ES256 (some 40 µs of signing) that measured faster than signing inline, and RSA would stall the loop for ~0.7 ms.
  const signInput = (input: string): Promise<Buffer> =>
    new Promise((resolve, reject) => sign(digest, Buffer.from(input), options, (error, signature) => (error ? reject(error) : resolve(signature))))
  const signer: CompactSigner = {
    kid: header.kid,
    alg: header.alg,
    async sign(payload) {
      const input = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
      return `${input}.${(await signInput(input)).toString('base64url')}`
    },
  }

  const probe = { probe: true }
  try {
    const { payload, protectedHeader } = await compactVerify(await signer.sign(probe), createPublicKey(privateKey), { algorithms: [header.alg] })
    const ok = protectedHeader.kid === header.kid && protectedHeader.typ === header.typ && new TextDecoder().decode(payload) === JSON.stringify(probe)
    if (!ok) throw new Error('probe token differs')
  } catch (cause) {
    throw new KeyturnError('ERR_KEY_STATE', `signer self-check failed for key ${header.kid}`, { cause })
  }
  return signer
}
