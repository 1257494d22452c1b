import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStore } from '../../src/store/index.js'
import { validateClient } from '../../src/clients/client.js'

t.test('a read-only clients file layered over the store: the file wins', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keyturn-layer-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const clientsFile = join(dir, 'clients.json')
  const fromFile = validateClient({ id: 'gitops', secretHash: 'file-hash', scopes: ['a'], createdAt: '2026-01-01T00:00:00Z' })
  await writeFile(clientsFile, JSON.stringify({ clients: [fromFile] }))
  const store = await createStore({ keysDir: join(dir, 'keys'), dataDir: join(dir, 'data'), clientsFile })
  t.teardown(() => store.close())

  t.same(await store.clients.get('gitops'), fromFile)
  await t.rejects(store.clients.create({ ...fromFile, secretHash: 'db-hash' }), { code: 'ERR_CLIENT_EXISTS' }, 'cannot shadow a file client')
  await t.rejects(store.clients.update({ ...fromFile, scopes: ['b'] }), { code: 'ERR_CLIENT_READONLY' })
  await t.rejects(store.clients.delete('gitops'), { code: 'ERR_CLIENT_READONLY' })

  const dbClient = validateClient({ id: 'runtime', secretHash: 'h', createdAt: '2026-01-01T00:00:00Z' })
  await store.clients.create(dbClient)
  t.same((await store.clients.list()).map((c) => c.id).sort(), ['gitops', 'runtime'])
  await store.clients.update({ ...dbClient, scopes: ['x'] })
  t.same((await store.clients.get('runtime'))?.scopes, ['x'], 'database clients stay writable')

  // An edit of the file is picked up (mtime/size change) without a restart.
  await writeFile(clientsFile, JSON.stringify({ clients: [{ ...fromFile, scopes: ['a', 'c'] }] }))
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.same((await store.clients.get('gitops'))?.scopes, ['a', 'c'])

  await writeFile(clientsFile, '{"clients": [{"id": "bad id!"}]}')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.same((await store.clients.get('gitops'))?.scopes, ['a', 'c'], 'a broken edit keeps the last good version serving')

  await t.rejects(createStore({ keysDir: join(dir, 'keys2'), dataDir: join(dir, 'data2'), clientsFile }), { code: 'ERR_CLIENT_INVALID' }, 'a process starting on it stops with the error')
})
