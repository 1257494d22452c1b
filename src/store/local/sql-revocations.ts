import type { Database } from 'better-sqlite3'
import type { AccessTokenRevocations, AssertionReplayStore } from '../types.js'

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
