import t from 'tap'
import { createVerifier, hasScopes, scopesOf } from '../../src/verifier/index.js'
import { isAccessTokenType } from '../../src/verifier/token-header.js'
import { startIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, fakeClock, makeKey, mint } from './helpers-tokens.js'

const issuer = await startIssuer()
t.teardown(() => issuer.close())
const clock = fakeClock()
const rsa = await makeKey('RS256')
const ec = await makeKey('ES256')
const ed = await makeKey('EdDSA')
issuer.keys = [rsa.publicJwk, ec.publicJwk, ed.publicJwk]
const verifier = createVerifier({ issuer: issuer.issuer, audience: [AUDIENCE, 'urn:second'], now: clock.now })
const nowSec = Math.floor(clock.t / 1000)
const claims = (over: Record<string, unknown> = {}) => claimsAt(issuer.issuer, clock.t, over)

const accepted: Array<[string, () => Promise<string>]> = [
  ['RS256', () => mint(rsa, claims())],
  ['ES256', () => mint(ec, claims())],
  ['typ application/at+jwt', () => mint(rsa, claims(), { typ: 'application/at+jwt' })],
  ['typ in another case', () => mint(rsa, claims(), { typ: 'Application/AT+JWT' })],
  ['aud array including us', () => mint(rsa, claims({ aud: ['https://other', AUDIENCE] }))],
  ['second configured audience', () => mint(rsa, claims({ aud: 'urn:second' }))],
  ['exp just past, within tolerance', () => mint(rsa, claims({ iat: nowSec - 900, exp: nowSec - 10 }))],
  ['iat slightly ahead, within tolerance', () => mint(rsa, claims({ iat: nowSec + 20 }))],
  ['nbf in the past', () => mint(rsa, claims({ nbf: nowSec - 5 }))],
  ['no scope claim', () => mint(rsa, claims({ scope: undefined }))],
  ['act delegation chain', () => mint(rsa, claims({ act: { sub: 'svc-a', act: { sub: 'svc-b' } } }))],
  ['extra claims (roles)', () => mint(rsa, claims({ roles: ['admin'] }))],
]

for (const [name, make] of accepted) {
  t.test(`accepts: ${name}`, async (t) => {
    const c = await verifier.verify(await make())
    t.equal(c.sub, 'user-123')
    t.equal(c.iss, issuer.issuer)
  })
}

t.test('EdDSA only when allowed', async (t) => {
  await t.rejects(verifier.verify(await mint(ed, claims())), { code: 'ERR_TOKEN_ALGORITHM' })
  const edVerifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, now: clock.now, algorithms: ['EdDSA'] })
  t.equal((await edVerifier.verify(await mint(ed, claims()))).client_id, 'client-abc')
})

t.test('returns typed claims with extras passed through', async (t) => {
  const c = await verifier.verify(await mint(rsa, claims({ roles: ['admin'], act: { sub: 'svc' } })))
  t.equal(c.jti.length > 0, true)
  t.equal(c.act?.sub, 'svc')
  t.same(c.roles, ['admin'])
  t.same([...scopesOf(c)], ['orders:read', 'profile'])
  t.ok(hasScopes(c, 'orders:read'))
  t.ok(hasScopes(c, 'orders:read', 'profile'))
  t.notOk(hasScopes(c, 'orders:write'))
  t.notOk(hasScopes({}, 'x'))
})

t.test('clockTolerance 0 is strict', async (t) => {
  const strict = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, now: clock.now, clockTolerance: 0 })
  await t.rejects(strict.verify(await mint(rsa, claims({ iat: nowSec - 900, exp: nowSec - 1 }))), { code: 'ERR_TOKEN_EXPIRED' })
  await t.rejects(strict.verify(await mint(rsa, claims({ iat: nowSec + 2 }))), { code: 'ERR_TOKEN_NOT_YET_VALID' })
})

t.test('isAccessTokenType', async (t) => {
  for (const ok of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'APPLICATION/At+Jwt']) t.ok(isAccessTokenType(ok), ok)
  for (const bad of ['jwt', 'JWT', 'at+jwt ', 'application/jwt', 'application/at+jwt; charset=utf-8', 'x/at+jwt', 1, null]) {
    t.notOk(isAccessTokenType(bad), String(bad))
  }
})
