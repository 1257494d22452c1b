import t from 'tap'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import {
  dummyHash, hashPassword, MAX_PASSWORD_HASH_COST, needsRehash, normalizePassword, PASSWORD_HASH_PARAMS, scryptMaxmem, verifyAgainstDummy, verifyPassword,
  createHashGate, MAX_CONCURRENT_HASHES, MAX_WAITING_HASHES,
} from '../../src/users/password.js'
import { loadConfig } from '../../src/config.js'

// Cost 14 (16 MiB) keeps the suite fast; the format and the checks are the same at every cost.
const COST = 14
const PASSWORD = 'correct horse battery staple'

t.test('default parameters: log2 N 16, r 8, p 1, 16-byte salt, 32-byte key, maxmem above 64 MiB', async (t) => {
  t.match(PASSWORD_HASH_PARAMS, { log2N: 16, r: 8, p: 1, saltBytes: 16, keyBytes: 32 })
  t.ok(PASSWORD_HASH_PARAMS.maxmem >= 64 * 1024 * 1024 && PASSWORD_HASH_PARAMS.maxmem < 65 * 1024 * 1024)
})

t.test('hash and verify round trip, in the documented format', async (t) => {
  const stored = await hashPassword(PASSWORD, COST)
  const parts = stored.split('$')
  t.equal(parts.length, 6)
  t.same(parts.slice(0, 4), ['scrypt', '14', '8', '1'])
  t.equal(Buffer.from(parts[4]!, 'base64url').length, 16, 'salt')
  t.equal(Buffer.from(parts[5]!, 'base64url').length, 32, 'key')
  t.equal(await verifyPassword(PASSWORD, stored), true)
  t.equal(await verifyPassword(`${PASSWORD}!`, stored), false, 'wrong password')
  t.equal(await verifyPassword('Correct horse battery staple', stored), false, 'case matters')
  t.equal(await verifyPassword('', stored), false)
})

t.test('the default cost hashes within maxmem', async (t) => {
  const stored = await hashPassword(PASSWORD)
  t.equal(stored.split('$')[1], '16')
  t.equal(await verifyPassword(PASSWORD, stored), true)
})

t.test('the same password twice gets two salts and two hashes', async (t) => {
  const [a, b] = await Promise.all([hashPassword(PASSWORD, COST), hashPassword(PASSWORD, COST)])
  t.not(a!.split('$')[4], b!.split('$')[4])
  t.not(a, b)
})

t.test('malformed or absurd stored hashes are false, never a throw', async (t) => {
  const good = await hashPassword(PASSWORD, COST)
  const [, , , , salt, key] = good.split('$') as [string, string, string, string, string, string]
  const cases: [string, unknown][] = [
    ['empty', ''],
    ['not a string', undefined],
    ['wrong prefix', good.replace(/^scrypt/, 'bcrypt')],
    ['argon2 style', `$argon2id$v=19$m=65536,t=3,p=4$${salt}$${key}`],
    ['log2 N 30', `scrypt$30$8$1$${salt}$${key}`],
    ['log2 N 21', `scrypt$21$8$1$${salt}$${key}`],
    ['log2 N 4', `scrypt$4$8$1$${salt}$${key}`],
    ['log2 N zero', `scrypt$0$8$1$${salt}$${key}`],
    ['negative r', `scrypt$14$-8$1$${salt}$${key}`],
    ['r too large', `scrypt$14$1024$1$${salt}$${key}`],
    ['p too large', `scrypt$14$8$100000$${salt}$${key}`],
    ['memory above the ceiling', `scrypt$20$16$1$${salt}$${key}`],
    ['leading zero', `scrypt$014$8$1$${salt}$${key}`],
    ['exponent notation', `scrypt$1e1$8$1$${salt}$${key}`],
    ['hex', `scrypt$0x10$8$1$${salt}$${key}`],
    ['fraction', `scrypt$14.5$8$1$${salt}$${key}`],
    ['missing field', `scrypt$14$8$${salt}$${key}`],
    ['extra field', `${good}$extra`],
    ['truncated', good.slice(0, good.length - 10)],
    ['truncated to the salt', good.slice(0, good.lastIndexOf('$'))],
    ['empty key', `scrypt$14$8$1$${salt}$`],
    ['short salt', `scrypt$14$8$1$${salt.slice(0, 8)}$${key}`],
    ['not base64url', `scrypt$14$8$1$${salt}$${key.slice(0, -2)}+/`],
    ['padding', `scrypt$14$8$1$${salt}$${key}=`],
    ['huge', `scrypt$14$8$1$${salt}$${'A'.repeat(100_000)}`],
  ]
  for (const [name, stored] of cases) {
    t.equal(await verifyPassword(PASSWORD, stored as string), false, name)
    t.equal(needsRehash(stored as string, COST), true, `${name}: needs a rehash`)
  }
})

t.test('needsRehash: only a hash of today\'s cost and parameters is current', async (t) => {
  const stored = await hashPassword(PASSWORD, COST)
  t.equal(needsRehash(stored, COST), false)
  t.equal(needsRehash(stored, 15), true, 'cost raised')
  t.equal(needsRehash(stored), true, 'default cost is 16')
  const [, , , , salt, key] = stored.split('$')
  const otherR = `scrypt$14$4$1$${salt}$${key}`
  t.equal(needsRehash(otherR, COST), true, 'different r')
  t.equal(await verifyPassword(PASSWORD, otherR), false, 'parsed, but it is another derivation')
})

t.test('NFKC: compatibility-equivalent passwords are one password', async (t) => {
  const stored = await hashPassword('\uFB01nally-secret', COST) // 'ﬁ' ligature
  t.equal(await verifyPassword('finally-secret', stored), true, 'ligature vs letters')
  const composed = await hashPassword('caf\u00e9-au-lait', COST)
  t.equal(await verifyPassword('cafe\u0301-au-lait', composed), true, 'composed vs decomposed é')
  const fullWidth = await hashPassword('\uFF50\uFF41\uFF53\uFF53\uFF57\uFF4F\uFF52\uFF44', COST) // full-width "password"
  t.equal(await verifyPassword('password', fullWidth), true, 'full-width letters')
  t.equal(await verifyPassword('fïnally-secret', stored), false, 'different letters stay different')
})

t.test('password rules: 8-1024 characters after NFKC, not only whitespace', async (t) => {
  const rejects: [string, string][] = [
    ['empty', ''],
    ['7 characters', 'a'.repeat(7)],
    ['1025 characters', 'a'.repeat(1025)],
    ['only spaces', ' '.repeat(12)],
    ['only mixed whitespace', ' \t\u00a0\u3000 \t  \u2003'],
    ['600 ligatures are 1200 letters after NFKC', '\uFB01'.repeat(600)],
    ['far too long to even normalise', 'a'.repeat(100_000)],
    ['a NUL (the token endpoint refuses control characters)', 'password\u0000123'],
    ['a newline', 'password\n123'],
    ['DEL', 'password\u007f123'],
  ]
  for (const [name, password] of rejects) {
    t.throws(() => normalizePassword(password), { code: 'ERR_USER_INVALID' }, name)
    await t.rejects(hashPassword(password, COST), { code: 'ERR_USER_INVALID' }, `${name}: hashPassword refuses too`)
  }
  t.equal(normalizePassword('a'.repeat(8)), 'a'.repeat(8), '8 is enough')
  t.equal(normalizePassword('tab\tis allowed'), 'tab\tis allowed', 'a tab is allowed, as /token allows it')
  t.equal(normalizePassword('a'.repeat(1024)).length, 1024, '1024 is allowed')
  t.equal(normalizePassword('\u{1F511}'.repeat(8)), '\u{1F511}'.repeat(8), 'counted in code points, not UTF-16 units')
  t.equal(normalizePassword('\uFB01'.repeat(4)), 'fi'.repeat(4), 'counted after normalisation')
  t.equal(normalizePassword('  padded password  '), '  padded password  ', 'surrounding spaces are kept: they are part of it')
  t.throws(() => normalizePassword('\u{1F511}'.repeat(1025)), { code: 'ERR_USER_INVALID' })
})

t.test('verifyPassword with an overlong presented password is false, without throwing', async (t) => {
  const stored = await hashPassword(PASSWORD, COST)
  t.equal(await verifyPassword('a'.repeat(1_000_000), stored), false)
  t.equal(await verifyPassword(undefined as unknown as string, stored), false)
})

t.test('hashPassword refuses a cost outside 14..20', async (t) => {
  await t.rejects(hashPassword(PASSWORD, 13), RangeError)
  await t.rejects(hashPassword(PASSWORD, MAX_PASSWORD_HASH_COST + 1), RangeError)
  await t.rejects(hashPassword(PASSWORD, 14.5), RangeError)
})

t.test('verifyAgainstDummy runs the same scrypt as a real verification of that cost', async (t) => {
  // Wall-clock comparisons are flaky; count the work instead, by wrapping node:crypto's scrypt for this test.
  const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
  const original = crypto.scrypt
  const calls: { passwordLength: number; keylen: number; options: { N?: number; r?: number; p?: number } }[] = []
  crypto.scrypt = ((password: string, salt: Buffer, keylen: number, options: object, callback: () => void) => {
    calls.push({ passwordLength: password.length, keylen, options: options as { N: number } })
    return original(password, salt, keylen, options, callback)
  }) as typeof crypto.scrypt
  syncBuiltinESMExports()
  t.teardown(() => {
    crypto.scrypt = original
    syncBuiltinESMExports()
  })

  const stored = await hashPassword(PASSWORD, COST)
  calls.length = 0
  t.equal(await verifyPassword('wrong password here', stored), false)
  t.equal(await verifyAgainstDummy('wrong password here', COST), false)
  t.equal(await verifyAgainstDummy(PASSWORD, COST), false, 'even the right password of someone else')
  t.equal(calls.length, 3, 'one scrypt each')
  t.same(calls[1], calls[0], 'the dummy derivation has the real one\'s N, r, p, key length and input')
  t.match(calls[1]!.options, { N: 2 ** COST, r: 8, p: 1 })

  calls.length = 0
  await verifyAgainstDummy(PASSWORD, 16)
  t.match(calls, [{ options: { N: 2 ** 16 } }], 'the cost asked for')
  t.equal(needsRehash(dummyHash(COST), COST), false, 'the dummy is a well-formed current hash')
  t.equal(dummyHash(COST), dummyHash(COST), 'made once per cost')
})

t.test('scryptMaxmem covers what OpenSSL allocates', async (t) => {
  t.equal(scryptMaxmem(16, 8, 1), 128 * 8 * (65536 + 3))
})

t.test('config: KEYTURN_PASSWORD_HASH_COST is an integer 14..20, default 16', async (t) => {
  t.equal(loadConfig({}, '/srv').passwordHashCost, 16)
  t.equal(loadConfig({ KEYTURN_PASSWORD_HASH_COST: '20' }, '/srv').passwordHashCost, 20)
  for (const value of ['13', '21', 'fast', '16.5', '']) {
    t.throws(() => loadConfig({ KEYTURN_PASSWORD_HASH_COST: value }, '/srv'), { code: 'ERR_CONFIG', variable: 'KEYTURN_PASSWORD_HASH_COST' }, value)
  }
})

t.test('the hash gate: at most `slots` hashes at once, a bounded FIFO queue, refusal past it, slots always released', async (t) => {
  const gate = createHashGate(2, 3)
  let running = 0
  let peak = 0
  const releases: (() => void)[] = []
  const started: number[] = []
  const task = (id: number) => gate(async () => {
    running++
    peak = Math.max(peak, running)
    started.push(id)
    await new Promise<void>((resolve) => releases.push(resolve))
    running--
    return id
  })
  const tasks = [1, 2, 3, 4, 5].map(task)
  await t.rejects(task(6), { code: 'ERR_OVERLOADED' }, 'the sixth: 2 running and 3 waiting already')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(started, [1, 2], 'two start')
  while (releases.length > 0) {
    releases.shift()!()
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.same(await Promise.all(tasks), [1, 2, 3, 4, 5])
  t.same(started, [1, 2, 3, 4, 5], 'waiters start in arrival order')
  t.equal(peak, 2, 'never more than two at once')
  await t.rejects(gate(async () => { throw new Error('hash failed') }), /hash failed/)
  t.equal(await gate(async () => 'after a failure'), 'after a failure', 'a failing hash still frees its slot')
  t.same(await Promise.all([1, 2, 3, 4, 5].map((n) => gate(async () => n))), [1, 2, 3, 4, 5], 'all slots are free again')
})

t.test('the process-wide gate: a burst of sign-ins past its queue gets ERR_OVERLOADED at once, the rest complete', async (t) => {
  const stored = await hashPassword(PASSWORD, COST)
  const burst = MAX_CONCURRENT_HASHES + MAX_WAITING_HASHES + 6
  const results = await Promise.allSettled(Array.from({ length: burst }, () => verifyPassword(PASSWORD, stored)))
  const refused = results.filter((r) => r.status === 'rejected')
  t.equal(refused.length, 6, `${burst} at once: ${MAX_CONCURRENT_HASHES} run, ${MAX_WAITING_HASHES} wait, 6 are refused`)
  t.ok(refused.every((r) => (r as PromiseRejectedResult).reason.code === 'ERR_OVERLOADED'))
  t.ok(results.filter((r) => r.status === 'fulfilled').every((r) => (r as PromiseFulfilledResult<boolean>).value === true))
})
