import { KeyturnError } from '../errors.js'
import type { ClientStore } from './types.js'
import type { ClientSource } from './local/clients-file.js'

/**
 * Clients from a read-only, GitOps-friendly file layered over the store. On a conflict the file wins: it is the
 * declared state, so a client defined there cannot be created, changed or deleted through the store.
 */
export function layerClients(file: ClientSource, store: ClientStore): ClientStore {
  const readonly = async (id: string): Promise<void> => {
    if (await file.get(id)) throw new KeyturnError('ERR_CLIENT_READONLY', `client ${id} is defined in KEYTURN_CLIENTS_FILE; change it there`)
  }
  return {
    async get(id) {
      return (await file.get(id)) ?? store.get(id)
    },
    async list() {
      const fromFile = await file.list()
      const ids = new Set(fromFile.map((client) => client.id))
      return [...fromFile, ...(await store.list()).filter((client) => !ids.has(client.id))]
    },
    async create(client) {
      if (await file.get(client.id)) throw new KeyturnError('ERR_CLIENT_EXISTS', `client ${client.id} already exists in KEYTURN_CLIENTS_FILE`)
      await store.create(client)
    },
    async update(client) {
      await readonly(client.id)
      await store.update(client)
    },
    async delete(id) {
      await readonly(id)
      return store.delete(id)
    },
  }
}
