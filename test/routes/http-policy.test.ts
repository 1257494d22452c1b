import t from 'tap'
import { buildTestIssuer, form } from '../helper.js'
import { loadConfig } from '../../src/config.js'

const SPA = 'https://app.example.com'

t.test('security headers on every response; HSTS only for an https issuer', async (t) => {
  const issuer = await buildTestIssuer(t)
  for (const request of [
    { method: 'GET' as const, url: '/.well-known/jwks.json' },
    { method: 'GET' as const, url: '/healthz' },
    { method: 'POST' as const, url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials' },
    { method: 'GET' as const, url: '/no-such-path' },
  ]) {
    const response = await issuer.app.inject(request)
    t.equal(response.headers['x-content-type-options'], 'nosniff', request.url)
    t.equal(response.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'")
    t.equal(response.headers['x-frame-options'], 'DENY')
    t.equal(response.headers['referrer-policy'], 'no-referrer')
    t.equal(response.headers['strict-transport-security'], 'max-age=31536000')
    t.equal(response.headers['cross-origin-resource-policy'], request.url === '/.well-known/jwks.json' ? 'cross-origin' : 'same-origin')
  }
  const local = await buildTestIssuer(t, { KEYTURN_ISSUER: 'http://localhost:3000' })
  t.notOk((await local.app.inject({ url: '/healthz' })).headers['strict-transport-security'], 'no HSTS on a development http issuer')
})

t.test('CORS: JWKS and discovery are readable from any origin, without credentials', async (t) => {
  const issuer = await buildTestIssuer(t)
  for (const url of ['/.well-known/jwks.json', '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    const get = await issuer.app.inject({ url, headers: { origin: 'https://anywhere.example' } })
    t.equal(get.headers['access-control-allow-origin'], '*', url)
    t.notOk(get.headers['access-control-allow-credentials'])
    const preflight = await issuer.app.inject({ method: 'OPTIONS', url, headers: { origin: 'https://anywhere.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match' } })
    t.equal(preflight.statusCode, 204, `${url} preflight`)
    t.equal(preflight.headers['access-control-allow-origin'], '*')
    t.match(preflight.headers['access-control-allow-headers'], /if-none-match/)
  }
})

t.test('CORS: /token, /token/sign-out and /revoke only for KEYTURN_CORS_ORIGINS, with credentials; /introspect never', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_CORS_ORIGINS: `${SPA}, http://localhost:5173` })
  for (const url of ['/token', '/token/sign-out', '/revoke']) {
    const preflight = await issuer.app.inject({ method: 'OPTIONS', url, headers: { origin: SPA, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    t.equal(preflight.statusCode, 204, url)
    t.equal(preflight.headers['access-control-allow-origin'], SPA, 'the origin itself, never *')
    t.equal(preflight.headers['access-control-allow-credentials'], 'true', 'the refresh cookie may travel')
    t.match(preflight.headers['access-control-allow-methods'], /POST/)
    t.match(preflight.headers.vary, /Origin/i)
    const foreign = await issuer.app.inject({ method: 'OPTIONS', url, headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
    t.notOk(foreign.headers['access-control-allow-origin'], `${url}: an unlisted origin gets no CORS grant`)
  }
  const secret = await issuer.addClient({ id: 'svc' })
  const post = await issuer.app.inject({
    method: 'POST', url: '/token', headers: { origin: 'http://localhost:5173', 'content-type': 'application/x-www-form-urlencoded' },
    payload: form({ grant_type: 'client_credentials', client_id: 'svc', client_secret: secret }),
  })
  t.equal(post.statusCode, 200)
  t.equal(post.headers['access-control-allow-origin'], 'http://localhost:5173')
  t.match(post.headers['access-control-expose-headers'], /retry-after/)
  const introspect = await issuer.app.inject({ method: 'OPTIONS', url: '/introspect', headers: { origin: SPA, 'access-control-request-method': 'POST' } })
  t.notOk(introspect.headers['access-control-allow-origin'], 'introspection is for servers')
})

t.test('CORS: with no KEYTURN_CORS_ORIGINS, /token answers no browser origin', async (t) => {
  const issuer = await buildTestIssuer(t)
  const preflight = await issuer.app.inject({ method: 'OPTIONS', url: '/token', headers: { origin: SPA, 'access-control-request-method': 'POST' } })
  t.notOk(preflight.headers['access-control-allow-origin'])
})

t.test('KEYTURN_CORS_ORIGINS must list origins, https in production', async (t) => {
  const base = { KEYTURN_KEY_ENCRYPTION_SECRET: 'x'.repeat(32) }
  t.same(loadConfig({ ...base, KEYTURN_CORS_ORIGINS: 'https://a.example, https://b.example:8443' }).corsOrigins, ['https://a.example', 'https://b.example:8443'])
  t.same(loadConfig(base).corsOrigins, [])
  for (const value of ['https://a.example/', 'https://a.example/app', '*', 'app.example.com', 'ftp://a.example']) {
    t.throws(() => loadConfig({ ...base, KEYTURN_CORS_ORIGINS: value }), { code: 'ERR_CONFIG', variable: 'KEYTURN_CORS_ORIGINS' }, value)
  }
  t.throws(() => loadConfig({ ...base, NODE_ENV: 'production', KEYTURN_ISSUER: 'https://id.example', KEYTURN_CORS_ORIGINS: 'http://app.example' }), { code: 'ERR_CONFIG', variable: 'KEYTURN_CORS_ORIGINS' }, 'http in production')
  t.same(loadConfig({ ...base, NODE_ENV: 'production', KEYTURN_ISSUER: 'https://id.example', KEYTURN_CORS_ORIGINS: 'http://localhost:5173' }).corsOrigins, ['http://localhost:5173'])
})
