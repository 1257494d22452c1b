import { readFile, stat } from 'node:fs/promises'
import { KeyturnError } from '../../errors.js'
import { validateClient, type ClientRecord } from '../../clients/client.js'

/** The read side of a client registry: what a clients file offers. */
export interface ClientSource {
  get(id: string): Promise<ClientRecord | undefined>
  list(): Promise<ClientRecord[]>
}

function parseClients(text: string, path: string): Map<string, ClientRecord> {
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
  return clients
}

/**
 * Clients declared in a read-only JSON file (`{ "clients": [...] }`), friendly to review and GitOps: it holds keyed
 * hashes, never secrets. It is re-read when its mtime or size changes (checked at most once per `recheckMs`); an
 * edit that fails validation is reported at start-up, and later keeps the last good version serving.
 */
export function createClientsFile(path: string, options: { recheckMs?: number; now?: () => number } = {}): ClientSource {
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
    let clients: Map<string, ClientRecord>
    try {
      clients = parseClients(await readFile(path, 'utf8'), path)
    } catch (error) {
      // A bad edit must not take /token down: keep serving the last good version (and re-check each time).
      if (cache && cache.mtimeMs !== 0) return cache.clients
      throw error
    }
    cache = { mtimeMs: info.mtimeMs, size: info.size, clients }
    return clients
  }

  return {
    async get(id) {
      if (!cache || now() - checkedAt >= recheckMs) {
        checkedAt = now()
        await readAll()
      }
      return cache?.clients.get(id)
    },
    async list() {
      return [...(await readAll()).values()]
    },
  }
}
