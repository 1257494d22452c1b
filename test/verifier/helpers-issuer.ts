import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JWK } from 'jose'

/** What the fake issuer does with a request: answer normally, fail, or never answer. */
export type IssuerMode = 'up' | 'error' | 'hang'

/**
 * A tiny issuer on 127.0.0.1:0 serving discovery + JWKS, with every knob a cache test needs, and request counters.
 * Mutate the public fields between requests.
 */
export interface TestIssuer {
  readonly issuer: string
  readonly jwksUri: string
  /** Published JWKS entries (public JWKs), in order. */
  keys: JWK[]
  /** Seconds for `Cache-Control: public, max-age=…`; `undefined` sends no Cache-Control. */
  maxAge: number | undefined
  /** Send a strong ETag and answer If-None-Match with 304. */
  etag: boolean
  mode: IssuerMode
  /** Milliseconds to wait before answering a JWKS request (to widen races). */
  jwksDelayMs: number
  /** Overrides merged into the discovery document (e.g. a wrong `issuer`). */
  discovery: Record<string, unknown>
  /** Raw JWKS body to send instead of `{ keys }` (for malformed-document tests). */
  rawJwks: string | undefined
  readonly counts: { discovery: number; jwks: number; jwks200: number; jwks304: number; ifNoneMatch: number }
  close(): Promise<void>
}

/** Starts the fake issuer. */
export async function startIssuer(options: { serveOidc?: boolean } = {}): Promise<TestIssuer> {
  const serveOidc = options.serveOidc ?? true
  const state = {
    keys: [] as JWK[],
    maxAge: 60 as number | undefined,
    etag: true,
    mode: 'up' as IssuerMode,
    jwksDelayMs: 0,
    discovery: {} as Record<string, unknown>,
    rawJwks: undefined as string | undefined,
    counts: { discovery: 0, jwks: 0, jwks200: 0, jwks304: 0, ifNoneMatch: 0 },
  }
  let base = ''
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res)
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', base).pathname
    const isDiscovery = (serveOidc && path === '/.well-known/openid-configuration') || path === '/.well-known/oauth-authorization-server'
    if (isDiscovery) state.counts.discovery++
    if (path === '/jwks') state.counts.jwks++
    if (state.mode === 'hang') return
    if (state.mode === 'error') {
      res.writeHead(503).end()
      return
    }
    if (isDiscovery) {
      const doc = { issuer: base, jwks_uri: `${base}/jwks`, token_endpoint: `${base}/token`, id_token_signing_alg_values_supported: ['RS256', 'ES256'], ...state.discovery }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc))
      return
    }
    if (path === '/redirect-jwks') {
      res.writeHead(302, { location: `${base}/jwks` }).end()
      return
    }
    if (path !== '/jwks') {
      res.writeHead(404).end()
      return
    }
    if (state.jwksDelayMs > 0) await new Promise((r) => setTimeout(r, state.jwksDelayMs))
    const body = state.rawJwks ?? JSON.stringify({ keys: state.keys })
    const tag = `"${createHash('sha256').update(body).digest('base64url')}"`
    const headers: Record<string, string> = { 'content-type': 'application/jwk-set+json' }
    if (state.maxAge !== undefined) headers['cache-control'] = `public, max-age=${state.maxAge}`
    if (state.etag) headers.etag = tag
    if (req.headers['if-none-match'] !== undefined) state.counts.ifNoneMatch++
    if (state.etag && req.headers['if-none-match'] === tag) {
      state.counts.jwks304++
      res.writeHead(304, headers).end()
      return
    }
    state.counts.jwks200++
    res.writeHead(200, headers).end(body)
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(state, {
    issuer: base,
    jwksUri: `${base}/jwks`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
}
