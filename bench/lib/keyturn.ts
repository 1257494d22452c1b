import { randomBytes } from 'node:crypto'
import { mkdtemp, open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, runNode, sleep, startService, type Service } from './proc.js'

/** Repository root, from this file's compiled place (dist/bench/lib/keyturn.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const SERVER = join(ROOT, 'dist/src/server.js')
const ADMIN = join(ROOT, 'dist/scripts/admin.js')

export const AUDIENCE = 'https://api.example.com'
export const SCOPE = 'orders:read'

/**
 * The rate limiter stays on (counting is part of every request's cost) but far above any load this bench makes:
 * all of its requests come from one IP and a few clients, which the defaults would throttle within a second.
 * Failed authentications keep the default limit: the bench makes none.
 */
export const RATE_LIMITS = {
  KEYTURN_RATE_LIMIT_IP: '100000000/1s',
  KEYTURN_RATE_LIMIT_CLIENT: '100000000/1s',
} as const

export interface Credentials {
  readonly id: string
  readonly secret: string
}

/** The state every keyturn process of the run shares (they may run side by side: same keys dir, same database). */
export interface KeyturnState {
  readonly dir: string
  readonly env: Readonly<Record<string, string>>
  readonly rs256: Credentials
  readonly es256: Credentials
  /** A first-party app: password and refresh_token grants, ES256. */
  readonly app: Credentials
  /** A resource server (serves AUDIENCE): may introspect its tokens. */
  readonly resourceServer: Credentials
  readonly user: { readonly username: string; readonly password: string }
}

/**
 * In `dir` (a fresh temp dir, see {@link makeTempDir}): keys/ and data/, a key-encryption secret, four clients and
 * one user, made with the admin command exactly as an operator would. Secrets stay in memory; nothing here prints them.
 */
export async function prepareKeyturn(dir: string): Promise<KeyturnState> {
  const env = {
    KEYTURN_KEYS_DIR: join(dir, 'keys'),
    KEYTURN_DATA_DIR: join(dir, 'data'),
    KEYTURN_KEY_ENCRYPTION_SECRET: randomBytes(32).toString('base64url'),
    KEYTURN_LOG_LEVEL: 'info',
    KEYTURN_HOST: '127.0.0.1',
    ...RATE_LIMITS,
  }
  const admin = async (args: string[], input = ''): Promise<Record<string, unknown>> =>
    JSON.parse(await runNode(ADMIN, [...args, '--json'], env, dir, input)) as Record<string, unknown>
  const client = async (id: string, args: string[]): Promise<Credentials> => {
    const created = await admin(['clients', 'create', id, ...args])
    if (typeof created.client_secret !== 'string') throw new Error(`admin did not return a secret for ${id}`)
    return { id, secret: created.client_secret }
  }
  const scopes = ['--scope', 'orders:read orders:write', '--audience', AUDIENCE]
  const rs256 = await client('bench-rs256', [...scopes, '--alg', 'RS256'])
  const es256 = await client('bench-es256', [...scopes, '--alg', 'ES256'])
  const app = await client('bench-app', [...scopes, '--alg', 'ES256', '--grant', 'password', '--grant', 'refresh_token'])
  const resourceServer = await client('bench-orders-api', ['--resource', AUDIENCE])
  const user = { username: 'bench-user', password: randomBytes(18).toString('base64url') }
  await admin(['users', 'create', user.username, '--claim', 'roles=reader'], `${user.password}\n`)
  return { dir, env, rs256, es256, app, resourceServer, user }
}

export const makeTempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'keyturn-bench-'))

/** Starts `node dist/src/server.js` on a free port with the shared state; the audit log goes to `logFile`. */
export async function startKeyturn(state: KeyturnState, options: { workers: number; logFile: string; nodeArgs?: readonly string[] }): Promise<Service> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  return startService({
    name: `keyturn (${options.workers} worker${options.workers === 1 ? '' : 's'})`,
    script: SERVER,
    nodeArgs: options.nodeArgs ?? [],
    env: { ...state.env, KEYTURN_PORT: String(port), KEYTURN_ISSUER: url, KEYTURN_WORKERS: String(options.workers) },
    cwd: state.dir,
    url,
    readyPath: '/readyz',
    logFile: options.logFile,
  })
}

/**
 * Throws unless keyturn's log (the file its stdout goes to) holds the `token.issued` audit line of `jti`: the
 * figures are only those of the real thing if the audit log is on. Reads the last 256 KiB; prints nothing of it.
 */
export async function checkAuditLine(logFile: string, jti: string): Promise<void> {
  const needle = `"jti":"${jti}"`
  for (let attempt = 0; attempt < 20; attempt++) {
    const handle = await open(logFile, 'r')
    try {
      const { size } = await handle.stat()
      const length = Math.min(size, 256 * 1024)
      const { buffer } = await handle.read(Buffer.alloc(length), 0, length, size - length)
      const lines = buffer.toString('utf8').split('\n').filter((line) => line.includes(needle))
      if (lines.some((line) => line.includes('"event":"token.issued"'))) return
    } finally {
      await handle.close()
    }
    await sleep(50)
  }
  throw new Error(`no token.issued audit line in ${logFile} for the pre-flight token: is the audit log off?`)
}

/** `Authorization: Basic …` for client_secret_basic (RFC 6749 §2.3.1: each part form-encoded first). */
export function basic({ id, secret }: Credentials): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
}

export const FORM = 'application/x-www-form-urlencoded'

/** POSTs a form to `url` and returns status and JSON body (for set-up and pre-flight checks, not for load). */
export async function postForm(url: string, form: Record<string, string>, authorization?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': FORM, ...(authorization ? { authorization } : {}) },
    body: new URLSearchParams(form).toString(),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}
