import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { access, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { ADMIN, ROTATE_KEYS, SERVER, childCwd, childEnv, freePort, jsonLines, serverEnv, startServer, tempDir, type Env, type RunResult, type Test } from './helpers.js'
import { SKIP_REASON, TEST_DATABASE_URL } from '../store/pg-helper.js'

// Issue 8 item 7: "Logs never contain a token, a secret, a password or a private key member — a test scans the logs
// of a full end-to-end run for every secret it used."
//
// One real server (`node dist/src/server.js`) at KEYTURN_LOG_LEVEL=trace, the real admin CLIs, real HTTP on loopback:
// every path that handles a secret is exercised — right, wrong, replayed, forged, malformed, rate limited — and every
// value that must stay secret is recorded as a labelled needle. After SIGTERM, the server's stdout and stderr and every
// CLI's output are searched for every needle. Failure messages name labels only, never a value: nothing here prints a
// secret, and tap's diffs only ever see label lists and status codes.

const SPA_ORIGIN = 'https://app.logscan.example'
const SERVICE_A = 'https://service-a.logscan.example'
const SERVICE_B = 'https://service-b.logscan.example'
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token'
const COOKIE = 'keyturn_refresh'
/** JWK members that carry private key material (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const
/** A private member, or a sealed private key, as a JSON member with a value (not a message that names one). */
const PRIVATE_MEMBER_IN_JSON = /"(d|p|q|dp|dq|qi|k|privateJwe)":\s*"|"oth":\s*\[/

/** A value no log line could contain by chance: `what` plus 144 random bits. */
const distinct = (what: string): string => `${what}-${randomBytes(18).toString('base64url')}`

interface Needle { readonly label: string; readonly value: string }
interface Haystack { readonly label: string; readonly text: string }

/** Every value that must never appear in an output, with a label to report instead of the value. */
class Needles {
  readonly list: Needle[] = []

  add(label: string, value: unknown): void {
    if (typeof value !== 'string' || value.length < 12) throw new Error(`needle "${label}" is missing or too short to scan for`)
    if (!this.list.some((needle) => needle.value === value)) this.list.push({ label, value })
  }

  /** A client secret or password: raw, and as it travels form-urlencoded (body) or percent-encoded (a Basic pair). */
  credential(label: string, value: string): void {
    this.add(label, value)
    const form = new URLSearchParams({ v: value }).toString().slice(2)
    if (form !== value) this.add(`${label} (form-urlencoded)`, form)
    const uri = encodeURIComponent(value)
    if (uri !== value) this.add(`${label} (percent-encoded)`, uri)
  }

  /** A client secret and the base64 credentials of the Basic header that carries it. */
  clientSecret(label: string, clientId: string, value: string): void {
    this.credential(label, value)
    this.add(`${label} (Basic credentials)`, basicCredentials(clientId, value))
  }

  /** A JWT, and its signature segment alone (what would survive a truncated or reformatted log line). */
  jwt(label: string, value: unknown): void {
    this.add(label, value)
    this.add(`signature of ${label}`, String(value).split('.')[2])
  }

  privateJwk(label: string, jwk: JWK): void {
    for (const member of PRIVATE_MEMBERS) {
      const value = (jwk as Record<string, unknown>)[member]
      if (value !== undefined) this.add(`${label}: private member ${member}`, value)
    }
  }

  /** `text` with every needle replaced by its label: safe to put in a failure message. */
  mask(text: string): string {
    let masked = text
    for (const needle of [...this.list].sort((a, b) => b.value.length - a.value.length)) masked = masked.split(needle.value).join(`[${needle.label}]`)
    return masked.slice(0, 600)
  }
}

/** RFC 6749 §2.3.1: id and secret form-urlencoded, joined by ':', base64. */
const basicCredentials = (id: string, secret: string): string => Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')
const basic = (id: string, secret: string): Record<string, string> => ({ authorization: `Basic ${basicCredentials(id, secret)}` })

interface ClientKey { readonly alg: string; readonly kid: string; readonly privateKey: CryptoKey; readonly publicJwk: JWK; readonly privateJwk: JWK }

async function clientKey(alg: 'ES256' | 'RS256'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(publicJwk)
  return { alg, kid, privateKey, publicJwk: { ...publicJwk, kid, alg, use: 'sig' }, privateJwk: { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' } }
}

interface Reply { readonly status: number; readonly body: Record<string, unknown>; readonly headers: Headers }

interface CliRun { readonly name: string; readonly result: RunResult; readonly printsSecret: boolean }

/** A process started with a wrong setting that carries a secret: whatever it says, it must not echo the secret. */
interface Misconfiguration {
  readonly what: string
  readonly script: string
  readonly args: readonly string[]
  readonly env: Env
  /** The exit code, when it does not depend on the database server's authentication setup. */
  readonly expect?: number
  readonly needles: readonly Needle[]
}

/** `node script ...args`, with `stdin` written and closed (a password, as the README pipes it). */
function runCli(env: Env, script: string, args: readonly string[], stdin?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: childCwd(env), env: childEnv(env), stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
    if (child.stdin) {
      child.stdin.on('error', () => {})
      child.stdin.end(stdin)
    }
  })
}

/**
 * The whole scenario against one server and store. `storeEnv` adds DATABASE_URL for PostgreSQL; `storeNeedles` are
 * the store's own secrets (the database password); `storeMisconfigurations` are wrong store settings to try.
 */
async function scenario(t: Test, name: string, storeEnv: Env, storeNeedles: readonly Needle[], storeMisconfigurations: readonly Misconfiguration[] = []): Promise<void> {
  const started = Date.now()
  const dir = await tempDir(t, `log-scan-${name}`)
  const port = await freePort()
  const needles = new Needles()
  for (const needle of storeNeedles) needles.add(needle.label, needle.value)
  const kek = distinct('logscan-key-encryption-secret')
  const metricsToken = distinct('logscan-metrics-bearer-token')
  needles.add('KEYTURN_KEY_ENCRYPTION_SECRET', kek)
  needles.add('KEYTURN_METRICS_TOKEN', metricsToken)
  const env = serverEnv(port, dir, {
    KEYTURN_LOG_LEVEL: 'trace',
    KEYTURN_KEY_ENCRYPTION_SECRET: kek,
    KEYTURN_METRICS_TOKEN: metricsToken,
    KEYTURN_RATE_LIMIT_AUTH_FAILURES: '3/1m',
    KEYTURN_CORS_ORIGINS: SPA_ORIGIN,
    KEYTURN_PASSWORD_HASH_COST: '14',
    ...storeEnv,
  })
  const server = await startServer(t, env)
  const issuer = server.url
  const endpoint = { token: `${issuer}/token`, introspect: `${issuer}/introspect`, revoke: `${issuer}/revoke`, signOut: `${issuer}/token/sign-out`, metrics: `${issuer}/metrics` }

  // ---- recording ---------------------------------------------------------------------------------------------------
  const cliRuns: CliRun[] = []
  /** jtis of every access token /token handed out, in order. */
  const issued: string[] = []
  let refreshCount = 0
  let cookieCount = 0

  async function cli(script: string, args: readonly string[], options: { stdin?: string; printsSecret?: boolean; expect?: number } = {}): Promise<RunResult> {
    const label = `${script === ADMIN ? 'admin' : 'rotate-keys'} ${args.join(' ')}`
    const result = await runCli(env, script, args, options.stdin)
    cliRuns.push({ name: label, result, printsSecret: options.printsSecret ?? false })
    t.equal(result.code, options.expect ?? 0, `${label}: exit ${options.expect ?? 0}`, { diagnostic: result.code !== (options.expect ?? 0), stderr: needles.mask(result.stderr) })
    return result
  }
  const admin = (args: readonly string[], options?: Parameters<typeof cli>[2]): Promise<RunResult> => cli(ADMIN, args, options)

  /** Every token a response carries (body or Set-Cookie) becomes a needle the moment it is seen. */
  function record(what: string, reply: Reply): void {
    const { access_token: accessToken, refresh_token: refreshToken } = reply.body
    if (typeof accessToken === 'string') {
      issued.push(String(decodeJwt(accessToken).jti))
      needles.jwt(`access token #${issued.length} (${what})`, accessToken)
    }
    if (typeof refreshToken === 'string') needles.add(`refresh token #${++refreshCount} (${what})`, refreshToken)
    for (const cookie of reply.headers.getSetCookie()) {
      const value = decodeURIComponent((cookie.split(';')[0] ?? '').split('=').slice(1).join('='))
      if (cookie.startsWith(`${COOKIE}=`) && value !== '') needles.add(`refresh cookie #${++cookieCount} (${what})`, value)
    }
  }

  async function post(url: string, what: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() })
    const text = await response.text()
    let body: Record<string, unknown> = {}
    try {
      if (text !== '') body = JSON.parse(text) as Record<string, unknown>
    } catch { /* not JSON (an empty 200 from /revoke) */ }
    const reply = { status: response.status, body, headers: response.headers }
    record(what, reply)
    return reply
  }

  /** POSTs and checks the status (and the error code); the message names `what`, the diagnostic is masked. */
  async function expectReply(url: string, what: string, form: Record<string, string>, headers: Record<string, string>, status: number, error?: string): Promise<Reply> {
    const reply = await post(url, what, form, headers)
    const wrong = reply.status !== status || (error !== undefined && reply.body.error !== error)
    t.ok(!wrong, `${what}: ${status}${error ? ` ${error}` : ''}`, {
      diagnostic: wrong, found: `${reply.status} ${String(reply.body.error)}: ${needles.mask(String(reply.body.error_description ?? ''))}`,
    })
    return reply
  }
  const tokenOk = async (what: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> => expectReply(endpoint.token, what, form, headers, 200)

  // ---- keys, files, clients and users, through the real admin CLI ----------------------------------------------------
  const keyA = await clientKey('ES256')
  const keyA2 = await clientKey('RS256')
  const forger = await clientKey('ES256')
  needles.privateJwk('service-a private JWK #1', keyA.privateJwk)
  needles.privateJwk('service-a private JWK #2', keyA2.privateJwk)
  needles.privateJwk('the forger\'s private JWK', forger.privateJwk)
  const files = { jwks: join(dir, 'service-a.jwks.json'), nextJwks: join(dir, 'service-a.next.jwks.json'), privateJwks: join(dir, 'private.jwks.json') }
  await writeFile(files.jwks, JSON.stringify({ keys: [keyA.publicJwk] }))
  await writeFile(files.nextJwks, JSON.stringify({ keys: [keyA.publicJwk, keyA2.publicJwk] }))
  await writeFile(files.privateJwks, JSON.stringify({ keys: [forger.privateJwk] }))

  const secrets: Record<string, string> = {}
  async function secretClient(id: string, args: readonly string[]): Promise<string> {
    const created = await admin(['clients', 'create', id, ...args, '--json'], { printsSecret: true })
    const secret = String((JSON.parse(created.stdout || '{}') as { client_secret?: unknown }).client_secret)
    needles.clientSecret(`client secret of ${id}`, id, secret)
    return secret
  }
  secrets.basic = await secretClient('svc-basic', ['--scope', 'orders:read orders:write', '--audience', 'https://orders.logscan.example'])
  secrets.post = await secretClient('svc-post', ['--auth-method', 'client_secret_post', '--scope', 'reports:read', '--audience', 'https://reports.logscan.example'])
  secrets.app = await secretClient('app', ['--grant', 'password', '--grant', 'refresh_token', '--scope', 'profile orders:read', '--audience', SERVICE_A])
  await admin(['clients', 'create', 'web', '--auth-method', 'none', '--grant', 'password', '--grant', 'refresh_token', '--scope', 'profile orders:read',
    '--audience', SERVICE_A, '--refresh-cookie', '--origin', SPA_ORIGIN])
  const serviceA = await admin(['clients', 'create', 'service-a', '--jwks-file', files.jwks, '--grant', 'client_credentials', '--grant', 'token-exchange',
    '--scope', 'orders:read', '--resource', SERVICE_A, '--exchange-audience', SERVICE_B, '--may-act', '--json'])
  t.notOk(serviceA.stdout.includes('client_secret'), 'a private_key_jwt client gets no secret')
  // A private JWK registered by mistake is refused, and its private members are not echoed (stdout and stderr scanned).
  await admin(['clients', 'create', 'leaky', '--jwks-file', files.privateJwks], { expect: 2 })

  // Spaces and + / & = % ü: each password travels differently raw, form-urlencoded and percent-encoded.
  const passwords = { alice: distinct('Alice pw+ü/&='), bobOld: distinct('Bob old pw'), bob: distinct('Bob pw+%') }
  needles.credential('alice\'s password', passwords.alice)
  needles.credential('bob\'s first password', passwords.bobOld)
  needles.credential('bob\'s password', passwords.bob)
  await admin(['users', 'create', 'alice', '--claim', 'roles=buyer'], { stdin: `${passwords.alice}\n` })
  await admin(['users', 'create', 'bob'], { stdin: `${passwords.bobOld}\n` })
  await admin(['users', 'set-password', 'bob'], { stdin: `${passwords.bob}\n` })
  await admin(['users', 'list'])
  await admin(['clients', 'list', '--json'])

  // ---- client_credentials with client_secret_basic and client_secret_post -------------------------------------------
  const svcToken = await tokenOk('svc-basic, client_secret_basic', { grant_type: 'client_credentials' }, basic('svc-basic', secrets.basic))
  await tokenOk('svc-basic, client_secret_post', { grant_type: 'client_credentials', scope: 'orders:read', client_id: 'svc-basic', client_secret: secrets.basic })
  await tokenOk('svc-post, client_secret_post', { grant_type: 'client_credentials', client_id: 'svc-post', client_secret: secrets.post })

  // ---- private_key_jwt: valid, replayed, forged; then the client's keys are replaced with set-keys ----------------------
  let assertions = 0
  async function assertion(key: ClientKey, options: { aud?: string; kid?: string } = {}): Promise<Record<string, string>> {
    const jwt = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid })
      .setIssuer('service-a').setSubject('service-a').setAudience(options.aud ?? issuer).setIssuedAt().setExpirationTime('60s').sign(key.privateKey)
    needles.jwt(`client assertion #${++assertions}`, jwt)
    return { client_assertion_type: JWT_BEARER, client_assertion: jwt }
  }
  const firstAssertion = await assertion(keyA)
  const actorToken = String((await tokenOk('service-a, private_key_jwt', { grant_type: 'client_credentials', ...firstAssertion })).body.access_token)
  await tokenOk('service-a, assertion for the token endpoint', { grant_type: 'client_credentials', ...(await assertion(keyA, { aud: endpoint.token })) })
  await expectReply(endpoint.token, 'a replayed assertion', { grant_type: 'client_credentials', ...firstAssertion }, {}, 401, 'invalid_client')
  await expectReply(endpoint.token, 'a forged assertion (another key under service-a\'s kid)', { grant_type: 'client_credentials', ...(await assertion(forger, { kid: keyA.kid })) }, {}, 401, 'invalid_client')
  await admin(['clients', 'set-keys', 'service-a', '--jwks-file', files.nextJwks])
  await tokenOk('service-a, its new RS256 key', { grant_type: 'client_credentials', ...(await assertion(keyA2)) })

  // ---- password grant and refresh-token rotation (a confidential first-party client) --------------------------------
  const password = (username: string, secret: string): Record<string, string> => ({ grant_type: 'password', username, password: secret })
  const signIn = await tokenOk('alice signs in through app', password('alice', passwords.alice), basic('app', secrets.app))
  const rt1 = String(signIn.body.refresh_token)
  const rt2 = String((await tokenOk('refresh #1 (client_secret_post)', { grant_type: 'refresh_token', refresh_token: rt1, client_id: 'app', client_secret: secrets.app })).body.refresh_token)
  const rt3 = String((await tokenOk('refresh #2 (client_secret_basic)', { grant_type: 'refresh_token', refresh_token: rt2 }, basic('app', secrets.app))).body.refresh_token)
  await expectReply(endpoint.token, 'a used refresh token presented again (reuse)', { grant_type: 'refresh_token', refresh_token: rt1 }, basic('app', secrets.app), 400, 'invalid_grant')
  await expectReply(endpoint.token, 'the newest refresh token of the revoked family', { grant_type: 'refresh_token', refresh_token: rt3 }, basic('app', secrets.app), 400, 'invalid_grant')

  // ---- introspection and revocation of access and refresh tokens, own and foreign -----------------------------------
  const second = await tokenOk('alice signs in again', password('alice', passwords.alice), basic('app', secrets.app))
  const [at2, rt4] = [String(second.body.access_token), String(second.body.refresh_token)]
  const introspect = async (what: string, form: Record<string, string>, headers: Record<string, string>, active: boolean): Promise<void> => {
    const reply = await expectReply(endpoint.introspect, what, form, headers, 200)
    t.equal(reply.body.active, active, `${what}: active ${active}`)
  }
  await introspect('app introspects its refresh token', { token: rt4, token_type_hint: 'refresh_token' }, basic('app', secrets.app), true)
  await introspect('app introspects its access token', { token: at2, client_id: 'app', client_secret: secrets.app }, {}, true)
  await introspect('svc-basic introspects app\'s refresh token', { token: rt4 }, basic('svc-basic', secrets.basic), false)
  await expectReply(endpoint.revoke, 'svc-basic revokes app\'s refresh token (left alone)', { token: rt4 }, basic('svc-basic', secrets.basic), 200)
  await introspect('app\'s refresh token survives a foreign revocation', { token: rt4 }, basic('app', secrets.app), true)
  await expectReply(endpoint.revoke, 'app revokes its refresh token', { token: rt4, token_type_hint: 'refresh_token' }, basic('app', secrets.app), 200)
  await introspect('a revoked refresh token', { token: rt4 }, basic('app', secrets.app), false)
  await expectReply(endpoint.revoke, 'app revokes its access token', { token: at2, token_type_hint: 'access_token' }, basic('app', secrets.app), 200)
  await introspect('a revoked access token', { token: at2 }, basic('app', secrets.app), false)
  const unknownRefresh = randomBytes(32).toString('base64url')
  needles.add('an unknown refresh-token-shaped value', unknownRefresh)
  await expectReply(endpoint.revoke, 'revoking an unknown token', { token: unknownRefresh }, basic('app', secrets.app), 200)
  const foreign = await new SignJWT({ client_id: 'svc-basic', scope: 'orders:read', jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: forger.kid, typ: 'at+jwt' })
    .setIssuer(issuer).setSubject('svc-basic').setAudience('https://orders.logscan.example').setIssuedAt().setExpirationTime('5m').sign(forger.privateKey)
  needles.jwt('a foreign (forged) access token', foreign)
  await introspect('a foreign access token', { token: foreign }, basic('svc-basic', secrets.basic), false)
  await expectReply(endpoint.revoke, 'revoking a foreign access token', { token: foreign }, basic('svc-basic', secrets.basic), 200)
  await introspect('svc-basic introspects its own token', { token: String(svcToken.body.access_token) }, basic('svc-basic', secrets.basic), true)
  await expectReply(endpoint.introspect, 'a public client may not introspect', { token: at2, client_id: 'web' }, {}, 401, 'invalid_client')

  // ---- cookie mode: the SPA signs in, the refresh token lives in the cookie -----------------------------------------
  const spa = { origin: SPA_ORIGIN }
  const spaSignIn = await tokenOk('the SPA signs alice in (cookie mode)', { ...password('alice', passwords.alice), client_id: 'web' }, spa)
  t.notOk('refresh_token' in spaSignIn.body, 'cookie mode: no refresh token in the body')
  const cookieOf = (reply: Reply): string => {
    const cookie = reply.headers.getSetCookie().find((line) => line.startsWith(`${COOKIE}=`)) ?? ''
    return decodeURIComponent((cookie.split(';')[0] ?? '').slice(COOKIE.length + 1))
  }
  const cookie1 = cookieOf(spaSignIn)
  t.equal(cookie1.length, 43, 'the refresh cookie is set')
  const userToken = String(spaSignIn.body.access_token)

  // ---- token exchange (RFC 8693): service-a, for alice, towards service-b ----------------------------------------------
  const exchange = (extra: Record<string, string>): Record<string, string> => ({
    grant_type: TOKEN_EXCHANGE, subject_token: userToken, subject_token_type: ACCESS_TOKEN_TYPE, audience: SERVICE_B, scope: 'orders:read', ...extra,
  })
  const delegated = await tokenOk('token exchange with an actor token', { ...exchange({ actor_token: actorToken, actor_token_type: ACCESS_TOKEN_TYPE }), ...(await assertion(keyA2)) })
  t.same((decodeJwt(String(delegated.body.access_token)).act as { sub?: string } | undefined)?.sub, 'service-a', 'the exchanged token names service-a as actor')
  await tokenOk('token exchange, impersonation', { ...exchange({}), ...(await assertion(keyA2)) })
  const tampered = `${userToken.slice(0, -4)}${userToken.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
  needles.jwt('a tampered subject token', tampered)
  await expectReply(endpoint.token, 'token exchange, tampered subject token', { ...exchange({ subject_token: tampered }), ...(await assertion(keyA2)) }, {}, 400, 'invalid_grant')
  await expectReply(endpoint.token, 'token exchange, a refresh token as subject', { ...exchange({ subject_token: cookie1, subject_token_type: REFRESH_TOKEN_TYPE }), ...(await assertion(keyA2)) }, {}, 400, 'invalid_request')
  await expectReply(endpoint.token, 'token exchange, another client\'s token as actor',
    { ...exchange({ actor_token: String(svcToken.body.access_token), actor_token_type: ACCESS_TOKEN_TYPE }), ...(await assertion(keyA2)) }, {}, 400, 'invalid_grant')
  await introspect('service-a (a resource) introspects alice\'s token', { token: userToken, ...(await assertion(keyA2)) }, {}, true)
  await expectReply(endpoint.revoke, 'service-a revokes its own token', { token: actorToken, ...(await assertion(keyA2)) }, {}, 200)

  // ---- cookie mode continued: refresh with the cookie, a request without Origin, sign-out -----------------------------
  const refreshed = await tokenOk('the SPA refreshes with its cookie', { grant_type: 'refresh_token', client_id: 'web' }, { ...spa, cookie: `${COOKIE}=${cookie1}` })
  const cookie2 = cookieOf(refreshed)
  t.equal(cookie2.length, 43, 'the refresh cookie is rotated')
  await expectReply(endpoint.token, 'a cookie refresh without Origin', { grant_type: 'refresh_token', client_id: 'web' }, { cookie: `${COOKIE}=${cookie2}` }, 400, 'invalid_request')
  await expectReply(endpoint.signOut, 'the SPA signs out', { client_id: 'web' }, { ...spa, cookie: `${COOKIE}=${cookie2}` }, 200)
  await expectReply(endpoint.token, 'the signed-out cookie', { grant_type: 'refresh_token', client_id: 'web' }, { ...spa, cookie: `${COOKIE}=${cookie2}` }, 400, 'invalid_grant')

  // ---- /metrics behind its bearer token --------------------------------------------------------------------------------
  const wrongMetricsToken = distinct('logscan-wrong-metrics-token')
  needles.add('a wrong metrics token', wrongMetricsToken)
  const scrape = (authorization?: string): Promise<Response> => fetch(endpoint.metrics, { headers: authorization ? { authorization } : {} })
  const scraped = await scrape(`Bearer ${metricsToken}`)
  t.equal(scraped.status, 200, '/metrics with its token')
  t.ok((await scraped.text()).includes('keyturn_'), '/metrics serves keyturn metrics')
  t.equal((await scrape(`Bearer ${wrongMetricsToken}`)).status, 401, '/metrics with a wrong token')
  t.equal((await scrape()).status, 401, '/metrics without a token')

  // ---- keys: a forced rotation and a listing, while the server runs ------------------------------------------------------
  await cli(ROTATE_KEYS, ['rotate', '--force'])
  await cli(ROTATE_KEYS, ['list'])
  await cli(ROTATE_KEYS, ['list', '--json'])
  await tokenOk('svc-basic after the rotation', { grant_type: 'client_credentials' }, basic('svc-basic', secrets.basic))

  // ---- a rotated secret; the old one, a malformed Basic secret, credentials in the query string --------------------------
  const rotated = await admin(['clients', 'rotate-secret', 'svc-post', '--json'], { printsSecret: true })
  const newPostSecret = String((JSON.parse(rotated.stdout || '{}') as { client_secret?: unknown }).client_secret)
  needles.clientSecret('the rotated client secret of svc-post', 'svc-post', newPostSecret)
  await tokenOk('svc-post with its rotated secret', { grant_type: 'client_credentials', client_id: 'svc-post', client_secret: newPostSecret })
  await expectReply(endpoint.token, 'svc-post with its old secret', { grant_type: 'client_credentials', client_id: 'svc-post', client_secret: secrets.post }, {}, 401, 'invalid_client')
  const malformedSecret = `%zz${distinct('malformed-basic-secret')}`
  needles.clientSecret('a malformed Basic secret', 'svc-post', malformedSecret)
  const malformedPair = Buffer.from(`svc-post:${malformedSecret}`).toString('base64')
  needles.add('a malformed Basic secret (as sent)', malformedPair)
  await expectReply(endpoint.token, 'a Basic header with a malformed secret', { grant_type: 'client_credentials' }, { authorization: `Basic ${malformedPair}` }, 401, 'invalid_client')
  const notBase64 = `${distinct('not-base64-basic-credentials')}!!`
  needles.add('a Basic header that is not base64', notBase64)
  await expectReply(endpoint.token, 'a Basic header that is not base64', { grant_type: 'client_credentials' }, { authorization: `Basic ${notBase64}` }, 401, 'invalid_client')
  const querySecret = distinct('logscan-query-string-secret')
  needles.add('a client secret sent in the query string', querySecret)
  const queried = await fetch(`${endpoint.token}?client_id=svc-post&client_secret=${querySecret}`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
  })
  t.equal(queried.status, 401, 'credentials in the query string are not accepted')

  // ---- wrong passwords, then wrong client secrets, until the failed-authentication limit answers 429 ------------------
  // Failures are counted once a response has gone out, so on PostgreSQL a quick next attempt may still be judged
  // against the previous count: attempts go on until the 429 (at most `MAX_ATTEMPTS`), then stop.
  const MAX_ATTEMPTS = 6
  const limited = (statuses: number[]): boolean => statuses.at(-1) === 429
  const bobSignIn = (what: string, secret: string): Promise<Reply> => post(endpoint.token, what, { ...password('bob', secret), client_id: 'web' }, spa)
  const passwordStatuses = [(await bobSignIn('bob, his replaced password', passwords.bobOld)).status, (await bobSignIn('bob, his password', passwords.bob)).status]
  while (!limited(passwordStatuses) && passwordStatuses.length < MAX_ATTEMPTS + 2) {
    const wrong = distinct(`wrong pw ${passwordStatuses.length - 1}+&=`)
    needles.credential(`wrong password #${passwordStatuses.length - 1}`, wrong)
    passwordStatuses.push((await bobSignIn(`wrong password #${passwordStatuses.length - 1}`, wrong)).status)
  }
  const failedSignIns = passwordStatuses.filter((status) => status === 400).length
  t.same(passwordStatuses.slice(0, 4), [400, 200, 400, 400], 'bob: the replaced password fails, the new one works, wrong ones fail')
  t.ok(limited(passwordStatuses) && failedSignIns >= 3 && passwordStatuses.slice(2, -1).every((status) => status === 400),
    `wrong passwords until the limit: ${passwordStatuses.join(' ')}`)

  const wrongStatuses: number[] = []
  while (!limited(wrongStatuses) && wrongStatuses.length < MAX_ATTEMPTS) {
    const index = wrongStatuses.length + 1
    const wrong = distinct(`wrong secret ${index}${'+/&='[index % 4]}`)
    needles.clientSecret(`wrong client secret #${index}`, 'svc-basic', wrong)
    // Alternately in a Basic header and in the body.
    const [form, headers] = index % 2 === 1
      ? [{ grant_type: 'client_credentials' }, basic('svc-basic', wrong)]
      : [{ grant_type: 'client_credentials', client_id: 'svc-basic', client_secret: wrong }, {}]
    wrongStatuses.push((await post(endpoint.token, `wrong client secret #${index}`, form, headers)).status)
  }
  t.ok(limited(wrongStatuses) && wrongStatuses.length >= 4 && wrongStatuses.slice(0, -1).every((status) => status === 401),
    `wrong client secrets: refusals, then the failed-authentication limit: ${wrongStatuses.join(' ')}`)

  // ---- stop, then scan ------------------------------------------------------------------------------------------------------
  const exit = await server.stop()
  t.same(exit, { code: 0, signal: null }, 'SIGTERM: the server exits 0')
  await t.rejects(access(join(env.KEYTURN_KEYS_DIR!, '.encryption-secret')), 'no development secret file: the configured KEK is used')

  // ---- start-up refused over a secret-bearing setting: the message names the variable, never its value ----------------
  const badUrlPassword = distinct('logscan-mysql-password')
  const shortKek = distinct('short-kek')
  const spacedToken = `${distinct('logscan-metrics-token-with')} ${distinct('a-space')}`
  const misconfigurations: Misconfiguration[] = [
    { what: 'a DATABASE_URL that is not postgres://', script: SERVER, args: [], env: { DATABASE_URL: `mysql://keyturn:${badUrlPassword}@127.0.0.1:3306/keyturn` }, expect: 1,
      needles: [{ label: 'the password of a mysql:// DATABASE_URL', value: badUrlPassword }] },
    { what: 'a KEYTURN_KEY_ENCRYPTION_SECRET under 32 characters', script: SERVER, args: [], env: { KEYTURN_KEY_ENCRYPTION_SECRET: shortKek }, expect: 1,
      needles: [{ label: 'a too-short KEYTURN_KEY_ENCRYPTION_SECRET', value: shortKek }] },
    { what: 'a KEYTURN_METRICS_TOKEN with a space', script: SERVER, args: [], env: { KEYTURN_METRICS_TOKEN: spacedToken }, expect: 1,
      needles: spacedToken.split(' ').map((part, index) => ({ label: `part ${index + 1} of a KEYTURN_METRICS_TOKEN with a space`, value: part })) },
    ...storeMisconfigurations,
  ]
  for (const bad of misconfigurations) {
    for (const needle of bad.needles) needles.add(needle.label, needle.value)
    const result = await runCli({ ...env, ...bad.env }, bad.script, bad.args)
    cliRuns.push({ name: `${bad.script === SERVER ? 'server' : `rotate-keys ${bad.args.join(' ')}`} with ${bad.what}`, result, printsSecret: false })
    if (bad.expect !== undefined) t.equal(result.code, bad.expect, `${bad.what}: exit ${bad.expect}`, { diagnostic: result.code !== bad.expect, stderr: needles.mask(result.stderr) })
  }

  const haystacks: Haystack[] = [
    { label: 'server stdout', text: server.stdout() },
    { label: 'server stderr', text: server.stderr() },
    ...cliRuns.map((run) => ({ label: `stderr of ${run.name}`, text: run.result.stderr })),
    ...cliRuns.filter((run) => !run.printsSecret).map((run) => ({ label: `stdout of ${run.name}`, text: run.result.stdout })),
  ]
  const found = haystacks.flatMap((hay) => needles.list.filter((needle) => hay.text.includes(needle.value)).map((needle) => ({ needle, hay })))
  const leaks = found.map(({ needle, hay }) => `${needle.label} in ${hay.label}`)
  // Where each leak is, with every known secret replaced by its label: safe to print.
  const where = found.slice(0, 5).map(({ needle, hay }) => needles.mask(hay.text.split('\n').find((line) => line.includes(needle.value)) ?? ''))
  t.same(leaks, [], `none of ${needles.list.length} secrets appears in ${haystacks.length} outputs`, leaks.length > 0 ? { diagnostic: true, where } : {})
  t.ok(needles.list.length >= 100, `${needles.list.length} needles were scanned for`)
  t.same(haystacks.filter((hay) => PRIVATE_MEMBER_IN_JSON.test(hay.text)).map((hay) => hay.label), [], 'no private key member (d, p, q, … privateJwe) in any output')
  t.same(haystacks.filter((hay) => hay.text.includes('scrypt$')).map((hay) => hay.label), [], 'no password hash in any output')
  // The outputs that print a new secret by design print exactly that one, once.
  for (const run of cliRuns.filter((entry) => entry.printsSecret)) {
    const shown = needles.list.filter((needle) => run.result.stdout.includes(needle.value)).map((needle) => needle.label)
    t.equal(shown.length, 1, `stdout of ${run.name} shows one secret (${shown.join(', ')})`)
  }

  // The scenario really ran: the audit trail of what was done above.
  const lines = jsonLines(server.stdout())
  t.ok(lines.length > 50, `${lines.length} JSON log lines from the server`)
  const events = (event: string): Record<string, unknown>[] => lines.filter((line) => line.event === event)
  const audited = events('token.issued').map((line) => String(line.jti))
  t.equal(audited.length, issued.length, `one token.issued line per token issued (${issued.length})`)
  t.same(issued.filter((jti) => !audited.includes(jti)).length, 0, 'every issued jti is audited')
  t.ok(issued.length >= 15, `${issued.length} access tokens, ${refreshCount} refresh tokens, ${cookieCount} refresh cookies were issued`)
  t.equal(events('security.refresh_reuse').length, 1, 'the reused refresh token was detected')
  t.same(events('rate_limited').map((line) => line.scope), ['auth_failure', 'auth_failure'], 'both attacks hit the failed-authentication limit')
  t.equal(events('login.failed').length, failedSignIns, `every failed sign-in logged (${failedSignIns})`)
  t.equal(events('token.exchanged').length, 2, 'two token exchanges logged')
  t.ok(events('token.revoked').length >= 2, 'access-token revocations logged')
  t.ok(events('refresh.family_revoked').length >= 2, 'refresh-family revocations (revoke, sign-out) logged')
  t.ok(events('metrics.unauthorized').length >= 2, 'refused scrapes logged')
  t.ok(lines.some((line) => line.msg === 'request completed'), 'the access log ran')
  t.ok(lines.some((line) => (line.req as { url?: unknown } | undefined)?.url === '/token?[redacted]'), 'the request with credentials in its query string is logged, query censored')
  t.comment(`the ${name} scenario took ${Date.now() - started} ms`)
}

t.test('embedded store: no secret, token, password or private key member in any log of a full run', (t) => scenario(t, 'sqlite', {}, []))

t.test('PostgreSQL: the same run, and the DATABASE_URL password never appears either', { skip: TEST_DATABASE_URL ? false : SKIP_REASON }, async (t) => {
  const suffix = randomBytes(6).toString('hex')
  const database = `keyturn_logscan_${suffix}`
  const role = `keyturn_logscan_${suffix}`
  const dbPassword = distinct('logscan-db-password')
  const url = new URL(TEST_DATABASE_URL!)
  const needles: Needle[] = []
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  let ownRole = false
  try {
    // A role of our own with a distinctive password; a server that does not let us create roles gets the URL as it is.
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${dbPassword}'`)
    ownRole = true
  } catch {
    t.comment('cannot create a role here: scanning for the test DATABASE_URL itself')
  }
  await admin.query(`CREATE DATABASE ${database}${ownRole ? ` OWNER ${role}` : ''}`)
  await admin.end()
  t.teardown(async () => {
    const dropper = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await dropper.connect()
    await dropper.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    if (ownRole) await dropper.query(`DROP ROLE IF EXISTS ${role}`)
    await dropper.end()
  })
  if (ownRole) {
    url.username = role
    url.password = dbPassword
    needles.push({ label: 'the DATABASE_URL password', value: dbPassword })
  } else if (url.password.length >= 12) {
    needles.push({ label: 'the DATABASE_URL password', value: decodeURIComponent(url.password) })
  }
  url.pathname = `/${database}`
  needles.push({ label: 'DATABASE_URL', value: url.toString() })
  // The same role with a wrong password (refused, unless the test server trusts every local connection).
  const wrongPassword = distinct('logscan-wrong-db-password')
  const wrongUrl = new URL(url)
  wrongUrl.password = wrongPassword
  const misconfigurations: Misconfiguration[] = [{
    what: 'a wrong database password', script: ROTATE_KEYS, args: ['list'], env: { DATABASE_URL: wrongUrl.toString() },
    needles: [{ label: 'a wrong DATABASE_URL password', value: wrongPassword }, { label: 'a DATABASE_URL with a wrong password', value: wrongUrl.toString() }],
  }]
  await scenario(t, 'postgres', { DATABASE_URL: url.toString() }, needles, misconfigurations)
})
