import cron from 'node-cron'
import type { Logger } from 'pino'
import type { Rotation } from '../keys/rotation.js'
import type { KeyRing } from '../keys/key-ring.js'

export interface RotationJob {
  /** Runs one tick now (also what the schedule calls). Resolves when it is done; never rejects. */
  tick(): Promise<void>
  stop(): Promise<void>
}

/**
 * The scheduled shell around `rotate()`: each tick applies the rotation plan and, if the set changed, makes this
 * process sign with the new set at once; then it purges expired refresh tokens and revoked jtis. Ticks never overlap; a failed tick is logged and the next one retries.
 */
export function startRotationJob(deps: { rotation: Rotation; keys: KeyRing; schedule: string; log: Logger; purge?: () => Promise<number> }): RotationJob {
  let running: Promise<void> | undefined
  const tick = (): Promise<void> => {
    running ??= (async () => {
      try {
        const { transitions } = await deps.rotation.rotate()
        if (transitions.length > 0) await deps.keys.refresh()
      } catch (error) {
        deps.log.error({ err: error }, 'rotation tick failed')
      }
      try {
        const removed = (await deps.purge?.()) ?? 0
        if (removed > 0) deps.log.info({ event: 'store.purged', removed }, 'expired refresh tokens and revocations removed')
      } catch (error) {
        deps.log.error({ err: error }, 'purge of expired records failed')
      } finally {
        running = undefined
      }
    })()
    return running
  }
  const task = cron.schedule(deps.schedule, tick, { name: 'keyturn-rotation' })
  return {
    tick,
    async stop() {
      await task.stop()
      await running
    },
  }
}
