import cluster from 'node:cluster'
import pino from 'pino'
import type { FastifyServerOptions } from 'fastify'
import { loadConfig } from './config.js'
import { ConfigError, KeyturnError } from './errors.js'
import { loggerOptions } from './logger.js'
import { AccessLog } from './access-log.js'
import { buildApp } from './app.js'
import { openRuntime } from './runtime.js'
import { createKeyRing } from './keys/key-ring.js'
import { createAccessTokenIssuer } from './tokens/access-token.js'
import { startRotationJob, type RotationJob } from './jobs/rotation-job.js'
import { onKeysChanged, runPrimary } from './cluster.js'
import { createMetrics } from './metrics/metrics.js'
import { answerMetricsCollection, askPrimaryForMetrics } from './metrics/cluster.js'

/** jose's createRemoteJWKSet keeps a JWKS this long by default, whatever Cache-Control says. */
const JOSE_DEFAULT_CACHE_MS = 600_000

/**
 * One process (KEYTURN_WORKERS=1): rotation job and HTTP here. With KEYTURN_WORKERS > 1 the primary runs the start-up
 * rotation and the job (src/cluster.ts) and each worker only serves HTTP.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env)
  const worker = cluster.isWorker ? cluster.worker : undefined
  const base = pino(loggerOptions(config.logLevel))
  const log = worker ? base.child({ worker: worker.id }) : base
  const now = Date.now
  const runtime = await openRuntime(config, log, now)
  if (!worker) {
    if (config.propagationMs < Math.max(config.jwksMaxAgeMs, JOSE_DEFAULT_CACHE_MS) + 60_000) {
      log.warn({ propagation: config.propagationMs / 1000 }, 'KEYTURN_KEY_PROPAGATION is shorter than common verifiers cache a JWKS (jose: 10 min, plus a 30-60 s refetch cooldown); such verifiers may reject tokens for a while after each rotation')
    }
    // Start-up creates the first keys, or catches up on a rotation that fell due while no process ran.
    await runtime.rotation.rotate()
  }
  const keys = createKeyRing({
    store: runtime.store.keys, kek: runtime.kek, policy: runtime.policy, jwksMaxAgeMs: config.jwksMaxAgeMs,
    reloadMs: config.keysReloadMs, now, log: log.child({ component: 'key-ring' }),
  })
  await keys.refresh()
  if (!worker && config.workers > 1) return runPrimary(config, runtime, keys, log, now, config.shutdownGraceMs)
  keys.start()
  let job: RotationJob | undefined
  if (worker) {
    onKeysChanged(() => void keys.refresh().catch((error: Error) => log.error({ err: error }, 'key set reload failed; still serving the last good key set')))
  } else {
    job = startRotationJob({
      rotation: runtime.rotation, keys, schedule: config.rotationCheck, log: log.child({ job: 'rotation' }), purge: () => runtime.store.purgeExpired(now()),
    })
  }
  // buildApp hands its options to Fastify: one access line per request (src/access-log.ts) instead of fastify's two.
  const appOptions: Parameters<typeof buildApp>[1] & Pick<FastifyServerOptions, 'logController'> = { loggerInstance: log, logController: new AccessLog() }
  // A worker's /metrics answers for the whole cluster, merged by the primary (src/metrics/cluster.ts).
  const metrics = config.metrics && worker ? createMetrics({ keys, policy: runtime.policy, now, scrape: askPrimaryForMetrics() }) : undefined
  if (metrics) answerMetricsCollection(metrics.registry)
  const app = buildApp({
    config, store: runtime.store, keys, clientSecretKey: runtime.clientSecretKey,
    issueAccessToken: createAccessTokenIssuer({ issuer: config.issuer, keys, now }), now, metrics,
  }, appOptions)
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
    }, config.shutdownGraceMs)
    force.unref()
    void (async () => {
      // Stop accepting at once (keep-alive requests get 503 + Connection: close) while in-flight requests finish
      // and a running rotation tick completes: a key-set write is one compare-and-swap, never left half done.
      await Promise.all([app.close(), job?.stop()])
      keys.stop()
      await runtime.store.close()
      log.info('shut down cleanly')
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
