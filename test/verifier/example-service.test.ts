import t from 'tap'
import { buildService, loadServiceConfig } from '../../examples/resource-service/server.js'
import { startIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, makeKey, mint } from './helpers-tokens.js'

const issuer = await startIssuer()
t.teardown(() => issuer.close())
const key = await makeKey('RS256')
issuer.keys = [key.publicJwk]
const app = await buildService({ issuer: issuer.issuer, audience: AUDIENCE })
t.teardown(() => app.close())
const bearer = async (scope: string) => ({ authorization: `Bearer ${await mint(key, claimsAt(issuer.issuer, Date.now(), { scope }))}` })

t.test('config from env', async (t) => {
  t.same(loadServiceConfig({ ISSUER: 'http://127.0.0.1:3000', AUDIENCE: 'a' }), { issuer: 'http://127.0.0.1:3000', audience: 'a', port: 4000, host: '127.0.0.1' })
  t.throws(() => loadServiceConfig({ AUDIENCE: 'a' }), /ISSUER/)
  t.throws(() => loadServiceConfig({ ISSUER: 'x' }), /AUDIENCE/)
  t.throws(() => loadServiceConfig({ ISSUER: 'x', AUDIENCE: 'a', PORT: 'http' }), /PORT/)
})

t.test('public health, readiness follows the key cache', async (t) => {
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'nothing fetched yet')
  await app.keyturn.verifier.refresh()
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).json().state, 'fresh')
})

t.test('scoped routes', async (t) => {
  t.equal((await app.inject({ method: 'GET', url: '/orders' })).statusCode, 401)
  const read = await app.inject({ method: 'GET', url: '/orders', headers: await bearer('orders:read') })
  t.equal(read.statusCode, 200)
  t.equal(read.json().owner, 'user-123')
  t.equal((await app.inject({ method: 'POST', url: '/orders', headers: await bearer('orders:read') })).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/orders', headers: await bearer('orders:write') })).statusCode, 201)
})

t.test('/me shows only whitelisted claims', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/me', headers: await bearer('profile') })
  t.same(res.json(), { sub: 'user-123', client_id: 'client-abc', scope: 'profile' })
})
