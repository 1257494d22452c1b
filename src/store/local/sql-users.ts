import type { Database } from 'better-sqlite3'
import { KeyturnError } from '../../errors.js'
import { usernameKey } from '../../users/user.js'
import type { UserRecord, UserStore } from '../types.js'
import { toUser, type UserRow as Row } from '../rows.js'

export function createSqlUsers(db: Database): UserStore {
  const byId = db.prepare<[string], Row>('SELECT * FROM users WHERE id = ?')
  const byName = db.prepare<[string], Row>('SELECT * FROM users WHERE username_key = ?')
  const all = db.prepare<[], Row>('SELECT * FROM users ORDER BY username_key')
  const insert = db.prepare(`INSERT INTO users (id, username, username_key, password_hash, claims, disabled, token_version, created_at, updated_at)
    VALUES (@id, @username, @usernameKey, @passwordHash, @claims, @disabled, @tokenVersion, @createdAt, @updatedAt) ON CONFLICT DO NOTHING`)
  const update = db.prepare(`UPDATE users SET username = @username, username_key = @usernameKey, password_hash = @passwordHash, claims = @claims,
    disabled = @disabled, token_version = MAX(token_version, @tokenVersion), updated_at = @updatedAt WHERE id = @id`)
  const bump = db.prepare<[number, string], { token_version: number }>('UPDATE users SET token_version = token_version + 1, updated_at = ? WHERE id = ? RETURNING token_version')
  const params = (user: UserRecord): Record<string, unknown> => ({
    ...user, usernameKey: usernameKey(user.username), claims: JSON.stringify(user.claims), disabled: user.disabled ? 1 : 0,
  })
  return {
    async get(id) {
      const row = byId.get(id)
      return row && toUser(row)
    },
    async getByUsername(username) {
      const row = byName.get(usernameKey(username))
      return row && toUser(row)
    },
    async list() {
      return all.all().map(toUser)
    },
    async create(user) {
      if (insert.run(params(user)).changes === 0) throw new KeyturnError('ERR_USER_EXISTS', `user ${user.username} already exists`)
    },
    async update(user) {
      try {
        if (update.run(params(user)).changes === 0) throw new KeyturnError('ERR_USER_NOT_FOUND', `no user ${user.id}`)
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new KeyturnError('ERR_USER_EXISTS', `user ${user.username} already exists`)
        throw error
      }
    },
    async bumpTokenVersion(id, now) {
      const row = bump.get(now, id)
      if (!row) throw new KeyturnError('ERR_USER_NOT_FOUND', `no user ${id}`)
      return row.token_version
    },
  }
}
