import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { migrate } from './migrations.js'

/**
 * Opens the state database: WAL so the server and the admin scripts read and write at the same time, a busy
 * timeout so a writer waits for another instead of failing, foreign keys on, and the schema migrated.
 */
export function openDatabase(path: string, now: number): Database.Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('busy_timeout = 5000')
  // NORMAL in WAL mode: a killed process never loses or tears a committed transaction (only a power cut can
  // lose the newest ones), at a fraction of FULL's fsyncs.
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  migrate(db, now)
  return db
}
