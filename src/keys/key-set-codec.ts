import { KeyturnError } from '../errors.js'
import { isAlg } from './algorithms.js'
import type { KeyRecord, KeySet, KeyState, PublicJwk } from './key-set.js'

const STATES: readonly KeyState[] = ['next', 'active', 'retired', 'revoked']

function corrupt(detail: string): never {
  throw new KeyturnError('ERR_KEYSET_CORRUPT', `key set is damaged: ${detail}`)
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
const optionalTime = (value: unknown, field: string): number | undefined => {
  if (value === undefined) return undefined
  return isTime(value) ? value : corrupt(`${field} is not a time`)
}

/**
 * Parses and checks a stored key set: a damaged file is reported, never half-used.
 * @throws KeyturnError `ERR_KEYSET_CORRUPT`
 */
export function parseKeySet(text: string): KeySet {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return corrupt('not JSON')
  }
  if (typeof raw !== 'object' || raw === null) return corrupt('not an object')
  const { version, updatedAt, keys } = raw as Record<string, unknown>
  if (!isTime(version) || !isTime(updatedAt) || !Array.isArray(keys)) return corrupt('missing version, updatedAt or keys')
  const parsed = keys.map((entry: unknown, index): KeyRecord => {
    const key = (typeof entry === 'object' && entry !== null ? entry : corrupt(`keys[${index}] is not an object`)) as Record<string, unknown>
    const { kid, alg, state, createdAt, publicJwk, privateJwe } = key
    if (typeof kid !== 'string' || !isAlg(alg) || !STATES.includes(state as KeyState) || !isTime(createdAt)) {
      return corrupt(`keys[${index}] lacks kid, alg, state or createdAt`)
    }
    const jwk = publicJwk as Partial<PublicJwk> | undefined
    if (!jwk || jwk.kid !== kid || jwk.alg !== alg || (jwk.kty !== 'RSA' && jwk.kty !== 'EC')) return corrupt(`keys[${index}].publicJwk does not match ${kid}`)
    if (privateJwe !== undefined && typeof privateJwe !== 'string') return corrupt(`keys[${index}].privateJwe is not a string`)
    return {
      kid, alg, state: state as KeyState, createdAt,
      activatedAt: optionalTime(key.activatedAt, `keys[${index}].activatedAt`),
      retiredAt: optionalTime(key.retiredAt, `keys[${index}].retiredAt`),
      revokedAt: optionalTime(key.revokedAt, `keys[${index}].revokedAt`),
      publicJwk: jwk as PublicJwk,
      ...(privateJwe === undefined ? {} : { privateJwe }),
    }
  })
  return { version, updatedAt, keys: parsed }
}
