import { resolve } from 'node:path'
import cron from 'node-cron'
import { ConfigError } from './errors.js'
import { parseDuration } from './duration.js'
import { isAlg, type Alg, SUPPORTED_ALGS } from './keys/algorithms.js'
import { isOrigin } from './clients/client.js'
import { MAX_PASSWORD_HASH_COST, MIN_PASSWORD_HASH_COST, PASSWORD_HASH_PARAMS } from './users/password.js'

/** The validated, frozen configuration. `loadConfig` is the only reader of `process.env`. */
export interface Config {
  readonly production: boolean
  readonly port: number
  readonly host: string
  /** Exact `iss` value; endpoint URLs are built from it. */
  readonly issuer: string
  readonly keysDir: string
  /** Where the SQLite state database lives (the embedded default store). */
  readonly dataDir: string
  /** PostgreSQL connection string; when set, keys and state live in PostgreSQL instead of keys/ and SQLite. */
  readonly databaseUrl: string | undefined
  /** Upper bound on PostgreSQL connections per process. */
  readonly databasePoolSize: number
  /** Optional read-only clients file layered over the store (it wins on conflict). */
  readonly clientsFile: string | undefined
  readonly signingAlgs: readonly Alg[]
  /** Algorithm for clients that do not choose one. */
  readonly defaultAlg: Alg
  readonly rotationIntervalMs: number
  readonly propagationMs: number
  /** The `max-age` ceiling for the JWKS; the served value is also capped by propagation/2 and the next change. */
  readonly jwksMaxAgeMs: number
  readonly accessTokenTtlMs: number
  /** Absolute lifetime of a refresh-token family (one sign-in). */
  readonly refreshTokenTtlMs: number
  /** A refresh token unused for this long expires, even inside its family's lifetime. */
  readonly refreshTokenIdleMs: number
  readonly clockSkewMs: number
  /** node-cron expression for the rotation check. */
  readonly rotationCheck: string
  /** How often every process re-reads the key set (the bound on how fast an admin change is seen). */
  readonly keysReloadMs: number
  /** Undefined means: use (or create) the development secret file in `keysDir`. */
  readonly keyEncryptionSecret: string | undefined
  readonly defaultAudience: string
  /** log2 N of the scrypt password hash (KEYTURN_PASSWORD_HASH_COST); each step doubles time and memory. */
  readonly passwordHashCost: number
  readonly logLevel: string
  readonly trustProxy: boolean
  /** Processes serving HTTP (node:cluster, KEYTURN_WORKERS); 1 serves from the one process. */
  readonly workers: number
  /** How long SIGTERM waits for in-flight requests and a running rotation before the process exits anyway. */
  readonly shutdownGraceMs: number
  readonly rateLimits: RateLimits
  /** Browser origins allowed to call /token, /token/sign-out and /revoke cross-origin (CORS). */
  readonly corsOrigins: readonly string[]
  /** Serve GET /metrics (KEYTURN_METRICS=on|off, default on). */
  readonly metrics: boolean
  /** When set, /metrics requires `Authorization: Bearer <it>` (KEYTURN_METRICS_TOKEN, at least 32 characters). */
  readonly metricsToken: string | undefined
}

/** `max` events per `windowMs` (a fixed window). */
export interface Limit {
  readonly max: number
  readonly windowMs: number
}

/** Undefined turns a limit off. */
export interface RateLimits {
  /** Requests per client IP to the endpoints that authenticate clients; counted in each process. */
  readonly ip: Limit | undefined
  /** Successful requests per authenticated client; counted in each process. */
  readonly client: Limit | undefined
  /** Failed client or user authentications per IP and account (the IP alone gets 5×); shared through the store. */
  readonly authFailures: Limit | undefined
}

type Env = Readonly<Record<string, string | undefined>>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/**
 * Reads and validates the configuration. Throws `ConfigError` naming the first bad variable.
 * @example const config = loadConfig(process.env)
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const production = env.NODE_ENV === 'production'
  const port = integer(env, 'KEYTURN_PORT', 3000, 0, 65535)
  const host = text(env, 'KEYTURN_HOST', '127.0.0.1')
  const issuer = parseIssuer(env.KEYTURN_ISSUER ?? `http://localhost:${port}`, production)
  const keysDir = resolve(cwd, text(env, 'KEYTURN_KEYS_DIR', './keys'))
  const dataDir = resolve(cwd, text(env, 'KEYTURN_DATA_DIR', './data'))
  const databaseUrl = env.DATABASE_URL === undefined || env.DATABASE_URL === '' ? undefined : parseDatabaseUrl(env.DATABASE_URL)
  const databasePoolSize = integer(env, 'KEYTURN_DATABASE_POOL_SIZE', 10, 1, 100)
  const clientsFile = env.KEYTURN_CLIENTS_FILE === undefined ? undefined : resolve(cwd, text(env, 'KEYTURN_CLIENTS_FILE', ''))

  const signingAlgs = list(env, 'KEYTURN_SIGNING_ALGS', 'RS256,ES256').map((alg) => {
    if (!isAlg(alg)) throw new ConfigError('KEYTURN_SIGNING_ALGS', `unknown algorithm "${alg}" (supported: ${SUPPORTED_ALGS.join(', ')})`)
    return alg
  })
  if (signingAlgs.length === 0) throw new ConfigError('KEYTURN_SIGNING_ALGS', 'name at least one algorithm')
  if (new Set(signingAlgs).size !== signingAlgs.length) throw new ConfigError('KEYTURN_SIGNING_ALGS', 'lists an algorithm twice')
  const defaultAlgText = env.KEYTURN_DEFAULT_ALG ?? (signingAlgs.includes('RS256') ? 'RS256' : signingAlgs[0]!)
  if (!isAlg(defaultAlgText) || !signingAlgs.includes(defaultAlgText)) {
    throw new ConfigError('KEYTURN_DEFAULT_ALG', `must be one of KEYTURN_SIGNING_ALGS (${signingAlgs.join(', ')})`)
  }

  const rotationIntervalMs = duration(env, 'KEYTURN_ROTATION_INTERVAL', '24h', 1000)
  const propagationMs = duration(env, 'KEYTURN_KEY_PROPAGATION', '1h', 1000)
  const jwksMaxAgeMs = duration(env, 'KEYTURN_JWKS_MAX_AGE', '10m', 0)
  const accessTokenTtlMs = duration(env, 'KEYTURN_ACCESS_TOKEN_TTL', '15m', 1000, 24 * 3_600_000)
  const refreshTokenTtlMs = duration(env, 'KEYTURN_REFRESH_TOKEN_TTL', '14d', 60_000, 365 * 86_400_000)
  const refreshTokenIdleMs = duration(env, 'KEYTURN_REFRESH_TOKEN_IDLE_TTL', '7d', 60_000, 365 * 86_400_000)
  const clockSkewMs = duration(env, 'KEYTURN_CLOCK_SKEW', '30s', 0, 10 * 60_000)
  const keysReloadMs = duration(env, 'KEYTURN_KEYS_RELOAD_INTERVAL', '2s', 100, 60_000)
  // DESIGN §3: a key must be published longer than any verifier may cache the set that lacks it.
  if (propagationMs <= jwksMaxAgeMs) {
    throw new ConfigError('KEYTURN_KEY_PROPAGATION', `must exceed KEYTURN_JWKS_MAX_AGE (${env.KEYTURN_JWKS_MAX_AGE ?? '10m'}), or verifiers may meet a kid they have not fetched yet`)
  }
  if (propagationMs <= keysReloadMs) {
    throw new ConfigError('KEYTURN_KEY_PROPAGATION', 'must exceed KEYTURN_KEYS_RELOAD_INTERVAL')
  }

  const rotationCheck = text(env, 'KEYTURN_ROTATION_CHECK', '* * * * *')
  if (!cron.validate(rotationCheck)) throw new ConfigError('KEYTURN_ROTATION_CHECK', `"${rotationCheck}" is not a cron expression`)

  const keyEncryptionSecret = env.KEYTURN_KEY_ENCRYPTION_SECRET
  if (keyEncryptionSecret !== undefined && keyEncryptionSecret.length < 32) {
    throw new ConfigError('KEYTURN_KEY_ENCRYPTION_SECRET', 'must be at least 32 characters (e.g. `openssl rand -base64 32`)')
  }
  if (databaseUrl !== undefined && keyEncryptionSecret === undefined) {
    throw new ConfigError('KEYTURN_KEY_ENCRYPTION_SECRET', 'is required with DATABASE_URL: every replica must open the same keys, so none may use a development secret of its own')
  }
  if (production && keyEncryptionSecret === undefined) {
    throw new ConfigError('KEYTURN_KEY_ENCRYPTION_SECRET', 'is required when NODE_ENV=production (the development secret file is refused)')
  }

  const logLevel = text(env, 'KEYTURN_LOG_LEVEL', 'info')
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('KEYTURN_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`)
  const trustProxy = boolean(env, 'KEYTURN_TRUST_PROXY', false)
  const workers = integer(env, 'KEYTURN_WORKERS', 1, 1, 64)
  const metrics = onOff(env, 'KEYTURN_METRICS', true)
  const metricsToken = env.KEYTURN_METRICS_TOKEN
  // Never echo the value: it is a secret.
  if (metricsToken !== undefined && (metricsToken.length < 32 || !/^[\x21-\x7e]+$/.test(metricsToken))) {
    throw new ConfigError('KEYTURN_METRICS_TOKEN', 'must be at least 32 printable characters without spaces (e.g. `openssl rand -hex 32`)')
  }
  const passwordHashCost = integer(env, 'KEYTURN_PASSWORD_HASH_COST', PASSWORD_HASH_PARAMS.log2N, MIN_PASSWORD_HASH_COST, MAX_PASSWORD_HASH_COST)
  const shutdownGraceMs = duration(env, 'KEYTURN_SHUTDOWN_GRACE', '10s', 1000, 10 * 60_000)
  const rateLimits: RateLimits = Object.freeze({
    ip: limit(env, 'KEYTURN_RATE_LIMIT_IP', '1000/10s'),
    client: limit(env, 'KEYTURN_RATE_LIMIT_CLIENT', '1000/10s'),
    authFailures: limit(env, 'KEYTURN_RATE_LIMIT_AUTH_FAILURES', '10/5m'),
  })
  const corsOrigins = env.KEYTURN_CORS_ORIGINS === undefined || env.KEYTURN_CORS_ORIGINS.trim() === ''
    ? []
    : list(env, 'KEYTURN_CORS_ORIGINS', '').map((origin) => parseOrigin(origin, production))

  return Object.freeze({
    production, port, host, issuer, keysDir, dataDir, databaseUrl, databasePoolSize, clientsFile, signingAlgs: Object.freeze(signingAlgs), defaultAlg: defaultAlgText,
    rotationIntervalMs, propagationMs, jwksMaxAgeMs, accessTokenTtlMs, refreshTokenTtlMs, refreshTokenIdleMs, clockSkewMs, rotationCheck, keysReloadMs,
    keyEncryptionSecret, defaultAudience: env.KEYTURN_DEFAULT_AUDIENCE ?? issuer, logLevel, trustProxy, passwordHashCost, workers,
    rateLimits, corsOrigins: Object.freeze(corsOrigins), shutdownGraceMs, metrics, metricsToken,
  })
}

function parseDatabaseUrl(value: string): string {
  // Never echo the value: it usually carries a password.
  if (!URL.canParse(value) || !['postgres:', 'postgresql:'].includes(new URL(value).protocol)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL')
  }
  return value
}

/** Development on the machine itself is allowed over http even in production mode. */
function isLoopback(url: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
}

function parseIssuer(value: string, production: boolean): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError('KEYTURN_ISSUER', `"${value}" is not an absolute URL`)
  }
  // RFC 8414 §2: the issuer is an https URL with no query or fragment.
  if (url.search || url.hash || value.includes('?') || value.includes('#')) throw new ConfigError('KEYTURN_ISSUER', 'must not have a query or fragment')
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('KEYTURN_ISSUER', 'must be an http(s) URL')
  if (production && url.protocol !== 'https:' && !isLoopback(url)) throw new ConfigError('KEYTURN_ISSUER', 'must use https when NODE_ENV=production')
  return value.endsWith('/') ? value.slice(0, -1) : value
}

/** `N/duration` (e.g. `1000/10s`) or `off`. */
function limit(env: Env, name: string, fallback: string): Limit | undefined {
  const value = text(env, name, fallback)
  if (value.toLowerCase() === 'off') return undefined
  const match = /^(\d+)\/(.+)$/.exec(value)
  const max = match ? Number(match[1]) : Number.NaN
  const windowMs = match ? parseDuration(match[2]!) : undefined
  if (!Number.isSafeInteger(max) || max < 1 || windowMs === undefined || windowMs < 1000 || windowMs > 86_400_000) {
    throw new ConfigError(name, `"${value}" is not a limit: use N/duration with a window from 1s to 1d (e.g. 1000/10s), or off`)
  }
  return Object.freeze({ max, windowMs })
}

/** A browser origin as it appears in an `Origin` header: scheme, host and optional port, nothing else. */
function parseOrigin(value: string, production: boolean): string {
  if (!isOrigin(value)) throw new ConfigError('KEYTURN_CORS_ORIGINS', `"${value}" is not an origin (scheme://host[:port], no path or trailing slash)`)
  const url = new URL(value)
  if (production && url.protocol !== 'https:' && !isLoopback(url)) throw new ConfigError('KEYTURN_CORS_ORIGINS', `"${value}" must use https when NODE_ENV=production`)
  return value
}

function text(env: Env, name: string, fallback: string): string {
  const value = env[name]
  if (value === undefined) return fallback
  if (value.trim() === '') throw new ConfigError(name, 'is set but empty')
  return value.trim()
}

function list(env: Env, name: string, fallback: string): string[] {
  return text(env, name, fallback).split(',').map((item) => item.trim()).filter(Boolean)
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = env[name]
  if (value === undefined) return fallback
  const parsed = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${value}"`)
  return parsed
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = env[name]
  if (value === undefined) return fallback
  if (['1', 'true', 'yes'].includes(value.toLowerCase())) return true
  if (['0', 'false', 'no'].includes(value.toLowerCase())) return false
  throw new ConfigError(name, `must be true or false, got "${value}"`)
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const value = env[name]
  if (value === undefined) return fallback
  if (['on', '1', 'true', 'yes'].includes(value.toLowerCase())) return true
  if (['off', '0', 'false', 'no'].includes(value.toLowerCase())) return false
  throw new ConfigError(name, `must be on or off, got "${value}"`)
}

function duration(env: Env, name: string, fallback: string, minMs: number, maxMs = Number.MAX_SAFE_INTEGER): number {
  const value = text(env, name, fallback)
  const ms = parseDuration(value)
  if (ms === undefined) throw new ConfigError(name, `"${value}" is not a duration (use e.g. 90s, 15m, 24h, 7d)`)
  if (ms < minMs || ms > maxMs) throw new ConfigError(name, `"${value}" is out of range`)
  return ms
}
