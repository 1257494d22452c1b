import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { keyturnAuth, requireScope, type KeyturnAuthOptions } from '../../src/verifier/fastify-plugin.js'
import { createVerifier } from '../../src/verifier/index.js'
import { startIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, makeKey, mint } from './helpers-tokens.js'

const issuer = await startIssuer()
t.teardown(() => issuer.close())
const key = await makeKey('ES256')
issuer.keys = [key.publicJwk]
const token = (over: Record<string, unknown> = {}) => mint(key, claimsAt(issuer.issuer, Date.now(), over))

async function build(options: Partial<KeyturnAuthOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(keyturnAuth, { issuer: issuer.issuer, audience: AUDIENCE, realm: 'orders', ...options } as KeyturnAuthOptions)
  app.get('/me', async (request) => ({ sub: request.auth?.sub, client_id: request.auth?.client_id }))
  app.get('/orders', { preHandler: requireScope('orders:read') }, async (request) => ({ orders: [], for: request.auth?.sub }))
  app.post('/orders', { preHandler: requireScope('orders:read', 'orders:write') }, async () => ({ created: true }))
  app.get('/healthz', { config: { auth: false } }, async (request) => ({ ok: true, auth: request.auth }))
  app.get('/private', { config: { auth: true } }, async (request) => ({ sub: request.auth?.sub }))
  return app
}

const app = await build()
t.teardown(() => app.close())

t.test('no credentials → 401 with a challenge but no error attribute', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/me' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="orders"')
  t.equal(res.json().error, 'unauthorized')
})

t.test('another scheme (Basic) counts as no credentials', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="orders"')
})

t.test('malformed Bearer credentials → 400 invalid_request', async (t) => {
  for (const authorization of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer "quoted"']) {
    const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization } })
    t.equal(res.statusCode, 400, authorization)
    t.match(res.headers['www-authenticate'], /error="invalid_request"/)
  }
})

t.test('a token in the query string → 400 invalid_request (RFC 6750 §2.3 not supported)', async (t) => {
  const res = await app.inject({ method: 'GET', url: `/me?access_token=${await token()}` })
  t.equal(res.statusCode, 400)
  t.match(res.headers['www-authenticate'], /error="invalid_request"/)
})

t.test('bad token → 401 invalid_token with a description', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization: 'Bearer abc.def.ghi' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"')
  t.same(res.json(), { error: 'invalid_token', error_description: 'the access token is malformed' })
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('expired token → 401 invalid_token "expired"', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${await token({ iat: now - 3600, exp: now - 600 })}` } })
  t.equal(res.statusCode, 401)
  t.match(res.headers['www-authenticate'], /error="invalid_token", error_description="the access token expired"/)
})

t.test('good token → 200 with request.auth; scheme is case-insensitive', async (t) => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization: `${scheme} ${await token()}` } })
    t.equal(res.statusCode, 200, scheme)
    t.same(res.json(), { sub: 'user-123', client_id: 'client-abc' })
  }
})

t.test('requireScope: 200 with the scope, 403 insufficient_scope without', async (t) => {
  const ok = await app.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${await token()}` } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { orders: [], for: 'user-123' })
  const res = await app.inject({ method: 'POST', url: '/orders', headers: { authorization: `Bearer ${await token()}` } })
  t.equal(res.statusCode, 403)
  t.equal(
    res.headers['www-authenticate'],
    'Bearer realm="orders", error="insufficient_scope", error_description="the access token lacks a required scope", scope="orders:read orders:write"',
  )
  t.equal(res.json().error, 'insufficient_scope')
  const noScope = await app.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${await token({ scope: undefined })}` } })
  t.equal(noScope.statusCode, 403)
})

t.test('config.auth false makes a route public', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { ok: true, auth: null })
})

t.test('required: false → only opted-in routes authenticate', async (t) => {
  const open = await build({ required: false })
  t.teardown(() => open.close())
  const me = await open.inject({ method: 'GET', url: '/me' })
  t.equal(me.statusCode, 200, 'no requirement by default')
  t.same(me.json(), {})
  t.equal((await open.inject({ method: 'GET', url: '/private' })).statusCode, 401, 'config.auth true')
  t.equal((await open.inject({ method: 'GET', url: '/orders' })).statusCode, 401, 'requireScope authenticates')
  const good = await open.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${await token()}` } })
  t.equal(good.statusCode, 200)
})

t.test('issuer unreachable → 503, not 401', async (t) => {
  const down = await startIssuer()
  t.teardown(() => down.close())
  down.mode = 'error'
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(keyturnAuth, { issuer: down.issuer, audience: AUDIENCE })
  app.get('/me', async () => ({}))
  const tk = await mint(key, claimsAt(down.issuer, Date.now()))
  const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${tk}` } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'temporarily_unavailable')
})

t.test('shares a ready verifier; app.keyturn exposes it; realm defaults to the audience and is sanitised', async (t) => {
  const verifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE })
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(keyturnAuth, { verifier })
  a.get('/me', async () => ({}))
  t.equal(a.keyturn.verifier, verifier)
  t.equal((await a.inject({ method: 'GET', url: '/me' })).headers['www-authenticate'], `Bearer realm="${AUDIENCE}"`)
  const b = Fastify()
  t.teardown(() => b.close())
  await b.register(keyturnAuth, { verifier, realm: 'a "quoted"\r\nrealm' })
  b.get('/me', async () => ({}))
  t.equal((await b.inject({ method: 'GET', url: '/me' })).headers['www-authenticate'], 'Bearer realm="a quotedrealm"')
})

t.test('requireScope validates its arguments and needs the plugin', async (t) => {
  t.throws(() => requireScope('has space'), TypeError)
  t.throws(() => requireScope('quote"'), TypeError)
  const bare = Fastify()
  t.teardown(() => bare.close())
  bare.get('/x', { preHandler: requireScope('a') }, async () => ({}))
  t.equal((await bare.inject({ method: 'GET', url: '/x' })).statusCode, 500)
})

t.test('unknown routes under required auth answer 401 (route existence is not revealed)', async (t) => {
  t.equal((await app.inject({ method: 'GET', url: '/nope' })).statusCode, 401)
  const res = await app.inject({ method: 'GET', url: '/nope', headers: { authorization: `Bearer ${await token()}` } })
  t.equal(res.statusCode, 404)
})
