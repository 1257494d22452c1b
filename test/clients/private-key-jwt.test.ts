import t from 'tap'
import { exportSPKI, SignJWT } from 'jose'
import { buildTestIssuer, basic, post, type TestIssuer } from '../helper.js'
import type { ClientRecord } from '../../src/clients/client.js'
import { assertionParams, deadUri, ISSUER, makeAssertion, makeClientKey, startJwksServer, TOKEN_ENDPOINT, type AssertionOptions, type ClientKey } from './helpers.js'

const es = await makeClientKey('ES256')
const rs = await makeClientKey('RS256')
const other = await makeClientKey('ES256')

/** Registers a private_key_jwt client (the helper would give it a secret; a key client has none). */
function addKeyClient(issuer: TestIssuer, client: Partial<ClientRecord> & { id: string }): Promise<string> {
  return issuer.addClient({ authMethods: ['private_key_jwt'], secretHash: undefined, ...client })
}

async function setup(t: Parameters<typeof buildTestIssuer>[0]) {
  // A table of refused assertions for one client from one address: the failed-authentication limit (tested in
  // test/routes/rate-limits.test.ts, assertion clients included) would answer 429 from the eleventh on.
  const issuer = await buildTestIssuer(t, { KEYTURN_RATE_LIMIT_AUTH_FAILURES: 'off' })
  await addKeyClient(issuer, { id: 'svc-es', jwks: { keys: [es.publicJwk as never] }, scopes: ['read'] })
  await addKeyClient(issuer, { id: 'svc-rs', jwks: { keys: [rs.publicJwk as never] } })
  const secret = await issuer.addClient({ id: 'svc-secret' })
  const assertion = (options: Partial<AssertionOptions> = {}) => makeAssertion({ clientId: 'svc-es', key: es, now: issuer.clock.now(), ...options })
  const token = (params: Record<string, string>, headers: Record<string, string> = {}) => post(issuer, '/token', { grant_type: 'client_credentials', ...params }, headers)
  return { issuer, secret, assertion, token }
}

t.test('a valid assertion authenticates (ES256 and RS256), aud may be the issuer or the token endpoint', async (t) => {
  const { issuer, assertion, token } = await setup(t)
  const ok = await token(assertionParams(await assertion()))
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().scope, 'read')
  const rsa = await token(assertionParams(await makeAssertion({ clientId: 'svc-rs', key: rs, now: issuer.clock.now() })))
  t.equal(rsa.statusCode, 200, 'RS256')
  for (const aud of [TOKEN_ENDPOINT, [ISSUER, 'https://other.example'], [TOKEN_ENDPOINT]]) {
    t.equal((await token(assertionParams(await assertion({ claims: { aud } })))).statusCode, 200, `aud ${JSON.stringify(aud)}`)
  }
  t.equal((await token({ ...assertionParams(await assertion()), client_id: 'svc-es' })).statusCode, 200, 'a matching client_id is fine')
  t.equal((await token(assertionParams(await assertion({ header: { typ: 'JWT' } })))).statusCode, 200, 'typ JWT')
  const noKid = await token(assertionParams(await assertion({ header: { kid: undefined } })))
  t.equal(noKid.statusCode, 200, 'no kid: the one fitting key is used')
})

t.test('every refused assertion is invalid_client, saying why', async (t) => {
  const { issuer, assertion } = await setup(t)
  const now = Math.floor(issuer.clock.now() / 1000)
  const pem = await exportSPKI(es.publicKey)
  const hs256 = await new SignJWT({ iss: 'svc-es', sub: 'svc-es', aud: ISSUER, jti: 'hs', exp: now + 60 })
    .setProtectedHeader({ alg: 'HS256', kid: es.kid }).sign(new TextEncoder().encode(pem))
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const none = `${b64({ alg: 'none', kid: es.kid })}.${b64({ iss: 'svc-es', sub: 'svc-es', aud: ISSUER, jti: 'none', exp: now + 60 })}.`
  const cases: [string, string][] = [
    ['wrong aud', await assertion({ claims: { aud: 'https://elsewhere.example/token' } })],
    ['expired', await assertion({ claims: { iat: now - 120, exp: now - 60 } })],
    ['too long-lived', await assertion({ claims: { exp: now + 600 } })],
    ['iat in the future', await assertion({ claims: { iat: now + 300, exp: now + 310 } })],
    ['nbf in the future', await assertion({ claims: { nbf: now + 120 } })],
    ['no exp', await assertion({ claims: { exp: undefined } })],
    ['no jti', await assertion({ claims: { jti: undefined } })],
    ['numeric jti', await assertion({ claims: { jti: 7 } })],
    ['iss differs from sub', await assertion({ claims: { iss: 'svc-rs' } })],
    ['alg none', none],
    ['HS256 keyed with the public key', hs256],
    ['a key not in the client JWKS', await makeAssertion({ clientId: 'svc-es', key: other, now: issuer.clock.now() })],
    ['a key not in the JWKS, under a registered kid', await makeAssertion({ clientId: 'svc-es', key: { ...other, kid: es.kid }, now: issuer.clock.now() })],
    ['another client key', await makeAssertion({ clientId: 'svc-es', key: rs, now: issuer.clock.now() })],
    ['typ at+jwt', await assertion({ header: { typ: 'at+jwt' } })],
    ['typ not a string', await assertion({ header: { typ: 7 } })],
    ['not a JWT', 'not-a-jwt'],
    ['unknown client', await makeAssertion({ clientId: 'ghost', key: es, now: issuer.clock.now() })],
    ['a secret client', await makeAssertion({ clientId: 'svc-secret', key: es, now: issuer.clock.now() })],
  ]
  for (const [name, jwt] of cases) {
    const response = await post(issuer, '/token', { grant_type: 'client_credentials', ...assertionParams(jwt) })
    t.equal(response.statusCode, 401, `${name}: 401`)
    t.equal(response.json().error, 'invalid_client', `${name}: invalid_client`)
    t.type(response.json().error_description, 'string', `${name}: described`)
    t.match(response.headers['www-authenticate'], /^Basic realm="keyturn"/, `${name}: challenge`)
  }
})

t.test('a jti is single-use, across endpoints', async (t) => {
  const { issuer, assertion, token } = await setup(t)
  const jwt = await assertion()
  t.equal((await token(assertionParams(jwt))).statusCode, 200)
  const replay = await token(assertionParams(jwt))
  t.equal(replay.statusCode, 401)
  t.equal(replay.json().error, 'invalid_client')
  t.equal((await post(issuer, '/introspect', { token: 'x', ...assertionParams(jwt) })).json().error, 'invalid_client', 'not at /introspect either')
  const sameJti = await assertion({ claims: { jti: 'fixed' } })
  t.equal((await token(assertionParams(sameJti))).statusCode, 200)
  const rsSameJti = await makeAssertion({ clientId: 'svc-rs', key: rs, now: issuer.clock.now(), claims: { jti: 'fixed' } })
  t.equal((await token(assertionParams(rsSameJti))).statusCode, 200, 'jtis are per client')
})

t.test('method mixing and malformed parameters', async (t) => {
  const { issuer, secret, assertion, token } = await setup(t)
  const jwt = await assertion()
  const cases: [string, Record<string, string>, Record<string, string>, number, string][] = [
    ['assertion + Basic', assertionParams(jwt), { authorization: basic('svc-secret', secret) }, 400, 'invalid_request'],
    ['assertion + client_secret', { ...assertionParams(jwt), client_id: 'svc-es', client_secret: secret }, {}, 400, 'invalid_request'],
    ['assertion without type', { client_assertion: jwt }, {}, 400, 'invalid_request'],
    ['type without assertion', { client_assertion_type: assertionParams(jwt).client_assertion_type! }, {}, 400, 'invalid_request'],
    ['unsupported type', { client_assertion: jwt, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }, {}, 400, 'invalid_request'],
    ['client_id differs', { ...assertionParams(jwt), client_id: 'svc-rs' }, {}, 400, 'invalid_request'],
    ['a key client sending client_id alone', { client_id: 'svc-es' }, {}, 401, 'invalid_client'],
  ]
  for (const [name, params, headers, status, error] of cases) {
    const response = await token(params, headers)
    t.equal(response.statusCode, status, `${name}: status`)
    t.equal(response.json().error, error, `${name}: ${error}`)
  }
  t.equal((await token(assertionParams(jwt))).statusCode, 200, 'none of the refusals used up the jti')
  await issuer.runtime.store.clients.update({ ...(await issuer.runtime.store.clients.get('svc-es'))!, disabled: true })
  t.equal((await token(assertionParams(await assertion()))).json().error, 'invalid_client', 'a disabled client')
})

t.test('introspect, revoke and sign-out authenticate with private_key_jwt', async (t) => {
  const { issuer, assertion, token } = await setup(t)
  await addKeyClient(issuer, { id: 'api', jwks: { keys: [rs.publicJwk as never] }, resources: [ISSUER], grantTypes: [] })
  const accessToken = (await token(assertionParams(await assertion()))).json().access_token as string
  const apiAssertion = () => makeAssertion({ clientId: 'api', key: rs, now: issuer.clock.now() })
  const introspected = await post(issuer, '/introspect', { token: accessToken, ...assertionParams(await apiAssertion()) })
  t.equal(introspected.statusCode, 200)
  t.match(introspected.json(), { active: true, client_id: 'svc-es' }, 'the resource server sees the token')
  const revoked = await post(issuer, '/revoke', { token: accessToken, ...assertionParams(await assertion()) })
  t.equal(revoked.statusCode, 200)
  t.same((await post(issuer, '/introspect', { token: accessToken, ...assertionParams(await apiAssertion()) })).json(), { active: false }, 'revoked by its own client')
  t.equal((await post(issuer, '/token/sign-out', assertionParams(await assertion()))).statusCode, 200, 'sign-out')
  t.equal((await post(issuer, '/revoke', { token: accessToken, ...assertionParams(await assertion({ claims: { aud: 'x' } })) })).statusCode, 401)
})

t.test('jwks_uri: fetched, cached, refetched once per cooldown on an unknown kid (rotation)', async (t) => {
  const issuer = await buildTestIssuer(t)
  const server = await startJwksServer([es.publicJwk])
  t.teardown(() => server.close())
  await addKeyClient(issuer, { id: 'svc', jwksUri: server.uri })
  const withKey = async (key: ClientKey) => post(issuer, '/token', { grant_type: 'client_credentials', ...assertionParams(await makeAssertion({ clientId: 'svc', key, now: issuer.clock.now() })) })

  t.equal((await withKey(es)).statusCode, 200)
  t.equal((await withKey(es)).statusCode, 200)
  t.equal(server.fetches, 1, 'cached')
  server.keys = [other.publicJwk]
  t.equal((await withKey(other)).json().error, 'invalid_client', 'a new key right after a fetch waits for the cooldown')
  t.equal(server.fetches, 1)
  issuer.clock.advance(10_000)
  t.equal((await withKey(other)).statusCode, 200, 'the unknown kid triggers a refetch')
  t.equal(server.fetches, 2)
  t.equal((await withKey(es)).json().error, 'invalid_client', 'the retired key is gone')
  t.equal(server.fetches, 2, 'and asking again does not refetch inside the cooldown')
  issuer.clock.advance(5 * 60_000)
  server.keys = [es.publicJwk, other.publicJwk]
  t.equal((await withKey(es)).statusCode, 200, 'after the TTL the set is fetched again')
  t.equal(server.fetches, 3)
})

t.test('jwks_uri down or slow: invalid_client in bounded time', async (t) => {
  const issuer = await buildTestIssuer(t)
  const slow = await startJwksServer([es.publicJwk])
  slow.mode = 'hang'
  t.teardown(() => slow.close())
  await addKeyClient(issuer, { id: 'down', jwksUri: await deadUri() })
  await addKeyClient(issuer, { id: 'slow', jwksUri: slow.uri })
  const attempt = async (clientId: string) => post(issuer, '/token', { grant_type: 'client_credentials', ...assertionParams(await makeAssertion({ clientId, key: es, now: issuer.clock.now() })) })

  const down = await attempt('down')
  t.equal(down.statusCode, 401)
  t.equal(down.json().error, 'invalid_client')
  t.match(down.json().error_description, /jwks_uri/)

  const started = Date.now()
  const [first, second] = await Promise.all([attempt('slow'), attempt('slow')])
  t.ok(Date.now() - started < 10_000, 'returns (the fetch times out after 3 s)')
  for (const response of [first, second]) {
    t.equal(response.statusCode, 401)
    t.equal(response.json().error, 'invalid_client')
    t.match(response.json().error_description, /jwks_uri/)
  }
  t.equal(slow.fetches, 1, 'concurrent requests share one fetch')
  const again = Date.now()
  t.equal((await attempt('slow')).json().error, 'invalid_client')
  t.ok(Date.now() - again < 1000, 'inside the cooldown a failing jwks_uri fails fast')
})
