import { access, constants, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Store } from './types.js'
import { createKeySetFiles } from './local/key-set-files.js'
import { createClientsFile } from './local/clients-file.js'
import { openDatabase } from './local/sqlite.js'
import { createSqlClients } from './local/sql-clients.js'
import { createSqlUsers } from './local/sql-users.js'
import { createSqlRefreshTokens } from './local/sql-refresh.js'
import { createSqlAssertionReplay, createSqlCounters, createSqlRevocations } from './local/sql-revocations.js'
import { layerClients } from './layered-clients.js'
import { createPostgresStore } from './postgres/index.js'

export const DATABASE_FILE = 'keyturn.db'

/**
 * PostgreSQL when `databaseUrl` is set; otherwise the embedded default store: key files in `keysDir`, everything else in SQLite under `dataDir`, plus an optional
 * read-only clients file. Nothing to install or run.
 */
export async function createStore(
  config: { keysDir: string; dataDir: string; clientsFile: string | undefined; databaseUrl?: string | undefined; databasePoolSize?: number },
  now: () => number = Date.now,
): Promise<Store> {
  // A clients file is checked once at start-up, so a broken one stops the process instead of failing requests.
  const file = config.clientsFile ? createClientsFile(config.clientsFile) : undefined
  await file?.list()
  if (config.databaseUrl) {
    const store = await createPostgresStore({ databaseUrl: config.databaseUrl, databasePoolSize: config.databasePoolSize ?? 10 }, now)
    return file ? { ...store, clients: layerClients(file, store.clients) } : store
  }
  await mkdir(config.keysDir, { recursive: true, mode: 0o700 })
  const db = openDatabase(join(config.dataDir, DATABASE_FILE), now())
  const clients = createSqlClients(db)
  const purge = db.transaction((at: number) =>
    db.prepare('DELETE FROM refresh_families WHERE expires_at <= ? OR (revoked_at IS NOT NULL AND revoked_at <= ?)').run(at, at - 86_400_000).changes
    + db.prepare('DELETE FROM refresh_tokens WHERE expires_at <= ?').run(at).changes
    + db.prepare('DELETE FROM revoked_jtis WHERE expires_at <= ?').run(at).changes
    + db.prepare('DELETE FROM used_assertions WHERE expires_at <= ?').run(at).changes
    + db.prepare('DELETE FROM rate_counters WHERE reset_at <= ?').run(at).changes)
  const ping = db.prepare('SELECT 1')
  return {
    kind: 'local',
    keys: createKeySetFiles(config.keysDir),
    clients: file ? layerClients(file, clients) : clients,
    users: createSqlUsers(db),
    refreshTokens: createSqlRefreshTokens(db),
    revocations: createSqlRevocations(db),
    assertions: createSqlAssertionReplay(db),
    counters: createSqlCounters(db),
    async purgeExpired(at) {
      return purge.immediate(at)
    },
    async ping() {
      ping.get()
      await access(config.keysDir, constants.R_OK | constants.W_OK)
    },
    async close() {
      if (db.open) db.close()
    },
  }
}
