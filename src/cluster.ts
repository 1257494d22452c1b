import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import type { Runtime } from './runtime.js'
import type { KeyRing } from './keys/key-ring.js'
import { startRotationJob } from './jobs/rotation-job.js'
import { serveClusterMetrics } from './metrics/cluster.js'

/** Sent by the primary when the rotation job changed the key set, so workers sign with it at once. */
export const KEYS_CHANGED = 'keyturn:keys-changed'

/** Restarts of crashed workers allowed within `RESTART_WINDOW_MS` before the primary gives up. */
const MAX_RESTARTS = 10
const RESTART_WINDOW_MS = 60_000
const RESTART_DELAY_MS = 1000

/**
 * KEYTURN_WORKERS > 1: the primary process serves no HTTP. It runs the start-up rotation and the rotation job (one
 * job for the whole cluster, not one per worker: `rotate()` is a compare-and-swap, so N jobs would be safe, just N
 * times the work), forks the workers, restarts one that crashes, and on SIGTERM stops them all gracefully.
 * Each worker opens its own store connection and key ring and listens on the shared port (node:cluster hands
 * connections out round-robin); see `onKeysChanged` for how a rotation reaches them.
 *
 * @param runtime opened by the caller, after the start-up rotation; `keys` is the primary's own ring, refreshed
 *   by the job after a transition.
 */
export async function runPrimary(config: Config, runtime: Runtime, keys: KeyRing, log: Logger, now: () => number, graceMs: number): Promise<void> {
  const broadcast: KeyRing = {
    ...keys,
    async refresh() {
      const set = await keys.refresh()
      for (const worker of Object.values(cluster.workers ?? {})) worker?.send({ type: KEYS_CHANGED, version: set.version })
      return set
    },
  }
  const job = startRotationJob({
    rotation: runtime.rotation, keys: broadcast, schedule: config.rotationCheck, log: log.child({ job: 'rotation' }), purge: () => runtime.store.purgeExpired(now()),
  })

  let closing = false
  let started = false
  const restarts: number[] = []
  const fork = (): Worker => cluster.fork()

  const shutdown = (signal: string, code = 0): void => {
    if (closing) return
    closing = true
    log.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      log.error('graceful shutdown timed out')
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
      process.exit(1)
    }, graceMs + 1000)
    force.unref()
    void (async () => {
      await job.stop()
      const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined)
      await Promise.all(workers.map((worker) => new Promise<void>((resolve) => {
        if (worker.isDead()) return resolve()
        worker.once('exit', () => resolve())
        worker.process.kill('SIGTERM')
      })))
      keys.stop()
      await runtime.store.close()
      process.exit(code)
    })()
  }

  cluster.on('exit', (worker, exitCode, signal) => {
    if (closing) return
    log.error({ worker: worker.id, code: exitCode, signal }, 'worker exited')
    if (!started) return shutdown('worker failed at start-up', 1)
    const at = now()
    restarts.push(at)
    while (restarts.length > 0 && restarts[0]! < at - RESTART_WINDOW_MS) restarts.shift()
    if (restarts.length > MAX_RESTARTS) return shutdown('workers keep crashing', 1)
    setTimeout(() => {
      if (!closing) fork()
    }, RESTART_DELAY_MS).unref()
  })
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))

  if (config.metrics) serveClusterMetrics(log.child({ component: 'metrics' }))
  const listening = Array.from({ length: config.workers }, () => new Promise<void>((resolve) => fork().once('listening', () => resolve())))
  await Promise.all(listening)
  started = true
  log.info({ issuer: config.issuer, workers: config.workers, keySetVersion: keys.current().version }, 'keyturn cluster ready')
}

/** In a worker: calls `refresh` whenever the primary announces a key-set change. */
export function onKeysChanged(refresh: () => void): void {
  process.on('message', (message: unknown) => {
    if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === KEYS_CHANGED) refresh()
  })
}

export const isClusterWorker = (): boolean => cluster.isWorker
