import type { RefreshFamily, RefreshTokenRecord, UserRecord } from './types.js'

/** Row shapes shared by the SQL stores (SQLite and PostgreSQL use the same columns). Times are epoch ms. */
export interface UserRow {
  id: string; username: string; password_hash: string; claims: string; disabled: number | boolean; token_version: number; created_at: number; updated_at: number
}
export interface FamilyRow {
  id: string; client_id: string; user_id: string; user_token_version: number; scope: string; audience: string
  created_at: number; expires_at: number; revoked_at: number | null; revoked_reason: string | null
}
export interface TokenRow { hash: string; family_id: string; created_at: number; expires_at: number; used_at: number | null }

export const toUser = (row: UserRow): UserRecord => ({
  id: row.id, username: row.username, passwordHash: row.password_hash, claims: JSON.parse(row.claims) as Record<string, unknown>,
  disabled: row.disabled === 1 || row.disabled === true, tokenVersion: row.token_version, createdAt: row.created_at, updatedAt: row.updated_at,
})

export const toFamily = (row: FamilyRow): RefreshFamily => ({
  id: row.id, clientId: row.client_id, userId: row.user_id, userTokenVersion: row.user_token_version,
  scope: JSON.parse(row.scope) as string[], audience: JSON.parse(row.audience) as string[], createdAt: row.created_at, expiresAt: row.expires_at,
  ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at }), ...(row.revoked_reason === null ? {} : { revokedReason: row.revoked_reason }),
})

export const toToken = (row: TokenRow): RefreshTokenRecord => ({
  hash: row.hash, familyId: row.family_id, createdAt: row.created_at, expiresAt: row.expires_at, ...(row.used_at === null ? {} : { usedAt: row.used_at }),
})

/** How many old key-set versions a store keeps besides the newest (for diagnosis; readers never use them). */
export const KEEP_KEY_SET_VERSIONS = 5
