import { access, constants, mkdir } from 'node:fs/promises'
import type { Store } from './types.js'
import { createKeySetFiles } from './local/key-set-files.js'
import { createClientsFile } from './local/clients-file.js'

/** The embedded default store: key files and the clients file in `keys/`. Nothing to install or run. */
export async function createStore(config: { keysDir: string; clientsFile: string }): Promise<Store> {
  await mkdir(config.keysDir, { recursive: true, mode: 0o700 })
  return {
    kind: 'local',
    keys: createKeySetFiles(config.keysDir),
    clients: createClientsFile(config.clientsFile),
    ping: () => access(config.keysDir, constants.R_OK | constants.W_OK),
    close: async () => {},
  }
}
