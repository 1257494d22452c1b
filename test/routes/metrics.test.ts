import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { ConfigError } from '../../src/errors.js'
import { buildTestIssuer, basic, post, type TestIssuer } from '../helper.js'

// GET /metrics: the exposition parses line by line; each counter moves by exactly what the requests made it move.

const HOUR = 3_600_000
const METRICS_TOKEN = 'metrics-bearer-token-0123456789abcdef'
const SPA = { id: 'spa', authMethods: ['none' as const], grantTypes: ['password' as const, 'refresh_token' as const], scopes: ['profile'], audiences: ['https://api.example'] }

interface Sample { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }
interface Exposition { readonly samples: readonly Sample[]; readonly types: ReadonlyMap<string, string>; readonly text: string }

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'

/** A strict reader of the Prometheus text format 0.0.4: throws on any line it does not recognise. */
function parseExposition(text: string): Exposition {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '' || new RegExp(`^# HELP ${NAME} \\S`).test(line)) continue
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line)
    if (type) {
      types.set(type[1]!, type[2]!)
      continue
    }
    const sample = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line)
    if (!sample) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    const body = sample[2] ?? ''
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/y
    while (pair.lastIndex < body.length) {
      const match = pair.exec(body)
      if (!match) throw new Error(`bad labels: ${line}`)
      labels[match[1]!] = match[2]!
    }
    const raw = sample[3]!
    // As Prometheus reads it (Go's ParseFloat): NaN and Inf in any case. prom-client writes an empty histogram's mean as `Nan`.
    const value = /^nan$/i.test(raw) ? Number.NaN : /^[+-]?inf$/i.test(raw) ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw)
    if (Number.isNaN(value) && !/^nan$/i.test(raw)) throw new Error(`bad value: ${line}`)
    const family = sample[1]!.replace(/_(bucket|sum|count)$/, '')
    if (!types.has(sample[1]!) && !types.has(family)) throw new Error(`sample before its TYPE: ${line}`)
    samples.push({ name: sample[1]!, labels, value })
  }
  return { samples, types, text }
}

/** The sample with exactly these labels, 0 if the series does not exist yet. */
function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels)
  const found = exposition.samples.filter((sample) => sample.name === name && Object.keys(sample.labels).length === wanted.length && wanted.every(([key, value]) => sample.labels[key] === value))
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} is ambiguous`)
  return found[0]?.value ?? 0
}

function seriesOf(exposition: Exposition, name: string): Sample[] {
  return exposition.samples.filter((sample) => sample.name === name)
}

async function scrape(issuer: TestIssuer, headers: Record<string, string> = {}): Promise<Exposition> {
  const response = await issuer.app.inject({ url: '/metrics', headers })
  if (response.statusCode !== 200) throw new Error(`GET /metrics: ${response.statusCode} ${response.body}`)
  return parseExposition(response.body)
}

interface TokenRequest { readonly method: 'POST'; readonly url: string; readonly headers: Record<string, string>; readonly payload: string }
const tokenForm = (payload: string, headers: Record<string, string> = {}): TokenRequest => ({ method: 'POST' as const, url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload })

t.test('the exposition parses and names every keyturn metric', async (t) => {
  const issuer = await buildTestIssuer(t)
  const response = await issuer.app.inject({ url: '/metrics' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4; charset=utf-8$/)
  t.equal(response.headers['cache-control'], 'no-store')
  const exposition = parseExposition(response.body)
  const expected: Record<string, string> = {
    keyturn_token_requests_total: 'counter', keyturn_tokens_issued_total: 'counter', keyturn_token_request_duration_seconds: 'histogram',
    keyturn_jwks_responses_total: 'counter', keyturn_refresh_token_reuse_total: 'counter', keyturn_rate_limited_total: 'counter',
    keyturn_signing_key_age_seconds: 'gauge', keyturn_signing_key_rotation_in_seconds: 'gauge',
    process_cpu_seconds_total: 'counter', process_resident_memory_bytes: 'gauge', nodejs_eventloop_lag_seconds: 'gauge',
  }
  for (const [name, type] of Object.entries(expected)) t.equal(exposition.types.get(name), type, `${name} is a ${type}`)
  // Known series start at 0, so rates over them are defined before the first event.
  t.equal(seriesOf(exposition, 'keyturn_tokens_issued_total').length, 4 * 2, 'every grant × configured algorithm')
  t.ok(seriesOf(exposition, 'keyturn_tokens_issued_total').every((sample) => sample.value === 0))
  t.same(seriesOf(exposition, 'keyturn_jwks_responses_total').map((sample) => [sample.labels.status, sample.value]), [['200', 0], ['304', 0]])
  t.equal(valueOf(exposition, 'keyturn_refresh_token_reuse_total'), 0)
})

t.test('token requests: counted by grant and outcome, issued tokens by algorithm, latency observed', async (t) => {
  const issuer = await buildTestIssuer(t)
  const rs = await issuer.addClient({ id: 'svc-rs' })
  const es = await issuer.addClient({ id: 'svc-es', alg: 'ES256' })
  const before = await scrape(issuer)

  // [request, expected status, grant label, outcome label]: the outcome is the `error` the client received.
  const cases: [TokenRequest, number, string, string][] = [
    [tokenForm('grant_type=client_credentials', { authorization: basic('svc-rs', rs) }), 200, 'client_credentials', 'issued'],
    [tokenForm('grant_type=client_credentials', { authorization: basic('svc-rs', rs) }), 200, 'client_credentials', 'issued'],
    [tokenForm('grant_type=client_credentials', { authorization: basic('svc-es', es) }), 200, 'client_credentials', 'issued'],
    [tokenForm('grant_type=client_credentials', { authorization: basic('svc-rs', 'wrong') }), 401, 'client_credentials', 'invalid_client'],
    [tokenForm('grant_type=password&username=a&password=b', { authorization: basic('svc-rs', rs) }), 400, 'password', 'unauthorized_client'],
    [tokenForm('grant_type=client_credentials&scope=nope', { authorization: basic('svc-rs', rs) }), 400, 'client_credentials', 'invalid_scope'],
    [tokenForm('grant_type=urn%3Aevil%3A%22injected%22', { authorization: basic('svc-rs', rs) }), 400, 'unknown', 'unsupported_grant_type'],
    [tokenForm('scope=x', { authorization: basic('svc-rs', rs) }), 400, 'unknown', 'invalid_request'],
    [{ method: 'POST', url: '/token', headers: { 'content-type': 'application/json', authorization: basic('svc-rs', rs) }, payload: '{"grant_type":"client_credentials"}' }, 400, 'unknown', 'invalid_request'],
  ]
  for (const [request, status, , outcome] of cases) {
    const response = await issuer.app.inject(request)
    t.equal(response.statusCode, status, `${outcome}: status ${status}`)
    if (outcome !== 'issued') t.equal(response.json().error, outcome, 'the label is the error code on the wire')
  }

  const after = await scrape(issuer)
  const delta = (name: string, labels: Record<string, string> = {}): number => valueOf(after, name, labels) - valueOf(before, name, labels)
  const expected = new Map<string, number>()
  for (const [, , grant, outcome] of cases) expected.set(`${grant} ${outcome}`, (expected.get(`${grant} ${outcome}`) ?? 0) + 1)
  for (const [key, count] of expected) {
    const [grant, outcome] = key.split(' ') as [string, string]
    t.equal(delta('keyturn_token_requests_total', { grant, outcome }), count, `token_requests{grant=${grant},outcome=${outcome}} +${count}`)
  }
  const total = (exposition: Exposition): number => seriesOf(exposition, 'keyturn_token_requests_total').reduce((sum, sample) => sum + sample.value, 0)
  t.equal(total(after) - total(before), cases.length, 'nothing else was counted')
  t.equal(delta('keyturn_tokens_issued_total', { grant: 'client_credentials', alg: 'RS256' }), 2)
  t.equal(delta('keyturn_tokens_issued_total', { grant: 'client_credentials', alg: 'ES256' }), 1)
  for (const grant of ['client_credentials', 'password', 'unknown']) {
    const count = cases.filter(([, , label]) => label === grant).length
    t.equal(delta('keyturn_token_request_duration_seconds_count', { grant }), count, `${count} ${grant} durations observed`)
    t.equal(delta('keyturn_token_request_duration_seconds_bucket', { grant, le: '+Inf' }), count)
  }
  t.ok(delta('keyturn_token_request_duration_seconds_sum', { grant: 'client_credentials' }) > 0, 'durations are observed in seconds')
  t.notOk(after.text.includes('evil') || after.text.includes('injected'), 'no client-supplied text in any label')
  t.notOk(after.text.includes('svc-rs'), 'no client ids in labels')
})

t.test('a request refused by a rate limit counts as rate_limited', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_RATE_LIMIT_AUTH_FAILURES: '1/5m' })
  await issuer.addClient({ id: 'svc' })
  const before = await scrape(issuer)
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await issuer.app.inject(tokenForm('grant_type=client_credentials', { authorization: basic('svc', 'wrong') }))).statusCode)
  t.same(statuses, [401, 429, 429])
  const after = await scrape(issuer)
  const delta = (labels: Record<string, string>): number => valueOf(after, 'keyturn_token_requests_total', labels) - valueOf(before, 'keyturn_token_requests_total', labels)
  t.equal(delta({ grant: 'client_credentials', outcome: 'invalid_client' }), 1)
  t.equal(delta({ grant: 'client_credentials', outcome: 'rate_limited' }), 2)
})

t.test('JWKS responses are counted by status, 200 and 304', async (t) => {
  const issuer = await buildTestIssuer(t)
  const before = await scrape(issuer)
  const first = await issuer.app.inject({ url: '/.well-known/jwks.json' })
  await issuer.app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': '"stale"' } })
  for (let i = 0; i < 3; i++) t.equal((await issuer.app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': first.headers.etag as string } })).statusCode, 304)
  const after = await scrape(issuer)
  t.equal(valueOf(after, 'keyturn_jwks_responses_total', { status: '200' }) - valueOf(before, 'keyturn_jwks_responses_total', { status: '200' }), 2)
  t.equal(valueOf(after, 'keyturn_jwks_responses_total', { status: '304' }) - valueOf(before, 'keyturn_jwks_responses_total', { status: '304' }), 3)
})

t.test('a refresh token presented twice counts one reuse detection', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient(SPA)
  await issuer.addUser('alice', 'correct horse battery')
  const before = await scrape(issuer)
  const signIn = (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: 'correct horse battery' })).json()
  const refresh = (token: string) => post(issuer, '/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: token })
  t.equal((await refresh(signIn.refresh_token)).statusCode, 200)
  t.equal((await refresh(signIn.refresh_token)).json().error, 'invalid_grant', 'the replay is refused')
  t.equal((await refresh('x'.repeat(43))).json().error, 'invalid_grant', 'an unknown token is no reuse')
  const after = await scrape(issuer)
  const delta = (name: string, labels: Record<string, string> = {}): number => valueOf(after, name, labels) - valueOf(before, name, labels)
  t.equal(delta('keyturn_refresh_token_reuse_total'), 1)
  t.equal(delta('keyturn_token_requests_total', { grant: 'refresh_token', outcome: 'invalid_grant' }), 2)
  t.equal(delta('keyturn_token_requests_total', { grant: 'refresh_token', outcome: 'issued' }), 1)
  t.equal(delta('keyturn_tokens_issued_total', { grant: 'password', alg: 'RS256' }), 1)
  t.equal(delta('keyturn_tokens_issued_total', { grant: 'refresh_token', alg: 'RS256' }), 1)
  t.notOk(after.text.includes(signIn.refresh_token), 'no token in the exposition')
})

t.test('key age and time to the next rotation follow the clock and the rotation plan', async (t) => {
  // Defaults: rotation every 24 h, propagation 1 h; the helper bootstrapped the keys at the clock's start.
  const issuer = await buildTestIssuer(t)
  const gauges = async (): Promise<Record<string, [number, number]>> => {
    const exposition = await scrape(issuer)
    return Object.fromEntries(['ES256', 'RS256'].map((alg) => [alg, [
      valueOf(exposition, 'keyturn_signing_key_age_seconds', { alg }), valueOf(exposition, 'keyturn_signing_key_rotation_in_seconds', { alg }),
    ]]))
  }
  t.same(await gauges(), { ES256: [0, 86_400], RS256: [0, 86_400] }, 'fresh keys: a whole interval to go')
  issuer.clock.advance(HOUR)
  t.same(await gauges(), { ES256: [3600, 82_800], RS256: [3600, 82_800] })
  issuer.clock.advance(24 * HOUR)
  t.same(await gauges(), { ES256: [90_000, -3600], RS256: [90_000, -3600] }, 'overdue: negative')
  const oldKid = issuer.keys.signingKey('RS256')!.kid
  await issuer.rotate()
  t.not(issuer.keys.signingKey('RS256')!.kid, oldKid, 'the rotation promoted the next key')
  // The new next key was created just now: the promotion is the interval away (it exceeds the propagation time).
  t.same(await gauges(), { ES256: [0, 86_400], RS256: [0, 86_400] }, 'the new active keys start at 0')
  issuer.clock.advance(90_000)
  t.same(await gauges(), { ES256: [90, 86_310], RS256: [90, 86_310] })
  const exposition = await scrape(issuer)
  t.equal(seriesOf(exposition, 'keyturn_signing_key_age_seconds').length, 2, 'one series per configured algorithm')
})

t.test('KEYTURN_METRICS_TOKEN: a bearer token is required', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_METRICS_TOKEN: METRICS_TOKEN })
  const refused = [
    {},
    { authorization: 'Bearer wrong-token-wrong-token-wrong-token!' },
    { authorization: `Bearer ${METRICS_TOKEN}x` },
    { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` },
    { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` },
    { authorization: METRICS_TOKEN },
  ]
  for (const headers of refused) {
    const response = await issuer.app.inject({ url: '/metrics', headers })
    t.equal(response.statusCode, 401, `401 for ${JSON.stringify(headers).slice(0, 40)}`)
    t.match(response.headers['www-authenticate'], /^Bearer /)
    t.notOk(response.body.includes(METRICS_TOKEN.slice(0, 20)), 'the token is not echoed')
    t.notOk(response.body.includes('keyturn_'), 'no metrics')
  }
  for (const scheme of ['Bearer', 'bearer']) {
    const response = await issuer.app.inject({ url: '/metrics', headers: { authorization: `${scheme} ${METRICS_TOKEN}` } })
    t.equal(response.statusCode, 200, `${scheme} <token>`)
    parseExposition(response.body)
  }
})

t.test('KEYTURN_METRICS=off: no /metrics, the issuer works as before', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_METRICS: 'off' })
  t.equal((await issuer.app.inject({ url: '/metrics' })).statusCode, 404)
  const secret = await issuer.addClient({ id: 'svc' })
  t.equal((await issuer.app.inject(tokenForm('grant_type=client_credentials', { authorization: basic('svc', secret) }))).statusCode, 200)
  await issuer.addClient(SPA)
  await issuer.addUser('alice', 'correct horse battery')
  const signIn = (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: 'correct horse battery' })).json()
  for (const expected of [200, 400]) {
    t.equal((await post(issuer, '/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: signIn.refresh_token })).statusCode, expected, 'reuse detection needs no metrics')
  }
})

t.test('each app counts in its own registry', async (t) => {
  const [a, b] = [await buildTestIssuer(t), await buildTestIssuer(t)]
  await a.app.inject({ url: '/.well-known/jwks.json' })
  t.equal(valueOf(await scrape(a), 'keyturn_jwks_responses_total', { status: '200' }), 1)
  t.equal(valueOf(await scrape(b), 'keyturn_jwks_responses_total', { status: '200' }), 0)
})

t.test('configuration: KEYTURN_METRICS and KEYTURN_METRICS_TOKEN', async (t) => {
  const base = { KEYTURN_KEY_ENCRYPTION_SECRET: 'x'.repeat(32) }
  const defaults = loadConfig(base, '/tmp')
  t.equal(defaults.metrics, true, 'on by default')
  t.equal(defaults.metricsToken, undefined, 'unprotected by default')
  t.equal(loadConfig({ ...base, KEYTURN_METRICS: 'off' }, '/tmp').metrics, false)
  t.equal(loadConfig({ ...base, KEYTURN_METRICS: 'ON' }, '/tmp').metrics, true)
  t.equal(loadConfig({ ...base, KEYTURN_METRICS_TOKEN: METRICS_TOKEN }, '/tmp').metricsToken, METRICS_TOKEN)
  const bad: [Record<string, string>, string][] = [
    [{ KEYTURN_METRICS: 'maybe' }, 'KEYTURN_METRICS'],
    [{ KEYTURN_METRICS: '' }, 'KEYTURN_METRICS'],
    [{ KEYTURN_METRICS_TOKEN: 'short-secret-value' }, 'KEYTURN_METRICS_TOKEN'],
    [{ KEYTURN_METRICS_TOKEN: `${'a'.repeat(20)} ${'b'.repeat(20)}` }, 'KEYTURN_METRICS_TOKEN'],
    [{ KEYTURN_METRICS_TOKEN: '' }, 'KEYTURN_METRICS_TOKEN'],
  ]
  for (const [env, variable] of bad) {
    try {
      loadConfig({ ...base, ...env }, '/tmp')
      t.fail(`${JSON.stringify(env)} should be refused`)
    } catch (error) {
      t.ok(error instanceof ConfigError, 'a ConfigError')
      t.equal((error as ConfigError).variable, variable, `names ${variable}`)
      const value = Object.values(env)[0]!
      if (value.length > 0 && variable === 'KEYTURN_METRICS_TOKEN') t.notOk((error as Error).message.includes(value), 'the secret is not echoed')
    }
  }
})
