import t, { type Test } from 'tap'
import { createVerifier, type VerifierOptions } from '../../src/verifier/index.js'
import { startIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, fakeClock, makeKey, mint, type TestKey } from './helpers-tokens.js'

/** Waits (real time, bounded) for a background effect; the fake clock does not move. */
async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not reached')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function setup(t: Test, options: Partial<VerifierOptions> = {}) {
  const issuer = await startIssuer()
  t.teardown(() => issuer.close())
  const clock = fakeClock()
  const k1 = await makeKey('RS256')
  issuer.keys = [k1.publicJwk]
  const verifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, now: clock.now, ...options })
  const token = (key: TestKey = k1) => mint(key, claimsAt(issuer.issuer, clock.t))
  return { issuer, clock, k1, verifier, token }
}

t.test('one discovery and one JWKS fetch for 50 concurrent first verifications', async (t) => {
  const { issuer, verifier, token } = await setup(t)
  issuer.jwksDelayMs = 50
  const tokens = await Promise.all(Array.from({ length: 50 }, () => token()))
  const results = await Promise.all(tokens.map((tk) => verifier.verify(tk)))
  t.equal(results.length, 50)
  t.same(issuer.counts, { discovery: 1, jwks: 1, jwks200: 1, jwks304: 0, ifNoneMatch: 0 })
  t.equal(verifier.status().state, 'fresh')
})

t.test('within max-age, verifications do not fetch', async (t) => {
  const { issuer, clock, verifier, token } = await setup(t)
  await verifier.verify(await token())
  for (let i = 0; i < 10; i++) {
    clock.advance(5_000)
    await verifier.verify(await token())
  }
  t.equal(issuer.counts.jwks, 1, '55 s < max-age 60 s')
})

t.test('one JWKS fetch for 50 concurrent tokens with an unknown kid', async (t) => {
  const { issuer, clock, verifier, token } = await setup(t)
  await verifier.verify(await token())
  const k2 = await makeKey('ES256')
  issuer.keys = [...issuer.keys, k2.publicJwk]
  issuer.jwksDelayMs = 50
  clock.advance(6_000) // past the unknown-kid cooldown, still within max-age
  const tokens = await Promise.all(Array.from({ length: 50 }, () => token(k2)))
  const results = await Promise.all(tokens.map((tk) => verifier.verify(tk)))
  t.ok(results.every((c) => c.sub === 'user-123'))
  t.equal(issuer.counts.jwks, 2, 'exactly one refetch')
  t.equal(issuer.counts.discovery, 1, 'discovery is not repeated')
  t.same(verifier.status().kids.toSorted(), [issuer.keys[0]!.kid, k2.kid].toSorted())
})

t.test('unknown kid: at most one refetch per cooldown', async (t) => {
  const { issuer, clock, verifier, token } = await setup(t, { cooldownMs: 5_000 })
  await verifier.verify(await token())
  const stranger = await makeKey('RS256') // never published
  clock.advance(6_000)
  await t.rejects(verifier.verify(await token(stranger)), { code: 'ERR_KEY_UNKNOWN' })
  t.equal(issuer.counts.jwks, 2, 'first unknown kid refetches')
  clock.advance(2_000)
  await t.rejects(verifier.verify(await token(stranger)), { code: 'ERR_KEY_UNKNOWN' })
  t.equal(issuer.counts.jwks, 2, 'second within cooldown does not')
  clock.advance(4_000)
  await t.rejects(verifier.verify(await token(stranger)), { code: 'ERR_KEY_UNKNOWN' })
  t.equal(issuer.counts.jwks, 3, 'after the cooldown it may again')
})

t.test('304: revalidation keeps the cache and extends freshness', async (t) => {
  const { issuer, clock, verifier, token } = await setup(t)
  await verifier.verify(await token())
  clock.advance(61_000)
  await verifier.verify(await token())
  t.equal(issuer.counts.ifNoneMatch, 1, 'conditional request sent')
  t.equal(issuer.counts.jwks304, 1)
  t.equal(issuer.counts.jwks200, 1)
  const s = verifier.status()
  t.equal(s.notModified, 1)
  t.equal(s.keyCount, 1)
  t.equal(s.freshUntil, clock.t + 60_000, 'freshness extended from the 304')
  clock.advance(59_000)
  await verifier.verify(await token())
  t.equal(issuer.counts.jwks, 2, 'no fetch within the extended freshness')
})

t.test('a key the fresh JWKS no longer lists is rejected after the refetch', async (t) => {
  const { issuer, clock, verifier, k1, token } = await setup(t)
  const k2 = await makeKey('ES256')
  issuer.keys = [k1.publicJwk, k2.publicJwk]
  const old = await token(k1)
  await verifier.verify(old)
  issuer.keys = [k2.publicJwk] // emergency revoke of k1
  clock.advance(30_000)
  await verifier.verify(old)
  t.pass('still accepted within max-age (the documented revocation window)')
  clock.advance(31_000)
  await t.rejects(verifier.verify(old), { code: 'ERR_KEY_UNKNOWN' })
  t.same(verifier.status().kids, [k2.kid])
})

t.test('an unknown-kid refetch also drops revoked keys at once', async (t) => {
  const { issuer, clock, verifier, k1, token } = await setup(t)
  const old = await token(k1)
  await verifier.verify(old)
  const k3 = await makeKey('RS256')
  issuer.keys = [k3.publicJwk] // k1 revoked, k3 promoted at once
  clock.advance(6_000)
  await verifier.verify(await token(k3))
  await t.rejects(verifier.verify(old), { code: 'ERR_KEY_UNKNOWN' }, 'k1 gone though max-age has not passed')
})

t.test('max-age is clamped to [minCacheMs, maxCacheMs]; no max-age uses defaultCacheMs', async (t) => {
  const { issuer, clock, verifier, token } = await setup(t, { minCacheMs: 2_000, maxCacheMs: 120_000, defaultCacheMs: 10_000 })
  issuer.maxAge = 3600
  await verifier.verify(await token())
  t.equal(verifier.status().freshUntil, clock.t + 120_000, 'capped at maxCacheMs')
  clock.advance(121_000)
  issuer.maxAge = 0
  await verifier.verify(await token())
  t.equal(verifier.status().freshUntil, clock.t + 2_000, 'floored at minCacheMs')
  clock.advance(2_500)
  issuer.maxAge = undefined
  issuer.etag = false
  await verifier.verify(await token())
  t.equal(verifier.status().freshUntil, clock.t + 10_000, 'no Cache-Control: defaultCacheMs')
  t.equal(issuer.counts.jwks, 3)
})

t.test('issuer down, then up: stale set within maxStaleMs, then ERR_JWKS_UNAVAILABLE, then recovery', async (t) => {
  const { issuer, clock, verifier, token } = await setup(t, { maxStaleMs: 600_000, cooldownMs: 5_000 })
  await verifier.verify(await token())
  const freshUntil = verifier.status().freshUntil
  issuer.mode = 'error'

  clock.advance(61_000)
  await verifier.verify(await token())
  let s = verifier.status()
  t.equal(s.state, 'stale')
  t.equal(s.staleSince, freshUntil)
  t.equal(s.usableUntil, (freshUntil ?? 0) + 600_000)
  t.equal(s.lastError?.code, 'ERR_JWKS_UNAVAILABLE')
  t.equal(s.failures, 1)
  const attempts = issuer.counts.jwks

  clock.advance(2_000)
  await verifier.verify(await token())
  t.equal(issuer.counts.jwks, attempts, 'no retry within the cooldown')

  clock.advance(10_000)
  await verifier.verify(await token()) // answered from the stale set; retry runs in the background
  await until(() => verifier.status().failures === 2)
  t.equal(issuer.counts.jwks, attempts + 1, 'one background retry')

  clock.advance(600_000)
  await t.rejects(verifier.verify(await token()), { code: 'ERR_JWKS_UNAVAILABLE' })
  t.equal(verifier.status().state, 'unavailable')
  const afterBound = issuer.counts.jwks
  await t.rejects(verifier.verify(await token()), { code: 'ERR_JWKS_UNAVAILABLE' })
  t.equal(issuer.counts.jwks, afterBound, 'fails fast within the cooldown')

  issuer.mode = 'up'
  clock.advance(6_000)
  const claims = await verifier.verify(await token())
  t.equal(claims.sub, 'user-123')
  s = verifier.status()
  t.equal(s.state, 'fresh')
  t.equal(s.staleSince, null)
  t.equal(s.lastError, null)
})

t.test('status before and after the first fetch; refresh() warms up', async (t) => {
  const { issuer, verifier, k1 } = await setup(t)
  const before = verifier.status()
  t.equal(before.state, 'empty')
  t.equal(before.jwksUri, null)
  t.equal(before.keyCount, 0)
  const after = await verifier.refresh()
  t.equal(after.state, 'fresh')
  t.equal(after.jwksUri, issuer.jwksUri)
  t.same(after.kids, [k1.kid])
  t.equal(after.fetches, 1)
  t.equal(after.ignoredKeys, 0)
})

t.test('a malformed JWKS response keeps the previous set', async (t) => {
  const { issuer, clock, verifier, token } = await setup(t)
  await verifier.verify(await token())
  issuer.rawJwks = '{"nokeys":true}'
  clock.advance(61_000)
  await verifier.verify(await token())
  t.equal(verifier.status().state, 'stale')
  t.equal(verifier.status().keyCount, 1)
})
