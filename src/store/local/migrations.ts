import type { Database } from 'better-sqlite3'

/**
 * Versioned schema changes, applied in order at start-up. Never edit a shipped migration: add the next one.
 * Times are epoch milliseconds; lists are JSON arrays.
 */
export const MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'clients, users, refresh families, revoked jtis',
    sql: `
      CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL
      );
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        claims TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        token_version INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE refresh_families (
        id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        user_token_version INTEGER NOT NULL,
        scope TEXT NOT NULL,
        audience TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER,
        revoked_reason TEXT
      );
      CREATE INDEX refresh_families_user ON refresh_families (user_id);
      CREATE INDEX refresh_families_expiry ON refresh_families (expires_at);
      CREATE TABLE refresh_tokens (
        hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      );
      CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
      CREATE TABLE revoked_jtis (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX revoked_jtis_expiry ON revoked_jtis (expires_at);
    `,
  },
  {
    version: 2,
    name: 'used client assertion jtis (private_key_jwt replay protection)',
    sql: `
      CREATE TABLE used_assertions (
        client_id TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (client_id, jti)
      );
      CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);
    `,
  },
  {
    version: 3,
    name: 'rate counters (failed authentications, shared by every process)',
    sql: `
      CREATE TABLE rate_counters (
        key TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        reset_at INTEGER NOT NULL
      );
      CREATE INDEX rate_counters_reset ON rate_counters (reset_at);
    `,
  },
]

/**
 * Brings the schema up to date inside one IMMEDIATE transaction, so processes starting together apply each
 * migration exactly once, and a crash mid-migration leaves the previous schema.
 * @returns the versions applied now.
 */
export function migrate(db: Database, now: number): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)')
  const apply = db.transaction(() => {
    const done = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((row) => row.version))
    const newest = Math.max(0, ...done)
    const known = Math.max(...MIGRATIONS.map((m) => m.version))
    if (newest > known) throw new Error(`the database schema (version ${newest}) is newer than this keyturn (knows ${known}); upgrade keyturn`)
    const applied: number[] = []
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue
      db.exec(migration.sql)
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, now)
      applied.push(migration.version)
    }
    return applied
  })
  return apply.immediate()
}
