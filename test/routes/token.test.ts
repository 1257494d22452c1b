import t from 'tap'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { buildTestIssuer, basic, form } from '../helper.js'

t.test('client_credentials issues an RFC 9068 access token', async (t) => {
  const issuer = await buildTestIssuer(t)
  const secret = await issuer.addClient({ id: 'svc.a~1', scopes: ['orders:read', 'orders:write'], audiences: ['https://orders.example', 'https://billing.example'] })
  const jwks = createLocalJWKSet(JSON.parse((await issuer.app.inject({ url: '/.well-known/jwks.json' })).body))

  const response = await issuer.app.inject({
    method: 'POST', url: '/token', headers: { authorization: basic('svc.a~1', secret), 'content-type': 'application/x-www-form-urlencoded' },
    payload: form({ grant_type: 'client_credentials', scope: 'orders:read', resource: 'https://orders.example' }),
  })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['cache-control'], 'no-store')
  t.equal(response.headers.pragma, 'no-cache')
  const body = response.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 900)
  t.equal(body.scope, 'orders:read')
  const header = decodeProtectedHeader(body.access_token)
  t.equal(header.typ, 'at+jwt')
  t.equal(header.alg, 'RS256', 'RS256 is the default algorithm')
  t.equal(header.kid, issuer.keys.signingKey('RS256')!.kid)
  const { payload } = await jwtVerify(body.access_token, jwks, { issuer: 'https://issuer.test', audience: 'https://orders.example', typ: 'at+jwt', currentDate: new Date(issuer.clock.now()) })
  t.same(Object.keys(payload).sort(), ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub'])
  t.equal(payload.sub, 'svc.a~1', 'sub is the client for client_credentials')
  t.equal(payload.client_id, 'svc.a~1')
  t.equal(payload.aud, 'https://orders.example')
  t.equal(payload.iat, Math.floor(issuer.clock.now() / 1000))
  t.equal(payload.exp! - payload.iat!, 900)
  t.match(payload.jti, /^[A-Za-z0-9_-]{22}$/)

  const all = await issuer.app.inject({
    method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: form({ grant_type: 'client_credentials', client_id: 'svc.a~1', client_secret: secret }),
  })
  t.equal(all.statusCode, 200, 'client_secret_post')
  const claims = (await jwtVerify(all.json().access_token, jwks, { currentDate: new Date(issuer.clock.now()) })).payload
  t.equal(claims.scope, 'orders:read orders:write', 'no scope asked: every allowed scope')
  t.same(claims.aud, ['https://orders.example', 'https://billing.example'], 'no resource asked: every allowed audience')
  t.not(claims.jti, payload.jti, 'a fresh jti per token')
})

t.test('per-client algorithm, lifetime and default audience', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_ACCESS_TOKEN_TTL: '10m' })
  const secret = await issuer.addClient({ id: 'edge', alg: 'ES256', accessTokenTtl: 120 })
  const response = await issuer.app.inject({
    method: 'POST', url: '/token', headers: { authorization: basic('edge', secret), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials',
  })
  t.equal(response.statusCode, 200)
  const body = response.json()
  t.equal(body.expires_in, 120)
  t.notOk('scope' in body, 'no scope member when the client has none')
  t.equal(decodeProtectedHeader(body.access_token).alg, 'ES256')
  t.equal(decodeProtectedHeader(body.access_token).kid, issuer.keys.signingKey('ES256')!.kid)
  const jwks = createLocalJWKSet(JSON.parse((await issuer.app.inject({ url: '/.well-known/jwks.json' })).body))
  const { payload } = await jwtVerify(body.access_token, jwks, { currentDate: new Date(issuer.clock.now()) })
  t.equal(payload.aud, 'https://issuer.test', 'the issuer default audience')

  const long = await issuer.addClient({ id: 'long', accessTokenTtl: 86_400 })
  const capped = await issuer.app.inject({
    method: 'POST', url: '/token', headers: { authorization: basic('long', long), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials',
  })
  t.equal(capped.json().expires_in, 600, 'a client lifetime never exceeds KEYTURN_ACCESS_TOKEN_TTL')
})

t.test('every error a client can trigger, by code', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_SIGNING_ALGS: 'ES256' })
  const secret = await issuer.addClient({ id: 'svc', scopes: ['read'], audiences: ['https://api.example'] })
  const postOnly = await issuer.addClient({ id: 'post-only', authMethods: ['client_secret_post'] })
  const noGrants = await issuer.addClient({ id: 'no-grants', grantTypes: [] })
  const disabled = await issuer.addClient({ id: 'off', disabled: true })
  const rsa = await issuer.addClient({ id: 'rsa', alg: 'RS256' })
  const ok = basic('svc', secret)
  const formType = 'application/x-www-form-urlencoded'

  const cases: { name: string; headers?: Record<string, string>; payload?: string; status: number; error: string; challenge?: boolean }[] = [
    { name: 'no credentials', payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client', challenge: true },
    { name: 'wrong secret', headers: { authorization: basic('svc', 'wrong') }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client', challenge: true },
    { name: 'unknown client', headers: { authorization: basic('ghost', secret) }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
    { name: 'disabled client', headers: { authorization: basic('off', disabled) }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
    { name: 'auth method not allowed', headers: { authorization: basic('post-only', postOnly) }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
    { name: 'malformed Basic', headers: { authorization: 'Basic !!!' }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
    { name: 'Basic without colon', headers: { authorization: `Basic ${Buffer.from('svc').toString('base64')}` }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
    { name: 'bad percent-encoding in Basic', headers: { authorization: `Basic ${Buffer.from('svc:%E0%A4%A').toString('base64')}` }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
    { name: 'Bearer scheme', headers: { authorization: 'Bearer abc' }, payload: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
    { name: 'two auth methods', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', client_id: 'svc', client_secret: secret }), status: 400, error: 'invalid_request' },
    { name: 'client_id differs from Basic', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', client_id: 'other' }), status: 400, error: 'invalid_request' },
    { name: 'client_secret without client_id', payload: form({ grant_type: 'client_credentials', client_secret: secret }), status: 400, error: 'invalid_request' },
    { name: 'no grant_type', headers: { authorization: ok }, payload: 'scope=read', status: 400, error: 'invalid_request' },
    { name: 'unknown grant_type', headers: { authorization: ok }, payload: 'grant_type=urn:example:magic', status: 400, error: 'unsupported_grant_type' },
    { name: 'grant not allowed for client', headers: { authorization: basic('no-grants', noGrants) }, payload: 'grant_type=client_credentials', status: 400, error: 'unauthorized_client' },
    { name: 'algorithm not enabled', headers: { authorization: basic('rsa', rsa) }, payload: 'grant_type=client_credentials', status: 400, error: 'unauthorized_client' },
    { name: 'scope not allowed', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', scope: 'read admin' }), status: 400, error: 'invalid_scope' },
    { name: 'malformed scope', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', scope: 'read  "x"' }), status: 400, error: 'invalid_scope' },
    { name: 'repeated parameter', headers: { authorization: ok }, payload: 'grant_type=client_credentials&scope=read&scope=read', status: 400, error: 'invalid_request' },
    { name: 'repeated grant_type', headers: { authorization: ok }, payload: 'grant_type=client_credentials&grant_type=client_credentials', status: 400, error: 'invalid_request' },
    { name: 'resource not allowed', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', resource: 'https://evil.example' }), status: 400, error: 'invalid_target' },
    { name: 'audience not allowed', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', audience: 'other-api' }), status: 400, error: 'invalid_target' },
    { name: 'resource not absolute', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', resource: 'api' }), status: 400, error: 'invalid_request' },
    { name: 'resource with fragment', headers: { authorization: ok }, payload: form({ grant_type: 'client_credentials', resource: 'https://api.example#x' }), status: 400, error: 'invalid_request' },
    { name: 'not UTF-8', headers: { authorization: ok }, payload: 'grant_type=client_credentials&scope=%FF%FE', status: 400, error: 'invalid_request' },
  ]
  for (const c of cases) {
    const response = await issuer.app.inject({ method: 'POST', url: '/token', headers: { 'content-type': formType, ...c.headers }, payload: c.payload ?? '' })
    t.equal(response.statusCode, c.status, `${c.name}: status`)
    t.equal(response.json().error, c.error, `${c.name}: error code`)
    t.type(response.json().error_description, 'string', `${c.name}: described`)
    t.equal(response.headers['cache-control'], 'no-store', `${c.name}: no-store`)
    if (c.challenge) t.match(response.headers['www-authenticate'], /^Basic realm="keyturn"/, `${c.name}: challenge`)
  }

  const json = await issuer.app.inject({ method: 'POST', url: '/token', headers: { authorization: ok, 'content-type': 'application/json' }, payload: '{"grant_type":"client_credentials"}' })
  t.equal(json.statusCode, 400)
  t.equal(json.json().error, 'invalid_request', 'JSON body refused')
  const none = await issuer.app.inject({ method: 'POST', url: '/token', headers: { authorization: ok } })
  t.equal(none.json().error, 'invalid_request', 'no body')
  const huge = await issuer.app.inject({ method: 'POST', url: '/token', headers: { authorization: ok, 'content-type': formType }, payload: `grant_type=client_credentials&scope=${'a'.repeat(70_000)}` })
  t.equal(huge.statusCode, 413)
  t.equal(huge.json().error, 'invalid_request', 'oversized body')
  const get = await issuer.app.inject({ method: 'GET', url: '/token' })
  t.equal(get.statusCode, 404)
  const many = await issuer.app.inject({ method: 'POST', url: '/token', headers: { authorization: ok, 'content-type': formType }, payload: Array.from({ length: 100 }, (_, i) => `p${i}=1`).join('&') })
  t.equal(many.json().error, 'invalid_request', 'too many parameters')
})

t.test('no active key yet answers temporarily_unavailable, not a crash', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_SIGNING_ALGS: 'ES256' })
  const secret = await issuer.addClient({ id: 'svc' })
  // Revoke the active key and its successor straight in the store, bypassing rotation: the ring then has no key.
  const set = await issuer.runtime.store.keys.load()
  await issuer.runtime.store.keys.compareAndSwap({ ...set, version: set.version + 1, keys: set.keys.map((key) => ({ ...key, state: 'revoked' as const })) })
  await issuer.keys.refresh()
  const response = await issuer.app.inject({
    method: 'POST', url: '/token', headers: { authorization: basic('svc', secret), 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials',
  })
  t.equal(response.statusCode, 503)
  t.equal(response.json().error, 'temporarily_unavailable')
  t.equal(response.headers['retry-after'], '5')
  const ready = await issuer.app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json().problems, ['no active ES256 key'])
})
