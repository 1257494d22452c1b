import t from 'tap'
import { calculateJwkThumbprint } from 'jose'
import { buildTestIssuer } from '../helper.js'
import { matchesEtag } from '../../src/routes/jwks.js'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']

t.test('publishes next and active keys, public members only, cacheable', async (t) => {
  const issuer = await buildTestIssuer(t)
  const response = await issuer.app.inject({ url: '/.well-known/jwks.json' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'application/jwk-set+json')
  t.equal(response.headers['cache-control'], 'public, max-age=600', 'KEYTURN_JWKS_MAX_AGE default, below propagation/2')
  t.match(response.headers.etag, /^"[A-Za-z0-9_-]{32}"$/)
  const { keys } = response.json() as { keys: Record<string, string>[] }
  t.equal(keys.length, 4, 'active + next for RS256 and ES256')
  for (const key of keys) {
    t.same(Object.keys(key).filter((member) => PRIVATE_MEMBERS.includes(member)), [], `${key.kid}: no private member`)
    t.equal(key.use, 'sig')
    t.equal(key.kid, await calculateJwkThumbprint(key as never, 'sha256'), 'kid is the RFC 7638 thumbprint')
    t.ok(['RS256', 'ES256'].includes(key.alg!))
  }
  const set = issuer.keys.current()
  t.same(keys.map((key) => key.kid).sort(), set.keys.map((key) => key.kid).sort())
})

t.test('If-None-Match gets 304; a change of the set changes the ETag', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_KEY_PROPAGATION: '1h' })
  const first = await issuer.app.inject({ url: '/.well-known/jwks.json' })
  const etag = first.headers.etag as string
  for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const again = await issuer.app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': header } })
    t.equal(again.statusCode, 304, `304 for ${header}`)
    t.equal(again.body, '')
    t.equal(again.headers.etag, etag)
    t.match(again.headers['cache-control'], /^public, max-age=\d+$/)
  }
  t.equal((await issuer.app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': '"stale"' } })).statusCode, 200)

  const oldActive = issuer.keys.signingKey('RS256')!.kid
  issuer.clock.advance(2 * 3_600_000)
  await issuer.rotate({ promote: ['RS256'] })
  const after = await issuer.app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': etag } })
  t.equal(after.statusCode, 200, 'the old ETag no longer matches')
  t.not(after.headers.etag, etag)
  const kids = (after.json() as { keys: { kid: string }[] }).keys.map((key) => key.kid)
  t.ok(kids.includes(oldActive), 'the retired key stays published')
  t.equal(kids.length, 5)

  await issuer.runtime.rotation.revoke(oldActive)
  await issuer.keys.refresh()
  const revoked = (await issuer.app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: { kid: string }[] }
  t.notOk(revoked.keys.some((key) => key.kid === oldActive), 'a revoked key leaves at once')
})

t.test('max-age never exceeds propagation/2 nor the next planned change', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_KEY_PROPAGATION: '10m', KEYTURN_JWKS_MAX_AGE: '5m', KEYTURN_ACCESS_TOKEN_TTL: '1m', KEYTURN_CLOCK_SKEW: '0s', KEYTURN_ROTATION_INTERVAL: '1h' })
  const maxAge = async (): Promise<number> => Number(/max-age=(\d+)/.exec((await issuer.app.inject({ url: '/.well-known/jwks.json' })).headers['cache-control'] as string)![1])
  t.equal(await maxAge(), 300, 'the configured ceiling (below propagation/2 = 5m)')
  issuer.clock.advance(3_600_000 - 30_000)
  t.equal(await maxAge(), 30, 'the promotion is 30 s away')
  issuer.clock.advance(30_000)
  await issuer.rotate()
  // The retired key leaves after reload lag (2s) + TTL (60s) + skew (0).
  t.equal(await maxAge(), 62, 'until the retired key is deleted')
  issuer.clock.advance(70_000)
  t.equal(await maxAge(), 0, 'a change is overdue: do not cache')
})

t.test('If-None-Match parsing', async (t) => {
  t.ok(matchesEtag('"a"', '"a"'))
  t.ok(matchesEtag('W/"a"', '"a"'))
  t.ok(matchesEtag(' "b" , "a" ', '"a"'))
  t.notOk(matchesEtag('"b"', '"a"'))
  t.notOk(matchesEtag(undefined, '"a"'))
  t.notOk(matchesEtag('', '"a"'))
})

t.test('discovery documents describe what exists', async (t) => {
  const issuer = await buildTestIssuer(t)
  const oidc = await issuer.app.inject({ url: '/.well-known/openid-configuration' })
  const oauth = await issuer.app.inject({ url: '/.well-known/oauth-authorization-server' })
  t.equal(oidc.statusCode, 200)
  t.equal(oidc.body, oauth.body, 'both well-known paths serve one document')
  const doc = oidc.json()
  t.equal(doc.issuer, 'https://issuer.test')
  t.equal(doc.token_endpoint, 'https://issuer.test/token')
  t.equal(doc.jwks_uri, 'https://issuer.test/.well-known/jwks.json')
  t.same(doc.grant_types_supported, ['client_credentials', 'password', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange'])
  t.same(doc.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'])
  t.equal(doc.introspection_endpoint, 'https://issuer.test/introspect')
  t.same(doc.introspection_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt'])
  t.equal(doc.revocation_endpoint, 'https://issuer.test/revoke')
  t.same(doc.response_types_supported, [], 'no authorization endpoint, so no response types')
  t.notOk('authorization_endpoint' in doc)
  t.same(doc.access_token_signing_alg_values_supported, ['ES256', 'RS256'])
  for (const [name, value] of Object.entries(doc)) {
    if (name.endsWith('_endpoint') || name.endsWith('_uri')) {
      const path = new URL(value as string).pathname
      t.not((await issuer.app.inject({ method: name.endsWith('_endpoint') ? 'POST' : 'GET', url: path })).statusCode, 404, `${name} exists`)
    }
  }
})

t.test('health and readiness', async (t) => {
  const issuer = await buildTestIssuer(t)
  const health = await issuer.app.inject({ url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  const ready = await issuer.app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', keySetVersion: 1 })
  const unknown = await issuer.app.inject({ url: '/nope' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'invalid_request')
})
