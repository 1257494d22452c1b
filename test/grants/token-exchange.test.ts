import t from 'tap'
import { createLocalJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import { buildTestIssuer, basic, post, type TestIssuer } from '../helper.js'

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const A = 'https://a.example'
const B = 'https://b.example'
const C = 'https://c.example'
const PASSWORD = 'correct horse battery'

type Test = Parameters<typeof buildTestIssuer>[0]

/**
 * A user signs in through an SPA for service A. A may exchange for B and C and act (delegate); `imp` serves A too but
 * may only impersonate; B may exchange for C and act; C only serves (introspects).
 */
async function setup(t: Test) {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient({ id: 'spa', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], scopes: ['orders:read', 'orders:write', 'profile'], audiences: [A] })
  const secrets: Record<string, string> = {
    'svc-a': await issuer.addClient({ id: 'svc-a', grantTypes: ['client_credentials', TE], scopes: ['orders:read', 'orders:write'], resources: [A], exchangeAudiences: [B, C], mayAct: true }),
    imp: await issuer.addClient({ id: 'imp', grantTypes: [TE], scopes: ['orders:read'], resources: [A], exchangeAudiences: [B] }),
    'svc-b': await issuer.addClient({ id: 'svc-b', grantTypes: ['client_credentials', TE], scopes: ['orders:read'], resources: [B], exchangeAudiences: [C], mayAct: true }),
    'svc-c': await issuer.addClient({ id: 'svc-c', grantTypes: [], resources: [C] }),
    plain: await issuer.addClient({ id: 'plain', resources: [A] }),
  }
  const alice = await issuer.addUser('alice', PASSWORD, { roles: ['buyer'] })
  const signIn = await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: PASSWORD, scope: 'orders:read orders:write profile' })
  const userToken = signIn.json().access_token as string
  const as = (id: string) => ({ authorization: basic(id, secrets[id]!) })
  const exchange = (id: string, params: Record<string, string | string[]>) => post(issuer, '/token', { grant_type: TE, ...params }, as(id))
  const ownToken = async (id: string) => (await post(issuer, '/token', { grant_type: 'client_credentials' }, as(id))).json().access_token as string
  const jwks = createLocalJWKSet(JSON.parse((await issuer.app.inject({ url: '/.well-known/jwks.json' })).body))
  const verify = async (token: string, audience: string): Promise<JWTPayload> =>
    (await jwtVerify(token, jwks, { issuer: 'https://issuer.test', audience, typ: 'at+jwt', currentDate: new Date(issuer.clock.now()) })).payload
  return { issuer, secrets, alice, userToken, signIn: signIn.json(), as, exchange, ownToken, verify }
}

const subject = (token: string) => ({ subject_token: token, subject_token_type: AT })
const actor = (token: string) => ({ actor_token: token, actor_token_type: AT })

t.test('delegation: A exchanges a user token for B; the token names A as actor', async (t) => {
  const { alice, userToken, exchange, ownToken, verify } = await setup(t)
  const response = await exchange('svc-a', { ...subject(userToken), ...actor(await ownToken('svc-a')), audience: B, scope: 'orders:read' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['cache-control'], 'no-store')
  const body = response.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'])
  t.match(body, { issued_token_type: AT, token_type: 'Bearer', expires_in: 900, scope: 'orders:read' })
  const claims = await verify(body.access_token, B)
  t.equal(claims.sub, alice.id, 'sub stays the user')
  t.equal(claims.client_id, 'svc-a', 'client_id is the exchanging client')
  t.equal(claims.aud, B)
  t.same(claims.act, { sub: 'svc-a' })
  t.same(claims.roles, ['buyer'], "the user's claims ride along")
  t.equal(claims.exp, decodeJwt(userToken).exp, 'never outlives the subject token')
  t.not(claims.jti, decodeJwt(userToken).jti)
  const jwtRequested = await exchange('svc-a', { ...subject(userToken), audience: B, requested_token_type: 'urn:ietf:params:oauth:token-type:jwt' })
  t.equal(jwtRequested.json().issued_token_type, AT, 'jwt is served by the (JWT) access token')
})

t.test('delegation chains nest act, the current actor outermost (RFC 8693 §4.1)', async (t) => {
  const { issuer, secrets, alice, userToken, exchange, ownToken, verify } = await setup(t)
  const forB = (await exchange('svc-a', { ...subject(userToken), ...actor(await ownToken('svc-a')), audience: B })).json().access_token as string
  const response = await exchange('svc-b', { ...subject(forB), ...actor(await ownToken('svc-b')), resource: C })
  t.equal(response.statusCode, 200)
  const claims = await verify(response.json().access_token, C)
  t.equal(claims.sub, alice.id)
  t.equal(claims.client_id, 'svc-b')
  t.same(claims.act, { sub: 'svc-b', act: { sub: 'svc-a' } })
  t.equal(claims.scope, 'orders:read', "within the subject's and svc-b's scopes")
  const introspected = await post(issuer, '/introspect', { token: response.json().access_token }, { authorization: basic('svc-c', secrets['svc-c']!) })
  t.match(introspected.json(), { active: true, sub: alice.id, client_id: 'svc-b', act: { sub: 'svc-b', act: { sub: 'svc-a' } } }, 'introspection shows the chain')

  const noActor = await exchange('svc-b', { ...subject(forB), audience: C })
  t.same((await verify(noActor.json().access_token, C)).act, { sub: 'svc-a' }, 'without an actor token the chain is kept, never dropped')
})

t.test('the chain is bounded', async (t) => {
  const issuer = await buildTestIssuer(t)
  const L = 'https://loop.example'
  const secret = await issuer.addClient({ id: 'loop', grantTypes: ['client_credentials', TE], audiences: [L], resources: [L], exchangeAudiences: [L], mayAct: true })
  const headers = { authorization: basic('loop', secret) }
  let token = (await post(issuer, '/token', { grant_type: 'client_credentials' }, headers)).json().access_token as string
  const own = (await post(issuer, '/token', { grant_type: 'client_credentials' }, headers)).json().access_token as string
  for (let actors = 1; actors <= 8; actors++) {
    const response = await post(issuer, '/token', { grant_type: TE, ...subject(token), ...actor(own) }, headers)
    t.equal(response.statusCode, 200, `${actors} actor(s)`)
    token = response.json().access_token
  }
  const ninth = await post(issuer, '/token', { grant_type: TE, ...subject(token), ...actor(own) }, headers)
  t.equal(ninth.json().error, 'invalid_request', 'a ninth actor is refused')
})

t.test('impersonation: a client without may-act gets no act and may not send an actor token', async (t) => {
  const { userToken, exchange, ownToken, verify } = await setup(t)
  const response = await exchange('imp', { ...subject(userToken) })
  t.equal(response.statusCode, 200)
  const claims = await verify(response.json().access_token, B)
  t.notOk('act' in claims, 'no act claim')
  t.equal(claims.client_id, 'imp')
  t.equal(claims.scope, 'orders:read')
  const refused = await exchange('imp', { ...subject(userToken), ...actor(await ownToken('svc-a')) })
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().error, 'invalid_request')
  t.match(refused.json().error_description, /actor_token/)
})

t.test('audience only from the exchange policy; scope only narrows', async (t) => {
  const { userToken, exchange, verify } = await setup(t)
  const all = await exchange('svc-a', subject(userToken))
  t.same((await verify(all.json().access_token, B)).aud, [B, C], 'no target asked: every exchange audience')
  t.equal(all.json().scope, 'orders:read orders:write', "the subject's scope within the client's")
  t.equal((await verify((await exchange('svc-a', { ...subject(userToken), resource: B })).json().access_token, B)).aud, B, 'resource narrows')
  t.same((await verify((await exchange('svc-a', { ...subject(userToken), audience: [B, C] })).json().access_token, C)).aud, [B, C], 'audience repeats')

  const cases: [string, Record<string, string | string[]>, string][] = [
    ['an audience outside the policy', { audience: 'https://evil.example' }, 'invalid_target'],
    ["the subject's own audience (not an exchange audience)", { audience: A }, 'invalid_target'],
    ['one good, one refused', { audience: [B, 'https://evil.example'] }, 'invalid_target'],
    ['a resource outside the policy', { resource: 'https://evil.example/' }, 'invalid_target'],
    ['a malformed resource', { resource: 'not a uri' }, 'invalid_request'],
    ['a scope the subject lacks', { scope: 'orders:read admin' }, 'invalid_scope'],
    ["a scope the subject has but the client may not get", { scope: 'profile' }, 'invalid_scope'],
    ['a malformed scope', { scope: 'a  b' }, 'invalid_scope'],
  ]
  for (const [name, params, error] of cases) {
    const response = await exchange('svc-a', { ...subject(userToken), ...params })
    t.equal(response.statusCode, 400, `${name}: 400`)
    t.equal(response.json().error, error, `${name}: ${error}`)
  }
})

t.test('lifetime: never past the subject token (nor the actor token)', async (t) => {
  const { issuer, userToken, exchange, ownToken, verify } = await setup(t)
  const subjectExp = decodeJwt(userToken).exp!
  issuer.clock.advance(10 * 60_000)
  const actorToken = await ownToken('svc-a')
  const response = await exchange('svc-a', { ...subject(userToken), ...actor(actorToken), audience: B })
  t.equal(response.json().expires_in, 300, 'five minutes were left')
  t.equal((await verify(response.json().access_token, B)).exp, subjectExp)
  issuer.clock.advance(4 * 60_000)
  const late = await exchange('svc-a', { ...subject(await exchangeFresh()), ...actor(actorToken), audience: B })
  t.equal((await verify(late.json().access_token, B)).exp, decodeJwt(actorToken).exp, 'capped by the actor token when it ends first')
  issuer.clock.advance(60_000 + 10_000)
  const expired = await exchange('svc-a', { ...subject(userToken), audience: B })
  t.equal(expired.json().error, 'invalid_grant', 'inside the clock-skew grace but past exp: still refused')

  async function exchangeFresh(): Promise<string> {
    return (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: PASSWORD })).json().access_token
  }
})

t.test('a subject token that is not a live token of ours, or not meant for the client, is invalid_grant', async (t) => {
  const { issuer, alice, userToken, signIn, exchange, ownToken } = await setup(t)
  const { privateKey } = await generateKeyPair('ES256')
  const now = Math.floor(issuer.clock.now() / 1000)
  const forged = await new SignJWT({ sub: alice.id, client_id: 'spa', aud: A, jti: 'forged', scope: 'orders:read' })
    .setProtectedHeader({ alg: 'ES256', kid: issuer.keys.signingKey('ES256')!.kid, typ: 'at+jwt' }).setIssuer('https://issuer.test').setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey)
  const foreignIssuer = await new SignJWT({ sub: alice.id, client_id: 'spa', aud: A, jti: 'other' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).setIssuer('https://other.test').setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey)
  const cases: [string, string][] = [
    ['malformed', 'not-a-token'],
    ['tampered', `${userToken.slice(0, -6)}AAAAAA`],
    ['forged with our kid', forged],
    ['another issuer', foreignIssuer],
    ['a refresh token passed off as an access token', signIn.refresh_token],
    ["a token not meant for the client (svc-b is no audience of it)", userToken],
  ]
  for (const [name, token] of cases) {
    const response = await exchange(name.includes('svc-b') ? 'svc-b' : 'svc-a', { ...subject(token), audience: name.includes('svc-b') ? C : B })
    t.equal(response.statusCode, 400, `${name}: 400`)
    t.equal(response.json().error, 'invalid_grant', `${name}: invalid_grant`)
  }
  const ownCc = await ownToken('plain')
  t.equal((await exchange('svc-a', subject(ownCc))).json().error, 'invalid_grant', "a token with the issuer's default audience is not meant for svc-a")

  const revoked = (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: PASSWORD })).json().access_token as string
  await post(issuer, '/revoke', { token: revoked, client_id: 'spa' })
  t.equal((await exchange('svc-a', subject(revoked))).json().error, 'invalid_grant', 'revoked jti')

  issuer.clock.advance(16 * 60_000)
  t.equal((await exchange('svc-a', subject(userToken))).json().error, 'invalid_grant', 'expired')
})

t.test('revoked signing key, disabled user, disabled clients: invalid_grant', async (t) => {
  const { issuer, alice, userToken, exchange } = await setup(t)
  const store = issuer.runtime.store
  t.equal((await exchange('svc-a', subject(userToken))).statusCode, 200)
  await store.users.update({ ...alice, disabled: true })
  t.equal((await exchange('svc-a', subject(userToken))).json().error, 'invalid_grant', 'disabled user')
  await store.users.update({ ...alice, disabled: false })
  const spa = (await store.clients.get('spa'))!
  await store.clients.update({ ...spa, disabled: true })
  t.equal((await exchange('svc-a', subject(userToken))).json().error, 'invalid_grant', "the subject token's client is disabled")
  await store.clients.update(spa)
  t.equal((await exchange('svc-a', subject(userToken))).statusCode, 200)
  await issuer.runtime.rotation.revoke(issuer.keys.signingKey('RS256')!.kid)
  await issuer.keys.refresh()
  t.equal((await exchange('svc-a', subject(userToken))).json().error, 'invalid_grant', 'signed by a revoked key')
})

t.test('a service token as subject keeps the service as sub; it dies with that service', async (t) => {
  const { issuer, secrets, exchange, verify } = await setup(t)
  const x = await issuer.addClient({ id: 'svc-x', audiences: [A] })
  const xToken = (await post(issuer, '/token', { grant_type: 'client_credentials' }, { authorization: basic('svc-x', x) })).json().access_token as string
  const exchanged = (await exchange('svc-a', { ...subject(xToken), audience: C })).json().access_token as string
  const claims = await verify(exchanged, C)
  t.equal(claims.sub, 'svc-x')
  t.equal(claims.client_id, 'svc-a')
  const introspect = () => post(issuer, '/introspect', { token: exchanged }, { authorization: basic('svc-c', secrets['svc-c']!) })
  t.equal((await introspect()).json().active, true, 'introspection knows a client subject')
  await issuer.runtime.store.clients.update({ ...(await issuer.runtime.store.clients.get('svc-x'))!, disabled: true })
  t.same((await introspect()).json(), { active: false }, 'inactive once the subject service is disabled')
  t.equal((await exchange('svc-a', { ...subject(xToken), audience: C })).json().error, 'invalid_grant')
})

t.test('actor token rules', async (t) => {
  const { issuer, userToken, exchange, ownToken, as } = await setup(t)
  const actorA = await ownToken('svc-a')
  const delegated = (await exchange('svc-a', { ...subject(userToken), ...actor(actorA), audience: B })).json().access_token as string
  const revokedActor = await ownToken('svc-a')
  await post(issuer, '/revoke', { token: revokedActor }, as('svc-a'))
  const cases: [string, Record<string, string>, string][] = [
    ['actor_token without actor_token_type', { actor_token: actorA }, 'invalid_request'],
    ['actor_token_type without actor_token', { actor_token_type: AT }, 'invalid_request'],
    ['unsupported actor_token_type', { actor_token: actorA, actor_token_type: 'urn:ietf:params:oauth:token-type:id_token' }, 'invalid_request'],
    ['an actor token of another client', actor(await ownToken('svc-b')), 'invalid_grant'],
    ['a user token as actor token', actor(userToken), 'invalid_grant'],
    ['an exchanged token as actor token', actor(delegated), 'invalid_request'],
    ['a malformed actor token', actor('nope'), 'invalid_grant'],
  ]
  for (const [name, params, error] of cases) {
    const response = await exchange('svc-a', { ...subject(userToken), audience: B, ...params })
    t.equal(response.json().error, error, `${name}: ${error}`)
  }
  t.equal((await exchange('svc-a', { ...subject(userToken), audience: B, ...actor(revokedActor) })).json().error, 'invalid_grant', 'a revoked actor token')
  issuer.clock.advance(16 * 60_000)
  const fresh = (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: PASSWORD })).json().access_token as string
  t.equal((await exchange('svc-a', { ...subject(fresh), audience: B, ...actor(actorA) })).json().error, 'invalid_grant', 'an expired actor token')
})

t.test('request errors, by code', async (t) => {
  const { issuer, userToken, signIn, exchange, as } = await setup(t)
  const cases: [string, Record<string, string>, number, string][] = [
    ['no subject_token', { subject_token_type: AT }, 400, 'invalid_request'],
    ['no subject_token_type', { subject_token: userToken }, 400, 'invalid_request'],
    ['refresh token type', { subject_token: signIn.refresh_token, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }, 400, 'invalid_request'],
    ['id_token type', { subject_token: userToken, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }, 400, 'invalid_request'],
    ['jwt type', { subject_token: userToken, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }, 400, 'invalid_request'],
    ['requested refresh token', { ...subject(userToken), requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }, 400, 'invalid_request'],
    ['requested saml2', { ...subject(userToken), requested_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, 400, 'invalid_request'],
  ]
  for (const [name, params, status, error] of cases) {
    const response = await exchange('svc-a', params)
    t.equal(response.statusCode, status, `${name}: status`)
    t.equal(response.json().error, error, `${name}: ${error}`)
  }
  const notAllowed = await exchange('plain', subject(userToken))
  t.equal(notAllowed.json().error, 'unauthorized_client', 'a client without the grant')
  const anonymous = await post(issuer, '/token', { grant_type: TE, ...subject(userToken) })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().error, 'invalid_client', 'no client authentication')
  const publicClient = await post(issuer, '/token', { grant_type: TE, client_id: 'spa', ...subject(userToken) })
  t.equal(publicClient.json().error, 'unauthorized_client', 'a public client')
  const repeated = await issuer.app.inject({ method: 'POST', url: '/token', headers: { ...as('svc-a'), 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=${encodeURIComponent(TE)}&subject_token=a&subject_token=b&subject_token_type=${encodeURIComponent(AT)}` })
  t.equal(repeated.json().error, 'invalid_request', 'a repeated subject_token')
})
