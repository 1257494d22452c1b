import pg from 'pg'
import { KeyturnError } from '../../errors.js'

/** Error codes that mean "the database cannot be reached right now", as opposed to a bad query. */
const UNAVAILABLE_SYSCALL = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', 'EAI_AGAIN'])

export function isUnavailable(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string }
  if (code && (UNAVAILABLE_SYSCALL.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300')) return true
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message ?? '')
}

/** Rethrows a connection failure as `ERR_STORE_UNAVAILABLE` (503 on the wire); anything else unchanged. */
export function unavailable(error: unknown): never {
  if (isUnavailable(error)) throw new KeyturnError('ERR_STORE_UNAVAILABLE', 'the database is unreachable', { cause: error })
  throw error
}

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>

/**
 * A bounded pool. BIGINT columns (epoch-millisecond times, versions) come back as numbers: every value we store
 * fits in 2^53.
 */
export function createPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString, max, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000, statement_timeout: 10_000, query_timeout: 15_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === pg.types.builtins.INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  return pool
}

/** Runs `fn` in a transaction on one client; rolls back on any error. */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect().catch(unavailable)
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    return unavailable(error)
  } finally {
    client.release()
  }
}
