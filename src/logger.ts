import type { LoggerOptions } from 'pino'

/** What a censored value is replaced by. */
export const CENSOR = '[redacted]'

/**
 * Member names whose values never reach a log line, at any depth up to `MAX_DEPTH`: credentials, tokens and private
 * key members. Handlers never log these on purpose; this is the net under that rule.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'client_secret', 'password', 'access_token', 'refresh_token', 'token', 'subject_token', 'actor_token', 'client_assertion', 'secret',
  // Private key material: a JWE-sealed private key, and the private members of an RSA or EC JWK (and `k`, a symmetric one).
  'privateJwe', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'k',
])

/** Header names censored inside any `headers` object (a request's or a response's). */
export const SECRET_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie'])

const MAX_DEPTH = 4

function isWalkable(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  if (Array.isArray(value)) return true
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

/**
 * Returns `value` with every secret member censored, copying only the objects on the way to one (the caller's object
 * is never changed); `value` itself when there is nothing to censor. Walks plain objects and arrays only: class
 * instances (a raw request, an Error) go through pino's serializers, which pick safe fields.
 */
export function censorSecrets<T>(value: T, depth = 0, inHeaders = false): T {
  if (depth > MAX_DEPTH || !isWalkable(value)) return value
  let copy: Record<string, unknown> | unknown[] | undefined
  const source = value as Record<string, unknown>
  for (const key of Object.keys(source)) {
    const member = source[key]
    let next = member
    if (SECRET_KEYS.has(key) || (inHeaders && SECRET_HEADERS.has(key.toLowerCase()))) next = CENSOR
    else if (member !== null && typeof member === 'object') next = censorSecrets(member, depth + 1, key === 'headers')
    if (next !== member) {
      copy ??= Array.isArray(source) ? [...(source as unknown[])] : { ...source }
      ;(copy as Record<string, unknown>)[key] = next
    }
  }
  return (copy ?? value) as T
}

/** What fastify's `req` serializer reads: a FastifyRequest (or a raw request, which lacks `ip` and `host`). */
interface LoggedRequest {
  readonly method?: string
  readonly url?: string
  readonly host?: string
  readonly ip?: string
  readonly headers?: Record<string, unknown>
  readonly socket?: { readonly remotePort?: number } | null
}

/**
 * fastify's `req` serializer (the same fields), with the query string censored: a client that sends credentials or
 * tokens in the URL (`/token?client_secret=…`, RFC 6749 §2.3.1 forbids it) must not get them into the access log.
 */
export function serializeRequest(req: LoggedRequest): Record<string, unknown> {
  const url = req.url ?? ''
  const query = url.indexOf('?')
  return {
    method: req.method, url: query < 0 ? url : `${url.slice(0, query)}?${CENSOR}`, version: req.headers?.['accept-version'],
    host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort,
  }
}

/**
 * pino options for every keyturn process. Censoring runs as a `formatters.log` walk over the (small) object of each
 * line rather than pino's `redact` paths: with the wildcard paths the net needs, `redact` cost some 20 µs a line,
 * a fifth of a token request's main-thread time (see docs/performance.md).
 */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { service: 'keyturn' },
    formatters: { log: (object) => censorSecrets(object) },
    // fastify keeps a logger instance's own serializers over its defaults.
    serializers: { req: serializeRequest },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
  }
}
