import t from 'tap'
import { discoveryUrls } from '../../src/verifier/discovery.js'
import { createVerifier, type VerifierOptions } from '../../src/verifier/index.js'
import { startIssuer, type TestIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, makeKey, mint } from './helpers-tokens.js'

const key = await makeKey('ES256')

async function issuerWithKey(t: { teardown(fn: () => unknown): void }, options?: { serveOidc?: boolean }): Promise<TestIssuer> {
  const issuer = await startIssuer(options)
  t.teardown(() => issuer.close())
  issuer.keys = [key.publicJwk]
  return issuer
}

const verifyWith = async (issuer: TestIssuer, options: Partial<VerifierOptions> = {}) => {
  const v = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, ...options })
  return v.verify(await mint(key, claimsAt(issuer.issuer, Date.now())))
}

t.test('discovery URLs (OIDC first, RFC 8414 fallback with path insertion)', async (t) => {
  t.same(discoveryUrls(new URL('https://id.example')).map(String), [
    'https://id.example/.well-known/openid-configuration',
    'https://id.example/.well-known/oauth-authorization-server',
  ])
  t.same(discoveryUrls(new URL('https://id.example/tenant/a')).map(String), [
    'https://id.example/tenant/a/.well-known/openid-configuration',
    'https://id.example/.well-known/oauth-authorization-server/tenant/a',
  ])
})

t.test('falls back to /.well-known/oauth-authorization-server on 404', async (t) => {
  const issuer = await issuerWithKey(t, { serveOidc: false })
  t.equal((await verifyWith(issuer)).sub, 'user-123')
})

t.test('discovery issuer must equal the configured issuer exactly', async (t) => {
  const issuer = await issuerWithKey(t)
  issuer.discovery = { issuer: 'https://evil.example' }
  await t.rejects(verifyWith(issuer), { code: 'ERR_DISCOVERY' })
  issuer.discovery = {}
  const v = createVerifier({ issuer: `${issuer.issuer}/`, audience: AUDIENCE })
  await t.rejects(v.verify(await mint(key, claimsAt(`${issuer.issuer}/`, Date.now()))), { code: 'ERR_DISCOVERY' }, 'trailing slash is a different issuer')
  t.equal(v.status().lastError?.code, 'ERR_DISCOVERY')
})

t.test('jwks_uri on another origin is refused unless trusted', async (t) => {
  const issuer = await issuerWithKey(t)
  const cdn = await issuerWithKey(t)
  issuer.discovery = { jwks_uri: cdn.jwksUri }
  await t.rejects(verifyWith(issuer), { code: 'ERR_DISCOVERY' })
  t.equal(cdn.counts.jwks, 0, 'never fetched')
  t.equal((await verifyWith(issuer, { trustedJwksOrigins: [cdn.issuer] })).sub, 'user-123')
  t.equal(cdn.counts.jwks, 1)
})

t.test('bad jwks_uri values are refused', async (t) => {
  const issuer = await issuerWithKey(t)
  for (const jwks_uri of [undefined, 42, 'not a url', 'http://example.com/jwks', 'ftp://127.0.0.1/jwks']) {
    issuer.discovery = { jwks_uri }
    await t.rejects(verifyWith(issuer), { code: 'ERR_DISCOVERY' }, String(jwks_uri))
  }
})

t.test('discovery document that is not an object', async (t) => {
  const v = createVerifier({
    issuer: 'https://id.example',
    audience: AUDIENCE,
    fetch: async () => new Response('[1]', { status: 200 }),
  })
  await t.rejects(v.verify(await mint(key, claimsAt('https://id.example', Date.now()))), { code: 'ERR_DISCOVERY' })
})

t.test('issuer answering 503 on discovery → ERR_DISCOVERY', async (t) => {
  const issuer = await issuerWithKey(t)
  issuer.mode = 'error'
  await t.rejects(verifyWith(issuer), { code: 'ERR_DISCOVERY' })
})

t.test('a hanging issuer is cut by timeoutMs', async (t) => {
  const issuer = await issuerWithKey(t)
  issuer.mode = 'hang'
  const started = performance.now()
  await t.rejects(verifyWith(issuer, { timeoutMs: 200 }), { code: 'ERR_DISCOVERY' })
  t.ok(performance.now() - started < 2_000, 'bounded by the timeout')
})

t.test('a JWKS body over maxResponseBytes is refused', async (t) => {
  const issuer = await issuerWithKey(t)
  issuer.rawJwks = JSON.stringify({ keys: [key.publicJwk], pad: 'x'.repeat(10_000) })
  await t.rejects(verifyWith(issuer, { maxResponseBytes: 4_096 }), { code: 'ERR_JWKS_UNAVAILABLE' })
})

t.test('a streamed body over the limit (no content-length) is cut', async (t) => {
  const big = JSON.stringify({ keys: [], pad: 'x'.repeat(10_000) })
  let calls = 0
  const v = createVerifier({
    issuer: 'https://id.example',
    audience: AUDIENCE,
    maxResponseBytes: 4_096,
    fetch: async (input) => {
      calls++
      const url = String(input)
      if (url.endsWith('openid-configuration')) return Response.json({ issuer: 'https://id.example', jwks_uri: 'https://id.example/jwks' })
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(big))
          c.close()
        },
      })
      return new Response(stream, { status: 200 })
    },
  })
  await t.rejects(v.verify(await mint(key, claimsAt('https://id.example', Date.now()))), { code: 'ERR_JWKS_UNAVAILABLE' })
  t.equal(calls, 2, 'the injected fetch is used')
})

t.test('redirects are not followed', async (t) => {
  const issuer = await issuerWithKey(t)
  issuer.discovery = { jwks_uri: `${issuer.issuer}/redirect-jwks` }
  await t.rejects(verifyWith(issuer), { code: 'ERR_JWKS_UNAVAILABLE' })
  t.equal(issuer.counts.jwks, 0)
})

t.test('option validation', async (t) => {
  const ok = { issuer: 'https://id.example', audience: AUDIENCE }
  t.doesNotThrow(() => createVerifier(ok))
  t.doesNotThrow(() => createVerifier({ ...ok, issuer: 'http://localhost:3000' }), 'http on loopback is fine')
  t.doesNotThrow(() => createVerifier({ ...ok, issuer: 'http://keyturn:3000', allowHttp: true }))
  const bad: Array<Partial<VerifierOptions>> = [
    { issuer: '' },
    { issuer: 'not a url' },
    { issuer: 'http://keyturn:3000' },
    { issuer: 'https://id.example?x=1' },
    { audience: '' },
    { audience: [] },
    { algorithms: [] },
    { minCacheMs: -1 },
    { maxCacheMs: 10, minCacheMs: 20 },
    { maxStaleMs: Number.NaN },
    { trustedJwksOrigins: ['nope'] },
  ]
  for (const b of bad) t.throws(() => createVerifier({ ...ok, ...b } as VerifierOptions), TypeError, JSON.stringify(b))
})
