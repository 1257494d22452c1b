import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import t from 'tap'
import { createVerifier } from '../../src/verifier/index.js'
import { startIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, makeKey, mint } from './helpers-tokens.js'

// Independent implementations use the real clock, so tokens are minted "now".
const issuer = await startIssuer()
t.teardown(() => issuer.close())
const rsa = await makeKey('RS256')
const ec = await makeKey('ES256')
issuer.keys = [rsa.publicJwk, ec.publicJwk]
const iss = issuer.issuer
const now = () => Date.now()
const nowSec = () => Math.floor(Date.now() / 1000)

const ours = createVerifier({ issuer: iss, audience: AUDIENCE })
const issuerUrl = new URL(iss)
const as = await oauth.processDiscoveryResponse(
  issuerUrl,
  await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }),
)

/** oauth4webapi's RFC 9068 + RFC 6750 resource-server check. */
async function theirs(token: string): Promise<oauth.JWTAccessTokenClaims> {
  const request = new Request('http://rs.example.test/orders', { headers: { authorization: `Bearer ${token}` } })
  return oauth.validateJwtAccessToken(as, request, AUDIENCE, { [oauth.allowInsecureRequests]: true, signingAlgorithms: ['RS256', 'ES256'] })
}

const remote = createRemoteJWKSet(new URL(issuer.jwksUri))
/** jose's own verification with the RFC 9068 typ. */
const joseVerify = (token: string) => jwtVerify(token, remote, { issuer: iss, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['RS256', 'ES256'] })

t.test('openid-client discovery works against the test issuer and agrees with ours', async (t) => {
  const config = await client.discovery(issuerUrl, 'client-abc', undefined, client.None(), { execute: [client.allowInsecureRequests] })
  const metadata = config.serverMetadata()
  t.equal(metadata.issuer, iss)
  t.equal(metadata.jwks_uri, issuer.jwksUri)
  const status = await ours.refresh()
  t.equal(status.jwksUri, metadata.jwks_uri)
  t.equal(as.jwks_uri, metadata.jwks_uri, 'oauth4webapi discovery agrees too')
})

const good: Array<[string, () => Promise<string>]> = [
  ['RS256', () => mint(rsa, claimsAt(iss, now()))],
  ['ES256', () => mint(ec, claimsAt(iss, now()))],
  ['typ application/at+jwt', () => mint(rsa, claimsAt(iss, now()), { typ: 'application/at+jwt' })],
  ['aud array', () => mint(ec, claimsAt(iss, now(), { aud: [AUDIENCE, 'https://other.example'] }))],
  ['act claim', () => mint(rsa, claimsAt(iss, now(), { act: { sub: 'svc-a' } }))],
]

for (const [name, make] of good) {
  t.test(`accepted by oauth4webapi, jose and keyturn/verifier: ${name}`, async (t) => {
    const token = await make()
    const a = await theirs(token)
    const b = await ours.verify(token)
    const c = await joseVerify(token)
    t.same(b, a, 'same claims as oauth4webapi')
    t.same(b, c.payload, 'same claims as jose')
  })
}

const bad: Array<[string, () => Promise<string>]> = [
  ['typ JWT', () => mint(rsa, claimsAt(iss, now()), { typ: 'JWT' })],
  ['expired', () => mint(rsa, claimsAt(iss, now(), { iat: nowSec() - 3600, exp: nowSec() - 600 }))],
  ['wrong aud', () => mint(rsa, claimsAt(iss, now(), { aud: 'https://other.example' }))],
  ['wrong iss', () => mint(rsa, claimsAt(iss, now(), { iss: 'https://evil.example' }))],
  ['missing jti', () => mint(rsa, claimsAt(iss, now(), { jti: undefined }))],
  ['missing client_id', () => mint(rsa, claimsAt(iss, now(), { client_id: undefined }))],
  ['missing sub', () => mint(rsa, claimsAt(iss, now(), { sub: undefined }))],
  ['missing iat', () => mint(rsa, claimsAt(iss, now(), { iat: undefined }))],
]

for (const [name, make] of bad) {
  t.test(`rejected by oauth4webapi and keyturn/verifier: ${name}`, async (t) => {
    const token = await make()
    await t.rejects(theirs(token), 'oauth4webapi rejects')
    await t.rejects(ours.verify(token), { name: 'VerifierError' }, 'keyturn/verifier rejects')
  })
}
