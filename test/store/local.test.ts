import t, { type Test } from 'tap'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStore } from '../../src/store/index.js'
import { createKeySetFiles } from '../../src/store/local/key-set-files.js'
import { storeConformance } from './conformance.js'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keyturn-store-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

storeConformance(t, 'local', async (t) => {
  const dir = await tempDir(t)
  const store = await createStore({ keysDir: join(dir, 'keys'), dataDir: join(dir, 'data'), clientsFile: undefined })
  t.teardown(() => store.close())
  return store
})

t.test('local key files: a damaged newest version is reported, never skipped', async (t) => {
  const dir = await tempDir(t)
  const files = createKeySetFiles(dir)
  await files.compareAndSwap({ version: 1, updatedAt: 1, keys: [] })
  await writeFile(join(dir, 'keyset.000000000002.json'), '{"version": 2, "upd')
  await t.rejects(files.load(), { code: 'ERR_KEYSET_CORRUPT' }, 'falling back could resurrect a revoked key')
  await writeFile(join(dir, 'keyset.000000000002.json'), JSON.stringify({ version: 3, updatedAt: 1, keys: [] }))
  await t.rejects(files.load(), { code: 'ERR_KEYSET_CORRUPT' }, 'file name and content disagree')
})

t.test('local key files: old versions and stale temp files are cleaned up', async (t) => {
  const dir = await tempDir(t)
  const files = createKeySetFiles(dir)
  const stale = join(dir, '.keyset.000000000001.json.tmp-1-abc')
  await writeFile(stale, 'partial')
  const { utimes } = await import('node:fs/promises')
  await utimes(stale, new Date(0), new Date(0))
  for (let version = 1; version <= 9; version++) await files.compareAndSwap({ version, updatedAt: version, keys: [] })
  const names = (await readdir(dir)).sort()
  t.same(names, ['keyset.000000000005.json', 'keyset.000000000006.json', 'keyset.000000000007.json', 'keyset.000000000008.json', 'keyset.000000000009.json'])
  t.equal((await files.load()).version, 9)
})
