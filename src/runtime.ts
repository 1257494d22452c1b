import type { Logger } from 'pino'
import type { Config } from './config.js'
import { createStore } from './store/index.js'
import type { Store } from './store/types.js'
import { resolveEncryptionSecret } from './keys/encryption-secret.js'
import { deriveKey, keyEncryptionKey, type KeyEncryptionKey } from './keys/key-material.js'
import { createRotation, rotationPolicy, type Rotation } from './keys/rotation.js'
import type { RotationPolicy } from './keys/key-set.js'

/** What both the server and the admin scripts open: the store, the derived keys, the rotation service. */
export interface Runtime {
  readonly store: Store
  readonly kek: KeyEncryptionKey
  readonly clientSecretKey: Uint8Array
  readonly policy: RotationPolicy
  readonly rotation: Rotation
}

export async function openRuntime(config: Config, log: Logger, now: () => number = Date.now): Promise<Runtime> {
  const store = await createStore(config, now)
  const secret = await resolveEncryptionSecret(config, log)
  const kek = keyEncryptionKey(secret)
  const policy = rotationPolicy(config)
  const rotation = createRotation({ store: store.keys, policy, kek, now, log: log.child({ component: 'rotation' }) })
  return { store, kek, clientSecretKey: deriveKey(secret, 'client-secret'), policy, rotation }
}
