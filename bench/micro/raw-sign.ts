import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { hostBusySeconds } from '../lib/proc.js'

export interface RawSignResult {
  readonly alg: 'RS256' | 'ES256'
  readonly threads: number
  readonly inFlight: number
  /** Signatures per second over all threads. */
  readonly rate: number
  /** CPU used, in cores. */
  readonly cpu: number
  /** CPU used on the host by other processes meanwhile, in cores. */
  readonly foreignCpu: number
  readonly durationS: number
}

/**
 * jose's raw signing rate on every core: one worker thread per core, each keeping `inFlight` signatures going (jose
 * signs through WebCrypto, whose jobs run on the libuv pool) for `durationS`. The ceiling a token endpoint can reach.
 * 4 in flight per thread: with 2 the pool (4 threads, shared by the process's worker threads) was not kept full for
 * ES256 (1.5 of 2 cores busy); RS256 saturates the cores with either.
 */
export async function rawSignRate(alg: 'RS256' | 'ES256', durationS: number, inFlight = 4): Promise<RawSignResult> {
  const threads = availableParallelism()
  const workers = Array.from({ length: threads }, () => new Worker(new URL('./sign-worker.js', import.meta.url), { workerData: { alg, inFlight } }))
  try {
    await Promise.all(workers.map((worker) => nextMessage(worker)))
    const cpu0 = process.cpuUsage()
    const host0 = hostBusySeconds()
    const t0 = performance.now()
    for (const worker of workers) worker.postMessage({ durationMs: durationS * 1000 })
    const counts = await Promise.all(workers.map(async (worker) => ((await nextMessage(worker)) as { count: number }).count))
    const elapsed = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const own = (cpu.user + cpu.system) / 1e6
    const total = counts.reduce((sum, count) => sum + count, 0)
    return {
      alg, threads, inFlight, rate: total / elapsed, cpu: own / elapsed, foreignCpu: Math.max(0, (hostBusySeconds() - host0 - own) / elapsed), durationS: elapsed,
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
}

function nextMessage(worker: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}
