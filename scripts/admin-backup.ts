import { randomBytes } from 'node:crypto'
import { chmod, copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { loadConfig } from '../src/config.js'
import { parseKeySet } from '../src/keys/key-set-codec.js'
import { DATABASE_FILE } from '../src/store/index.js'
import { syncDir } from '../src/store/local/fs-atomic.js'
import { UsageError } from './cli.js'

export const BACKUP_USAGE = `usage: npm run admin -- backup <dir> [--json]

  backup <dir>                      a consistent copy of the embedded store, safe while keyturn runs, written
                                    atomically to <dir>/keyturn-backup-<UTC time>/: data/keyturn.db (SQLite online
                                    backup) and keys/keyset.<version>.json (the newest key-set version)

  Not in the backup: the key-encryption secret (KEYTURN_KEY_ENCRYPTION_SECRET, or keys/.encryption-secret in
  development): keep it separately, since the private keys cannot be opened without it. With DATABASE_URL everything
  is in PostgreSQL: use pg_dump. Restoring: docs/operations.md, "Backup and restore".`

/** Same naming as src/store/local/key-set-files.ts: `keyset.000000000042.json` is version 42. */
const KEY_SET_FILE = /^keyset\.(\d{12})\.json$/

/** What `backup.json` records: enough to check a backup without opening it with keyturn. */
export interface BackupManifest {
  readonly format: 'keyturn-backup/1'
  readonly createdAt: string
  readonly database: { readonly file: string; readonly schemaVersion: number; readonly integrity: string }
  readonly keys: { readonly file: string; readonly version: number; readonly kids: readonly { kid: string; alg: string; state: string }[] }
  readonly notIncluded: readonly string[]
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * SQLite's online backup in one step: the copy is one read transaction's snapshot, so it is consistent however
 * the server writes meanwhile (WAL readers never block writers). A plain `cp` of a live WAL database can mix pages
 * from different transactions, or miss those still in keyturn.db-wal.
 */
async function backupDatabase(source: string, target: string): Promise<BackupManifest['database']> {
  let db: Database.Database
  try {
    db = new Database(source, { readonly: true, fileMustExist: true })
  } catch (error) {
    throw new UsageError(`cannot open ${source} (KEYTURN_DATA_DIR): ${(error as Error).message}`)
  }
  try {
    db.pragma('busy_timeout = 5000')
    await db.backup(target, { progress: () => 0x7fffffff })
  } finally {
    db.close()
  }
  // A self-contained file (no -wal beside it); the server switches it back to WAL when it opens it.
  const copy = new Database(target, { fileMustExist: true })
  try {
    copy.pragma('journal_mode = DELETE')
    const integrity = (copy.pragma('integrity_check', { simple: true }) as string)
    const schemaVersion = (copy.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number | null }).version ?? 0
    if (integrity !== 'ok') throw new Error(`the copy of ${source} fails its integrity check: ${integrity}`)
    return { file: `data/${DATABASE_FILE}`, schemaVersion, integrity }
  } finally {
    copy.close()
  }
}

/** Copies the newest key-set version (readers only ever use the newest; keyturn keeps five). */
async function backupKeys(keysDir: string, targetDir: string): Promise<BackupManifest['keys']> {
  for (let attempt = 0; ; attempt++) {
    const names = await readdir(keysDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw new UsageError(`no keys directory at ${keysDir} (KEYTURN_KEYS_DIR)`)
      throw error
    })
    const newest = names.filter((name) => KEY_SET_FILE.test(name)).sort().at(-1)
    if (newest === undefined) throw new UsageError(`no key set in ${keysDir} (KEYTURN_KEYS_DIR)`)
    try {
      await copyFile(join(keysDir, newest), join(targetDir, newest))
    } catch (error) {
      // Pruned between readdir and copy (only after five newer versions): list again.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) continue
      throw error
    }
    const set = parseKeySet(await readFile(join(targetDir, newest), 'utf8'))
    if (set.version !== Number(KEY_SET_FILE.exec(newest)![1])) throw new Error(`${newest} holds version ${set.version}`)
    return { file: `keys/${newest}`, version: set.version, kids: set.keys.map(({ kid, alg, state }) => ({ kid, alg, state })) }
  }
}

const stamp = (date: Date): string => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')

/**
 * Writes a backup of the local store into `<dir>/keyturn-backup-<time>/`, built in a temp directory beside it and
 * renamed into place, so the named directory is always complete.
 */
export async function writeBackup(config: { keysDir: string; dataDir: string }, dir: string, now = new Date()): Promise<{ path: string; manifest: BackupManifest }> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, `keyturn-backup-${stamp(now)}`)
  if (await stat(path).then(() => true, () => false)) throw new UsageError(`${path} exists already`)
  const temp = join(dir, `.keyturn-backup-${stamp(now)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    await mkdir(join(temp, 'data'), { recursive: true, mode: 0o700 })
    await mkdir(join(temp, 'keys'), { mode: 0o700 })
    const database = await backupDatabase(join(config.dataDir, DATABASE_FILE), join(temp, 'data', DATABASE_FILE))
    const keys = await backupKeys(config.keysDir, join(temp, 'keys'))
    const manifest: BackupManifest = {
      format: 'keyturn-backup/1', createdAt: now.toISOString(), database, keys,
      notIncluded: ['the key-encryption secret (KEYTURN_KEY_ENCRYPTION_SECRET, or keys/.encryption-secret in development)', 'KEYTURN_CLIENTS_FILE'],
    }
    await writeFile(join(temp, 'backup.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
    for (const file of [database.file, keys.file, 'backup.json']) {
      await chmod(join(temp, file), 0o600)
      await fsyncFile(join(temp, file))
    }
    for (const sub of ['data', 'keys', '.']) await syncDir(join(temp, sub))
    await rename(temp, path)
    await syncDir(dir)
    return { path, manifest }
  } catch (error) {
    await rm(temp, { recursive: true, force: true })
    throw error
  }
}

/** Runs `backup <dir>`; `args` are the arguments after `admin` (area included). */
export async function backupCommand(args: readonly string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], allowPositionals: true, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${BACKUP_USAGE}`)
  }
  const { values, positionals } = parsed
  const [, dir, ...extra] = positionals
  if (values.help) return void process.stdout.write(`${BACKUP_USAGE}\n`)
  if (dir === undefined || extra.length > 0) throw new UsageError(`name one directory\n${BACKUP_USAGE}`)
  const config = loadConfig(process.env)
  if (config.databaseUrl !== undefined) {
    throw new UsageError('with DATABASE_URL the keys and all state live in PostgreSQL: back them up with pg_dump (docs/operations.md, "Backup and restore")')
  }
  const { path, manifest } = await writeBackup(config, resolve(dir))
  if (values.json) return void process.stdout.write(`${JSON.stringify({ path, ...manifest }, null, 2)}\n`)
  process.stdout.write([
    `backup written: ${path}`,
    `  ${manifest.database.file}  (schema version ${manifest.database.schemaVersion}, integrity ${manifest.database.integrity})`,
    `  ${manifest.keys.file}  (key-set version ${manifest.keys.version}, ${manifest.keys.kids.length} keys)`,
    'not included: the key-encryption secret (KEYTURN_KEY_ENCRYPTION_SECRET, or keys/.encryption-secret when it is unset); keep it separately.',
    ...(config.clientsFile ? [`not included: the clients file ${config.clientsFile}`] : []),
  ].join('\n') + '\n')
}
