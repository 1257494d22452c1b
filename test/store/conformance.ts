import type { Test } from 'tap'
import type { Store } from '../../src/store/types.js'
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
}
