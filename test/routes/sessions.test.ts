import t from 'tap'
import { decodeJwt } from 'jose'
import { buildTestIssuer, basic, post, type TestIssuer } from '../helper.js'

const DAY = 86_400_000
const SPA = { id: 'spa', authMethods: ['none' as const], grantTypes: ['password' as const, 'refresh_token' as const], scopes: ['profile', 'orders:read'], audiences: ['https://api.example'] }

async function signIn(issuer: TestIssuer, username = 'alice', password = 'correct horse battery') {
  const response = await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username, password })
  return { response, body: response.json() as Record<string, string | number> }
}

async function refresh(issuer: TestIssuer, token: string, extra: Record<string, string> = {}) {
  const response = await post(issuer, '/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: token, ...extra })
  return { response, body: response.json() as Record<string, string | number> }
}

t.test('password grant signs a user in with an access and a refresh token', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient(SPA)
  const alice = await issuer.addUser('Alice', 'correct horse battery', { roles: ['admin'] })
  const { response, body } = await signIn(issuer, 'ALICE')
  t.equal(response.statusCode, 200, 'usernames match case-insensitively')
  t.equal(response.headers['cache-control'], 'no-store')
  t.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/)
  const claims = decodeJwt(body.access_token as string)
  t.equal(claims.sub, alice.id, 'sub is the opaque user id, not the username')
  t.notOk(JSON.stringify(claims).includes('Alice'), 'no username in the token')
  t.same(claims.roles, ['admin'], 'per-user claims')
  t.equal(claims.client_id, 'spa')
  t.equal(claims.scope, 'profile orders:read')
  t.equal(claims.aud, 'https://api.example')

  const noRefresh = await issuer.addClient({ id: 'cli', grantTypes: ['password'] })
  const cli = await post(issuer, '/token', { grant_type: 'password', username: 'alice', password: 'correct horse battery' }, { authorization: basic('cli', noRefresh) })
  t.equal(cli.statusCode, 200, 'a confidential client may use it too')
  t.notOk('refresh_token' in cli.json(), 'no refresh token for a client not allowed to refresh')
})

t.test('unknown user, wrong password and disabled user get one answer', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient(SPA)
  const bob = await issuer.addUser('bob', 'correct horse battery')
  const answers = [
    await signIn(issuer, 'nobody'),
    await signIn(issuer, 'bob', 'wrong password!'),
  ]
  await issuer.runtime.store.users.update({ ...bob, disabled: true })
  answers.push(await signIn(issuer, 'bob'))
  for (const { response, body } of answers) {
    t.equal(response.statusCode, 400)
    t.same(body, { error: 'invalid_grant', error_description: 'invalid username or password' })
  }
  t.equal((await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'bob' })).json().error, 'invalid_request')
  await issuer.addClient({ id: 'machine', grantTypes: ['client_credentials'] })
  const machine = await issuer.addClient({ id: 'machine2' })
  t.equal((await post(issuer, '/token', { grant_type: 'password', username: 'bob', password: 'x' }, { authorization: basic('machine2', machine) })).json().error, 'unauthorized_client')
  t.equal((await post(issuer, '/token', { grant_type: 'client_credentials', client_id: 'spa' })).json().error, 'unauthorized_client', 'a public client cannot use client_credentials')
  t.equal((await post(issuer, '/token', { grant_type: 'password', client_id: 'ghost', username: 'bob', password: 'x' })).json().error, 'invalid_client')
})

t.test('refresh rotates on every use; reuse revokes the family', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient(SPA)
  await issuer.addUser('alice', 'correct horse battery')
  const first = (await signIn(issuer)).body.refresh_token as string
  const second = await refresh(issuer, first)
  t.equal(second.response.statusCode, 200)
  const secondToken = second.body.refresh_token as string
  t.not(secondToken, first, 'a new refresh token every time')
  t.ok(second.body.access_token)
  const third = await refresh(issuer, secondToken)
  t.equal(third.response.statusCode, 200)

  const replay = await refresh(issuer, first)
  t.same(replay.body.error, 'invalid_grant', 'a used token is refused')
  const afterReuse = await refresh(issuer, third.body.refresh_token as string)
  t.equal(afterReuse.body.error, 'invalid_grant', 'and the whole family died with it')
  t.equal((await refresh(issuer, 'A'.repeat(43))).body.error, 'invalid_grant', 'unknown token')
  t.equal((await refresh(issuer, 'short')).body.error, 'invalid_grant', 'malformed token')
  t.equal((await post(issuer, '/token', { grant_type: 'refresh_token', client_id: 'spa' })).json().error, 'invalid_request')
})

t.test('two concurrent refreshes of one token: exactly one succeeds', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient(SPA)
  await issuer.addUser('alice', 'correct horse battery')
  for (let round = 0; round < 5; round++) {
    const token = (await signIn(issuer)).body.refresh_token as string
    const results = await Promise.all([refresh(issuer, token), refresh(issuer, token), refresh(issuer, token)])
    t.equal(results.filter((r) => r.response.statusCode === 200).length, 1, `round ${round}: one winner`)
  }
})

t.test('idle timeout and absolute lifetime', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_REFRESH_TOKEN_TTL: '14d', KEYTURN_REFRESH_TOKEN_IDLE_TTL: '3d' })
  await issuer.addClient(SPA)
  await issuer.addUser('alice', 'correct horse battery')
  let token = (await signIn(issuer)).body.refresh_token as string
  issuer.clock.advance(3 * DAY)
  t.equal((await refresh(issuer, token)).body.error, 'invalid_grant', 'unused for the idle timeout')

  token = (await signIn(issuer)).body.refresh_token as string
  let days = 0
  for (;;) {
    issuer.clock.advance(2 * DAY)
    days += 2
    const next = await refresh(issuer, token)
    if (next.response.statusCode !== 200) break
    token = next.body.refresh_token as string
  }
  t.equal(days, 14, 'used every two days, the family still ends after 14 days')
})

t.test('sign-out everywhere, disabled user, and another client end a family', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient(SPA)
  const alice = await issuer.addUser('alice', 'correct horse battery')
  const token = (await signIn(issuer)).body.refresh_token as string
  await issuer.runtime.store.users.bumpTokenVersion(alice.id, issuer.clock.now())
  t.equal((await refresh(issuer, token)).body.error, 'invalid_grant', 'token version bumped')

  const again = (await signIn(issuer)).body.refresh_token as string
  await issuer.runtime.store.users.update({ ...(await issuer.runtime.store.users.get(alice.id))!, disabled: true })
  t.equal((await refresh(issuer, again)).body.error, 'invalid_grant', 'user disabled')

  await issuer.runtime.store.users.update({ ...(await issuer.runtime.store.users.get(alice.id))!, disabled: false })
  const mine = (await signIn(issuer)).body.refresh_token as string
  await issuer.addClient({ ...SPA, id: 'other-spa' })
  const stolen = await post(issuer, '/token', { grant_type: 'refresh_token', client_id: 'other-spa', refresh_token: mine })
  t.equal(stolen.json().error, 'invalid_grant', 'bound to its client')
  t.equal((await refresh(issuer, mine)).body.error, 'invalid_grant', 'and revoked, since it leaked')
})

t.test('scope only narrows on refresh, and only for the access token', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient(SPA)
  await issuer.addUser('alice', 'correct horse battery')
  const token = (await signIn(issuer)).body.refresh_token as string
  const narrow = await refresh(issuer, token, { scope: 'profile' })
  t.equal(narrow.body.scope, 'profile')
  t.equal(decodeJwt(narrow.body.access_token as string).scope, 'profile')
  const full = await refresh(issuer, narrow.body.refresh_token as string)
  t.equal(full.body.scope, 'profile orders:read', 'the family keeps the scope granted at sign-in')
  const wider = await refresh(issuer, full.body.refresh_token as string, { scope: 'profile admin' })
  t.equal(wider.body.error, 'invalid_scope')
})

t.test('cookie mode keeps the refresh token out of page scripts, with a CSRF defence', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient({ ...SPA, refreshCookie: true, origins: ['https://app.example'] })
  await issuer.addUser('alice', 'correct horse battery')
  const { response, body } = await signIn(issuer)
  t.equal(response.statusCode, 200)
  t.notOk('refresh_token' in body, 'not in the body')
  const cookie = response.cookies.find((c) => c.name === 'keyturn_refresh')!
  t.ok(cookie, 'set as a cookie')
  t.match(cookie, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/token', maxAge: 14 * 86_400 })
  t.match(cookie.value, /^[A-Za-z0-9_-]{43}$/)

  const send = (origin?: string, value = cookie.value) => issuer.app.inject({
    method: 'POST', url: '/token', payload: 'grant_type=refresh_token&client_id=spa',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `keyturn_refresh=${value}`, ...(origin ? { origin } : {}) },
  })
  t.equal((await send()).json().error, 'invalid_request', 'no Origin: refused')
  t.equal((await send('https://evil.example')).json().error, 'invalid_request', 'foreign Origin: refused')
  const ok = await send('https://app.example')
  t.equal(ok.statusCode, 200)
  t.notOk('refresh_token' in ok.json())
  const rotated = ok.cookies.find((c) => c.name === 'keyturn_refresh')!
  t.not(rotated.value, cookie.value, 'the cookie rotates too')

  const signOut = await issuer.app.inject({
    method: 'POST', url: '/token/sign-out', payload: 'client_id=spa',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `keyturn_refresh=${rotated.value}`, origin: 'https://app.example' },
  })
  t.equal(signOut.statusCode, 200)
  const cleared = signOut.cookies.find((c) => c.name === 'keyturn_refresh')!
  t.equal(cleared.value, '')
  t.equal(cleared.path, '/token')
  t.equal((await send('https://app.example', rotated.value)).json().error, 'invalid_grant', 'signed out: the family is revoked')
})

t.test('a login upgrades a hash made at a lower cost', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_PASSWORD_HASH_COST: '15' })
  await issuer.addClient(SPA)
  const { hashPassword } = await import('../../src/users/password.js')
  const alice = await issuer.addUser('alice', 'correct horse battery')
  await issuer.runtime.store.users.update({ ...alice, passwordHash: await hashPassword('correct horse battery', 14) })
  t.equal((await signIn(issuer)).response.statusCode, 200)
  const upgraded = await issuer.runtime.store.users.get(alice.id)
  t.match(upgraded!.passwordHash, /^scrypt\$15\$/)
  t.equal((await signIn(issuer)).response.statusCode, 200, 'and the new hash verifies')
})
