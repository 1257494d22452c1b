import type { Database } from 'better-sqlite3'
import { KeyturnError } from '../../errors.js'
import { validateClient, type ClientRecord } from '../../clients/client.js'
import type { ClientStore } from '../types.js'

/** Clients as JSON records in SQLite, validated on every read. */
export function createSqlClients(db: Database): ClientStore {
  const get = db.prepare<[string], { record: string }>('SELECT record FROM clients WHERE id = ?')
  const all = db.prepare<[], { record: string }>('SELECT record FROM clients ORDER BY id')
  const insert = db.prepare('INSERT INTO clients (id, record) VALUES (?, ?) ON CONFLICT (id) DO NOTHING')
  const update = db.prepare('UPDATE clients SET record = ? WHERE id = ?')
  const remove = db.prepare('DELETE FROM clients WHERE id = ?')
  const parse = (row: { record: string }): ClientRecord => validateClient(JSON.parse(row.record))
  return {
    async get(id) {
      const row = get.get(id)
      return row && parse(row)
    },
    async list() {
      return all.all().map(parse)
    },
    async create(client) {
      const valid = validateClient(client)
      if (insert.run(valid.id, JSON.stringify(valid)).changes === 0) throw new KeyturnError('ERR_CLIENT_EXISTS', `client ${valid.id} already exists`)
    },
    async update(client) {
      const valid = validateClient(client)
      if (update.run(JSON.stringify(valid), valid.id).changes === 0) throw new KeyturnError('ERR_CLIENT_NOT_FOUND', `no client ${valid.id}`)
    },
    async delete(id) {
      return remove.run(id).changes > 0
    },
  }
}
