import { mkdir, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { KeyturnError } from '../../errors.js'
import { validateClient, type ClientRecord } from '../../clients/client.js'
import type { ClientStore } from '../types.js'
import { withFileLock, writeFileAtomic } from './fs-atomic.js'

/**
 * Clients in one JSON file (`{ "clients": [...] }`), friendly to review and GitOps: it holds keyed hashes, never
 * secrets. The server re-reads it when it changes (checked at most once per `recheckMs`); the admin CLI changes it
 * under a lock with an atomic replace.
 */
export function createClientsFile(path: string, options: { recheckMs?: number; now?: () => number } = {}): ClientStore {
  const recheckMs = options.recheckMs ?? 1000
  const now = options.now ?? Date.now
  let cache: { mtimeMs: number; size: number; clients: Map<string, ClientRecord> } | undefined
  let checkedAt = -Infinity

  async function readAll(): Promise<Map<string, ClientRecord>> {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    if (!info) return (cache = { mtimeMs: 0, size: 0, clients: new Map() }).clients
    if (cache && cache.mtimeMs === info.mtimeMs && cache.size === info.size) return cache.clients
    const text = await readFile(path, 'utf8')
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch {
      throw new KeyturnError('ERR_STORE_CORRUPT', `${path}: not JSON`)
    }
    const list = (raw as { clients?: unknown } | null)?.clients
    if (!Array.isArray(list)) throw new KeyturnError('ERR_STORE_CORRUPT', `${path}: expected {"clients": [...]}`)
    const clients = new Map<string, ClientRecord>()
    for (const entry of list) {
      const client = validateClient(entry)
      if (clients.has(client.id)) throw new KeyturnError('ERR_STORE_CORRUPT', `${path}: client ${client.id} appears twice`)
      clients.set(client.id, client)
    }
    cache = { mtimeMs: info.mtimeMs, size: info.size, clients }
    return clients
  }

  async function current(): Promise<Map<string, ClientRecord>> {
    if (cache && now() - checkedAt < recheckMs) return cache.clients
    checkedAt = now()
    return readAll()
  }

  async function change(fn: (clients: Map<string, ClientRecord>) => void): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    await withFileLock(`${path}.lock`, async () => {
      cache = undefined
      const clients = new Map(await readAll())
      fn(clients)
      const body = { clients: [...clients.values()].sort((a, b) => a.id.localeCompare(b.id)) }
      await writeFileAtomic(path, `${JSON.stringify(body, null, 2)}\n`, 0o600)
      cache = undefined
    })
  }

  return {
    async get(id) {
      return (await current()).get(id)
    },
    async list() {
      return [...(await readAll()).values()]
    },
    async create(client) {
      await change((clients) => {
        if (clients.has(client.id)) throw new KeyturnError('ERR_CLIENT_EXISTS', `client ${client.id} already exists`)
        clients.set(client.id, validateClient(client))
      })
    },
    async update(client) {
      await change((clients) => {
        if (!clients.has(client.id)) throw new KeyturnError('ERR_CLIENT_NOT_FOUND', `no client ${client.id}`)
        clients.set(client.id, validateClient(client))
      })
    },
    async delete(id) {
      let existed = false
      await change((clients) => {
        existed = clients.delete(id)
      })
      return existed
    },
  }
}
