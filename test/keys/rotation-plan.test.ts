import t from 'tap'
import fc from 'fast-check'
import { planPrune, planRevoke, planRotation, type FreshKeys, type NewKey, type Plan } from '../../src/keys/rotation-plan.js'
import { EMPTY_KEY_SET, activeKey, isPublished, keysOf, nextChangeAt, type KeySet, type RotationPolicy } from '../../src/keys/key-set.js'
import type { Alg } from '../../src/keys/algorithms.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const MINUTE = 60_000

/** Fake keys: planning never touches crypto, so the simulation can run thousands of ticks. */
function keyFactory(): (needs: Partial<Record<Alg, number>>) => FreshKeys {
  let counter = 0
  return (needs) => {
    const fresh: FreshKeys = {}
    for (const [alg, count] of Object.entries(needs) as [Alg, number][]) {
      fresh[alg] = Array.from({ length: count }, (): NewKey => {
        const kid = `${alg}-${++counter}`
        return { kid, alg, publicJwk: { kty: 'EC', kid, alg, use: 'sig', crv: 'P-256', x: 'x', y: 'y' }, privateJwe: `sealed-${kid}` }
      })
    }
    return fresh
  }
}

/** What rotate() does, minus the store: plan, supply the keys asked for, plan again. */
function step(set: KeySet, now: number, policy: RotationPolicy, mint: ReturnType<typeof keyFactory>, plan = planRotation): Plan {
  const first = plan(set, now, policy, {})
  return first.kind === 'needs-keys' ? plan(set, now, policy, mint(first.needs)) : first
}

function advance(set: KeySet, now: number, policy: RotationPolicy, mint: ReturnType<typeof keyFactory>): KeySet {
  const plan = step(set, now, policy, mint)
  if (plan.kind === 'needs-keys') throw new Error('plan asked twice')
  return plan.kind === 'change' ? plan.set : set
}

const policyArb = fc.record({
  rotationIntervalMs: fc.integer({ min: HOUR, max: 7 * DAY }),
  propagationRatio: fc.double({ min: 0.01, max: 2, noNaN: true }),
  maxTokenTtlMs: fc.integer({ min: MINUTE, max: DAY }),
  clockSkewMs: fc.integer({ min: 0, max: 5 * MINUTE }),
  reloadLagMs: fc.integer({ min: 100, max: 10_000 }),
  algs: fc.constantFrom<Alg[]>(['RS256'], ['ES256'], ['RS256', 'ES256']),
}).map(({ propagationRatio, ...rest }): RotationPolicy => ({ ...rest, propagationMs: Math.max(MINUTE, Math.floor(rest.rotationIntervalMs * propagationRatio)) }))

interface Token { kid: string; alg: Alg; signedAt: number; exp: number }

t.test('hundreds of simulated days keep every invariant', (t) => {
  fc.assert(fc.property(policyArb, fc.integer({ min: 1, max: 2 ** 31 - 2 }), (policy, seed) => {
    let random = seed
    const next = (): number => {
      random = (random * 48271) % 2147483647 // Park–Miller: a deterministic tick schedule per seed
      return random / 2147483647
    }
    const mint = keyFactory()
    const start = Date.UTC(2026, 0, 1)
    let now = start
    let set = advance(EMPTY_KEY_SET, now, policy, mint)
    const bootstrap = new Set(set.keys.map((key) => key.kid))
    const deleted = new Set<string>()
    let tokens: Token[] = []
    let previous = set
    while (now < start + 300 * DAY) {
      // Ticks come every 5 minutes to 6 hours, with the occasional multi-day outage of every process.
      const tickAt = now + (next() < 0.01 ? MINUTE + Math.floor(next() * 3 * DAY) : 5 * MINUTE + Math.floor(next() * 6 * HOUR))
      // The extreme tokens of the set about to change: one signed just before the tick, and one signed by a
      // process that has not reloaded yet, just before its reload interval ends.
      for (const alg of policy.algs) {
        const key = activeKey(set, alg)!
        for (const signedAt of [tickAt - 1, tickAt + policy.reloadLagMs - 1]) {
          if (!bootstrap.has(key.kid) && signedAt - key.createdAt < policy.propagationMs) {
            throw new Error(`${key.kid} signed after ${signedAt - key.createdAt} ms of publication`)
          }
          tokens.push({ kid: key.kid, alg, signedAt, exp: signedAt + policy.maxTokenTtlMs })
        }
      }
      now = tickAt
      previous = set
      set = advance(set, now, policy, mint)

      for (const alg of policy.algs) {
        if (keysOf(set, alg, 'active').length !== 1) throw new Error(`${alg}: not exactly one active key`)
        if (keysOf(set, alg, 'next').length !== 1) throw new Error(`${alg}: not exactly one next key`)
        const key = activeKey(set, alg)!
        if (!bootstrap.has(key.kid) && now - key.createdAt < policy.propagationMs) throw new Error(`${key.kid} active before it propagated`)
      }
      const published = new Set(set.keys.filter(isPublished).map((key) => key.kid))
      const present = new Set(set.keys.map((key) => key.kid))
      for (const key of previous.keys) if (!present.has(key.kid)) deleted.add(key.kid)
      for (const kid of published) if (deleted.has(kid)) throw new Error(`deleted key ${kid} published again`)
      // Every token signed so far stays verifiable until it expires (plus the verifier's clock skew).
      tokens = tokens.filter((token) => token.exp + policy.clockSkewMs > now)
      for (const token of tokens) {
        if (!published.has(token.kid)) throw new Error(`kid ${token.kid} left the JWKS before its token expired`)
      }
    }
    return true
  }), { numRuns: 60 })
  t.pass('invariants held')
  t.end()
})

t.test('bootstrap creates one active and one next key per algorithm', (t) => {
  const policy: RotationPolicy = { algs: ['RS256', 'ES256'], rotationIntervalMs: DAY, propagationMs: HOUR, maxTokenTtlMs: 15 * MINUTE, clockSkewMs: 0, reloadLagMs: 2000 }
  const plan = step(EMPTY_KEY_SET, 0, policy, keyFactory())
  t.equal(plan.kind, 'change')
  if (plan.kind !== 'change') return t.end()
  t.equal(plan.set.version, 1)
  t.same(plan.transitions.map((tr) => `${tr.alg}:${tr.to}:${tr.reason}`).sort(), ['ES256:active:bootstrap', 'ES256:next:bootstrap', 'RS256:active:bootstrap', 'RS256:next:bootstrap'])
  t.equal(planRotation(plan.set, 1000, policy).kind, 'unchanged', 'nothing due right after bootstrap')
  t.end()
})

t.test('scheduled rotation waits for the interval and for propagation', (t) => {
  const policy: RotationPolicy = { algs: ['ES256'], rotationIntervalMs: DAY, propagationMs: 2 * DAY, maxTokenTtlMs: HOUR, clockSkewMs: MINUTE, reloadLagMs: 2000 }
  const mint = keyFactory()
  const set = advance(EMPTY_KEY_SET, 0, policy, mint)
  t.equal(planRotation(set, DAY, policy).kind, 'unchanged', 'due, but next has not propagated')
  const rotated = advance(set, 2 * DAY, policy, mint)
  t.equal(rotated.version, 2)
  t.equal(keysOf(rotated, 'ES256', 'retired').length, 1)
  t.notOk(keysOf(rotated, 'ES256', 'retired')[0]!.privateJwe, 'a retired key loses its private part')
  const retiredAt = 2 * DAY
  const expiry = retiredAt + policy.reloadLagMs + policy.maxTokenTtlMs + policy.clockSkewMs
  t.equal(nextChangeAt(rotated, policy), expiry, 'the next planned change is the retired key leaving')
  t.equal(keysOf(advance(rotated, expiry - 1, policy, mint), 'ES256', 'retired').length, 1, 'kept until every token expired')
  t.equal(keysOf(advance(rotated, expiry, policy, mint), 'ES256', 'retired').length, 0, 'then deleted')
  t.end()
})

t.test('a requested promotion refuses a key that has not propagated, unless forced', (t) => {
  const policy: RotationPolicy = { algs: ['ES256'], rotationIntervalMs: DAY, propagationMs: HOUR, maxTokenTtlMs: HOUR, clockSkewMs: 0, reloadLagMs: 2000 }
  const mint = keyFactory()
  const set = advance(EMPTY_KEY_SET, 0, policy, mint)
  t.throws(() => planRotation(set, MINUTE, policy, {}, { promote: ['ES256'] }), { code: 'ERR_ROTATION_REFUSED' })
  const forced = step(set, MINUTE, policy, mint, (s, n, p, f) => planRotation(s, n, p, f, { promote: ['ES256'], force: true }))
  t.equal(forced.kind, 'change')
  if (forced.kind === 'change') t.same(forced.transitions.map((tr) => tr.reason), ['forced', 'forced', 'forced'])
  const manual = step(set, HOUR, policy, mint, (s, n, p, f) => planRotation(s, n, p, f, { promote: ['ES256'] }))
  t.equal(manual.kind, 'change', 'promoted once propagated, before the interval')
  t.end()
})

t.test('emergency revoke of the active key promotes next at once and drops the private part', (t) => {
  const policy: RotationPolicy = { algs: ['RS256', 'ES256'], rotationIntervalMs: DAY, propagationMs: HOUR, maxTokenTtlMs: HOUR, clockSkewMs: 0, reloadLagMs: 2000 }
  const mint = keyFactory()
  const set = advance(EMPTY_KEY_SET, 0, policy, mint)
  const active = activeKey(set, 'RS256')!
  const next = keysOf(set, 'RS256', 'next')[0]!
  const plan = step(set, MINUTE, policy, mint, (s, n, _p, f) => planRevoke(s, active.kid, n, f))
  t.equal(plan.kind, 'change')
  if (plan.kind !== 'change') return t.end()
  const revoked = plan.set.keys.find((key) => key.kid === active.kid)!
  t.equal(revoked.state, 'revoked')
  t.equal(revoked.revokedAt, MINUTE)
  t.notOk(revoked.privateJwe)
  t.equal(activeKey(plan.set, 'RS256')!.kid, next.kid)
  t.equal(keysOf(plan.set, 'RS256', 'next').length, 1, 'a fresh next key')
  t.equal(activeKey(plan.set, 'ES256')!.kid, activeKey(set, 'ES256')!.kid, 'other algorithms untouched')
  t.throws(() => planRevoke(plan.set, active.kid, MINUTE, {}), { code: 'ERR_KEY_STATE' })
  t.throws(() => planRevoke(plan.set, 'nope', MINUTE, {}), { code: 'ERR_KEY_NOT_FOUND' })
  // Revoking next and retired keys.
  const nextKid = keysOf(plan.set, 'ES256', 'next')[0]!.kid
  const second = step(plan.set, 2 * MINUTE, policy, mint, (s, n, _p, f) => planRevoke(s, nextKid, n, f))
  t.equal(second.kind, 'change')
  if (second.kind === 'change') t.equal(keysOf(second.set, 'ES256', 'next').length, 1, 'revoked next replaced')
  t.end()
})

t.test('revoke with no next key mints a fresh active and next', (t) => {
  const policy: RotationPolicy = { algs: ['ES256'], rotationIntervalMs: DAY, propagationMs: HOUR, maxTokenTtlMs: HOUR, clockSkewMs: 0, reloadLagMs: 2000 }
  const mint = keyFactory()
  const full = advance(EMPTY_KEY_SET, 0, policy, mint)
  const set: KeySet = { ...full, keys: full.keys.filter((key) => key.state !== 'next') }
  const plan = step(set, MINUTE, policy, mint, (s, n, _p, f) => planRevoke(s, activeKey(s, 'ES256')!.kid, n, f))
  t.equal(plan.kind, 'change')
  if (plan.kind === 'change') {
    t.equal(keysOf(plan.set, 'ES256', 'active').length, 1)
    t.equal(keysOf(plan.set, 'ES256', 'next').length, 1)
  }
  t.end()
})

t.test('an algorithm removed from config retires its active key and drops its next key', (t) => {
  const both: RotationPolicy = { algs: ['RS256', 'ES256'], rotationIntervalMs: DAY, propagationMs: HOUR, maxTokenTtlMs: HOUR, clockSkewMs: 0, reloadLagMs: 2000 }
  const mint = keyFactory()
  const set = advance(EMPTY_KEY_SET, 0, both, mint)
  const onlyEs: RotationPolicy = { ...both, algs: ['ES256'] }
  const after = advance(set, MINUTE, onlyEs, mint)
  t.equal(keysOf(after, 'RS256', 'active').length, 0)
  t.equal(keysOf(after, 'RS256', 'next').length, 0)
  t.equal(keysOf(after, 'RS256', 'retired').length, 1, 'its tokens stay verifiable until they expire')
  t.end()
})

t.test('prune removes expired retired keys and, on request, old revoked keys', (t) => {
  const policy: RotationPolicy = { algs: ['ES256'], rotationIntervalMs: DAY, propagationMs: HOUR, maxTokenTtlMs: HOUR, clockSkewMs: 0, reloadLagMs: 0 }
  const mint = keyFactory()
  let set = advance(EMPTY_KEY_SET, 0, policy, mint)
  const revoke = step(set, MINUTE, policy, mint, (s, n, _p, f) => planRevoke(s, activeKey(s, 'ES256')!.kid, n, f))
  if (revoke.kind !== 'change') return t.fail('revoke')
  set = revoke.set
  t.equal(planPrune(set, 2 * HOUR, policy).kind, 'unchanged', 'revoked keys stay for audit by default')
  const pruned = planPrune(set, 2 * HOUR, policy, { revoked: true })
  t.equal(pruned.kind, 'change')
  if (pruned.kind === 'change') t.equal(pruned.set.keys.filter((key) => key.state === 'revoked').length, 0)
  t.equal(planPrune(set, MINUTE + 30 * MINUTE, policy, { revoked: true }).kind, 'unchanged', 'not while its tokens could be valid')
  t.end()
})
