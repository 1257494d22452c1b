import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'

/** The server the PostgreSQL tests use; unset means they are skipped (CI sets it, see .ci/run). */
export const TEST_DATABASE_URL = process.env.KEYTURN_TEST_DATABASE_URL

export const SKIP_REASON = 'KEYTURN_TEST_DATABASE_URL is not set: PostgreSQL tests skipped (.ci/run starts a server and sets it)'

/** A fresh, empty database on the test server, dropped when `t` ends. @returns its connection string. */
export async function freshDatabase(t: Test): Promise<string> {
  const name = `keyturn_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  t.teardown(async () => {
    const dropper = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await dropper.connect()
    await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await dropper.end()
  })
  const url = new URL(TEST_DATABASE_URL!)
  url.pathname = `/${name}`
  return url.toString()
}
