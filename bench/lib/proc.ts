import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'

/** Linux clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      if (address === null || typeof address === 'string') return reject(new Error('no port'))
      server.close(() => resolve(address.port))
    })
  })
}

/**
 * Every child process this bench has started and not yet seen exit, so that an interrupted or failed run can stop
 * them all (see {@link stopAll}); a cluster primary's workers exit with it (node:cluster ends a worker whose primary
 * is gone) and are also killed by pid if they linger.
 */
const live = new Set<ChildProcess>()

function track(child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
}

/**
 * Stops every child still running: SIGTERM (keyturn and the baselines shut down gracefully, which also writes a
 * --cpu-prof profile), then SIGKILL to the whole tree of any that is still there after `graceMs`.
 */
export async function stopAll(graceMs = 5000): Promise<void> {
  const children = [...live]
  const trees = new Map(children.map((child) => [child, child.pid === undefined ? [] : identify(processTree(child.pid))]))
  await Promise.all(children.map(async (child) => {
    const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))
    child.kill('SIGTERM')
    const timer = setTimeout(() => killTree(trees.get(child) ?? []), graceMs)
    await exited
    clearTimeout(timer)
  }))
  // Cluster workers that outlived their primary (they should not) go too.
  for (const ids of trees.values()) killTree(ids)
}

/** Last resort on `process.exit`: SIGKILL, synchronously, every child still running and its descendants. */
export function killAllNow(): void {
  for (const child of live) if (child.pid !== undefined) killTree(identify(processTree(child.pid)))
}

/** A process as seen at one moment: its pid and start time, so a pid the kernel has since reused is never signalled. */
interface ProcessId {
  readonly pid: number
  readonly start: string
}

function identify(pids: readonly number[]): ProcessId[] {
  return pids.flatMap((pid) => {
    const start = startTime(pid)
    return start === undefined ? [] : [{ pid, start }]
  })
}

function startTime(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** SIGKILLs each process of `ids` that is still the same process. */
function killTree(ids: readonly ProcessId[]): void {
  for (const { pid, start } of ids) {
    if (startTime(pid) !== start) continue
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** A process this bench started: its pid (the root of a process tree in cluster mode) and how to stop it. */
export interface Service {
  readonly name: string
  readonly url: string
  readonly pid: number
  /** Where its stdout goes, if anywhere (keyturn: the pino log, audit lines included). */
  readonly logFile?: string
  stderr(): string
  stop(): Promise<void>
}

export interface SpawnOptions {
  readonly name: string
  readonly script: string
  readonly args?: readonly string[]
  readonly nodeArgs?: readonly string[]
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
  readonly url: string
  /** A GET path that answers 200 once the service is ready. */
  readonly readyPath: string
  /** stdout goes to this file (keyturn's pino log), or is discarded. */
  readonly logFile?: string
}

/**
 * Spawns `node script` with only PATH plus `env` (nothing of the caller's shell leaks in) and waits until
 * `readyPath` answers 200. stdout goes to a file or nowhere, never the terminal. The server stops itself if the
 * bench dies (orphan-guard.ts).
 */
export async function startService(options: SpawnOptions, readyTimeoutMs = 30_000): Promise<Service> {
  const out = options.logFile === undefined ? 'ignore' : openSync(options.logFile, 'a')
  const guard = ['--import', new URL('./orphan-guard.js', import.meta.url).href]
  const child: ChildProcess = spawn(process.execPath, [...guard, ...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...options.env },
    stdio: ['ignore', out, 'pipe'],
  })
  track(child)
  if (typeof out === 'number') closeSync(out)
  const errors: Buffer[] = []
  child.stderr?.on('data', (chunk: Buffer) => {
    if (errors.length < 256) errors.push(chunk)
  })
  let exited = false
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true
    resolve()
  }))
  const stderr = (): string => Buffer.concat(errors).toString('utf8')
  const stop = async (): Promise<void> => {
    if (exited) return
    const tree = child.pid === undefined ? [] : identify(processTree(child.pid))
    child.kill('SIGTERM')
    // keyturn allows itself 10 s to drain; after that, the whole tree (a cluster's workers too).
    const timer = setTimeout(() => killTree(tree), 12_000)
    await exit
    clearTimeout(timer)
    killTree(tree)
  }
  const deadline = Date.now() + readyTimeoutMs
  for (;;) {
    if (exited) throw new Error(`${options.name} exited during start-up: ${stderr().slice(0, 2000)}`)
    const ready = await fetch(`${options.url}${options.readyPath}`).then((response) => response.status === 200, () => false)
    if (ready) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`${options.name} not ready after ${readyTimeoutMs} ms: ${stderr().slice(0, 2000)}`)
    }
    await sleep(50)
  }
  return { name: options.name, url: options.url, pid: child.pid ?? -1, ...(options.logFile === undefined ? {} : { logFile: options.logFile }), stderr, stop }
}

/** Runs `node script args` to completion with `input` on stdin; rejects on a non-zero exit. Returns stdout. */
export function runNode(script: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd: string, input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd, env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    })
    track(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.once('error', reject)
    child.once('close', (code) => {
      // stderr may carry pino lines; never echo stdout, which can hold a secret.
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
      else reject(new Error(`${script} ${args.slice(0, 2).join(' ')} exited ${code}: ${Buffer.concat(err).toString('utf8').slice(0, 500)}`))
    })
    child.stdin.end(input)
  })
}

/** The pid and every descendant of it (a cluster primary and its workers). */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (!stat) continue
    const list = parents.get(stat.ppid) ?? []
    list.push(Number(entry))
    parents.set(stat.ppid, list)
  }
  const tree: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift()!
    tree.push(pid)
    queue.push(...(parents.get(pid) ?? []))
  }
  return tree
}

interface Stat {
  readonly ppid: number
  /** utime + stime, in seconds: every thread of the process (libuv pool and worker threads included). */
  readonly cpuSeconds: number
}

function readStat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return { ppid: Number(fields[1]), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS }
  } catch {
    return undefined
  }
}

/** CPU seconds used so far by every process in `pids` (processes that are gone count as 0). */
export function cpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (readStat(pid)?.cpuSeconds ?? 0), 0)
}

/**
 * Resets the peak-RSS mark (VmHWM) of each process, so the next reading is the peak of the coming run only.
 * @returns false if the kernel refused (then VmHWM is the peak since the process started).
 */
export function resetPeakRss(pids: readonly number[]): boolean {
  let ok = true
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5')
    } catch {
      ok = false
    }
  }
  return ok
}

/** Sum of VmRSS (resident set now) over `pids`, in bytes. */
export function rssBytes(pids: readonly number[]): number {
  return sumStatus(pids, /^VmRSS:\s+(\d+) kB$/m)
}

function sumStatus(pids: readonly number[], field: RegExp): number {
  let total = 0
  for (const pid of pids) {
    try {
      const match = field.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (match) total += Number(match[1]) * 1024
    } catch {
      // gone
    }
  }
  return total
}

/** Sum of VmHWM (peak resident set) over `pids`, in bytes. */
export function peakRssBytes(pids: readonly number[]): number {
  return sumStatus(pids, /^VmHWM:\s+(\d+) kB$/m)
}

/** Busy CPU seconds of the whole host so far (all cores, from /proc/stat; steal included, idle and iowait not). */
export function hostBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[]
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS
}

/** Host CPU (in cores) used by processes other than this bench and `pids`, measured over `ms`. */
export async function foreignLoad(ms: number, pids: readonly number[] = []): Promise<number> {
  const host0 = hostBusySeconds()
  const own0 = cpuSeconds([process.pid, ...pids])
  await sleep(ms)
  return Math.max(0, (hostBusySeconds() - host0 - (cpuSeconds([process.pid, ...pids]) - own0)) / (ms / 1000))
}
