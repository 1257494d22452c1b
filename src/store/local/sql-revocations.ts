import type { Database } from 'better-sqlite3'
import type { AccessTokenRevocations } from '../types.js'

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
