import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/** The `t` handed to a subtest callback. */
export type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** Repository root, found from this file's compiled place (dist/test/e2e/helpers.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** The command the Dockerfile runs. */
export const SERVER = join(ROOT, 'dist/src/server.js')
export const ADMIN = join(ROOT, 'dist/scripts/admin.js')
export const ROTATE_KEYS = join(ROOT, 'dist/scripts/rotate-keys.js')

export type Env = Readonly<Record<string, string>>

/**
 * A child's whole environment: only PATH plus what the test names. Nothing is inherited, so no KEYTURN_* or NODE_ENV
 * of the developer's shell leaks in, and tap's NODE_OPTIONS/coverage hooks do not slow the children down.
 */
export function childEnv(env: Env): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...env }
}

/** Where a test's process keeps its state: keys and database under one temp dir. */
export function stateEnv(dir: string): Env {
  return { KEYTURN_KEYS_DIR: join(dir, 'keys'), KEYTURN_DATA_DIR: join(dir, 'data') }
}

/**
 * A child's working directory: the temp dir holding its keys dir, so a relative default path (./keys, ./data, or one
 * added later) can never write into the repository. Refuses an env that does not place both state dirs explicitly.
 */
export function childCwd(env: Env): string {
  if (!env.KEYTURN_KEYS_DIR || !env.KEYTURN_DATA_DIR) throw new Error('a child process needs KEYTURN_KEYS_DIR and KEYTURN_DATA_DIR (use stateEnv)')
  return dirname(env.KEYTURN_KEYS_DIR)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** A port that was free a moment ago on 127.0.0.1 (the server cannot report a port-0 choice from outside). */
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

const liveDirs = new Set<string>()
// Teardowns do not run when a test file dies at top level (e.g. the server never became ready): sweep at exit too.
process.once('exit', () => liveDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

/** A fresh directory under the OS temp dir, removed when `t` ends (or, failing that, when the process exits). */
export async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `keyturn-${prefix}-`))
  liveDirs.add(dir)
  t.teardown(async () => {
    await rm(dir, { recursive: true, force: true })
    liveDirs.delete(dir)
  })
  return dir
}

/** Polls `probe` until it returns a value other than `undefined`; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface RunResult extends Exit {
  readonly stdout: string
  readonly stderr: string
}

function collect(child: ChildProcess): { stdout: () => string; stderr: () => string; exited: Promise<Exit> } {
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk))
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  return { stdout: () => Buffer.concat(out).toString('utf8'), stderr: () => Buffer.concat(err).toString('utf8'), exited }
}

/** Runs `node script ...args` to completion (killed after `timeoutMs`) and returns its exit and output. */
export async function runNode(script: string, args: readonly string[], env: Env, timeoutMs = 30_000): Promise<RunResult> {
  const child = spawn(process.execPath, [script, ...args], { cwd: childCwd(env), env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  const output = collect(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const exit = await output.exited
    return { ...exit, stdout: output.stdout(), stderr: output.stderr() }
  } finally {
    clearTimeout(timer)
  }
}

/** Every log line that parses as a JSON object (pino writes one per line). */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return []
    try {
      return [JSON.parse(line) as Record<string, unknown>]
    } catch {
      return []
    }
  })
}

export interface ServerProcess {
  readonly url: string
  readonly port: number
  readonly pid: number
  stdout(): string
  stderr(): string
  readonly exited: Promise<Exit>
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<Exit>
}

/** State under `dir` and the usual short timings for an end-to-end run; callers override any of them. */
export function serverEnv(port: number, dir: string, extra: Env = {}): Env {
  return {
    ...stateEnv(dir),
    KEYTURN_PORT: String(port),
    KEYTURN_HOST: '127.0.0.1',
    KEYTURN_ISSUER: `http://127.0.0.1:${port}`,
    KEYTURN_KEY_PROPAGATION: '4s',
    KEYTURN_JWKS_MAX_AGE: '1s',
    KEYTURN_ROTATION_INTERVAL: '1h',
    KEYTURN_KEYS_RELOAD_INTERVAL: '200ms',
    KEYTURN_ROTATION_CHECK: '*/1 * * * * *',
    // These tests load one server from one address far past what one production caller sends; the limits have their
    // own tests (test/routes/rate-limits.test.ts). The failed-authentication limit stays on.
    KEYTURN_RATE_LIMIT_IP: 'off',
    KEYTURN_RATE_LIMIT_CLIENT: 'off',
    ...extra,
  }
}

/**
 * Spawns `node dist/src/server.js` and waits until GET /readyz answers 200. The process is stopped when `t` ends.
 * `env` must carry KEYTURN_PORT (see `freePort`).
 */
export async function startServer(t: Test, env: Env, readyTimeoutMs = 20_000): Promise<ServerProcess> {
  const port = Number(env.KEYTURN_PORT)
  const url = `http://127.0.0.1:${port}`
  const child = spawn(process.execPath, [SERVER], { cwd: childCwd(env), env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  const output = collect(child)
  let exit: Exit | undefined
  void output.exited.then((value) => (exit = value), () => undefined)
  const stop = async (graceMs = 5000): Promise<Exit> => {
    if (exit) return exit
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    try {
      return await output.exited
    } finally {
      clearTimeout(timer)
    }
  }
  t.teardown(() => stop().then(() => undefined))
  const server: ServerProcess = { url, port, pid: child.pid ?? -1, stdout: output.stdout, stderr: output.stderr, exited: output.exited, stop }
  const deadline = Date.now() + readyTimeoutMs
  for (;;) {
    if (exit) throw new Error(`server exited during start-up (code ${exit.code}, signal ${exit.signal}): ${output.stderr().slice(0, 2000)}`)
    const ready = await fetch(`${url}/readyz`).then((response) => response.status === 200, () => false)
    if (ready) return server
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`server not ready after ${readyTimeoutMs} ms: ${output.stderr().slice(0, 2000)}`)
    }
    await sleep(50)
  }
}

export interface ClientCredentials {
  readonly id: string
  readonly secret: string
}

export interface TokenReply {
  readonly status: number
  readonly body: Record<string, unknown>
  readonly headers: Headers
}

/** POSTs a client_credentials request, authenticating with client_secret_basic or client_secret_post. */
export async function requestToken(
  tokenEndpoint: string,
  client: ClientCredentials,
  method: 'basic' | 'post',
  params: Readonly<Record<string, string>> = {},
): Promise<TokenReply> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...params })
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (method === 'basic') {
    // RFC 6749 §2.3.1: each part form-urlencoded before joining with ':'.
    const pair = `${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`
  } else {
    form.set('client_id', client.id)
    form.set('client_secret', client.secret)
  }
  const response = await fetch(tokenEndpoint, { method: 'POST', headers, body: form.toString() })
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers }
}

/** JWK members that must never be published (RFC 7517/7518 private and symmetric members). */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
