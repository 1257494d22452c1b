import type { Database } from 'better-sqlite3'
import type { RefreshFamily, RefreshTokenRecord, RefreshTokenStore, RotateOutcome } from '../types.js'
import { toFamily, toToken, type FamilyRow, type TokenRow } from '../rows.js'

/** Refresh families in SQLite; every rotation is one IMMEDIATE transaction, which serializes racing processes. */
export function createSqlRefreshTokens(db: Database): RefreshTokenStore {
  const insertFamily = db.prepare(`INSERT INTO refresh_families (id, client_id, user_id, user_token_version, scope, audience, created_at, expires_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
  const insertToken = db.prepare('INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)')
  const tokenByHash = db.prepare<[string], TokenRow>('SELECT * FROM refresh_tokens WHERE hash = ?')
  const familyById = db.prepare<[string], FamilyRow>('SELECT * FROM refresh_families WHERE id = ?')
  const markUsed = db.prepare('UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL')
  const revoke = db.prepare('UPDATE refresh_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL')
  const revokeUser = db.prepare('UPDATE refresh_families SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL')

  const createFamily = db.transaction((family: RefreshFamily, first: Pick<RefreshTokenRecord, 'hash' | 'expiresAt'>) => {
    insertFamily.run(family.id, family.clientId, family.userId, family.userTokenVersion, JSON.stringify(family.scope), JSON.stringify(family.audience), family.createdAt, family.expiresAt)
    insertToken.run(first.hash, family.id, family.createdAt, first.expiresAt)
  })

  const rotate = db.transaction((hash: string, next: Pick<RefreshTokenRecord, 'hash' | 'expiresAt'>, now: number): RotateOutcome => {
    const token = tokenByHash.get(hash)
    if (!token) return { kind: 'invalid', reason: 'unknown' }
    const family = familyById.get(token.family_id)!
    if (family.revoked_at !== null) return { kind: 'invalid', reason: 'revoked' }
    if (token.used_at !== null) {
      // RFC 9700 §4.14.2: a used refresh token presented again means it leaked; end the whole family.
      revoke.run(now, 'reuse', family.id)
      return { kind: 'reused', family: toFamily({ ...family, revoked_at: now, revoked_reason: 'reuse' }) }
    }
    if (now >= token.expires_at || now >= family.expires_at) return { kind: 'invalid', reason: 'expired' }
    markUsed.run(now, hash)
    insertToken.run(next.hash, family.id, now, Math.min(next.expiresAt, family.expires_at))
    return { kind: 'rotated', family: toFamily(family) }
  })

  return {
    async createFamily(family, first) {
      createFamily.immediate(family, first)
    },
    async find(hash) {
      const token = tokenByHash.get(hash)
      if (!token) return undefined
      return { token: toToken(token), family: toFamily(familyById.get(token.family_id)!) }
    },
    async rotate(hash, next, now) {
      return rotate.immediate(hash, next, now)
    },
    async revokeFamily(id, reason, now) {
      return revoke.run(now, reason, id).changes > 0
    },
    async revokeUserFamilies(userId, reason, now) {
      return revokeUser.run(now, reason, userId).changes
    },
  }
}
