import autocannon, { type Request, type Result } from 'autocannon'
import { cpuSeconds, hostBusySeconds, peakRssBytes, processTree, resetPeakRss, rssBytes, sleep } from './proc.js'

/** One HTTP load: what to send, and which statuses count as success (every other status is an error). */
export interface LoadSpec {
  readonly url: string
  readonly method: 'GET' | 'POST'
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string
  /** For requests that change per call (refresh tokens): replaces method/path/headers/body. */
  readonly requests?: Request[]
  /** Statuses that are not errors; default [200]. */
  readonly expect?: readonly number[]
}

/** What one measured run found. Rates are per second; latencies in ms; CPU in cores (1 = one core busy). */
export interface LoadResult {
  readonly connections: number
  readonly rps: number
  readonly requests: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  /** Socket errors, timeouts and unexpected statuses. */
  readonly errors: number
  readonly statuses: Record<string, number>
  /** CPU of the server's process tree over the run, in cores. */
  readonly serverCpu: number
  /** Server CPU time per request, in microseconds. */
  readonly cpuPerRequestUs: number
  /** Peak resident memory of the server's process tree during the run (sum over its processes), in MB (10^6 bytes). */
  readonly peakRssMB: number
  /** Whether the peak was reset before the run (else it is the peak since start-up). */
  readonly peakRssExact: boolean
  /** Server processes seen (a cluster primary and its workers). */
  readonly processes: number
  /** CPU used by this bench process (autocannon), in cores. */
  readonly loadGeneratorCpu: number
  /** CPU used on the host by anything else during the run (other jobs on the machine), in cores. */
  readonly foreignCpu: number
  readonly durationS: number
}

/**
 * Waits until the server tree is idle (under 5 % of a core over 250 ms), at most `maxMs`: requests queued by an
 * earlier run (autocannon stops sending, the server keeps working — a backlog of password hashes takes seconds)
 * must not be billed to the next one.
 */
export async function waitIdle(pids: readonly number[], maxMs = 20_000): Promise<void> {
  const deadline = Date.now() + maxMs
  for (;;) {
    const cpu0 = cpuSeconds(pids)
    await sleep(250)
    if ((cpuSeconds(pids) - cpu0) / 0.25 < 0.05 || Date.now() > deadline) return
  }
}

/**
 * Waits (at most `maxMs`) until the server tree's resident set stops falling: memory that work before the run
 * (the refresh pool's password sign-ins, 64 MiB a hash) is still handing back must not become the run's peak.
 */
export async function waitRssSettled(pids: readonly number[], maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs
  let before = rssBytes(pids)
  while (Date.now() < deadline) {
    await sleep(250)
    const now = rssBytes(pids)
    if (now > before - 1024 * 1024) return
    before = now
  }
}

/** Runs autocannon against `spec` for `durationS` with `connections`, measuring the server tree rooted at `serverPid`. */
export async function runLoad(spec: LoadSpec, options: { connections: number; durationS: number; serverPid: number }): Promise<LoadResult> {
  const pids = processTree(options.serverPid)
  await waitIdle(pids)
  await waitRssSettled(pids)
  const exact = resetPeakRss(pids)
  const server0 = cpuSeconds(pids)
  const self0 = process.cpuUsage()
  const host0 = hostBusySeconds()
  const wall0 = process.hrtime.bigint()
  const result: Result = await autocannon({
    url: spec.url,
    connections: options.connections,
    duration: options.durationS,
    timeout: 10,
    requests: spec.requests ?? [{ method: spec.method, path: spec.path, headers: spec.headers ?? {}, ...(spec.body === undefined ? {} : { body: spec.body }) }],
  })
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9
  const serverCpuS = cpuSeconds(pids) - server0
  const self = process.cpuUsage(self0)
  const selfS = (self.user + self.system) / 1e6
  const hostS = hostBusySeconds() - host0
  const expect = new Set(spec.expect ?? [200])
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]))
  const unexpected = Object.entries(statuses).filter(([code]) => !expect.has(Number(code))).reduce((sum, [, count]) => sum + count, 0)
  const requests = Object.values(statuses).reduce((sum, count) => sum + count, 0)
  return {
    connections: options.connections,
    rps: requests / result.duration,
    requests,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors + result.timeouts + unexpected,
    statuses,
    serverCpu: serverCpuS / wall,
    cpuPerRequestUs: requests > 0 ? (serverCpuS / requests) * 1e6 : 0,
    peakRssMB: peakRssBytes(pids) / 1e6,
    peakRssExact: exact,
    processes: pids.length,
    loadGeneratorCpu: selfS / wall,
    foreignCpu: Math.max(0, (hostS - serverCpuS - selfS) / wall),
    durationS: result.duration,
  }
}
