import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config } from '../src/config.js'
import { buildApp } from '../src/app.js'
import { openRuntime, type Runtime } from '../src/runtime.js'
import { createKeyRing, type KeyRing } from '../src/keys/key-ring.js'
import { createAccessTokenIssuer } from '../src/tokens/access-token.js'
import { generateClientSecret, hashClientSecret } from '../src/clients/secret.js'
import { validateClient, type ClientRecord } from '../src/clients/client.js'
import { hashPassword } from '../src/users/password.js'
import { newUserId } from '../src/users/user.js'
import type { UserRecord } from '../src/store/types.js'

/** A clock tests move by hand: no sleeps, no timers. */
export interface TestClock {
  now: () => number
  advance: (ms: number) => void
  set: (ms: number) => void
}

export function createClock(start = Date.UTC(2026, 0, 1)): TestClock {
  let current = start
  return { now: () => current, advance: (ms) => { current += ms }, set: (ms) => { current = ms } }
}

export const TEST_SECRET = 'test-key-encryption-secret-of-at-least-32-chars'

export interface TestIssuer {
  app: FastifyInstance
  config: Config
  clock: TestClock
  runtime: Runtime
  keys: KeyRing
  dir: string
  /** Registers a client directly in the store; returns its plain secret ('' for a public client). */
  addClient(client: Partial<ClientRecord> & { id: string }): Promise<string>
  /** Registers a user directly in the store. */
  addUser(username: string, password: string, claims?: Record<string, unknown>): Promise<UserRecord>
  /** rotate() through the real service, then reload the ring (what the rotation job does). */
  rotate(options?: Parameters<Runtime['rotation']['rotate']>[0]): Promise<void>
}

/** Builds an issuer on a temp keys dir with an injected clock, bootstrapped keys, and no listening socket. */
export async function buildTestIssuer(t: Test, env: Record<string, string> = {}): Promise<TestIssuer> {
  const dir = await mkdtemp(join(tmpdir(), 'keyturn-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const config = loadConfig({
    KEYTURN_KEYS_DIR: join(dir, 'keys'), KEYTURN_DATA_DIR: join(dir, 'data'), KEYTURN_ISSUER: 'https://issuer.test', KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET, KEYTURN_SIGNING_ALGS: 'ES256,RS256', KEYTURN_PASSWORD_HASH_COST: '14', ...env,
  })
  const clock = createClock()
  const log = pino({ level: 'silent' })
  const runtime = await openRuntime(config, log, clock.now)
  t.teardown(() => runtime.store.close())
  const keys = createKeyRing({
    store: runtime.store.keys, kek: runtime.kek, policy: runtime.policy, jwksMaxAgeMs: config.jwksMaxAgeMs,
    reloadMs: config.keysReloadMs, now: clock.now, log,
  })
  const rotate = async (options?: Parameters<Runtime['rotation']['rotate']>[0]): Promise<void> => {
    await runtime.rotation.rotate(options)
    await keys.refresh()
  }
  await rotate()
  const app = buildApp({
    config, store: runtime.store, keys, clientSecretKey: runtime.clientSecretKey,
    issueAccessToken: createAccessTokenIssuer({ issuer: config.issuer, keys, now: clock.now }), now: clock.now,
  }, { logger: false })
  t.teardown(() => app.close())
  return {
    app, config, clock, runtime, keys, dir, rotate,
    async addClient(client) {
      const isPublic = client.authMethods?.includes('none') ?? false
      const secret = isPublic ? '' : generateClientSecret()
      await runtime.store.clients.create(validateClient({
        createdAt: new Date(clock.now()).toISOString(), ...(isPublic ? {} : { secretHash: hashClientSecret(secret, runtime.clientSecretKey) }), ...client,
      }))
      return secret
    },
    async addUser(username, password, claims = {}) {
      const now = clock.now()
      const user: UserRecord = {
        id: newUserId(), username, passwordHash: await hashPassword(password, config.passwordHashCost), claims, disabled: false, tokenVersion: 0, createdAt: now, updatedAt: now,
      }
      await runtime.store.users.create(user)
      return user
    },
  }
}

export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

export const form = (params: Record<string, string | string[]>): string => {
  const body = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) for (const item of [value].flat()) body.append(name, item)
  return body.toString()
}

/** POSTs a form to `url` through inject. */
export function post(issuer: TestIssuer, url: string, params: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  return issuer.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: form(params) })
}
