import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { base64url } from 'jose'
import { buildTestIssuer, basic, form, post } from '../helper.js'
import { buildApp } from '../../src/app.js'
import { HTTP_LIMITS, type HttpLimits } from '../../src/http/limits.js'
import { createAccessTokenIssuer } from '../../src/tokens/access-token.js'
import { FUZZ_ENV, tripwire } from '../fuzz/helpers.js'

const FORM = 'application/x-www-form-urlencoded'
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const ORIGIN = 'https://app.example'
const PASSWORD = 'correct horse battery'
const b64 = (value: unknown): string => base64url.encode(typeof value === 'string' ? value : JSON.stringify(value))
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const basicRaw = (text: string): string => `Basic ${Buffer.from(text, 'latin1').toString('base64')}`

/** One hostile request and the answer it must get. `error: null` means a success status with no error body. */
interface Case {
  readonly name: string
  readonly request: InjectOptions
  readonly status: number
  readonly error: string | null
  /** The description must match this (a sanity check that it is the *clear* message, not any message). */
  readonly says?: RegExp
}

async function setup(t: Parameters<typeof buildTestIssuer>[0]) {
  // Rate limits off: this table makes dozens of failed authentications from one address on purpose.
  const issuer = await buildTestIssuer(t, FUZZ_ENV)
  const svc = await issuer.addClient({ id: 'svc', grantTypes: ['client_credentials', TE], scopes: ['orders:read'], audiences: ['https://orders.example'], resources: ['https://orders.example'], exchangeAudiences: ['https://billing.example'] })
  await issuer.addClient({ id: 'spa', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], scopes: ['orders:read'], audiences: ['https://orders.example'] })
  await issuer.addClient({ id: 'browser', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], refreshCookie: true, origins: [ORIGIN] })
  await issuer.addUser('alice', PASSWORD)
  const access = (await post(issuer, '/token', { grant_type: 'client_credentials' }, { authorization: basic('svc', svc) })).json().access_token as string
  return { issuer, svc, access }
}

/** Every JWT shape an attacker might hand an endpoint that takes a token. */
function hostileTokens(access: string): Array<[string, string]> {
  const [h, p, s] = access.split('.') as [string, string, string]
  return [
    ['bad base64 in the header', `${h}*.${p}.${s}`],
    ['header not JSON', `${b64('{"alg":')}.${p}.${s}`],
    ['header a JSON array', `${b64([1, 2])}.${p}.${s}`],
    ['alg none', `${b64({ alg: 'none', typ: 'at+jwt' })}.${p}.`],
    ['crit header', `${b64({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), crit: ['urn:x'], 'urn:x': 1 })}.${p}.${s}`],
    ['deeply nested JSON payload', `${h}.${b64(`${'['.repeat(10_000)}${']'.repeat(10_000)}`)}.${s}`],
    ['deeply nested JSON header', `${b64(`${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`)}.${p}.${s}`],
    ['signature from another token', `${h}.${b64({ sub: 'admin' })}.${s}`],
    ['last signature character changed in its unused bits (same bytes, another spelling)', `${access.slice(0, -1)}${B64URL[B64URL.indexOf(access.at(-1)!) ^ 1]}`],
    ['five segments', `${access}.a.b`],
    ['huge (60 KB)', `${h}.${'A'.repeat(60_000)}.${s}`],
  ]
}

function tableFor(svc: string, access: string): Case[] {
  const auth = { authorization: basic('svc', svc) }
  const formPost = (url: string, payload: string | Buffer, headers: Record<string, string> = {}): InjectOptions =>
    ({ method: 'POST', url, headers: { 'content-type': FORM, ...headers }, payload })
  const cases: Case[] = []
  for (const url of ['/token', '/introspect', '/revoke', '/token/sign-out']) {
    cases.push(
      { name: `${url}: JSON body`, request: { method: 'POST', url, headers: { 'content-type': 'application/json', ...auth }, payload: '{"grant_type":"client_credentials","token":"x"}' }, status: 400, error: 'invalid_request', says: /Content-Type must be application\/x-www-form-urlencoded/ },
      { name: `${url}: deeply nested JSON (never parsed)`, request: { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '['.repeat(60_000) }, status: 400, error: 'invalid_request', says: /Content-Type must be/ },
      { name: `${url}: JSON with a charset`, request: { method: 'POST', url, headers: { 'content-type': 'application/json; charset=utf-8' }, payload: '{}' }, status: 400, error: 'invalid_request', says: /Content-Type/ },
      { name: `${url}: multipart`, request: { method: 'POST', url, headers: { 'content-type': 'multipart/form-data; boundary=x', ...auth }, payload: '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nx\r\n--x--' }, status: 400, error: 'invalid_request', says: /Content-Type/ },
      { name: `${url}: text/plain`, request: { method: 'POST', url, headers: { 'content-type': 'text/plain' }, payload: 'token=x' }, status: 400, error: 'invalid_request', says: /Content-Type/ },
      { name: `${url}: body without a content type`, request: { method: 'POST', url, payload: 'token=x' }, status: 400, error: 'invalid_request', says: /Content-Type/ },
      { name: `${url}: no body at all`, request: { method: 'POST', url, headers: auth }, status: 400, error: 'invalid_request', says: /application\/x-www-form-urlencoded/ },
      { name: `${url}: form in latin-1`, request: formPost(url, 'token=x', { 'content-type': `${FORM}; charset=iso-8859-1` }), status: 400, error: 'invalid_request', says: /UTF-8/ },
      { name: `${url}: gzip-encoded form`, request: formPost(url, Buffer.from([0x1f, 0x8b, 8, 0]), { 'content-encoding': 'gzip' }), status: 400, error: 'invalid_request', says: /Content-Encoding/ },
      { name: `${url}: oversized body`, request: formPost(url, `token=${'a'.repeat(HTTP_LIMITS.bodyBytes)}`, auth), status: 413, error: 'invalid_request', says: /exceeds 65536 bytes/ },
      { name: `${url}: 10 MB token`, request: formPost(url, `token=${'eyJ'.repeat(3_500_000)}`, auth), status: 413, error: 'invalid_request', says: /exceeds/ },
      { name: `${url}: duplicate parameter`, request: formPost(url, 'token=a&token=b&grant_type=client_credentials', auth), status: 400, error: 'invalid_request', says: /"token" is repeated/ },
      { name: `${url}: duplicate client_id`, request: formPost(url, 'client_id=spa&client_id=spa&token=a&grant_type=client_credentials'), status: 400, error: 'invalid_request', says: /"client_id" is repeated/ },
      { name: `${url}: invalid percent-encoding`, request: formPost(url, 'token=%zz&grant_type=client_credentials', auth), status: 400, error: 'invalid_request', says: /malformed percent-encoding/ },
      { name: `${url}: a lone %`, request: formPost(url, 'grant_type=client_credentials&token=50%', auth), status: 400, error: 'invalid_request', says: /"token" has malformed percent-encoding/ },
      { name: `${url}: percent-encoded non-UTF-8`, request: formPost(url, 'token=%FF%FE&grant_type=client_credentials', auth), status: 400, error: 'invalid_request', says: /not valid UTF-8/ },
      { name: `${url}: raw non-UTF-8 bytes`, request: formPost(url, Buffer.from([0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x3d, 0xc3, 0x28]), auth), status: 400, error: 'invalid_request', says: /not valid UTF-8/ },
      { name: `${url}: encoded lone surrogate`, request: formPost(url, 'token=%ED%A0%80', auth), status: 400, error: 'invalid_request', says: /not valid UTF-8/ },
      { name: `${url}: NUL byte`, request: formPost(url, 'client_id=sp%00a&token=x&grant_type=client_credentials'), status: 400, error: 'invalid_request', says: /"client_id" contains a control character/ },
      { name: `${url}: raw NUL byte`, request: formPost(url, Buffer.from('client_id=sp\u0000a&token=x'), {}), status: 400, error: 'invalid_request', says: /control character/ },
      { name: `${url}: too many parameters`, request: formPost(url, Array.from({ length: 100 }, (_, i) => `p${i}=1`).join('&'), auth), status: 400, error: 'invalid_request', says: /too many parameters/ },
      { name: `${url}: Basic, not base64`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: 'Basic !!!' }), status: 401, error: 'invalid_client', says: /malformed Basic/ },
      { name: `${url}: Basic without a colon`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: basicRaw('svc') }), status: 401, error: 'invalid_client', says: /malformed Basic/ },
      { name: `${url}: Basic with an empty id`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: basicRaw(':secret') }), status: 401, error: 'invalid_client', says: /malformed Basic/ },
      { name: `${url}: Basic with broken percent-encoding (RFC 6749 §2.3.1)`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: basicRaw('svc:%zz') }), status: 401, error: 'invalid_client', says: /malformed client credentials/ },
      { name: `${url}: Basic with percent-encoded non-UTF-8`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: basicRaw('%FF:%FE') }), status: 401, error: 'invalid_client', says: /malformed client credentials/ },
      { name: `${url}: Basic with a NUL in the id`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: basicRaw('svc%00:x') }), status: 401, error: 'invalid_client', says: /malformed client credentials/ },
      { name: `${url}: Basic with nothing after it`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: 'Basic ' }), status: 401, error: 'invalid_client', says: /malformed Basic/ },
      { name: `${url}: huge Authorization header`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: `Basic ${'QUFB'.repeat(25_000)}` }), status: 401, error: 'invalid_client', says: /malformed Basic/ },
      { name: `${url}: Bearer instead of client credentials`, request: formPost(url, 'token=x&grant_type=client_credentials', { authorization: `Bearer ${access}` }), status: 401, error: 'invalid_client', says: /use Basic/ },
      { name: `${url}: no client authentication`, request: formPost(url, 'token=x&grant_type=client_credentials'), status: 401, error: 'invalid_client', says: /client authentication required/ },
      { name: `${url}: two authentication methods`, request: formPost(url, 'token=x&grant_type=client_credentials&client_secret=x&client_id=svc', auth), status: 400, error: 'invalid_request', says: /one client authentication method/ },
      { name: `${url}: client_assertion that is not a JWT`, request: formPost(url, form({ token: 'x', grant_type: 'client_credentials', client_assertion: 'not.a.jwt', client_assertion_type: JWT_BEARER })), status: 401, error: 'invalid_client', says: /not a JWT/ },
      { name: `${url}: client_assertion with alg none`, request: formPost(url, form({ token: 'x', grant_type: 'client_credentials', client_assertion: `${b64({ alg: 'none' })}.${b64({ sub: 'svc', iss: 'svc' })}.`, client_assertion_type: JWT_BEARER })), status: 401, error: 'invalid_client', says: /./ },
      { name: `${url}: client_assertion whose sub holds a NUL`, request: formPost(url, form({ token: 'x', grant_type: 'client_credentials', client_assertion: `${b64({ alg: 'ES256' })}.${b64({ sub: 's\u0000vc' })}.AAAA`, client_assertion_type: JWT_BEARER })), status: 401, error: 'invalid_client', says: /not a client_id/ },
      { name: `${url}: client_assertion of deeply nested JSON`, request: formPost(url, form({ token: 'x', grant_type: 'client_credentials', client_assertion: `${b64({ alg: 'ES256' })}.${b64(`${'['.repeat(5000)}${']'.repeat(5000)}`)}.AAAA`, client_assertion_type: JWT_BEARER })), status: 401, error: 'invalid_client', says: /client_assertion/ },
    )
  }

  // /token: grants.
  const token = (payload: string | Buffer, headers: Record<string, string> = auth): InjectOptions => formPost('/token', payload, headers)
  cases.push(
    { name: '/token: unknown grant', request: token('grant_type=implicit'), status: 400, error: 'unsupported_grant_type', says: /"implicit" is not supported/ },
    { name: '/token: authorization_code (no such endpoint here)', request: token('grant_type=authorization_code&code=x'), status: 400, error: 'unsupported_grant_type', says: /not supported/ },
    { name: '/token: grant named after a prototype member', request: token('grant_type=__proto__'), status: 400, error: 'unsupported_grant_type', says: /not supported/ },
    { name: '/token: a 60 KB grant type', request: token(`grant_type=${'x'.repeat(60_000)}`), status: 400, error: 'unsupported_grant_type', says: /not supported/ },
    { name: '/token: grant_type missing', request: token('scope=orders:read'), status: 400, error: 'invalid_request', says: /grant_type is required/ },
    { name: '/token: grant_type only in the query string', request: { ...token(''), url: '/token?grant_type=client_credentials' }, status: 400, error: 'invalid_request', says: /grant_type is required/ },
    { name: '/token: a 60 KB scope', request: token(`grant_type=client_credentials&scope=${'s'.repeat(60_000)}`), status: 400, error: 'invalid_scope', says: /./ },
    { name: '/token: prototype-named parameters are ignored', request: token('grant_type=client_credentials&__proto__=x&constructor=y&toString=z'), status: 200, error: null },
    { name: '/token: refresh token that is not one', request: token(form({ grant_type: 'refresh_token', client_id: 'spa', refresh_token: 'x'.repeat(10_000) }), {}), status: 400, error: 'invalid_grant', says: /refresh token is invalid/ },
    { name: '/token: password with CR LF in the username', request: token(form({ grant_type: 'password', client_id: 'spa', username: 'alice\r\nx', password: PASSWORD }), {}), status: 400, error: 'invalid_request', says: /control character/ },
    { name: '/token: U+FFFD is a character like any other, not an encoding error', request: token('grant_type=client_credentials&scope=%EF%BF%BD'), status: 400, error: 'invalid_scope', says: /./ },
    { name: '/token: a UTF-8 byte order mark is dropped', request: token(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('grant_type=client_credentials')])), status: 200, error: null },
    { name: '/token: repeated resource is fine, repeated scope is not', request: token('grant_type=client_credentials&scope=orders:read&scope=orders:read'), status: 400, error: 'invalid_request', says: /"scope" is repeated/ },
  )
  for (const [name, bad] of hostileTokens(access)) {
    cases.push(
      { name: `/token: exchange of a subject token with ${name}`, request: token(form({ grant_type: TE, subject_token: bad, subject_token_type: AT, audience: 'https://billing.example' })), status: bad.length > HTTP_LIMITS.bodyBytes ? 413 : 400, error: bad.length > HTTP_LIMITS.bodyBytes ? 'invalid_request' : 'invalid_grant', says: /./ },
      { name: `/introspect: token with ${name} is inactive`, request: formPost('/introspect', form({ token: bad }), auth), status: 200, error: null },
      { name: `/revoke: token with ${name} is a no-op (RFC 7009 §2.2)`, request: formPost('/revoke', form({ token: bad }), auth), status: 200, error: null },
    )
  }
  cases.push(
    { name: '/introspect: token missing', request: formPost('/introspect', 'token_type_hint=access_token', auth), status: 400, error: 'invalid_request', says: /token is required/ },
    { name: '/introspect: public client', request: formPost('/introspect', form({ token: access, client_id: 'spa' })), status: 401, error: 'invalid_client', says: /public clients may not introspect/ },
    { name: '/introspect: unknown token_type_hint is ignored', request: formPost('/introspect', form({ token: 'x', token_type_hint: 'id_token' }), auth), status: 200, error: null },
    { name: '/revoke: token missing', request: formPost('/revoke', '', auth), status: 400, error: 'invalid_request', says: /token is required/ },
    { name: '/revoke: unknown token_type_hint is ignored', request: formPost('/revoke', form({ token: 'x', token_type_hint: 'id_token' }), auth), status: 200, error: null },
    { name: '/token/sign-out: refresh cookie without an Origin', request: formPost('/token/sign-out', 'client_id=browser', { cookie: 'keyturn_refresh=x' }), status: 400, error: 'invalid_request', says: /registered origin/ },
    { name: '/token/sign-out: garbage cookies', request: formPost('/token/sign-out', 'client_id=browser', { cookie: 'keyturn_refresh=%zz%FF; keyturn_refresh=; =;;a', origin: ORIGIN }), status: 200, error: null },
  )
  return cases
}

t.test('hostile requests to every POST endpoint get a clear RFC error, never a 5xx', async (t) => {
  const { issuer, svc, access } = await setup(t)
  const wire = tripwire(t)
  for (const c of tableFor(svc, access)) {
    const response = await issuer.app.inject(c.request)
    t.equal(response.statusCode, c.status, `${c.name}: status`)
    t.equal(response.headers['cache-control'], 'no-store', `${c.name}: no-store`)
    if (c.error === null) continue
    const body = response.json() as { error: string; error_description: string }
    t.equal(body.error, c.error, `${c.name}: error`)
    t.match(body.error_description, c.says ?? /./, `${c.name}: says why`)
    if (c.error === 'invalid_client') t.match(response.headers['www-authenticate'], /^Basic realm="keyturn"/, `${c.name}: challenge`)
  }
  const inactive = await issuer.app.inject({ method: 'POST', url: '/introspect', headers: { 'content-type': FORM, authorization: basic('svc', svc) }, payload: form({ token: hostileTokens(access)[3]![1] }) })
  t.same(inactive.json(), { active: false }, 'an alg-none copy of a live token is inactive')
  const live = await issuer.app.inject({ method: 'POST', url: '/introspect', headers: { 'content-type': FORM, authorization: basic('svc', svc) }, payload: form({ token: access }) })
  t.equal(live.json().active, true, 'the live token itself still is active (nothing above revoked it)')
  await wire.check()
  t.pass('no unhandled rejection')
})

t.test('GET endpoints, unknown paths and wrong methods', async (t) => {
  const { issuer } = await setup(t)
  const gets = ['/.well-known/jwks.json', '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/healthz', '/readyz']
  for (const url of gets) {
    for (const [name, request] of [
      ['junk query', { url: `${url}?%zz=%FF&a[b][c]=1&${'x'.repeat(5000)}` }],
      ['a JSON body', { url, method: 'GET', headers: { 'content-type': 'application/json' }, payload: '['.repeat(10_000) }],
      ['hostile If-None-Match', { url, headers: { 'if-none-match': `W/${'"x",'.repeat(2000)}*` } }],
      ['HEAD', { url, method: 'HEAD' }],
    ] as Array<[string, InjectOptions]>) {
      const response = await issuer.app.inject(request)
      t.ok([200, 304].includes(response.statusCode), `${url} ${name}: ${response.statusCode}`)
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'] as const) {
      const response = await issuer.app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: '{' })
      t.equal(response.statusCode, 404, `${method} ${url}`)
      t.equal(response.json().error, 'invalid_request', `${method} ${url}: error`)
      t.match(response.json().error_description, new RegExp(`no route ${method}`), `${method} ${url}: says why`)
    }
  }
  for (const [method, url] of [['GET', '/token'], ['PUT', '/token'], ['DELETE', '/revoke'], ['GET', '/introspect'], ['PATCH', '/token/sign-out'], ['GET', '/nope'], ['POST', '/nope'], ['GET', '//token'], ['GET', '/.well-known/jwks.json%00'], ['GET', `/${'a'.repeat(10_000)}`]] as const) {
    const response = await issuer.app.inject({ method, url })
    t.equal(response.statusCode, 404, `${method} ${url.slice(0, 40)}`)
    t.equal(response.json().error, 'invalid_request', `${method} ${url.slice(0, 40)}: error`)
    t.ok(response.json().error_description.length <= 200, `${method} ${url.slice(0, 40)}: the path is not echoed in full`)
  }
  for (const url of ['/%zz', '/token%', '/.well-known/%E0%A4%A']) {
    const response = await issuer.app.inject({ method: 'GET', url })
    t.equal(response.statusCode, 400, `${url}: bad percent-encoding in the path`)
    t.equal(response.headers['cache-control'], 'no-store', `${url}: no-store`)
    t.same(response.json(), { error: 'invalid_request', error_description: 'the request path is not valid percent-encoding' }, `${url}: an RFC error body, not Fastify's`)
  }
})

/** Sends raw bytes on a fresh connection; resolves with what came back and when the server closed it. */
function rawExchange(port: number, chunks: string, giveUpMs: number): Promise<{ text: string; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const started = Date.now()
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ text, closedAfterMs: undefined })
    }, giveUpMs)
    socket.on('data', (data) => { text += data.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ text, closedAfterMs: Date.now() - started })
    })
    socket.write(chunks)
  })
}

const bodyOf = (text: string): unknown => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))

/** Listens on 127.0.0.1:0 (closing is the teardown of whoever built the app). */
async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

t.test('the limits are explicit on the listening server', async (t) => {
  const { issuer } = await setup(t)
  await listen(issuer.app)
  const server = issuer.app.server
  t.equal((server as unknown as { maxHeaderSize: number }).maxHeaderSize, HTTP_LIMITS.headerBytes, 'maxHeaderSize')
  t.equal(server.headersTimeout, HTTP_LIMITS.headersTimeoutMs, 'headersTimeout')
  t.equal(server.requestTimeout, HTTP_LIMITS.requestTimeoutMs, 'requestTimeout')
  t.equal(server.keepAliveTimeout, HTTP_LIMITS.keepAliveTimeoutMs, 'keepAliveTimeout')
  t.equal(server.timeout, HTTP_LIMITS.idleTimeoutMs, 'idle socket timeout')
  t.ok(HTTP_LIMITS.headersTimeoutMs <= HTTP_LIMITS.requestTimeoutMs, 'Node requires headersTimeout <= requestTimeout')
})

t.test('a real socket: oversized headers, garbage and lying lengths are refused at once', async (t) => {
  const { issuer } = await setup(t)
  const port = await listen(issuer.app)
  const big = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: ${'a'.repeat(HTTP_LIMITS.headerBytes)}\r\n\r\n`, 5000)
  t.match(big.text, /^HTTP\/1\.1 431 /, 'oversized headers: 431')
  t.match(big.text, /cache-control: no-store/)
  t.same(bodyOf(big.text), { error: 'invalid_request', error_description: `the request line and headers exceed ${HTTP_LIMITS.headerBytes} bytes` })
  t.ok(big.closedAfterMs !== undefined, 'and the connection is closed')

  const url = await rawExchange(port, `GET /${'a'.repeat(HTTP_LIMITS.headerBytes)} HTTP/1.1\r\nHost: a\r\n\r\n`, 5000)
  t.match(url.text, /^HTTP\/1\.1 431 /, 'a 16 KB URL: 431 (the request line counts)')

  const authorization = await rawExchange(port, `POST /token HTTP/1.1\r\nHost: a\r\nAuthorization: Basic ${'QUFB'.repeat(5000)}\r\nContent-Length: 0\r\n\r\n`, 5000)
  t.match(authorization.text, /^HTTP\/1\.1 431 /, 'a 20 KB Authorization header: 431')

  const garbage = await rawExchange(port, 'HELLO WORLD\r\n\r\n', 5000)
  t.match(garbage.text, /^HTTP\/1\.1 400 /, 'not HTTP: 400')
  t.same(bodyOf(garbage.text), { error: 'invalid_request', error_description: 'malformed HTTP request' })

  const smuggle = await rawExchange(port, 'POST /token HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde', 5000)
  t.match(smuggle.text, /^HTTP\/1\.1 400 /, 'two different Content-Lengths: 400')

  const chunk = `4000\r\n${'a'.repeat(0x4000)}\r\n`
  const chunked = await rawExchange(port, `POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.repeat(5)}0\r\n\r\n`, 5000)
  t.match(chunked.text, /^HTTP\/1\.1 413 /, 'a chunked body (no Content-Length) is cut at the limit too')

  const badChunk = await rawExchange(port, `POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n`, 5000)
  t.same(bodyOf(badChunk.text), { error: 'invalid_request', error_description: 'malformed HTTP request' }, 'a malformed chunk: 400')

  const announced = await rawExchange(port, `POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: ${FORM}\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n`, 5000)
  t.match(announced.text, /^HTTP\/1\.1 413 /, 'a 10 MB Content-Length is refused before any of it is read')
  t.same(bodyOf(announced.text), { error: 'invalid_request', error_description: `the request body exceeds ${HTTP_LIMITS.bodyBytes} bytes` })
})

t.test('a real socket: half-sent requests are cut within the bound (slowloris)', async (t) => {
  const { issuer } = await setup(t)
  const wire = tripwire(t)
  // The production limits, shortened so the test takes seconds: the mechanism is the same.
  const limits: HttpLimits = { ...HTTP_LIMITS, headersTimeoutMs: 600, requestTimeoutMs: 1200, timeoutCheckIntervalMs: 100 }
  const app = buildApp({
    config: issuer.config, store: issuer.runtime.store, keys: issuer.keys, clientSecretKey: issuer.runtime.clientSecretKey, now: issuer.clock.now,
    issueAccessToken: createAccessTokenIssuer({ issuer: issuer.config.issuer, keys: issuer.keys, now: issuer.clock.now }),
  }, { logger: false }, limits)
  t.teardown(() => app.close())
  const port = await listen(app)
  const slack = limits.timeoutCheckIntervalMs + 700

  const [silent, headers, body] = await Promise.all([
    rawExchange(port, '', 10_000),
    rawExchange(port, 'POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-', 10_000),
    rawExchange(port, `POST /token HTTP/1.1\r\nHost: a\r\nContent-Type: ${FORM}\r\nContent-Length: 100\r\n\r\ngrant_type=cli`, 10_000),
  ])
  for (const [name, outcome, bound] of [['silent connection', silent, limits.headersTimeoutMs], ['headers never finished', headers, limits.headersTimeoutMs], ['body never finished', body, limits.requestTimeoutMs]] as const) {
    t.ok(outcome.closedAfterMs !== undefined && outcome.closedAfterMs <= bound + slack, `${name}: closed after ${outcome.closedAfterMs} ms (bound ${bound} + ${slack})`)
    t.ok(outcome.closedAfterMs !== undefined && outcome.closedAfterMs >= bound - 50, `${name}: not before the bound`)
    t.match(outcome.text, /^HTTP\/1\.1 408 /, `${name}: 408`)
    t.same(bodyOf(outcome.text), { error: 'invalid_request', error_description: 'the request was not received in time' }, `${name}: RFC error body`)
  }
  const after = await app.inject({ url: '/healthz' })
  t.equal(after.statusCode, 200, 'the server is fine afterwards')
  await wire.check()
  t.pass('no unhandled rejection from the abandoned requests')
})
