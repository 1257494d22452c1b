import type pg from 'pg'
import { transaction } from './pool.js'

/** Versioned schema changes for PostgreSQL; same tables and columns as the SQLite store. Never edit a shipped one. */
export const PG_MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'key sets, clients, users, refresh families, revoked jtis, used assertions',
    sql: `
      CREATE TABLE key_sets (version BIGINT PRIMARY KEY, updated_at BIGINT NOT NULL, body TEXT NOT NULL);
      CREATE TABLE clients (id TEXT PRIMARY KEY, record TEXT NOT NULL);
      CREATE TABLE users (
        id TEXT PRIMARY KEY, username TEXT NOT NULL, username_key TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
        claims TEXT NOT NULL, disabled BOOLEAN NOT NULL DEFAULT false, token_version INTEGER NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
      );
      CREATE TABLE refresh_families (
        id TEXT PRIMARY KEY, client_id TEXT NOT NULL, user_id TEXT NOT NULL, user_token_version INTEGER NOT NULL,
        scope TEXT NOT NULL, audience TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
        revoked_at BIGINT, revoked_reason TEXT
      );
      CREATE INDEX refresh_families_user ON refresh_families (user_id);
      CREATE INDEX refresh_families_expiry ON refresh_families (expires_at);
      CREATE TABLE refresh_tokens (
        hash TEXT PRIMARY KEY, family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT
      );
      CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
      CREATE TABLE revoked_jtis (jti TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
      CREATE INDEX revoked_jtis_expiry ON revoked_jtis (expires_at);
      CREATE TABLE used_assertions (client_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (client_id, jti));
      CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);
    `,
  },
  {
    version: 2,
    name: 'rate counters (failed authentications, shared by every replica)',
    sql: `
      CREATE TABLE rate_counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, reset_at BIGINT NOT NULL);
      CREATE INDEX rate_counters_reset ON rate_counters (reset_at);
    `,
  },
]

/** Arbitrary constant naming keyturn's migration lock among the database's advisory locks. */
const MIGRATION_LOCK = 0x6b65_7974

/**
 * Applies pending migrations under a transaction-scoped advisory lock: replicas starting together queue on the
 * lock, and each migration is applied exactly once, atomically with its bookkeeping row.
 */
export async function migratePostgres(pool: pg.Pool, now: number): Promise<number[]> {
  return transaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)')
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version))
    const known = Math.max(...PG_MIGRATIONS.map((m) => m.version))
    const newest = Math.max(0, ...done)
    if (newest > known) throw new Error(`the database schema (version ${newest}) is newer than this keyturn (knows ${known}); upgrade keyturn`)
    const applied: number[] = []
    for (const migration of PG_MIGRATIONS) {
      if (done.has(migration.version)) continue
      await client.query(migration.sql)
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, now])
      applied.push(migration.version)
    }
    return applied
  })
}
