import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { KeyturnError } from '../errors.js'

/**
 * scrypt parameters of new hashes. N = 2^16, r = 8, p = 1 needs 128·N·r = 64 MiB and some 100-250 ms of one
 * core: slow enough to make guessing expensive, cheap enough for a login and a few at once on the libuv pool.
 * (OWASP's floor is N = 2^17 at r = 8, p = 1; set KEYTURN_PASSWORD_HASH_COST=17 where 128 MiB a login is fine.)
 * Only log2 N is configurable; r and p stay put, so one number says how slow and how big a hash is.
 */
export const PASSWORD_HASH_PARAMS = Object.freeze({
  log2N: 16,
  r: 8,
  p: 1,
  saltBytes: 16,
  keyBytes: 32,
  /** Enough for the default cost: `scryptMaxmem(16, 8, 1)`, just over 64 MiB. */
  maxmem: scryptMaxmem(16, 8, 1),
})

/** The range of log2 N keyturn hashes and verifies with: below 14 is too cheap, 20 already takes 1 GiB per hash. */
export const MIN_PASSWORD_HASH_COST = 14
export const MAX_PASSWORD_HASH_COST = 20

/** Password length in Unicode code points, after NFKC normalisation. */
export const MIN_PASSWORD_LENGTH = 8
export const MAX_PASSWORD_LENGTH = 1024

const PREFIX = 'scrypt'
const DECIMAL = /^[1-9]\d{0,2}$/
const B64URL = /^[A-Za-z0-9_-]+$/

interface ParsedHash {
  readonly log2N: number
  readonly r: number
  readonly p: number
  readonly salt: Buffer
  readonly key: Buffer
}

/** Node's `maxmem` for these parameters: what OpenSSL's scrypt allocates, 128·r·(N + p + 2) bytes. */
export function scryptMaxmem(log2N: number, r: number, p: number): number {
  return 128 * r * (2 ** log2N + p + 2)
}

/**
 * Normalises and checks a new password: 8-1024 code points, not only whitespace.
 *
 * NFKC, because one password typed on two devices must be one password: macOS keyboards send "é" decomposed,
 * others composed; input methods send full-width letters; a pasted "ﬁ" is a ligature. NIST SP 800-63B §5.1.1.2
 * asks for NFKC or NFKD before hashing. The cost is that compatibility-equivalent passwords are equal, a loss of
 * entropy far smaller than locking a user out.
 * @throws KeyturnError `ERR_USER_INVALID`
 */
export function normalizePassword(password: string): string {
  const normalized = normalizeForHashing(password)
  const length = normalized === undefined ? Number.POSITIVE_INFINITY : codePoints(normalized)
  if (normalized === undefined || length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new KeyturnError('ERR_USER_INVALID', `password: ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters`)
  }
  if (/^\s*$/u.test(normalized)) throw new KeyturnError('ERR_USER_INVALID', 'password: must not be only whitespace')
  // /token refuses form values with control characters (RFC 6749 Appendix A): such a password could never sign in.
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/u.test(normalized)) throw new KeyturnError('ERR_USER_INVALID', 'password: must not contain control characters (tab excepted)')
  return normalized
}

/**
 * Hashes a new password with a fresh salt, as `scrypt$<log2N>$<r>$<p>$<salt b64url>$<hash b64url>`.
 * @param cost log2 N, from KEYTURN_PASSWORD_HASH_COST.
 * @throws KeyturnError `ERR_USER_INVALID` if the password breaks the rules (see `normalizePassword`).
 * @example const passwordHash = await hashPassword(password, config.passwordHashCost)
 */
export async function hashPassword(password: string, cost: number = PASSWORD_HASH_PARAMS.log2N): Promise<string> {
  checkCost(cost)
  const normalized = normalizePassword(password)
  const { r, p, saltBytes, keyBytes } = PASSWORD_HASH_PARAMS
  const salt = randomBytes(saltBytes)
  const key = await derive(normalized, { log2N: cost, r, p, salt }, keyBytes)
  return [PREFIX, cost, r, p, salt.toString('base64url'), key.toString('base64url')].join('$')
}

/**
 * Checks a password against a stored hash in constant time. A malformed or absurd stored hash (unknown prefix,
 * log2 N above 20, bad base64url, wrong lengths) is simply `false`. Throws only `ERR_OVERLOADED` (see the gate).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  try {
    const parsed = parseHash(stored)
    const normalized = normalizeForHashing(password)
    if (parsed === undefined || normalized === undefined) return false
    const derived = await derive(normalized, parsed, parsed.key.length)
    return timingSafeEqual(derived, parsed.key)
  } catch (error) {
    // Overload is no answer about the password: the caller must say "retry", never "wrong password".
    if (error instanceof KeyturnError && error.code === 'ERR_OVERLOADED') throw error
    return false
  }
}

/**
 * The same work as `verifyPassword` against a hash of `cost`, always `false`: what a caller runs for an unknown or
 * disabled user, so that answer takes as long as "wrong password" and does not reveal which usernames exist.
 */
export async function verifyAgainstDummy(password: string, cost: number = PASSWORD_HASH_PARAMS.log2N): Promise<false> {
  await verifyPassword(password, dummyHash(cost))
  return false
}

/** True when a stored hash is not what `hashPassword(…, cost)` makes today: rehash it after the next sign-in. */
export function needsRehash(stored: string, cost: number = PASSWORD_HASH_PARAMS.log2N): boolean {
  const parsed = parseHash(stored)
  const { r, p, saltBytes, keyBytes } = PASSWORD_HASH_PARAMS
  return parsed === undefined || parsed.log2N !== cost || parsed.r !== r || parsed.p !== p
    || parsed.salt.length !== saltBytes || parsed.key.length !== keyBytes
}

/** A well-formed hash of `cost` that no password matches (its key is random, not derived). One per cost per process. */
export function dummyHash(cost: number): string {
  checkCost(cost)
  let hash = dummies.get(cost)
  if (hash === undefined) {
    const { r, p, saltBytes, keyBytes } = PASSWORD_HASH_PARAMS
    hash = [PREFIX, cost, r, p, randomBytes(saltBytes).toString('base64url'), randomBytes(keyBytes).toString('base64url')].join('$')
    dummies.set(cost, hash)
  }
  return hash
}
const dummies = new Map<number, string>()

function checkCost(cost: number): void {
  if (!Number.isInteger(cost) || cost < MIN_PASSWORD_HASH_COST || cost > MAX_PASSWORD_HASH_COST) {
    throw new RangeError(`password hash cost (log2 N) must be an integer from ${MIN_PASSWORD_HASH_COST} to ${MAX_PASSWORD_HASH_COST}`)
  }
}

/** NFKC form of a presented password; undefined past any plausible length (normalising megabytes is work too). */
function normalizeForHashing(password: string): string | undefined {
  if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH * 4) return undefined
  const normalized = password.normalize('NFKC')
  return codePoints(normalized) > MAX_PASSWORD_LENGTH ? undefined : normalized
}

const codePoints = (text: string): number => {
  let count = 0
  for (const _ of text) count++
  return count
}

/** Parses a stored hash strictly; anything unexpected, or parameters that would cost more than cost 20, is undefined. */
function parseHash(stored: unknown): ParsedHash | undefined {
  if (typeof stored !== 'string' || stored.length > 512) return undefined
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined
  const [log2N, r, p] = parts.slice(1, 4).map((part) => (DECIMAL.test(part) ? Number(part) : Number.NaN)) as [number, number, number]
  if (!(log2N >= MIN_PASSWORD_HASH_COST && log2N <= MAX_PASSWORD_HASH_COST) || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16)) return undefined
  // Bound memory and time by what the highest allowed cost with our r and p takes, whatever the mix.
  const ceiling = 2 ** MAX_PASSWORD_HASH_COST * PASSWORD_HASH_PARAMS.r
  if (2 ** log2N * r > ceiling || 2 ** log2N * r * p > ceiling) return undefined
  const salt = base64url(parts[4]!)
  const key = base64url(parts[5]!)
  if (!salt || !key || salt.length < 16 || salt.length > 64 || key.length < 16 || key.length > 64) return undefined
  return { log2N, r, p, salt, key }
}

/** Strict base64url: Buffer.from alone skips characters it does not know, so check the round trip. */
function base64url(text: string): Buffer | undefined {
  if (!B64URL.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : undefined
}

/**
 * At most this many hashes run at once. libuv has 4 threads by default and WebCrypto signs on the same pool:
 * unbounded scrypt (64 MiB and ~100 ms each) during a password spray from many addresses would starve token
 * signing for every other client and grow memory with each request.
 */
export const MAX_CONCURRENT_HASHES = 2
/** Hashes allowed to wait for a slot; past this a sign-in is refused at once (503, retry) instead of queueing. */
export const MAX_WAITING_HASHES = 32

/** A counting semaphore with a bounded queue. */
export function createHashGate(slots: number, maxWaiting: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: (() => void)[] = []
  const release = (): void => {
    const next = waiting.shift()
    if (next) next()
    else running--
  }
  return async (work) => {
    if (running >= slots) {
      if (waiting.length >= maxWaiting) throw new KeyturnError('ERR_OVERLOADED', 'too many password hashes are in progress')
      await new Promise<void>((resolve) => waiting.push(resolve))
    } else {
      running++
    }
    try {
      return await work()
    } finally {
      release()
    }
  }
}

const gate = createHashGate(MAX_CONCURRENT_HASHES, MAX_WAITING_HASHES)

/** Async scrypt on the libuv pool (never scryptSync, which would stall every request for the hash's duration). */
function derive(password: string, { log2N, r, p, salt }: Omit<ParsedHash, 'key'>, keyLength: number): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** log2N, r, p, maxmem: scryptMaxmem(log2N, r, p) }
  return gate(() => new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, options, (error, derived) => (error ? reject(error) : resolve(derived)))
  }))
}
