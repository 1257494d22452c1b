import { decodeProtectedHeader } from 'jose'
import type { VerifierAlgorithm } from './algorithms.js'
import { VerifierError } from './errors.js'

/**
 * Three unpadded base64url segments: the only token shape accepted (RFC 7515 §7.1, §2). The signature may be empty
 * here so that an unsecured `alg: none` token is reported as the algorithm attack it is.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
/** Base64url segments separated by dots: checked in one pass, before the per-segment tail check. */
const BASE64URL_DOTS = /^[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)*$/
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * True if every segment is the canonical base64url of its bytes (RFC 4648 §3.5, RFC 7515 §2): only the base64url
 * alphabet, no padding, and zero unused bits. jose's decoder skips whitespace, takes `=` padding and ignores the
 * unused low bits of a segment's last character, so without this one signature has countless spellings that all
 * verify: a token would not be one string. Only the last, partial 4-character group can have unused bits.
 */
export function isCanonicalCompactJws(token: string): boolean {
  if (!BASE64URL_DOTS.test(token)) return false
  let start = 0
  for (;;) {
    const dot = token.indexOf('.', start)
    const end = dot === -1 ? token.length : dot
    const rest = (end - start) % 4
    // 1 leftover character holds no whole byte; 2 carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
    if (rest === 1) return false
    if (rest > 1 && (ALPHABET.indexOf(token[end - 1]!) & (rest === 2 ? 0b1111 : 0b11)) !== 0) return false
    if (dot === -1) return true
    start = dot + 1
  }
}

/** Header parameters that would let the token choose or carry its own key, or demand extensions we don't know. */
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'crit'] as const

/** RFC 9068 §4: `at+jwt`, with or without the `application/` prefix, compared case-insensitively. */
export function isAccessTokenType(typ: unknown): boolean {
  if (typeof typ !== 'string') return false
  const t = typ.toLowerCase()
  return t === 'at+jwt' || t === 'application/at+jwt'
}

/** The header members the verifier acts on. */
export interface CheckedHeader {
  readonly alg: VerifierAlgorithm
  readonly kid: string
}

/**
 * Everything that can be checked before touching the network: size, shape, algorithm allow-list, forbidden
 * headers, `typ`, `kid`. Doing this first means garbage can never trigger a JWKS fetch.
 */
export function checkHeader(token: unknown, limits: { algorithms: ReadonlySet<VerifierAlgorithm>; maxTokenBytes: number }): CheckedHeader {
  if (typeof token !== 'string') throw new VerifierError('ERR_TOKEN_MALFORMED', 'token is not a string')
  if (token.length > limits.maxTokenBytes) throw new VerifierError('ERR_TOKEN_MALFORMED', 'token is too large')
  if (!COMPACT_JWS.test(token)) throw new VerifierError('ERR_TOKEN_MALFORMED', 'token is not a compact JWS')
  let header: Record<string, unknown>
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>
  } catch (cause) {
    throw new VerifierError('ERR_TOKEN_MALFORMED', 'token header is not a base64url JSON object', { cause })
  }
  const alg = header.alg
  if (typeof alg !== 'string' || !(limits.algorithms as ReadonlySet<string>).has(alg)) {
    throw new VerifierError('ERR_TOKEN_ALGORITHM', 'token alg is not allowed')
  }
  for (const name of FORBIDDEN_HEADERS) {
    if (Object.hasOwn(header, name)) throw new VerifierError('ERR_TOKEN_HEADER', `token header must not contain ${name}`)
  }
  if (!isAccessTokenType(header.typ)) throw new VerifierError('ERR_TOKEN_TYPE', 'token typ is not at+jwt')
  const kid = header.kid
  if (typeof kid !== 'string' || kid === '' || kid.length > 256) throw new VerifierError('ERR_TOKEN_HEADER', 'token kid is missing or invalid')
  return { alg: alg as VerifierAlgorithm, kid }
}
