import type { Database } from 'better-sqlite3'
import type { AccessTokenRevocations, AssertionReplayStore, CounterStore } from '../types.js'
import { HIT_COUNTER_SQL } from '../counter-sql.js'

export function createSqlRevocations(db: Database): AccessTokenRevocations {
  const insert = db.prepare('INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING')
  const find = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revoked_jtis WHERE jti = ?')
  return {
    async revoke(jti, expiresAt) {
      insert.run(jti, expiresAt)
    },
    async isRevoked(jti) {
      return find.get(jti) !== undefined
    },
  }
}

export function createSqlAssertionReplay(db: Database): AssertionReplayStore {
  const insert = db.prepare('INSERT INTO used_assertions (client_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (client_id, jti) DO NOTHING')
  return {
    async use(clientId, jti, expiresAt) {
      return insert.run(clientId, jti, expiresAt).changes === 1
    },
  }
}

export function createSqlCounters(db: Database): CounterStore {
  const names = ['@key', '@resetAt', '@now']
  const hit = db.prepare<[{ key: string; resetAt: number; now: number }], { count: number; reset_at: number }>(HIT_COUNTER_SQL((n) => names[n - 1]!))
  return {
    async hit(key, windowMs, now) {
      const row = hit.get({ key, resetAt: now + windowMs, now })!
      return { count: row.count, resetAt: row.reset_at }
    },
  }
}
