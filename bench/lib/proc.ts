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

/** A process this bench started: its pid (the root of a process tree in cluster mode) and how to stop it. */
export interface Service {
  readonly name: string
  readonly url: string
  readonly pid: number
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
 * `readyPath` answers 200. stdout goes to a file or nowhere, never the terminal.
 */
export async function startService(options: SpawnOptions, readyTimeoutMs = 30_000): Promise<Service> {
  const out = options.logFile === undefined ? 'ignore' : openSync(options.logFile, 'a')
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...options.env },
    stdio: ['ignore', out, 'pipe'],
  })
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
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 12_000)
    await exit
    clearTimeout(timer)
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
  return { name: options.name, url: options.url, pid: child.pid ?? -1, stderr, stop }
}

/** Runs `node script args` to completion with `input` on stdin; rejects on a non-zero exit. Returns stdout. */
export function runNode(script: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd: string, input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd, env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    })
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

/** Sum of VmHWM (peak resident set) over `pids`, in bytes. */
export function peakRssBytes(pids: readonly number[]): number {
  let total = 0
  for (const pid of pids) {
    try {
      const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (match) total += Number(match[1]) * 1024
    } catch {
      // gone
    }
  }
  return total
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
