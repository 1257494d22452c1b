import t from 'tap'
import { join } from 'node:path'
import pino from 'pino'
import { decodeProtectedHeader } from 'jose'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import { createVerifier, VerifierError } from '../../src/verifier/index.js'
import { freePort, runNode, ROTATE_KEYS, serverEnv, sleep, startServer, tempDir } from '../e2e/helpers.js'
import { loadConfig } from '../../src/config.js'
import { openRuntime } from '../../src/runtime.js'
import { generateClientSecret, hashClientSecret } from '../../src/clients/secret.js'

const SECRET = 'verifier-e2e-key-encryption-secret-0123456789'
const AUDIENCE = 'https://orders.example'

t.test('a verifier against a real keyturn: no false rejection across rotations, revocation within max-age', async (t) => {
  const dir = await tempDir(t, 'verifier-e2e')
  const env = {
    ...serverEnv(await freePort(), join(dir, 'keys')), KEYTURN_DATA_DIR: join(dir, 'data'), KEYTURN_KEY_ENCRYPTION_SECRET: SECRET,
    KEYTURN_ROTATION_INTERVAL: '2s', KEYTURN_KEY_PROPAGATION: '2s', KEYTURN_JWKS_MAX_AGE: '1s', KEYTURN_ACCESS_TOKEN_TTL: '10s',
    KEYTURN_CLOCK_SKEW: '1s', KEYTURN_LOG_LEVEL: 'warn',
  }
  const runtime = await openRuntime(loadConfig(env), pino({ level: 'silent' }))
  const secrets: Record<string, string> = {}
  for (const [id, alg] of [['rsa-svc', 'RS256'], ['ec-svc', 'ES256']] as const) {
    secrets[id] = generateClientSecret()
    await runtime.store.clients.create({
      id, alg, secretHash: hashClientSecret(secrets[id]!, runtime.clientSecretKey), authMethods: ['client_secret_basic'], grantTypes: ['client_credentials'],
      scopes: [], audiences: [AUDIENCE], createdAt: new Date().toISOString(),
    })
  }
  await runtime.store.close()
  const server = await startServer(t, env)

  const mint = async (id: string): Promise<string> => {
    const response = await fetch(`${server.url}/token`, {
      method: 'POST', body: 'grant_type=client_credentials',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secrets[id]}`).toString('base64')}` },
    })
    if (response.status !== 200) throw new Error(`token request failed: ${response.status}`)
    return ((await response.json()) as { access_token: string }).access_token
  }

  // Independent checkers accept keyturn's tokens: oauth4webapi's RFC 9068 validation, openid-client discovery.
  const issuerUrl = new URL(server.url)
  const as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }))
  for (const id of ['rsa-svc', 'ec-svc']) {
    const request = new Request('https://orders.example/orders', { headers: { authorization: `Bearer ${await mint(id)}` } })
    const claims = await oauth.validateJwtAccessToken(as, request, AUDIENCE, { [oauth.allowInsecureRequests]: true, signingAlgorithms: ['RS256', 'ES256'] })
    t.equal(claims.client_id, id, `oauth4webapi validates a ${id} token`)
  }
  const discovered = await client.discovery(issuerUrl, 'rsa-svc', secrets['rsa-svc'], client.ClientSecretBasic(secrets['rsa-svc']), { execute: [client.allowInsecureRequests] })
  t.equal(discovered.serverMetadata().issuer, server.url, 'openid-client discovery')
  const grant = await client.clientCredentialsGrant(discovered, {})
  t.equal(grant.token_type, 'bearer', 'openid-client gets a token with client_secret_basic')

  // A huge cooldown: the verifier may not rescue itself by refetching on an unknown kid, so every success below is
  // the issuer's doing (a key published before it signs, a retired key kept while its tokens live).
  const verifier = createVerifier({ issuer: server.url, audience: AUDIENCE, cooldownMs: 3_600_000 })
  const kids = new Set<string>()
  let verified = 0
  const rejections: string[] = []
  const check = async (token: string): Promise<void> => {
    try {
      await verifier.verify(token)
      verified++
    } catch (error) {
      rejections.push((error as VerifierError).code)
    }
  }
  const deadline = Date.now() + 16_000
  const held: { token: string; at: number }[] = []
  await Promise.all([0, 1, 2, 3].map(async (worker) => {
    while (Date.now() < deadline) {
      const token = await mint(worker % 2 === 0 ? 'rsa-svc' : 'ec-svc')
      kids.add(decodeProtectedHeader(token).kid!)
      await check(token)
      held.push({ token, at: Date.now() })
      // Re-verify a token minted a few seconds ago: its key may have retired since.
      const old = held.find((entry) => Date.now() - entry.at > 3000 && Date.now() - entry.at < 8000)
      if (old) await check(old.token)
      await sleep(5)
    }
  }))
  t.same(rejections, [], 'zero false rejections')
  t.ok(verified > 1000, `thousands of verifications (${verified})`)
  t.ok(kids.size >= 8, `across many rotations (${kids.size} signing keys seen)`)

  // Emergency revocation of the key that signed a fresh token.
  const token = await mint('rsa-svc')
  await check(token)
  const kid = decodeProtectedHeader(token).kid!
  const revoked = await runNode(ROTATE_KEYS, ['revoke', kid], env)
  t.equal(revoked.code, 0, 'revoke succeeded')
  const revokedAt = Date.now()
  let code: string | undefined
  while (Date.now() - revokedAt < 5000) {
    try {
      await verifier.verify(token)
    } catch (error) {
      code = (error as VerifierError).code
      break
    }
    await sleep(25)
  }
  const elapsed = Date.now() - revokedAt
  t.equal(code, 'ERR_KEY_UNKNOWN', 'the revoked kid is rejected')
  // Bound: the server's reload interval (200 ms) + the JWKS max-age it sends (≤ 1 s), plus scheduling slack.
  t.ok(elapsed <= 1200 + 1800, `rejected ${elapsed} ms after the revoke, within reload + max-age (+ slack for a loaded machine)`)
  t.equal(verifier.status().kids.includes(kid), false)
})
