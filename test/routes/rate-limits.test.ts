import t, { type Test } from 'tap'
import { assertionParams, makeAssertion, makeClientKey } from '../clients/helpers.js'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestIssuer, basic, createClock, form, type TestIssuer } from '../helper.js'
import { windowStores } from '../../src/http/window-stores.js'
import type { CounterStore } from '../../src/store/types.js'
import { buildApp } from '../../src/app.js'
import { createAccessTokenIssuer } from '../../src/tokens/access-token.js'
import { loadConfig } from '../../src/config.js'

const OFF = { KEYTURN_RATE_LIMIT_IP: 'off', KEYTURN_RATE_LIMIT_CLIENT: 'off', KEYTURN_RATE_LIMIT_AUTH_FAILURES: 'off' }

function tokenRequest(issuer: TestIssuer, from: string, params: Record<string, string>, authorization?: string): Promise<LightMyRequestResponse> {
  return issuer.app.inject({
    method: 'POST', url: '/token', remoteAddress: from,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) }, payload: form(params),
  })
}

const credentials = (id: string, secret: string): Record<string, string> => ({ grant_type: 'client_credentials', client_id: id, client_secret: secret })

function assertLimited(t: Test, response: LightMyRequestResponse, retryAfter: number, message: string): void {
  t.equal(response.statusCode, 429, message)
  t.equal(response.json().error, 'temporarily_unavailable')
  t.match(response.json().error_description, /retry in \d+ s/)
  t.equal(response.headers['retry-after'], String(retryAfter), 'Retry-After says when the window ends')
  t.equal(response.headers['cache-control'], 'no-store')
}

t.test('per IP: every request to the authenticating endpoints counts; other addresses and public routes are not touched', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_IP: '3/10s' })
  const secret = await issuer.addClient({ id: 'svc' })
  const statuses: number[] = []
  for (const [url, params] of [['/token', credentials('svc', secret)], ['/introspect', { token: 'x' }], ['/revoke', { token: 'x' }], ['/token', credentials('svc', secret)]] as const) {
    statuses.push((await issuer.app.inject({ method: 'POST', url, remoteAddress: '10.0.0.1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(params) })).statusCode)
  }
  t.same(statuses.slice(0, 3).map((s) => s !== 429), [true, true, true], 'three requests pass, whatever their outcome')
  t.equal(statuses[3], 429)
  assertLimited(t, await tokenRequest(issuer, '10.0.0.1', credentials('svc', secret)), 10, 'the fifth is refused too')
  t.equal((await tokenRequest(issuer, '10.0.0.2', credentials('svc', secret))).statusCode, 200, 'another address has its own window')
  t.equal((await issuer.app.inject({ url: '/.well-known/jwks.json', remoteAddress: '10.0.0.1' })).statusCode, 200, 'JWKS is not limited')
  t.equal((await issuer.app.inject({ url: '/.well-known/openid-configuration', remoteAddress: '10.0.0.1' })).statusCode, 200, 'discovery is not limited')
  const metrics = (await issuer.app.inject({ url: '/metrics', remoteAddress: '10.0.0.1' })).body
  t.match(metrics, /^keyturn_rate_limited_total\{route="\/token",scope="ip"\} 2$/m, 'both refusals are counted in /metrics, which is not limited itself')
  issuer.clock.advance(10_000)
  t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('svc', secret))).statusCode, 200, 'a new window')
})

t.test('per IP: IPv6 addresses of one /64 share a window', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_IP: '1/10s' })
  t.not((await tokenRequest(issuer, '2001:db8::1', {})).statusCode, 429)
  t.equal((await tokenRequest(issuer, '2001:db8::ffff:2', {})).statusCode, 429, 'rotating the interface id does not escape')
  t.not((await tokenRequest(issuer, '2001:db8:0:1::1', {})).statusCode, 429, 'another /64 is another window')
})

t.test('per client: successful requests count, and nobody can spend a client\'s budget by naming it', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_CLIENT: '2/1m' })
  const secret = await issuer.addClient({ id: 'victim' })
  for (let i = 0; i < 10; i++) {
    t.equal((await tokenRequest(issuer, '10.6.6.6', credentials('victim', 'wrong'))).statusCode, 401)
    t.equal((await tokenRequest(issuer, '10.6.6.6', { grant_type: 'client_credentials', client_id: 'victim', client_secret: secret, scope: 'not-allowed' })).statusCode, 400)
  }
  t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('victim', secret))).statusCode, 200, 'failed requests named it ten times: still allowed')
  t.equal((await tokenRequest(issuer, '10.0.0.2', {}, basic('victim', secret))).statusCode, 400, 'Basic counts the same client (400: no grant_type; not a success)')
  t.equal((await tokenRequest(issuer, '10.0.0.2', { grant_type: 'client_credentials' }, basic('victim', secret))).statusCode, 200)
  assertLimited(t, await tokenRequest(issuer, '10.0.0.3', credentials('victim', secret)), 60, 'the third success in the window is refused, from any address')
  const other = await issuer.addClient({ id: 'other' })
  t.equal((await tokenRequest(issuer, '10.0.0.3', credentials('other', other))).statusCode, 200, 'other clients are not affected')
  issuer.clock.advance(60_000)
  t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('victim', secret))).statusCode, 200, 'a new window')
})

t.test('failed client authentications: blocked per address and client before the secret is checked', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '3/1m' })
  const secret = await issuer.addClient({ id: 'svc' })
  for (let i = 0; i < 3; i++) t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('svc', 'guess'))).statusCode, 401)
  assertLimited(t, await tokenRequest(issuer, '10.0.0.1', credentials('svc', secret)), 60, 'even the right secret is refused: nothing is checked')
  assertLimited(t, await issuer.app.inject({
    method: 'POST', url: '/introspect', remoteAddress: '10.0.0.1', headers: { authorization: basic('svc', secret), 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=x',
  }), 60, 'on every endpoint, with Basic credentials too')
  t.equal((await tokenRequest(issuer, '10.0.0.2', credentials('svc', secret))).statusCode, 200, 'the client itself, elsewhere, is not locked out')
  const other = await issuer.addClient({ id: 'other' })
  t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('other', other))).statusCode, 200, 'another client from that address still works')
  issuer.clock.advance(60_000)
  t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('svc', secret))).statusCode, 200, 'the window ends')
})

t.test('private_key_jwt: failed assertions count for the client their sub names, client_id sent or not', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '2/1m' })
  const key = await makeClientKey('ES256')
  await issuer.addClient({ id: 'svc-a', authMethods: ['private_key_jwt'], secretHash: undefined, jwks: { keys: [key.publicJwk as never] } })
  const request = async (claims: Record<string, unknown> = {}) => tokenRequest(issuer, '10.0.0.1', {
    grant_type: 'client_credentials', ...assertionParams(await makeAssertion({ clientId: 'svc-a', key, now: issuer.clock.now(), claims })),
  })
  t.equal((await request({ aud: 'https://elsewhere.example' })).statusCode, 401, 'wrong audience')
  t.equal((await request({ aud: 'https://elsewhere.example' })).statusCode, 401)
  t.equal((await request()).statusCode, 429, 'a good assertion is refused unchecked once the client\'s budget from this address is spent')
})

t.test('respelling a client id or a username does not open a fresh failure window', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '3/1m' })
  const secret = await issuer.addClient({ id: 'svc', grantTypes: ['client_credentials', 'password'] })
  await issuer.addUser('alice', 'correct horse battery')
  // RFC 6749 §2.3.1: Basic credentials are form-encoded, so %73vc is svc; the raw header must not be the key.
  const encoded = (id: string, password: string) => `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`
  for (const spelling of ['svc', '%73vc', 's%76c']) {
    t.equal((await tokenRequest(issuer, '10.0.0.1', { grant_type: 'client_credentials' }, encoded(spelling, 'guess'))).statusCode, 401, spelling)
  }
  t.equal((await tokenRequest(issuer, '10.0.0.1', { grant_type: 'client_credentials' }, encoded('%73%76%63', secret))).statusCode, 429, 'a fourth spelling meets the same window')
  const login = (username: string, password: string) =>
    tokenRequest(issuer, '10.0.0.2', { grant_type: 'password', client_id: 'svc', client_secret: secret, username, password })
  for (const name of ['alice', '\uFF41lice', 'aLice']) t.equal((await login(name, 'wrong')).statusCode, 400, name)
  t.equal((await login('\uFF21LICE', 'correct horse battery')).statusCode, 429, 'fullwidth letters are the same user (NFKC, as the user store matches)')
})

t.test('failed authentications across many accounts from one address: blocked at 5× the budget', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '2/1m' })
  const secret = await issuer.addClient({ id: 'svc' })
  const statuses: number[] = []
  for (let i = 0; i < 12; i++) statuses.push((await tokenRequest(issuer, '10.0.0.1', credentials(`guess-${i}`, 'x'))).statusCode)
  t.same(statuses, [...Array(10).fill(401), 429, 429], 'ten failures (2 × 5), each on a fresh client id; then the address is blocked')
  t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('svc', secret))).statusCode, 429, 'for every account')
  t.equal((await tokenRequest(issuer, '10.0.0.9', credentials('svc', secret))).statusCode, 200)
})

t.test('failed passwords: blocked per address and username (case-insensitive); other users unaffected', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '3/1m' })
  const secret = await issuer.addClient({ id: 'app', grantTypes: ['password', 'refresh_token'] })
  await issuer.addUser('alice', 'correct horse battery')
  await issuer.addUser('bob', 'another good passphrase')
  const login = (from: string, username: string, password: string) =>
    tokenRequest(issuer, from, { grant_type: 'password', client_id: 'app', client_secret: secret, username, password })
  for (const name of ['alice', 'Alice', 'ALICE']) t.equal((await login('10.0.0.1', name, 'wrong')).statusCode, 400)
  assertLimited(t, await login('10.0.0.1', 'alice', 'correct horse battery'), 60, 'the right password is refused unchecked')
  t.equal((await login('10.0.0.1', 'bob', 'another good passphrase')).statusCode, 200, 'another user from the same address')
  t.equal((await login('10.0.0.2', 'alice', 'correct horse battery')).statusCode, 200, 'alice from elsewhere: no account lock-out to abuse')
})

t.test('password guesses in parallel: once a pair has failed, attempts in flight count against its budget', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '3/1m' })
  const secret = await issuer.addClient({ id: 'app', grantTypes: ['password'] })
  await issuer.addUser('alice', 'correct horse battery')
  const login = (password: string) => tokenRequest(issuer, '10.0.0.1', { grant_type: 'password', client_id: 'app', client_secret: secret, username: 'alice', password })
  t.equal((await login('guess-0')).statusCode, 400, 'one failure recorded')
  const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => login(`guess-${i + 1}`)))
  const checked = burst.filter((response) => response.statusCode === 400).length
  t.ok(checked <= 2, `${checked} of 10 parallel guesses reached the password check (budget 3, 1 spent)`)
  t.equal(burst.filter((response) => response.statusCode === 429).length, 10 - checked, 'the rest were refused unchecked')
  issuer.clock.advance(60_000)
  t.equal((await login('correct horse battery')).statusCode, 200, 'nothing stays in flight: the next window is clean')
})

t.test('parallel requests of a client that has failed once are not refused for being parallel', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '3/1m' })
  const secret = await issuer.addClient({ id: 'svc' })
  t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('svc', 'stale secret of an old deploy'))).statusCode, 401)
  const burst = await Promise.all(Array.from({ length: 20 }, () => tokenRequest(issuer, '10.0.0.1', credentials('svc', secret))))
  t.same([...new Set(burst.map((response) => response.statusCode))], [200])
})

t.test('failure counts are shared by every process on the store: at most max + processes attempts get through', async (t) => {
  const issuer = await buildTestIssuer(t, { ...OFF, KEYTURN_RATE_LIMIT_AUTH_FAILURES: '4/1m' })
  const secret = await issuer.addClient({ id: 'svc' })
  const { runtime, keys, clock, config } = issuer
  const second = buildApp({
    config, store: runtime.store, keys, clientSecretKey: runtime.clientSecretKey, now: clock.now,
    issueAccessToken: createAccessTokenIssuer({ issuer: config.issuer, keys, now: clock.now }),
  }, { logger: false })
  t.teardown(() => second.close())
  const apps = [issuer.app, second]
  let through = 0
  for (let i = 0; i < 12; i++) {
    const response = await apps[i % 2]!.inject({
      method: 'POST', url: '/token', remoteAddress: '10.0.0.1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(credentials('svc', 'guess')),
    })
    if (response.statusCode === 401) through++
    else t.equal(response.statusCode, 429)
  }
  t.ok(through >= 4 && through <= 4 + apps.length - 1, `${through} guesses reached the secret check (budget 4, 2 processes: each learns the count when it records a failure, before answering)`)
  const byThird = await second.inject({ method: 'POST', url: '/token', remoteAddress: '10.0.0.1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(credentials('svc', secret)) })
  t.equal(byThird.statusCode, 429, 'both processes now refuse')
})

t.test('limits off: nothing is counted', async (t) => {
  const issuer = await buildTestIssuer(t, OFF)
  for (let i = 0; i < 30; i++) t.equal((await tokenRequest(issuer, '10.0.0.1', credentials('ghost', 'x'))).statusCode, 401)
})

t.test('configuration: limits are N/duration or off, and a bad one is named', async (t) => {
  const base = { KEYTURN_KEY_ENCRYPTION_SECRET: 'x'.repeat(32) }
  t.same(loadConfig(base).rateLimits, { ip: { max: 1000, windowMs: 10_000 }, client: { max: 1000, windowMs: 10_000 }, authFailures: { max: 10, windowMs: 300_000 } }, 'defaults')
  t.same(loadConfig({ ...base, KEYTURN_RATE_LIMIT_IP: '50/1m', KEYTURN_RATE_LIMIT_CLIENT: 'OFF' }).rateLimits.ip, { max: 50, windowMs: 60_000 })
  t.equal(loadConfig({ ...base, KEYTURN_RATE_LIMIT_CLIENT: 'off' }).rateLimits.client, undefined)
  for (const [name, value] of [['KEYTURN_RATE_LIMIT_IP', '50'], ['KEYTURN_RATE_LIMIT_IP', '0/1m'], ['KEYTURN_RATE_LIMIT_CLIENT', '10/500ms'], ['KEYTURN_RATE_LIMIT_AUTH_FAILURES', '10/2d'], ['KEYTURN_RATE_LIMIT_AUTH_FAILURES', 'ten/1m']]) {
    t.throws(() => loadConfig({ ...base, [name!]: value! }), { code: 'ERR_CONFIG', variable: name }, `${name}=${value}`)
  }
})

t.test('the memory of shared failure counts empties once its windows end (the peeks are skipped again)', async (t) => {
  const clock = createClock()
  const counters: CounterStore = { hit: async (_key, windowMs, now) => ({ count: 1, resetAt: now + windowMs }) }
  const { Store, anySeen } = windowStores(counters, clock.now)
  const shared = new Store().child({ shared: true })
  t.equal(anySeen(), false, 'nothing known at start')
  await new Promise((resolve) => shared.incr('fail:a', resolve, 1000, 3))
  clock.advance(500)
  await new Promise((resolve) => shared.incr('fail:b', resolve, 1000, 3))
  t.equal(anySeen(), true)
  clock.advance(500)
  t.equal(anySeen(), true, 'one window still runs')
  clock.advance(500)
  t.equal(anySeen(), false, 'both ended')
})
