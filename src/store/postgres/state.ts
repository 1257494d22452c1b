import type pg from 'pg'
import { KeyturnError } from '../../errors.js'
import { validateClient, type ClientRecord } from '../../clients/client.js'
import { usernameKey } from '../../users/user.js'
import { toFamily, toToken, toUser, type FamilyRow, type TokenRow, type UserRow } from '../rows.js'
import { HIT_COUNTER_SQL } from '../counter-sql.js'
import type { AccessTokenRevocations, AssertionReplayStore, CounterStore, ClientStore, RefreshTokenStore, RotateOutcome, UserStore } from '../types.js'
import { transaction, unavailable } from './pool.js'

const isUniqueViolation = (error: unknown): boolean => (error as { code?: string }).code === '23505'

export function createPgClients(pool: pg.Pool): ClientStore {
  const parse = (row: { record: string }): ClientRecord => validateClient(JSON.parse(row.record))
  return {
    async get(id) {
      const { rows } = await pool.query<{ record: string }>('SELECT record FROM clients WHERE id = $1', [id]).catch(unavailable)
      return rows[0] && parse(rows[0])
    },
    async list() {
      return (await pool.query<{ record: string }>('SELECT record FROM clients ORDER BY id').catch(unavailable)).rows.map(parse)
    },
    async create(client) {
      const valid = validateClient(client)
      const { rowCount } = await pool.query('INSERT INTO clients (id, record) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [valid.id, JSON.stringify(valid)]).catch(unavailable)
      if (rowCount === 0) throw new KeyturnError('ERR_CLIENT_EXISTS', `client ${valid.id} already exists`)
    },
    async update(client) {
      const valid = validateClient(client)
      const { rowCount } = await pool.query('UPDATE clients SET record = $1 WHERE id = $2', [JSON.stringify(valid), valid.id]).catch(unavailable)
      if (rowCount === 0) throw new KeyturnError('ERR_CLIENT_NOT_FOUND', `no client ${valid.id}`)
    },
    async delete(id) {
      return ((await pool.query('DELETE FROM clients WHERE id = $1', [id]).catch(unavailable)).rowCount ?? 0) > 0
    },
  }
}

export function createPgUsers(pool: pg.Pool): UserStore {
  const insertParams = (user: Parameters<UserStore['create']>[0]): unknown[] => [
    user.id, user.username, usernameKey(user.username), user.passwordHash, JSON.stringify(user.claims), user.disabled, user.tokenVersion, user.createdAt, user.updatedAt,
  ]
  const one = async (sql: string, values: unknown[]) => (await pool.query<UserRow>(sql, values).catch(unavailable)).rows[0]
  return {
    async get(id) {
      const row = await one('SELECT * FROM users WHERE id = $1', [id])
      return row && toUser(row)
    },
    async getByUsername(username) {
      const row = await one('SELECT * FROM users WHERE username_key = $1', [usernameKey(username)])
      return row && toUser(row)
    },
    async list() {
      return (await pool.query<UserRow>('SELECT * FROM users ORDER BY username_key').catch(unavailable)).rows.map(toUser)
    },
    async create(user) {
      const { rowCount } = await pool.query(
        `INSERT INTO users (id, username, username_key, password_hash, claims, disabled, token_version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`, insertParams(user)).catch(unavailable)
      if (rowCount === 0) throw new KeyturnError('ERR_USER_EXISTS', `user ${user.username} already exists`)
    },
    async update(user) {
      const result = await pool.query(
        `UPDATE users SET username = $2, username_key = $3, password_hash = $4, claims = $5, disabled = $6,
           token_version = GREATEST(token_version, $7), updated_at = $8 WHERE id = $1`,
        [user.id, user.username, usernameKey(user.username), user.passwordHash, JSON.stringify(user.claims), user.disabled, user.tokenVersion, user.updatedAt],
      ).catch((error: unknown) => {
        if (isUniqueViolation(error)) throw new KeyturnError('ERR_USER_EXISTS', `user ${user.username} already exists`)
        return unavailable(error)
      })
      if (result.rowCount === 0) throw new KeyturnError('ERR_USER_NOT_FOUND', `no user ${user.id}`)
    },
    async bumpTokenVersion(id, now) {
      const row = (await pool.query<{ token_version: number }>(
        'UPDATE users SET token_version = token_version + 1, updated_at = $1 WHERE id = $2 RETURNING token_version', [now, id],
      ).catch(unavailable)).rows[0]
      if (!row) throw new KeyturnError('ERR_USER_NOT_FOUND', `no user ${id}`)
      return row.token_version
    },
  }
}

export function createPgRefreshTokens(pool: pg.Pool): RefreshTokenStore {
  const revokeSql = 'UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL'
  return {
    async createFamily(family, first) {
      await transaction(pool, async (client) => {
        await client.query(
          `INSERT INTO refresh_families (id, client_id, user_id, user_token_version, scope, audience, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [family.id, family.clientId, family.userId, family.userTokenVersion, JSON.stringify(family.scope), JSON.stringify(family.audience), family.createdAt, family.expiresAt],
        )
        await client.query('INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [first.hash, family.id, family.createdAt, first.expiresAt])
      })
    },
    async find(hash) {
      const token = (await pool.query<TokenRow>('SELECT * FROM refresh_tokens WHERE hash = $1', [hash]).catch(unavailable)).rows[0]
      if (!token) return undefined
      const family = (await pool.query<FamilyRow>('SELECT * FROM refresh_families WHERE id = $1', [token.family_id]).catch(unavailable)).rows[0]
      return family && { token: toToken(token), family: toFamily(family) }
    },
    async rotate(hash, next, now) {
      // Row locks serialize rotations of one token across replicas: the second waits, then sees it used.
      return transaction(pool, async (client): Promise<RotateOutcome> => {
        const token = (await client.query<TokenRow>('SELECT * FROM refresh_tokens WHERE hash = $1 FOR UPDATE', [hash])).rows[0]
        if (!token) return { kind: 'invalid', reason: 'unknown' }
        const family = (await client.query<FamilyRow>('SELECT * FROM refresh_families WHERE id = $1 FOR UPDATE', [token.family_id])).rows[0]!
        if (family.revoked_at !== null) return { kind: 'invalid', reason: 'revoked' }
        if (token.used_at !== null) {
          await client.query(revokeSql, [now, 'reuse', family.id])
          return { kind: 'reused', family: toFamily({ ...family, revoked_at: now, revoked_reason: 'reuse' }) }
        }
        if (now >= token.expires_at || now >= family.expires_at) return { kind: 'invalid', reason: 'expired' }
        await client.query('UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2', [now, hash])
        await client.query('INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [next.hash, family.id, now, Math.min(next.expiresAt, family.expires_at)])
        return { kind: 'rotated', family: toFamily(family) }
      })
    },
    async revokeFamily(id, reason, now) {
      return ((await pool.query(revokeSql, [now, reason, id]).catch(unavailable)).rowCount ?? 0) > 0
    },
    async revokeUserFamilies(userId, reason, now) {
      const result = await pool.query('UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL', [now, reason, userId]).catch(unavailable)
      return result.rowCount ?? 0
    },
  }
}

export function createPgRevocations(pool: pg.Pool): AccessTokenRevocations {
  return {
    async revoke(jti, expiresAt) {
      await pool.query('INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING', [jti, expiresAt]).catch(unavailable)
    },
    async isRevoked(jti) {
      return (await pool.query('SELECT 1 FROM revoked_jtis WHERE jti = $1', [jti]).catch(unavailable)).rowCount === 1
    },
  }
}

export function createPgAssertionReplay(pool: pg.Pool): AssertionReplayStore {
  return {
    async use(clientId, jti, expiresAt) {
      const result = await pool.query(
        'INSERT INTO used_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING', [clientId, jti, expiresAt],
      ).catch(unavailable)
      return result.rowCount === 1
    },
  }
}

export function createPgCounters(pool: pg.Pool): CounterStore {
  const sql = HIT_COUNTER_SQL((n) => `$${n}`)
  return {
    async hit(key, windowMs, now) {
      const { rows } = await pool.query<{ count: number; reset_at: string }>(sql, [key, now + windowMs, now]).catch(unavailable)
      return { count: rows[0]!.count, resetAt: Number(rows[0]!.reset_at) }
    },
  }
}
