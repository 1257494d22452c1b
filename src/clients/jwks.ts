import { importJWK } from 'jose'
import { KeyturnError } from '../errors.js'
import { ASYMMETRIC_ALGORITHMS } from '../verifier/algorithms.js'

/**
 * The algorithms a client may sign its `private_key_jwt` assertions with: the verifier's asymmetric-only table, so
 * `none` and `HS*` (a shared secret keyturn would have to hold) can never be accepted.
 */
export const ASSERTION_ALGORITHMS = ASYMMETRIC_ALGORITHMS

export type AssertionAlg = keyof typeof ASSERTION_ALGORITHMS
export const ASSERTION_ALGS = Object.keys(ASSERTION_ALGORITHMS) as AssertionAlg[]

export const isAssertionAlg = (value: unknown): value is AssertionAlg => typeof value === 'string' && Object.hasOwn(ASSERTION_ALGORITHMS, value)

/** A client's public key, reduced to the members keyturn uses. */
export interface ClientJwk {
  readonly kty: 'RSA' | 'EC' | 'OKP'
  readonly kid?: string
  readonly alg?: AssertionAlg
  readonly use?: 'sig'
  readonly n?: string
  readonly e?: string
  readonly crv?: string
  readonly x?: string
  readonly y?: string
}

export interface ClientJwks {
  readonly keys: readonly ClientJwk[]
}

// RFC 7518 §6: every member that carries private or symmetric key material.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const CURVES: Record<string, readonly string[]> = { EC: ['P-256', 'P-384', 'P-521'], OKP: ['Ed25519'] }
const MAX_KEYS = 20
const MIN_RSA_BYTES = 2048 / 8
const B64URL = /^[A-Za-z0-9_-]+$/

/**
 * Checks a client's JWK set (registered inline or served at its `jwks_uri`): public signing keys only, of a type an
 * allowed algorithm can use, RSA at least 2048 bits, distinct `kid`s. Returns a copy with only the members keyturn
 * uses, so nothing unexpected is stored or matched on.
 * @throws KeyturnError `ERR_CLIENT_INVALID` naming the key and member
 */
export function validateClientJwks(input: unknown, where = 'jwks'): ClientJwks {
  const fail = (detail: string): never => {
    throw new KeyturnError('ERR_CLIENT_INVALID', `${where}: ${detail}`)
  }
  const keys = (input as { keys?: unknown } | null)?.keys
  if (typeof input !== 'object' || input === null || !Array.isArray(keys)) fail('must be a JWK set, {"keys": [...]}')
  const list = keys as unknown[]
  if (list.length === 0 || list.length > MAX_KEYS) fail(`must hold 1 to ${MAX_KEYS} keys`)
  const kids = new Set<string>()
  const out = list.map((raw, index): ClientJwk => {
    const at = `keys[${index}]`
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${at} is not an object`)
    const jwk = raw as Record<string, unknown>
    const secret = PRIVATE_MEMBERS.find((member) => member in jwk)
    if (secret !== undefined) fail(`${at} has the private member "${secret}": register public keys only`)
    const { kty, kid, alg, use } = jwk
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') fail(`${at}.kty must be RSA, EC or OKP`)
    if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > 256)) fail(`${at}.kid must be a non-empty string`)
    if (typeof kid === 'string') {
      if (kids.has(kid)) fail(`${at}.kid ${JSON.stringify(kid)} appears twice`)
      kids.add(kid)
    }
    if (use !== undefined && use !== 'sig') fail(`${at}.use must be "sig"`)
    if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) fail(`${at}.key_ops must include "verify"`)
    const member = (name: string): string => {
      const value = jwk[name]
      if (typeof value !== 'string' || !B64URL.test(value)) fail(`${at}.${name} must be base64url`)
      return value as string
    }
    let material: Partial<ClientJwk>
    if (kty === 'RSA') {
      material = { n: member('n'), e: member('e') }
      if (Buffer.from(material.n!, 'base64url').length < MIN_RSA_BYTES) fail(`${at}: RSA keys must be at least 2048 bits`)
    } else {
      const crv = jwk.crv
      if (typeof crv !== 'string' || !CURVES[kty as string]!.includes(crv)) fail(`${at}.crv must be one of ${CURVES[kty as string]!.join(', ')}`)
      material = kty === 'EC' ? { crv: crv as string, x: member('x'), y: member('y') } : { crv: crv as string, x: member('x') }
    }
    if (alg !== undefined) {
      if (!isAssertionAlg(alg)) fail(`${at}.alg must be one of ${ASSERTION_ALGS.join(', ')}`)
      const needs: { kty: string; crv?: string } = ASSERTION_ALGORITHMS[alg as AssertionAlg]
      if (needs.kty !== kty || (needs.crv !== undefined && needs.crv !== material.crv)) fail(`${at}.alg ${String(alg)} does not fit a ${String(kty)} ${material.crv ?? ''} key`.trimEnd())
    }
    return {
      kty: kty as ClientJwk['kty'],
      ...(kid === undefined ? {} : { kid: kid as string }),
      ...(alg === undefined ? {} : { alg: alg as AssertionAlg }),
      ...(use === undefined ? {} : { use: 'sig' as const }),
      ...material,
    }
  })
  return { keys: out }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** A `jwks_uri`: https, or http on a loopback host (for development); no credentials, no fragment. */
export function isJwksUri(value: string): boolean {
  if (value.length > 2048 || !URL.canParse(value)) return false
  const url = new URL(value)
  if (url.username !== '' || url.password !== '' || url.hash !== '' || value.includes('#')) return false
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))
}

/** The algorithm a key without `alg` is tried with when checking that it imports. */
function probeAlg(jwk: ClientJwk): AssertionAlg {
  if (jwk.alg) return jwk.alg
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'OKP') return 'EdDSA'
  return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[jwk.crv as 'P-256'] ?? 'ES256'
}

/**
 * Imports every key once (the admin command does, before registering a set): catches a point not on its curve or a
 * modulus that is not a number, which the structural checks of `validateClientJwks` cannot see.
 * @throws KeyturnError `ERR_CLIENT_INVALID` naming the key
 */
export async function checkClientJwksImport(jwks: ClientJwks): Promise<void> {
  for (const [index, jwk] of jwks.keys.entries()) {
    try {
      await importJWK({ ...jwk }, probeAlg(jwk))
    } catch {
      throw new KeyturnError('ERR_CLIENT_INVALID', `jwks: keys[${index}] is not a usable public key`)
    }
  }
}
