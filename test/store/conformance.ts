import type { Test } from 'tap'
import type { RefreshFamily, Store, UserRecord } from '../../src/store/types.js'
import type { KeySet } from '../../src/keys/key-set.js'
import { validateClient } from '../../src/clients/client.js'

/** Makes a fresh, empty store for one subtest; the factory owns clean-up (e.g. through `t.teardown`). */
export type StoreFactory = (t: Test) => Promise<Store>

const set = (version: number, kids: string[]): KeySet => ({
  version,
  updatedAt: version * 1000,
  keys: kids.map((kid) => ({
    kid, alg: 'ES256' as const, state: 'active' as const, createdAt: version * 1000,
    publicJwk: { kty: 'EC' as const, kid, alg: 'ES256' as const, use: 'sig' as const, crv: 'P-256', x: 'x', y: 'y' },
  })),
})

/**
 * The store contract, as tests: every store implementation runs this suite (DESIGN §6).
 */
export function storeConformance(t: Test, name: string, factory: StoreFactory): void {
  t.test(`${name}: key set starts empty at version 0`, async (t) => {
    const store = await factory(t)
    t.same(await store.keys.load(), { version: 0, updatedAt: 0, keys: [] })
    t.equal(await store.keys.version(), 0)
    await store.ping()
  })

  t.test(`${name}: compare-and-swap takes exactly the next version`, async (t) => {
    const store = await factory(t)
    t.equal(await store.keys.compareAndSwap(set(2, ['a'])), false, 'a gap is refused')
    t.equal(await store.keys.compareAndSwap(set(1, ['a'])), true)
    t.equal(await store.keys.compareAndSwap(set(1, ['b'])), false, 'a stale writer loses')
    t.same((await store.keys.load()).keys.map((key) => key.kid), ['a'])
    t.equal(await store.keys.compareAndSwap(set(2, ['a', 'b'])), true)
    t.equal(await store.keys.version(), 2)
    t.same(await store.keys.load(), set(2, ['a', 'b']), 'round-trips exactly')
  })

  t.test(`${name}: concurrent compare-and-swaps produce exactly one winner`, async (t) => {
    const store = await factory(t)
    await store.keys.compareAndSwap(set(1, ['base']))
    for (let round = 2; round < 12; round++) {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.keys.compareAndSwap(set(round, [`r${round}-w${i}`]))))
      t.equal(results.filter(Boolean).length, 1, `round ${round}: one winner`)
      const stored = await store.keys.load()
      t.equal(stored.version, round)
      t.equal(stored.keys.length, 1)
      t.equal(stored.keys[0]!.kid, `r${round}-w${results.indexOf(true)}`, 'the stored set is the winner\'s')
    }
    t.equal(await store.keys.version(), 11, 'versions stay contiguous after pruning old ones')
  })

  t.test(`${name}: clients CRUD`, async (t) => {
    const store = await factory(t)
    const client = validateClient({ id: 'svc', secretHash: 'hash', scopes: ['a'], audiences: ['https://api'], createdAt: '2026-01-01T00:00:00Z' })
    t.equal(await store.clients.get('svc'), undefined)
    await store.clients.create(client)
    t.same(await store.clients.get('svc'), client)
    await t.rejects(store.clients.create(client), { code: 'ERR_CLIENT_EXISTS' })
    await store.clients.update({ ...client, scopes: ['a', 'b'] })
    t.same((await store.clients.get('svc'))?.scopes, ['a', 'b'])
    await t.rejects(store.clients.update({ ...client, id: 'ghost' }), { code: 'ERR_CLIENT_NOT_FOUND' })
    t.same((await store.clients.list()).map((c) => c.id), ['svc'])
    t.equal(await store.clients.delete('svc'), true)
    t.equal(await store.clients.delete('svc'), false)
    t.equal(await store.clients.get('svc'), undefined)
  })

  t.test(`${name}: concurrent client creation keeps every client`, async (t) => {
    const store = await factory(t)
    await Promise.all(Array.from({ length: 10 }, (_, i) =>
      store.clients.create(validateClient({ id: `c${i}`, secretHash: 'h', createdAt: '2026-01-01T00:00:00Z' }))))
    t.equal((await store.clients.list()).length, 10, 'no lost update')
  })

  // Users (DESIGN §5): opaque ids, case-insensitive usernames, a token version that only goes up.
  const user = (id: string, username: string, extra: Partial<UserRecord> = {}): UserRecord => ({
    id, username, passwordHash: `scrypt$14$8$1$salt-of-${id}$hash-of-${id}`, claims: { roles: ['a', 'b'], team: 'x' },
    disabled: false, tokenVersion: 0, createdAt: 1000, updatedAt: 1000, ...extra,
  })

  t.test(`${name}: users create, get, getByUsername (case-insensitive), list`, async (t) => {
    const store = await factory(t)
    const alice = user('usr_alice', 'Alice')
    t.equal(await store.users.get(alice.id), undefined)
    t.equal(await store.users.getByUsername('alice'), undefined)
    t.same(await store.users.list(), [])
    await store.users.create(alice)
    t.same(await store.users.get(alice.id), alice, 'round-trips exactly, claims included')
    for (const name of ['Alice', 'alice', 'ALICE', 'aLiCe']) t.same(await store.users.getByUsername(name), alice, name)
    t.same(await store.users.getByUsername('\uFF21lice'), alice, 'NFKC: a full-width A is an A')
    t.equal(await store.users.getByUsername('alice2'), undefined)
    t.equal(await store.users.get('Alice'), undefined, 'get takes the id, not the username')
    await store.users.create(user('usr_bob', 'bob', { disabled: true }))
    t.same((await store.users.list()).map((u) => u.id).sort(), ['usr_alice', 'usr_bob'])
    t.equal((await store.users.get('usr_bob'))?.disabled, true)
  })

  t.test(`${name}: users duplicates are ERR_USER_EXISTS, renames included`, async (t) => {
    const store = await factory(t)
    await store.users.create(user('usr_alice', 'alice'))
    await t.rejects(store.users.create(user('usr_other', 'ALICE')), { code: 'ERR_USER_EXISTS' }, 'same name in another case')
    await t.rejects(store.users.create(user('usr_alice', 'carol')), { code: 'ERR_USER_EXISTS' }, 'same id')
    const bob = user('usr_bob', 'bob')
    await store.users.create(bob)
    await t.rejects(store.users.update({ ...bob, username: 'Alice' }), { code: 'ERR_USER_EXISTS' }, 'renaming onto a taken name')
    t.equal((await store.users.get('usr_bob'))?.username, 'bob', 'the failed rename changed nothing')
    await store.users.update({ ...bob, username: 'Bob' })
    t.equal((await store.users.getByUsername('bob'))?.username, 'Bob', 'renaming to another case of its own name is fine')
    t.same((await store.users.list()).length, 2)
  })

  t.test(`${name}: users update replaces the record but never lowers tokenVersion`, async (t) => {
    const store = await factory(t)
    const alice = user('usr_alice', 'alice')
    await store.users.create(alice)
    t.equal(await store.users.bumpTokenVersion(alice.id, 2000), 1)
    t.equal(await store.users.bumpTokenVersion(alice.id, 3000), 2)
    await store.users.update({ ...alice, claims: { team: 'y' }, disabled: true, passwordHash: 'scrypt$new', updatedAt: 4000 })
    const stored = await store.users.get(alice.id)
    t.equal(stored?.tokenVersion, 2, 'a stale record (version 0) did not roll the version back')
    t.same(stored?.claims, { team: 'y' })
    t.equal(stored?.disabled, true)
    t.equal(stored?.passwordHash, 'scrypt$new')
    t.equal(stored?.createdAt, 1000, 'createdAt stays')
    t.equal(stored?.updatedAt, 4000)
  })

  t.test(`${name}: users bumpTokenVersion is atomic under concurrency`, async (t) => {
    const store = await factory(t)
    await store.users.create(user('usr_alice', 'alice', { tokenVersion: 5 }))
    const versions = await Promise.all(Array.from({ length: 10 }, (_, i) => store.users.bumpTokenVersion('usr_alice', 2000 + i)))
    t.same([...versions].sort((a, b) => a - b), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15], 'each caller got its own new version')
    t.equal((await store.users.get('usr_alice'))?.tokenVersion, 15, 'no lost increment')
  })

  t.test(`${name}: users unknown ids are ERR_USER_NOT_FOUND`, async (t) => {
    const store = await factory(t)
    await t.rejects(store.users.update(user('usr_ghost', 'ghost')), { code: 'ERR_USER_NOT_FOUND' })
    await t.rejects(store.users.bumpTokenVersion('usr_ghost', 1), { code: 'ERR_USER_NOT_FOUND' })
    t.equal(await store.users.get('usr_ghost'), undefined)
    t.same(await store.users.list(), [], 'the failed update created nothing')
  })

  const family = (id: string, overrides: Partial<RefreshFamily> = {}): RefreshFamily => ({
    id, clientId: 'spa', userId: 'usr_1', userTokenVersion: 0, scope: ['a', 'b'], audience: ['https://api'], createdAt: 1000, expiresAt: 100_000, ...overrides,
  })

  t.test(`${name}: refresh families: create, find, rotate, reuse revokes`, async (t) => {
    const store = await factory(t)
    await store.refreshTokens.createFamily(family('fam_1'), { hash: 'h1', expiresAt: 50_000 })
    const found = await store.refreshTokens.find('h1')
    t.same(found?.family, family('fam_1'), 'the family round-trips')
    t.match(found?.token, { hash: 'h1', familyId: 'fam_1', createdAt: 1000, expiresAt: 50_000 })
    t.equal(found?.token.usedAt, undefined)
    t.equal(await store.refreshTokens.find('nope'), undefined)

    const rotated = await store.refreshTokens.rotate('h1', { hash: 'h2', expiresAt: 60_000 }, 2000)
    t.equal(rotated.kind, 'rotated')
    t.equal((await store.refreshTokens.find('h1'))?.token.usedAt, 2000, 'the old token is marked used')
    t.match((await store.refreshTokens.find('h2'))?.token, { familyId: 'fam_1', createdAt: 2000, expiresAt: 60_000 })

    const reused = await store.refreshTokens.rotate('h1', { hash: 'h3', expiresAt: 60_000 }, 3000)
    t.equal(reused.kind, 'reused')
    t.match((await store.refreshTokens.find('h2'))?.family, { revokedAt: 3000, revokedReason: 'reuse' }, 'reuse revokes the family')
    t.same(await store.refreshTokens.rotate('h2', { hash: 'h4', expiresAt: 60_000 }, 4000), { kind: 'invalid', reason: 'revoked' })
    t.equal(await store.refreshTokens.find('h3'), undefined, 'nothing stored for a refused rotation')
    t.same(await store.refreshTokens.rotate('unknown', { hash: 'h5', expiresAt: 1 }, 4000), { kind: 'invalid', reason: 'unknown' })
  })

  t.test(`${name}: refresh families: idle and absolute expiry with an injected clock`, async (t) => {
    const store = await factory(t)
    await store.refreshTokens.createFamily(family('fam_idle'), { hash: 'i1', expiresAt: 10_000 })
    t.same(await store.refreshTokens.rotate('i1', { hash: 'i2', expiresAt: 20_000 }, 10_000), { kind: 'invalid', reason: 'expired' }, 'idle expiry is exclusive')
    t.equal((await store.refreshTokens.find('i1'))?.token.usedAt, undefined, 'an expired token is not consumed')
    await store.refreshTokens.createFamily(family('fam_abs', { expiresAt: 30_000 }), { hash: 'a1', expiresAt: 30_000 })
    t.equal((await store.refreshTokens.rotate('a1', { hash: 'a2', expiresAt: 90_000 }, 20_000)).kind, 'rotated')
    t.equal((await store.refreshTokens.find('a2'))?.token.expiresAt, 30_000, 'a token never outlives its family')
    t.same(await store.refreshTokens.rotate('a2', { hash: 'a3', expiresAt: 90_000 }, 30_000), { kind: 'invalid', reason: 'expired' })
  })

  t.test(`${name}: concurrent rotations of one token: exactly one wins`, async (t) => {
    const store = await factory(t)
    for (let round = 0; round < 5; round++) {
      await store.refreshTokens.createFamily(family(`fam_race_${round}`), { hash: `r${round}`, expiresAt: 90_000 })
      const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) =>
        store.refreshTokens.rotate(`r${round}`, { hash: `r${round}-next-${i}`, expiresAt: 90_000 }, 2000)))
      t.equal(outcomes.filter((o) => o.kind === 'rotated').length, 1, `round ${round}: one rotation`)
      t.equal(outcomes.filter((o) => o.kind === 'rotated').length + outcomes.filter((o) => o.kind === 'reused' || o.kind === 'invalid').length, 6)
    }
  })

  t.test(`${name}: revoking families, one or all of a user's`, async (t) => {
    const store = await factory(t)
    await store.refreshTokens.createFamily(family('f1'), { hash: 'x1', expiresAt: 90_000 })
    await store.refreshTokens.createFamily(family('f2'), { hash: 'x2', expiresAt: 90_000 })
    await store.refreshTokens.createFamily(family('f3', { userId: 'usr_2' }), { hash: 'x3', expiresAt: 90_000 })
    t.equal(await store.refreshTokens.revokeFamily('f1', 'revoked', 5000), true)
    t.equal(await store.refreshTokens.revokeFamily('f1', 'revoked', 6000), false, 'already revoked')
    t.equal(await store.refreshTokens.revokeFamily('ghost', 'revoked', 6000), false)
    t.equal(await store.refreshTokens.revokeUserFamilies('usr_1', 'signed-out', 7000), 1, 'only the live one')
    t.match((await store.refreshTokens.find('x2'))?.family, { revokedAt: 7000, revokedReason: 'signed-out' })
    t.equal((await store.refreshTokens.find('x3'))?.family.revokedAt, undefined, 'other users untouched')
  })

  t.test(`${name}: revoked jtis and purging expired records`, async (t) => {
    const store = await factory(t)
    await store.revocations.revoke('jti-1', 10_000)
    await store.revocations.revoke('jti-1', 10_000)
    await store.revocations.revoke('jti-2', 50_000)
    t.equal(await store.revocations.isRevoked('jti-1'), true)
    t.equal(await store.revocations.isRevoked('jti-3'), false)
    await store.refreshTokens.createFamily(family('old', { expiresAt: 20_000 }), { hash: 'o1', expiresAt: 20_000 })
    await store.refreshTokens.createFamily(family('live', { expiresAt: 200_000 }), { hash: 'l1', expiresAt: 200_000 })
    t.equal(await store.purgeExpired(5000), 0, 'nothing expired yet')
    t.ok((await store.purgeExpired(25_000)) >= 2, 'the expired jti and family go')
    t.equal(await store.revocations.isRevoked('jti-1'), false)
    t.equal(await store.revocations.isRevoked('jti-2'), true, 'a jti stays until its token expires')
    t.equal(await store.refreshTokens.find('o1'), undefined)
    t.ok(await store.refreshTokens.find('l1'), 'live families stay')
  })

  t.test(`${name}: assertion jtis are used once per client, until they expire`, async (t) => {
    const store = await factory(t)
    t.equal(await store.assertions.use('svc', 'a-1', 10_000), true)
    t.equal(await store.assertions.use('svc', 'a-1', 10_000), false, 'a replay')
    t.equal(await store.assertions.use('other', 'a-1', 10_000), true, 'jtis are per client')
    const racing = await Promise.all(Array.from({ length: 8 }, () => store.assertions.use('svc', 'a-2', 10_000)))
    t.equal(racing.filter(Boolean).length, 1, 'concurrent uses: one wins')
    await store.purgeExpired(10_000)
    t.equal(await store.assertions.use('svc', 'a-1', 20_000), true, 'forgotten once expired (the assertion itself is expired by then)')
  })

  t.test(`${name}: counters count per fixed window, atomically, and are purged when the window ends`, async (t) => {
    const store = await factory(t)
    t.same(await store.counters.hit('k', 1000, 5000), { count: 1, resetAt: 6000 })
    t.same(await store.counters.hit('k', 1000, 5500), { count: 2, resetAt: 6000 }, 'same window: counts up, end unchanged')
    t.same(await store.counters.hit('other', 1000, 5500), { count: 1, resetAt: 6500 }, 'keys are independent')
    t.same(await store.counters.hit('k', 1000, 6000), { count: 1, resetAt: 7000 }, 'the window has ended: a new one starts')
    const racing = await Promise.all(Array.from({ length: 12 }, () => store.counters.hit('race', 60_000, 10_000)))
    t.same(racing.map((r) => r.count).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1), 'concurrent hits each get their own count')
    t.ok((await store.purgeExpired(7000)) >= 2, 'ended windows are purged')
    t.same(await store.counters.hit('k', 1000, 7000), { count: 1, resetAt: 8000 })
    t.same(await store.counters.hit('race', 60_000, 20_000), { count: 13, resetAt: 70_000 }, 'a running window survives the purge')
  })
}
