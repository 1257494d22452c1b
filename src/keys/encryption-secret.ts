import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { ConfigError } from '../errors.js'
import { createFileExclusive } from '../store/local/fs-atomic.js'

export const DEV_SECRET_FILE = '.encryption-secret'

/**
 * The secret that encrypts private keys at rest: KEYTURN_KEY_ENCRYPTION_SECRET, or outside production a generated
 * one kept in `keys/.encryption-secret` (mode 0600) with a loud warning. Two processes starting together agree on
 * one file: it is created exclusively, and the loser reads the winner's.
 */
export async function resolveEncryptionSecret(
  config: { keyEncryptionSecret: string | undefined; production: boolean; keysDir: string },
  log: Pick<Logger, 'warn'>,
): Promise<string> {
  if (config.keyEncryptionSecret !== undefined) return config.keyEncryptionSecret
  if (config.production) throw new ConfigError('KEYTURN_KEY_ENCRYPTION_SECRET', 'is required when NODE_ENV=production')
  const path = join(config.keysDir, DEV_SECRET_FILE)
  await mkdir(config.keysDir, { recursive: true, mode: 0o700 })
  const created = await createFileExclusive(path, `${randomBytes(32).toString('base64url')}\n`, 0o600)
  const secret = (await readFile(path, 'utf8')).trim()
  if (secret.length < 32) throw new ConfigError('KEYTURN_KEY_ENCRYPTION_SECRET', `the development secret in ${path} is damaged; restore it from backup`)
  log.warn({ path, created }, 'KEYTURN_KEY_ENCRYPTION_SECRET is not set: private keys are encrypted with a development secret stored beside them. Set the variable before production use.')
  return secret
}
