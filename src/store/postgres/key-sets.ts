import type pg from 'pg'
import { EMPTY_KEY_SET } from '../../keys/key-set.js'
import { parseKeySet } from '../../keys/key-set-codec.js'
import { KEEP_KEY_SET_VERSIONS } from '../rows.js'
import type { KeySetStore } from '../types.js'
import { unavailable } from './pool.js'

/**
 * Key sets as rows keyed by version. The compare-and-swap is one INSERT that only succeeds if its version is the
 * next one: two replicas racing both try to insert version N+1, the primary key lets exactly one in, and the
 * other's ON CONFLICT DO NOTHING reports 0 rows. Private parts stay the same JWE blobs as in key files.
 */
export function createPgKeySets(pool: pg.Pool): KeySetStore {
  return {
    async load() {
      const { rows } = await pool.query<{ body: string; version: number }>('SELECT version, body FROM key_sets ORDER BY version DESC LIMIT 1').catch(unavailable)
      const row = rows[0]
      if (!row) return EMPTY_KEY_SET
      return parseKeySet(row.body)
    },
    async version() {
      const { rows } = await pool.query<{ version: number | null }>('SELECT max(version) AS version FROM key_sets').catch(unavailable)
      return rows[0]?.version ?? 0
    },
    async compareAndSwap(next) {
      const { rowCount } = await pool.query(
        `INSERT INTO key_sets (version, updated_at, body)
         SELECT $1::bigint, $2::bigint, $3::text WHERE COALESCE((SELECT max(version) FROM key_sets), 0) = $1::bigint - 1
         ON CONFLICT (version) DO NOTHING`,
        [next.version, next.updatedAt, JSON.stringify(next)],
      ).catch(unavailable)
      if (rowCount !== 1) return false
      await pool.query('DELETE FROM key_sets WHERE version <= $1', [next.version - KEEP_KEY_SET_VERSIONS]).catch(() => {})
      return true
    },
  }
}
