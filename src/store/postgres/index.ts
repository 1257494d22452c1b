import type { Store } from '../types.js'
import { createPool, transaction, unavailable } from './pool.js'
import { migratePostgres } from './migrations.js'
import { createPgKeySets } from './key-sets.js'
import { createPgAssertionReplay, createPgClients, createPgCounters, createPgRefreshTokens, createPgRevocations, createPgUsers } from './state.js'

/**
 * The PostgreSQL store, for replicas behind a load balancer: keys and every piece of state in one database, which
 * also coordinates rotation (a compare-and-swap INSERT on the key-set version). Migrations run at start-up.
 */
export async function createPostgresStore(config: { databaseUrl: string; databasePoolSize: number }, now: () => number = Date.now): Promise<Store> {
  const pool = createPool(config.databaseUrl, config.databasePoolSize)
  try {
    await migratePostgres(pool, now())
  } catch (error) {
    await pool.end().catch(() => {})
    throw error
  }
  return {
    kind: 'postgres',
    keys: createPgKeySets(pool),
    clients: createPgClients(pool),
    users: createPgUsers(pool),
    refreshTokens: createPgRefreshTokens(pool),
    revocations: createPgRevocations(pool),
    assertions: createPgAssertionReplay(pool),
    counters: createPgCounters(pool),
    async purgeExpired(at) {
      return transaction(pool, async (client) => {
        let removed = 0
        for (const [sql, values] of [
          ['DELETE FROM refresh_families WHERE expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $2)', [at, at - 86_400_000]],
          ['DELETE FROM refresh_tokens WHERE expires_at <= $1', [at]],
          ['DELETE FROM revoked_jtis WHERE expires_at <= $1', [at]],
          ['DELETE FROM used_assertions WHERE expires_at <= $1', [at]],
          ['DELETE FROM rate_counters WHERE reset_at <= $1', [at]],
        ] as const) removed += (await client.query(sql, [...values])).rowCount ?? 0
        return removed
      })
    },
    async ping() {
      await pool.query('SELECT 1').catch(unavailable)
    },
    async close() {
      await pool.end().catch(() => {})
    },
  }
}
