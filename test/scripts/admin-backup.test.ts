import t from 'tap'
import { spawn } from 'node:child_process'
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import Database from 'better-sqlite3'
import { ADMIN, childEnv, freePort, requestToken, ROOT, runNode, serverEnv, startServer, stateEnv, tempDir, waitFor, type Env } from '../e2e/helpers.js'
import { TEST_SECRET } from '../helper.js'
import type { BackupManifest } from '../../scripts/admin-backup.js'

const ISSUER = 'http://issuer.backup.test'
const BATCH = 100

/**
 * A second process writing to the live database in transactions of BATCH rows: a consistent copy holds a multiple of
 * BATCH of its rows, never part of a transaction.
 */
const WRITER = `
const Database = require(process.argv[1])
const db = new Database(process.argv[2])
db.pragma('journal_mode = WAL'); db.pragma('busy_timeout = 5000'); db.pragma('synchronous = NORMAL')
const insert = db.prepare('INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)')
const batch = db.transaction((start) => { for (let i = 0; i < ${BATCH}; i++) insert.run('writer-' + (start + i), 4102444800000) })
const pause = new Int32Array(new SharedArrayBuffer(4))
for (let n = 0; ; n += ${BATCH}) {
  batch(n)
  if (n === ${BATCH * 50}) process.stdout.write('writing\\n')
  Atomics.wait(pause, 0, 0, 1)
}`

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name))
}

t.test('backup while the server and another process write; restore into a fresh directory; old tokens verify', async (t) => {
  const live = await tempDir(t, 'backup-live')
  const env: Env = { ...serverEnv(await freePort(), live), KEYTURN_ISSUER: ISSUER, KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET }
  const server = await startServer(t, env)

  const created = await runNode(ADMIN, ['clients', 'create', 'backup-client', '--scope', 'orders:read', '--audience', 'https://orders.test', '--json'], env)
  t.equal(created.code, 0, 'client created')
  const client = { id: 'backup-client', secret: (JSON.parse(created.stdout) as { client_secret: string }).client_secret }
  const issued = await requestToken(`${server.url}/token`, client, 'basic')
  t.equal(issued.status, 200, 'a token issued before the backup')
  const token = issued.body.access_token as string

  const writer = spawn(process.execPath, ['-e', WRITER, join(ROOT, 'node_modules/better-sqlite3'), join(live, 'data/keyturn.db')], { env: childEnv({}), stdio: ['ignore', 'pipe', 'pipe'] })
  let writerOut = ''
  writer.stdout.on('data', (chunk: Buffer) => { writerOut += chunk.toString() })
  const writerExit = new Promise((resolve) => writer.once('close', resolve))
  t.teardown(() => { writer.kill('SIGKILL') })
  await waitFor('the writer to be writing', async () => (writerOut.includes('writing') ? true : undefined))
  // The server writes too: revoking access tokens adds revoked_jtis rows.
  const revokes = Promise.all(Array.from({ length: 20 }, async () => {
    const other = await requestToken(`${server.url}/token`, client, 'post')
    const body = new URLSearchParams({ token: other.body.access_token as string, client_id: client.id, client_secret: client.secret })
    return (await fetch(`${server.url}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })).status
  }))

  const destination = join(live, 'backups')
  const backup = await runNode(ADMIN, ['backup', destination, '--json'], env)
  t.equal(backup.code, 0, 'backup exits 0', { stderr: backup.stderr.slice(0, 500) })
  t.same(new Set(await revokes), new Set([200]), 'the server answered throughout')
  writer.kill('SIGKILL')
  await writerExit
  const { path, ...manifest } = JSON.parse(backup.stdout) as BackupManifest & { path: string }
  t.match(path, /\/keyturn-backup-\d{8}T\d{6}Z$/)
  t.same(await readdir(destination), [path.split('/').at(-1)], 'only the finished directory: no temp left behind')
  t.equal(manifest.database.integrity, 'ok')
  t.ok(manifest.keys.kids.some((key) => key.state === 'active'))

  const files = await filesUnder(path)
  t.same(files.map((file) => file.slice(path.length + 1)).sort(), ['backup.json', 'data/keyturn.db', manifest.keys.file].sort(), 'database, newest key set, manifest')
  for (const file of files) {
    t.notOk((await readFile(file)).includes(TEST_SECRET), `${file.slice(path.length + 1)} does not hold the key-encryption secret`)
  }

  const copy = new Database(join(path, 'data/keyturn.db'), { readonly: true })
  const written = (copy.prepare("SELECT count(*) AS n FROM revoked_jtis WHERE jti LIKE 'writer-%'").get() as { n: number }).n
  const revokedTotal = (copy.prepare('SELECT count(*) AS n FROM revoked_jtis').get() as { n: number }).n
  copy.close()
  t.ok(written >= BATCH * 50, `the copy holds the writer's rows (${written})`)
  t.equal(written % BATCH, 0, 'and only whole transactions')
  const liveDb = new Database(join(live, 'data/keyturn.db'), { readonly: true })
  const writtenInAll = (liveDb.prepare("SELECT count(*) AS n FROM revoked_jtis WHERE jti LIKE 'writer-%'").get() as { n: number }).n
  liveDb.close()
  t.ok(writtenInAll > written, `the writer went on writing after the snapshot (${writtenInAll} rows in the end)`)

  // Restore, as docs/operations.md says: an empty keys dir and data dir, the files copied in, the same secret.
  await server.stop()
  const fresh = await tempDir(t, 'backup-restore')
  await mkdir(join(fresh, 'keys'), { mode: 0o700 })
  await mkdir(join(fresh, 'data'), { mode: 0o700 })
  await copyFile(join(path, manifest.keys.file), join(fresh, manifest.keys.file))
  await copyFile(join(path, 'data/keyturn.db'), join(fresh, 'data/keyturn.db'))
  const restoredEnv: Env = { ...serverEnv(await freePort(), fresh), ...stateEnv(fresh), KEYTURN_ISSUER: ISSUER, KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET }
  const restored = await startServer(t, restoredEnv)

  const jwks = (await (await fetch(`${restored.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, typ: 'at+jwt' })
  t.equal(payload.client_id, client.id, 'a token issued before the backup verifies against the restored JWKS')
  t.ok(manifest.keys.kids.some((key) => key.kid === protectedHeader.kid))
  const introspection = await fetch(`${restored.url}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  })
  t.equal(((await introspection.json()) as { active: boolean }).active, true, 'the restored database knows the client and its secret')
  await restored.stop()
  const reopened = new Database(join(fresh, 'data/keyturn.db'), { readonly: true })
  t.equal((reopened.prepare('SELECT count(*) AS n FROM revoked_jtis').get() as { n: number }).n, revokedTotal, 'every row of the backup was restored')
  reopened.close()
})

t.test('refuses without a store, and with PostgreSQL', async (t) => {
  const dir = await tempDir(t, 'backup-empty')
  const env: Env = { ...stateEnv(dir), KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET }
  const empty = await runNode(ADMIN, ['backup', join(dir, 'out')], env)
  t.equal(empty.code, 2)
  t.match(empty.stderr, /cannot open .*keyturn\.db \(KEYTURN_DATA_DIR\)/)
  t.same(await readdir(join(dir, 'out')), [], 'nothing left behind')
  t.same(await readdir(dir).then((names) => names.filter((name) => name !== 'out')), [], 'no store was created')

  const postgres = await runNode(ADMIN, ['backup', join(dir, 'out')], { ...env, DATABASE_URL: 'postgres://keyturn@127.0.0.1:1/keyturn' })
  t.equal(postgres.code, 2)
  t.match(postgres.stderr, /pg_dump/)

  const usage = await runNode(ADMIN, ['backup'], env)
  t.equal(usage.code, 2)
  t.match(usage.stdout + usage.stderr, /usage: npm run admin -- backup <dir>/)
})
