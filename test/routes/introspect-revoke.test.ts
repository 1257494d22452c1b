import t from 'tap'
import { SignJWT, generateKeyPair } from 'jose'
import { buildTestIssuer, basic, post, type TestIssuer } from '../helper.js'

const SPA = { id: 'spa', authMethods: ['none' as const], grantTypes: ['password' as const, 'refresh_token' as const], scopes: ['orders:read'], audiences: ['https://orders.example'] }

async function setup(t: Parameters<typeof buildTestIssuer>[0]) {
  const issuer = await buildTestIssuer(t)
  const svc = await issuer.addClient({ id: 'svc', scopes: ['orders:read'], audiences: ['https://orders.example'] })
  const orders = await issuer.addClient({ id: 'orders-api', resources: ['https://orders.example'], grantTypes: [] })
  const billing = await issuer.addClient({ id: 'billing-api', resources: ['https://billing.example'], grantTypes: [] })
  await issuer.addClient(SPA)
  const alice = await issuer.addUser('alice', 'correct horse battery')
  const token = (await post(issuer, '/token', { grant_type: 'client_credentials' }, { authorization: basic('svc', svc) })).json().access_token as string
  const session = (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: 'correct horse battery' })).json()
  return { issuer, svc, orders, billing, alice, token, session }
}

const introspect = (issuer: TestIssuer, id: string, secret: string, token: string, hint?: string) =>
  post(issuer, '/introspect', { token, ...(hint ? { token_type_hint: hint } : {}) }, { authorization: basic(id, secret) })

t.test('introspection answers for the token owner and its resource servers only', async (t) => {
  const { issuer, svc, orders, billing, token } = await setup(t)
  const own = await introspect(issuer, 'svc', svc, token)
  t.equal(own.statusCode, 200)
  t.equal(own.headers['cache-control'], 'no-store')
  const body = own.json()
  t.match(body, { active: true, iss: 'https://issuer.test', sub: 'svc', aud: 'https://orders.example', client_id: 'svc', scope: 'orders:read', token_type: 'Bearer' })
  t.type(body.jti, 'string')
  t.same((await introspect(issuer, 'orders-api', orders, token)).json().active, true, 'the audience resource server')
  t.same((await introspect(issuer, 'billing-api', billing, token)).json(), { active: false }, 'a resource server it was not meant for')
  const svcRecord = (await issuer.runtime.store.clients.get('svc'))!
  await issuer.runtime.store.clients.update({ ...svcRecord, disabled: true })
  t.same((await introspect(issuer, 'orders-api', orders, token)).json(), { active: false }, 'the token of a disabled client')
})

t.test('inactive is all anyone learns about a bad token', async (t) => {
  const { issuer, svc, token, alice, session } = await setup(t)
  const { privateKey } = await generateKeyPair('ES256')
  const foreign = await new SignJWT({ client_id: 'svc', jti: 'x' }).setProtectedHeader({ alg: 'ES256', kid: issuer.keys.signingKey('ES256')!.kid, typ: 'at+jwt' })
    .setIssuer('https://issuer.test').setSubject('svc').setIssuedAt().setExpirationTime('5m').sign(privateKey)
  const tampered = `${token.slice(0, -4)}AAAA`
  const cases: [string, string][] = [
    ['forged signature with our kid', foreign],
    ['tampered', tampered],
    ['malformed', 'not-a-token'],
    ['empty-ish', '...'],
    ['huge', 'a'.repeat(20_000)],
    ['alg none', `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${token.split('.')[1]}.`],
  ]
  for (const [name, value] of cases) t.same((await introspect(issuer, 'svc', svc, value)).json(), { active: false }, name)

  issuer.clock.advance(16 * 60_000)
  t.same((await introspect(issuer, 'svc', svc, token)).json(), { active: false }, 'expired')
  issuer.clock.advance(-16 * 60_000)

  const userToken = session.access_token as string
  const spaIsNotConfidential = await post(issuer, '/introspect', { token: userToken, client_id: 'spa' })
  t.equal(spaIsNotConfidential.statusCode, 401, 'public clients may not introspect')
  t.equal(spaIsNotConfidential.json().error, 'invalid_client')
  const unauthenticated = await post(issuer, '/introspect', { token })
  t.equal(unauthenticated.json().error, 'invalid_client')
  t.equal((await post(issuer, '/introspect', {}, { authorization: basic('svc', svc) })).json().error, 'invalid_request')

  await issuer.runtime.store.users.update({ ...alice, disabled: true })
  const resourceServer = await issuer.addClient({ id: 'rs', resources: ['https://orders.example'], grantTypes: [] })
  t.same((await introspect(issuer, 'rs', resourceServer, userToken)).json(), { active: false }, 'disabled user')
})

t.test('a token signed by a key revoked with the admin path is inactive at once', async (t) => {
  const { issuer, svc, token } = await setup(t)
  t.equal((await introspect(issuer, 'svc', svc, token)).json().active, true)
  await issuer.runtime.rotation.revoke(issuer.keys.signingKey('RS256')!.kid)
  await issuer.keys.refresh()
  t.same((await introspect(issuer, 'svc', svc, token)).json(), { active: false })
})

t.test('revoking an access token and a refresh token', async (t) => {
  const { issuer, svc, orders, token, session } = await setup(t)
  const revoke = (params: Record<string, string>, headers: Record<string, string> = { authorization: basic('svc', svc) }) => post(issuer, '/revoke', params, headers)

  const other = await revoke({ token }, { authorization: basic('orders-api', orders) })
  t.equal(other.statusCode, 200, 'another client gets 200 …')
  t.equal((await introspect(issuer, 'svc', svc, token)).json().active, true, '… and revokes nothing')

  const done = await revoke({ token, token_type_hint: 'access_token' })
  t.equal(done.statusCode, 200)
  t.equal(done.body, '')
  t.same((await introspect(issuer, 'svc', svc, token)).json(), { active: false }, 'the jti is refused until the token expires')
  t.equal((await revoke({ token })).statusCode, 200, 'twice is fine')
  t.equal((await revoke({ token: 'garbage' })).statusCode, 200, 'unknown tokens get 200 (RFC 7009 §2.2)')
  t.equal((await revoke({ token: 'x', token_type_hint: 'weird' })).statusCode, 200, 'an unknown hint is ignored')
  t.equal((await revoke({})).json().error, 'invalid_request')
  t.equal((await post(issuer, '/revoke', { token })).json().error, 'invalid_client')

  const refreshToken = session.refresh_token as string
  const before = await post(issuer, '/introspect', { token: refreshToken, token_type_hint: 'refresh_token' }, { authorization: basic('svc', svc) })
  t.same(before.json(), { active: false }, 'a refresh token is only visible to its own client')
  const byPublic = await post(issuer, '/revoke', { token: refreshToken, client_id: 'spa', token_type_hint: 'refresh_token' })
  t.equal(byPublic.statusCode, 200, 'public clients may revoke their tokens')
  const refreshed = await post(issuer, '/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: refreshToken })
  t.equal(refreshed.json().error, 'invalid_grant', 'the family is gone')
})

t.test('refresh token introspection by its confidential client', async (t) => {
  const issuer = await buildTestIssuer(t)
  const app = await issuer.addClient({ id: 'web', grantTypes: ['password', 'refresh_token'], scopes: ['a'] })
  await issuer.addUser('alice', 'correct horse battery')
  const session = (await post(issuer, '/token', { grant_type: 'password', username: 'alice', password: 'correct horse battery' }, { authorization: basic('web', app) })).json()
  const active = await introspect(issuer, 'web', app, session.refresh_token, 'refresh_token')
  t.match(active.json(), { active: true, client_id: 'web', scope: 'a', token_type: 'refresh_token' })
  const rotated = await post(issuer, '/token', { grant_type: 'refresh_token', refresh_token: session.refresh_token }, { authorization: basic('web', app) })
  t.equal(rotated.statusCode, 200)
  t.same((await introspect(issuer, 'web', app, session.refresh_token)).json(), { active: false }, 'a used token is inactive')
  t.equal((await introspect(issuer, 'web', app, rotated.json().refresh_token)).json().active, true)
})
