import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'

export const ISSUER = 'https://issuer.test'
export const TOKEN_ENDPOINT = `${ISSUER}/token`
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** A client's key pair: the private half signs assertions in the test, the public half is registered. */
export interface ClientKey {
  readonly alg: string
  readonly kid: string
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  readonly publicJwk: JWK
}

export async function makeClientKey(alg = 'ES256'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  return { alg, kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } }
}

export interface AssertionOptions {
  readonly clientId: string
  readonly key: ClientKey
  /** Epoch milliseconds: the issuer's (injected) clock. */
  readonly now: number
  /** Overrides; `undefined` removes a claim. */
  readonly claims?: Record<string, unknown>
  readonly header?: Record<string, unknown>
}

/** A valid RFC 7523 client assertion unless overridden: iss = sub = client, aud = issuer, 60 s, fresh jti. */
export async function makeAssertion(options: AssertionOptions): Promise<string> {
  const now = Math.floor(options.now / 1000)
  const claims: Record<string, unknown> = { iss: options.clientId, sub: options.clientId, aud: ISSUER, jti: randomUUID(), iat: now, exp: now + 60, ...options.claims }
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
  return new SignJWT(claims).setProtectedHeader({ alg: options.key.alg, kid: options.key.kid, ...options.header }).sign(options.key.privateKey)
}

export const assertionParams = (assertion: string): Record<string, string> => ({ client_assertion_type: JWT_BEARER, client_assertion: assertion })

/** A client's jwks_uri on 127.0.0.1:0: serves `keys`, or fails, or never answers (`hang`). */
export interface JwksServer {
  readonly uri: string
  keys: JWK[]
  mode: 'up' | 'error' | 'hang' | 'huge'
  fetches: number
  close(): Promise<void>
}

export async function startJwksServer(keys: JWK[] = []): Promise<JwksServer> {
  const state = { keys, mode: 'up' as JwksServer['mode'], fetches: 0 }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.fetches++
    if (state.mode === 'hang') return
    if (state.mode === 'error') return void res.writeHead(500).end()
    if (state.mode === 'huge') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`{"keys":[],"pad":"${'x'.repeat(100_000)}"}`)
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: state.keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(state, {
    uri: `http://127.0.0.1:${port}/jwks.json`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  })
}

/** A URL on 127.0.0.1 where nothing listens (connection refused). */
export async function deadUri(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/jwks.json`
}
