import { decodeJwt, decodeProtectedHeader } from 'jose'
import type { Request } from 'autocannon'
import type { LoadSpec } from './load.js'
import type { Service } from './proc.js'
import { MAX_CONCURRENT_HASHES } from '../../src/users/password.js'
import { AUDIENCE, basic, checkAuditLine, FORM, postForm, SCOPE, type Credentials, type KeyturnState } from './keyturn.js'

/** One thing loaded in a comparison: a server, the request it gets, and a check of one real answer first. */
export interface Target {
  readonly id: string
  readonly subject: string
  readonly service: Service
  readonly spec: LoadSpec
  /** Sends one real request and throws unless the answer is what the load expects (status, token shape). */
  preflight(): Promise<void>
  /** Runs before every load of this target (warm-up and measured). */
  prepare?(connections: number): Promise<void>
  /** Overrides --connections (the password grant: as many as hashes can run at once). */
  readonly connections?: number
  /** Overrides --duration (the password grant: a few hashes a second need longer runs for a p99). */
  readonly durationS?: number
}

const TOKEN_PATH = '/token'
const JWKS_PATH = '/.well-known/jwks.json'

/** Throws unless `body` is a token response carrying an RFC 9068 JWT signed with `alg`. */
function checkTokenResponse(what: string, status: number, body: Record<string, unknown>, alg: string): void {
  if (status !== 200 || typeof body.access_token !== 'string') throw new Error(`${what}: expected a token, got ${status} ${JSON.stringify(body.error ?? '')}`)
  const header = decodeProtectedHeader(body.access_token)
  const claims = decodeJwt(body.access_token)
  if (header.alg !== alg || header.typ !== 'at+jwt' || typeof header.kid !== 'string') throw new Error(`${what}: header ${JSON.stringify(header)}`)
  for (const claim of ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id']) {
    if (claims[claim] === undefined) throw new Error(`${what}: the token has no ${claim}`)
  }
}

function tokenTarget(id: string, subject: string, service: Service, path: string, form: Record<string, string>, alg: string, authorization?: string): Target {
  const body = new URLSearchParams(form).toString()
  return {
    id, subject, service,
    spec: { url: service.url, method: 'POST', path, headers: { 'content-type': FORM, ...(authorization ? { authorization } : {}) }, body },
    async preflight() {
      const { status, body: answer } = await postForm(`${service.url}${path}`, form, authorization)
      checkTokenResponse(subject, status, answer, alg)
    },
  }
}

/** keyturn's client_credentials with client_secret_basic: the real thing, audit log on (the pre-flight checks its line). */
export function keyturnClientCredentials(id: string, subject: string, service: Service, client: Credentials, alg: string): Target {
  const form = { grant_type: 'client_credentials', scope: SCOPE }
  const authorization = basic(client)
  return {
    ...tokenTarget(id, subject, service, TOKEN_PATH, form, alg, authorization),
    async preflight() {
      const { status, body } = await postForm(`${service.url}${TOKEN_PATH}`, form, authorization)
      checkTokenResponse(subject, status, body, alg)
      if (service.logFile === undefined) throw new Error(`${subject}: no log file to find the audit line in`)
      await checkAuditLine(service.logFile, String(decodeJwt(body.access_token as string).jti))
    },
  }
}

export function minimalToken(service: Service, alg: 'RS256' | 'ES256'): Target {
  return tokenTarget(`minimal.${alg}`, 'minimal fastify + jose', service, `/${alg.toLowerCase()}/token`, { grant_type: 'client_credentials' }, alg)
}

export function oidcProviderToken(service: Service, client: Credentials, alg: 'RS256' | 'ES256'): Target {
  const form = { grant_type: 'client_credentials', scope: SCOPE, resource: `${AUDIENCE}/${alg.toLowerCase()}` }
  return tokenTarget(`oidc-provider.${alg}`, 'node-oidc-provider', service, TOKEN_PATH, form, alg, basic(client))
}

/** GET of a JWKS: 200 with the body, or 304 when `etag` is sent as If-None-Match. */
export function jwksTarget(id: string, subject: string, service: Service, path: string, etag?: string): Target {
  const expect = etag === undefined ? 200 : 304
  return {
    id, subject, service,
    spec: { url: service.url, method: 'GET', path, headers: etag === undefined ? {} : { 'if-none-match': etag }, expect: [expect] },
    async preflight() {
      const response = await fetch(`${service.url}${path}`, { headers: etag === undefined ? {} : { 'if-none-match': etag } })
      const text = await response.text()
      if (response.status !== expect) throw new Error(`${subject}: expected ${expect}, got ${response.status}`)
      if (expect === 200 && !(JSON.parse(text) as { keys?: unknown[] }).keys?.length) throw new Error(`${subject}: no keys`)
    },
  }
}

export { JWKS_PATH }

/** /introspect by the resource server of a live ES256 access token meant for it. */
export function introspectTarget(service: Service, state: KeyturnState, token: string): Target {
  const form = { token, token_type_hint: 'access_token' }
  const authorization = basic(state.resourceServer)
  return {
    id: 'keyturn.introspect', subject: 'keyturn', service,
    spec: { url: service.url, method: 'POST', path: '/introspect', headers: { 'content-type': FORM, authorization }, body: new URLSearchParams(form).toString() },
    async preflight() {
      const { status, body } = await postForm(`${service.url}/introspect`, form, authorization)
      if (status !== 200 || body.active !== true) throw new Error(`introspection: expected active, got ${status} active=${String(body.active)}`)
    },
  }
}

function passwordForm(state: KeyturnState): Record<string, string> {
  return { grant_type: 'password', username: state.user.username, password: state.user.password, scope: SCOPE }
}

/**
 * Concurrent password sign-ins: keyturn hashes MAX_CONCURRENT_HASHES passwords at once and queues the rest (a 503
 * past 32 waiting), so twice that keeps the hashing busy without measuring a long queue (at 50 connections the p50
 * was 3 s of waiting, not hashing).
 */
export const PASSWORD_CONNECTIONS = 2 * MAX_CONCURRENT_HASHES

/** The password grant: one scrypt verification per request, which is the point of a password hash. */
export function passwordTarget(service: Service, state: KeyturnState, durationS: number): Target {
  return {
    ...tokenTarget('keyturn.password', 'keyturn', service, TOKEN_PATH, passwordForm(state), 'ES256', basic(state.app)),
    connections: PASSWORD_CONNECTIONS,
    durationS,
  }
}

/**
 * The refresh_token grant under load. Every use rotates the token and a reused one revokes its family, so each
 * request takes a token from a pool and puts the new one back: every connection walks a real chain. The tokens in
 * flight when a run stops are lost, so the pool is topped up (password sign-ins) before every run.
 */
export function refreshTarget(service: Service, state: KeyturnState): Target {
  const pool: string[] = []
  const authorization = basic(state.app)
  const signIn = async (): Promise<string> => {
    const { status, body } = await postForm(`${service.url}${TOKEN_PATH}`, passwordForm(state), authorization)
    if (status !== 200 || typeof body.refresh_token !== 'string') throw new Error(`sign-in for the refresh pool failed: ${status}`)
    return body.refresh_token
  }
  const request: Request = {
    method: 'POST',
    path: TOKEN_PATH,
    headers: { 'content-type': FORM, authorization },
    setupRequest: (req) => {
      // Dry only after errors (each connection puts back what it takes): then send a token that fails, which
      // counts as one more error, rather than throw inside autocannon.
      const token = pool.shift() ?? 'pool-ran-dry'
      return { ...req, body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}` }
    },
    onResponse: (status, body) => {
      if (status !== 200) return
      const next = (JSON.parse(body) as { refresh_token?: string }).refresh_token
      if (next) pool.push(next)
    },
  }
  return {
    id: 'keyturn.refresh', subject: 'keyturn', service,
    spec: { url: service.url, method: 'POST', path: TOKEN_PATH, requests: [request] },
    async preflight() {
      const { status, body } = await postForm(`${service.url}${TOKEN_PATH}`, { grant_type: 'refresh_token', refresh_token: await signIn() }, authorization)
      checkTokenResponse('refresh_token grant', status, body, 'ES256')
      if (typeof body.refresh_token !== 'string') throw new Error('refresh_token grant: no new refresh token')
    },
    async prepare(connections) {
      // Tokens still in the pool were never sent, so they are live; top it up to one per connection plus spares.
      const needed = connections + 10
      const workers = Array.from({ length: 4 }, async () => {
        while (pool.length < needed) pool.push(await signIn())
      })
      await Promise.all(workers)
    },
  }
}
