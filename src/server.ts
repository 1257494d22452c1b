import pino from 'pino'
import { loadConfig } from './config.js'
import { ConfigError, KeyturnError } from './errors.js'
import { loggerOptions } from './logger.js'
import { buildApp } from './app.js'
import { openRuntime } from './runtime.js'
import { createKeyRing } from './keys/key-ring.js'
import { createAccessTokenIssuer } from './tokens/access-token.js'
import { startRotationJob } from './jobs/rotation-job.js'

const SHUTDOWN_GRACE_MS = 10_000
/** jose's createRemoteJWKSet keeps a JWKS this long by default, whatever Cache-Control says. */
const JOSE_DEFAULT_CACHE_MS = 600_000

async function main(): Promise<void> {
  const config = loadConfig(process.env)
  const log = pino(loggerOptions(config.logLevel))
  const now = Date.now
  const runtime = await openRuntime(config, log, now)
  if (config.propagationMs < Math.max(config.jwksMaxAgeMs, JOSE_DEFAULT_CACHE_MS) + 60_000) {
    log.warn({ propagation: config.propagationMs / 1000 }, 'KEYTURN_KEY_PROPAGATION is shorter than common verifiers cache a JWKS (jose: 10 min, plus a 30-60 s refetch cooldown); such verifiers may reject tokens for a while after each rotation')
  }
  // Start-up creates the first keys, or catches up on a rotation that fell due while no process ran.
  await runtime.rotation.rotate()
  const keys = createKeyRing({
    store: runtime.store.keys, kek: runtime.kek, policy: runtime.policy, jwksMaxAgeMs: config.jwksMaxAgeMs,
    reloadMs: config.keysReloadMs, now, log: log.child({ component: 'key-ring' }),
  })
  await keys.refresh()
  keys.start()
  const job = startRotationJob({
    rotation: runtime.rotation, keys, schedule: config.rotationCheck, log: log.child({ job: 'rotation' }), purge: () => runtime.store.purgeExpired(now()),
  })
  const app = buildApp({
    config, store: runtime.store, keys, clientSecretKey: runtime.clientSecretKey,
    issueAccessToken: createAccessTokenIssuer({ issuer: config.issuer, keys, now }), now,
  }, { loggerInstance: log })
  await app.listen({ port: config.port, host: config.host })
  log.info({ issuer: config.issuer, algs: config.signingAlgs, keySetVersion: keys.current().version }, 'keyturn ready')

  let closing = false
  const shutdown = (signal: string): void => {
    if (closing) return
    closing = true
    log.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      log.error('graceful shutdown timed out')
      process.exit(1)
    }, SHUTDOWN_GRACE_MS)
    force.unref()
    void (async () => {
      await job.stop()
      keys.stop()
      await app.close()
      await runtime.store.close()
      process.exit(0)
    })()
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`keyturn: configuration error: ${error.message}\n`)
  } else if (error instanceof KeyturnError) {
    // An operator's problem (a wrong secret, a damaged key file): one line with its code, no stack.
    process.stderr.write(`keyturn: ${error.code}: ${error.message}\n`)
  } else {
    process.stderr.write(`keyturn: failed to start: ${(error as Error).stack ?? String(error)}\n`)
  }
  process.exit(1)
})
