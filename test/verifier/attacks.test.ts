import { base64url, CompactSign, exportSPKI, SignJWT } from 'jose'
import t from 'tap'
import { createVerifier, type VerifierErrorCode } from '../../src/verifier/index.js'
import { startIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, fakeClock, makeKey, mint } from './helpers-tokens.js'

const enc = (value: unknown) => base64url.encode(typeof value === 'string' ? value : JSON.stringify(value))
const segments = (token: string) => token.split('.') as [string, string, string]

const issuer = await startIssuer()
t.teardown(() => issuer.close())
const clock = fakeClock()
const rsa = await makeKey('RS256')
const ec = await makeKey('ES256')
const outsider = await makeKey('RS256')
issuer.keys = [rsa.publicJwk, ec.publicJwk]
const verifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, now: clock.now })
const iss = issuer.issuer
const nowSec = Math.floor(clock.t / 1000)
const claims = (over: Record<string, unknown> = {}) => claimsAt(iss, clock.t, over)
const good = await mint(rsa, claims())

t.test('the good token is accepted (baseline)', async (t) => {
  const c = await verifier.verify(good)
  t.equal(c.sub, 'user-123')
  t.equal(c.client_id, 'client-abc')
})

/** Signs raw payload bytes with the RSA key, bypassing jose's JWT claim encoding. */
const signRaw = (payload: string, header: Record<string, unknown> = {}, crit: Record<string, boolean> = {}) =>
  new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt', ...header } as { alg: string })
    .sign(rsa.privateKey, { crit })

const [gh, gp, gs] = segments(good)
const ecToken = await mint(ec, claims())
const [eh, ep] = segments(ecToken)
const pem = await exportSPKI(rsa.publicKey)

const cases: Array<[string, () => Promise<string> | string, VerifierErrorCode]> = [
  ['alg none, empty signature', () => `${enc({ alg: 'none', kid: rsa.kid, typ: 'at+jwt' })}.${gp}.`, 'ERR_TOKEN_ALGORITHM'],
  ['alg none, with a signature', () => `${enc({ alg: 'none', kid: rsa.kid, typ: 'at+jwt' })}.${gp}.${gs}`, 'ERR_TOKEN_ALGORITHM'],
  ['alg NONE (case variant)', () => `${enc({ alg: 'NONE', kid: rsa.kid, typ: 'at+jwt' })}.${gp}.`, 'ERR_TOKEN_ALGORITHM'],
  ['missing alg', () => `${enc({ kid: rsa.kid, typ: 'at+jwt' })}.${gp}.${gs}`, 'ERR_TOKEN_ALGORITHM'],
  [
    'HS256 with the RSA public key PEM as secret',
    () => new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rsa.kid, typ: 'at+jwt' }).sign(new TextEncoder().encode(pem)),
    'ERR_TOKEN_ALGORITHM',
  ],
  [
    'HS256 with the RSA public JWK JSON as secret',
    () => new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rsa.kid, typ: 'at+jwt' }).sign(new TextEncoder().encode(JSON.stringify(rsa.publicJwk))),
    'ERR_TOKEN_ALGORITHM',
  ],
  ['embedded jwk header (attacker key)', () => mint(outsider, claims(), { kid: rsa.kid, jwk: outsider.publicJwk }), 'ERR_TOKEN_HEADER'],
  ['jku header', () => mint(rsa, claims(), { jku: 'https://evil.example/jwks' }), 'ERR_TOKEN_HEADER'],
  ['x5u header', () => mint(rsa, claims(), { x5u: 'https://evil.example/cert.pem' }), 'ERR_TOKEN_HEADER'],
  ['x5c header', () => mint(rsa, claims(), { x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] }), 'ERR_TOKEN_HEADER'],
  ['crit header', () => signRaw(JSON.stringify(claims()), { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true }, { 'urn:example:must-understand': true }), 'ERR_TOKEN_HEADER'],
  ['kid missing', () => mint(rsa, claims(), { kid: undefined }), 'ERR_TOKEN_HEADER'],
  ['kid not in the JWKS', () => mint(outsider, claims()), 'ERR_KEY_UNKNOWN'],
  ['right kid, signed by another key', () => mint(outsider, claims(), { kid: rsa.kid }), 'ERR_TOKEN_SIGNATURE'],
  ['ES256 signature r = s = 0 (CVE-2022-21449)', () => `${eh}.${ep}.${base64url.encode(new Uint8Array(64))}`, 'ERR_TOKEN_SIGNATURE'],
  ['ES256 signature of the wrong length', () => `${eh}.${ep}.${base64url.encode(new Uint8Array(63))}`, 'ERR_TOKEN_SIGNATURE'],
  ['tampered payload', () => `${gh}.${enc(claims({ scope: 'admin' }))}.${gs}`, 'ERR_TOKEN_SIGNATURE'],
  ['truncated signature', () => `${gh}.${gp}.${gs.slice(0, -4)}`, 'ERR_TOKEN_SIGNATURE'],
  ['truncated and re-padded signature', () => `${gh}.${gp}.${gs.slice(0, -2)}==`, 'ERR_TOKEN_MALFORMED'],
  ['valid token with "=" padding appended', () => `${good}=`, 'ERR_TOKEN_MALFORMED'],
  ['padded payload segment', () => `${gh}.${gp}==.${gs}`, 'ERR_TOKEN_MALFORMED'],
  ['standard base64 alphabet (+/)', () => `${gh}.${gp}.${gs.replace(/-/g, '+').replace(/_/g, '/')}`, 'ERR_TOKEN_MALFORMED'],
  ['two segments', () => `${gh}.${gp}`, 'ERR_TOKEN_MALFORMED'],
  ['JWE-shaped (5 segments)', () => `${gh}.a.b.c.d`, 'ERR_TOKEN_MALFORMED'],
  ['header not JSON', () => `${enc('not json')}.${gp}.${gs}`, 'ERR_TOKEN_MALFORMED'],
  ['empty string', () => '', 'ERR_TOKEN_MALFORMED'],
  ['huge token (20 KiB)', () => mint(rsa, claims({ pad: 'x'.repeat(20_000) })), 'ERR_TOKEN_MALFORMED'],
  ['payload not JSON (validly signed)', () => signRaw('not json at all'), 'ERR_TOKEN_MALFORMED'],
  ['payload JSON array (validly signed)', () => signRaw('[1,2,3]'), 'ERR_TOKEN_MALFORMED'],
  ['payload JSON string (validly signed)', () => signRaw('"hello"'), 'ERR_TOKEN_MALFORMED'],
  ['payload JSON null (validly signed)', () => signRaw('null'), 'ERR_TOKEN_MALFORMED'],
  ['typ JWT', () => mint(rsa, claims(), { typ: 'JWT' }), 'ERR_TOKEN_TYPE'],
  ['typ missing', () => mint(rsa, claims(), { typ: undefined }), 'ERR_TOKEN_TYPE'],
  ['typ application/jwt', () => mint(rsa, claims(), { typ: 'application/jwt' }), 'ERR_TOKEN_TYPE'],
  ['typ at+jwt lookalike', () => mint(rsa, claims(), { typ: 'at+jwt2' }), 'ERR_TOKEN_TYPE'],
  ['alg differs from the key alg (RS256 header, EC kid)', () => mint(outsider, claims(), { kid: ec.kid }), 'ERR_TOKEN_ALGORITHM'],
  ['alg outside the allow-list (PS256)', () => `${enc({ alg: 'PS256', kid: rsa.kid, typ: 'at+jwt' })}.${gp}.${gs}`, 'ERR_TOKEN_ALGORITHM'],
  ['expired', () => mint(rsa, claims({ iat: nowSec - 1000, exp: nowSec - 60 })), 'ERR_TOKEN_EXPIRED'],
  ['exp exactly now', () => mint(rsa, claims({ iat: nowSec - 1000, exp: nowSec - 30 })), 'ERR_TOKEN_EXPIRED'],
  ['iat in the future', () => mint(rsa, claims({ iat: nowSec + 120, exp: nowSec + 900 })), 'ERR_TOKEN_NOT_YET_VALID'],
  ['nbf in the future', () => mint(rsa, claims({ nbf: nowSec + 120 })), 'ERR_TOKEN_NOT_YET_VALID'],
  ['wrong aud', () => mint(rsa, claims({ aud: 'https://other.example.test' })), 'ERR_TOKEN_AUDIENCE'],
  ['aud array without us', () => mint(rsa, claims({ aud: ['https://a.example', 'https://b.example'] })), 'ERR_TOKEN_AUDIENCE'],
  ['aud missing', () => mint(rsa, claims({ aud: undefined })), 'ERR_TOKEN_AUDIENCE'],
  ['wrong iss', () => mint(rsa, claims({ iss: 'https://evil.example' })), 'ERR_TOKEN_ISSUER'],
  ['iss with trailing slash', () => mint(rsa, claims({ iss: `${iss}/` })), 'ERR_TOKEN_ISSUER'],
  ['iss missing', () => mint(rsa, claims({ iss: undefined })), 'ERR_TOKEN_ISSUER'],
  ['jti missing', () => mint(rsa, claims({ jti: undefined })), 'ERR_TOKEN_CLAIMS'],
  ['sub missing', () => mint(rsa, claims({ sub: undefined })), 'ERR_TOKEN_CLAIMS'],
  ['client_id missing', () => mint(rsa, claims({ client_id: undefined })), 'ERR_TOKEN_CLAIMS'],
  ['exp missing', () => mint(rsa, claims({ exp: undefined })), 'ERR_TOKEN_CLAIMS'],
  ['iat missing', () => mint(rsa, claims({ iat: undefined })), 'ERR_TOKEN_CLAIMS'],
  ['exp as a string', () => mint(rsa, claims({ exp: String(nowSec + 900) })), 'ERR_TOKEN_CLAIMS'],
  ['scope not a string', () => mint(rsa, claims({ scope: ['orders:read'] })), 'ERR_TOKEN_CLAIMS'],
  ['act without sub', () => mint(rsa, claims({ act: { client_id: 'x' } })), 'ERR_TOKEN_CLAIMS'],
]

for (const [name, make, code] of cases) {
  t.test(`${name} → ${code}`, async (t) => {
    const token = await make()
    await t.rejects(verifier.verify(token), { name: 'VerifierError', code })
  })
}

t.test('not a string at all', async (t) => {
  await t.rejects(verifier.verify(undefined as unknown as string), { code: 'ERR_TOKEN_MALFORMED' })
  await t.rejects(verifier.verify({ toString: () => good } as unknown as string), { code: 'ERR_TOKEN_MALFORMED' })
})

t.test('rejections are never fetch amplifiers: header-level garbage triggers no request', async (t) => {
  const cold = await startIssuer()
  t.teardown(() => cold.close())
  const v = createVerifier({ issuer: cold.issuer, audience: AUDIENCE })
  for (const token of ['', 'a.b', `${enc({ alg: 'none' })}.${gp}.`, `${enc({ alg: 'HS256', kid: 'x', typ: 'at+jwt' })}.${gp}.${gs}`, 'x'.repeat(20_000)]) {
    await t.rejects(v.verify(token))
  }
  t.equal(cold.counts.discovery + cold.counts.jwks, 0)
})

t.test('error messages never contain the token', async (t) => {
  const token = await mint(rsa, claims({ aud: 'nope' }))
  const err = await verifier.verify(token).catch((e: Error) => e)
  t.notMatch(String((err as Error).message), segments(token)[1])
})

t.test('symmetric algorithms cannot even be configured', async (t) => {
  t.throws(() => createVerifier({ issuer: iss, audience: AUDIENCE, algorithms: ['HS256' as 'RS256'] }), TypeError)
  t.throws(() => createVerifier({ issuer: iss, audience: AUDIENCE, algorithms: ['none' as 'RS256'] }), TypeError)
})
