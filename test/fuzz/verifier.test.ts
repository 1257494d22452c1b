import Fastify from 'fastify'
import fc from 'fast-check'
import { base64url, CompactSign } from 'jose'
import t from 'tap'
import { createVerifier, TOKEN_ERROR_CODES, VerifierError } from '../../src/verifier/index.js'
import { keyturnAuth } from '../../src/verifier/fastify-plugin.js'
import { startIssuer } from '../verifier/helpers-issuer.js'
import { AUDIENCE, claimsAt, fakeClock, makeKey, mint, type TestKey } from '../verifier/helpers-tokens.js'
import { fcParams, fragment, mutateToken, tokenMutation, tripwire } from './helpers.js'

const issuer = await startIssuer()
t.teardown(() => issuer.close())
const clock = fakeClock()
const rsa = await makeKey('RS256')
const ec = await makeKey('ES256')
const outsider = await makeKey('RS256')
issuer.keys = [rsa.publicJwk, ec.publicJwk]
const verifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, now: clock.now })
const goodRsa = await mint(rsa, claimsAt(issuer.issuer, clock.t))
const goodEc = await mint(ec, claimsAt(issuer.issuer, clock.t))
const TOKEN_CODES: ReadonlySet<string> = new Set(TOKEN_ERROR_CODES)
// Properties pick tokens by name, so that a failure report shows what was done to a token, never a token.
const GOOD = { rsa: goodRsa, ec: goodEc } as const
const goodName = fc.constantFrom<keyof typeof GOOD>('rsa', 'ec')
const wire = tripwire(t)

/** The one acceptable way to fail: a VerifierError with a token code (the fake issuer is up, so never a 503 code). */
async function refusal(token: string): Promise<string> {
  let outcome: unknown
  try {
    await verifier.verify(token)
    outcome = undefined
  } catch (error) {
    outcome = error
  }
  await wire.check()
  if (outcome === undefined) throw new Error('accepted')
  if (!(outcome instanceof VerifierError)) throw new Error(`threw a ${(outcome as Error)?.constructor?.name}: ${String(outcome)}`)
  if (!TOKEN_CODES.has(outcome.code)) throw new Error(`refused with ${outcome.code}, not a token error`)
  return outcome.code
}

const enc = (value: unknown): string => base64url.encode(typeof value === 'string' ? value : JSON.stringify(value))
const codes = new Map<string, number>()
const count = (code: string): void => {
  codes.set(code, (codes.get(code) ?? 0) + 1)
}

t.test('baseline: the untouched tokens verify', async (t) => {
  t.equal((await verifier.verify(goodRsa)).sub, 'user-123')
  t.equal((await verifier.verify(goodEc)).sub, 'user-123')
})

t.test('damaged tokens (flipped, edited, reshuffled) are refused with a token error code', async (t) => {
  await fc.assert(
    fc.asyncProperty(goodName, tokenMutation, async (name, change) => {
      const good = GOOD[name]
      const token = mutateToken(good, change)
      fc.pre(token !== good)
      count(await refusal(token))
    }),
    fcParams(),
  )
  t.pass('every damaged token refused')
})

/** Header members an attacker would play with. */
const forgedHeader = fc.record(
  {
    alg: fc.oneof(fc.constantFrom('none', 'None', 'HS256', 'RS256', 'ES256', 'PS256', 'RS512', 'EdDSA', 'rs256', ''), fc.jsonValue({ maxDepth: 1 })),
    kid: fc.oneof(fc.constantFrom(rsa.kid, ec.kid, outsider.kid, '', 'x'.repeat(300), '../../etc/passwd'), fc.jsonValue({ maxDepth: 1 })),
    typ: fc.oneof(fc.constantFrom('at+jwt', 'AT+JWT', 'application/at+jwt', 'JWT', 'at+jwt '), fc.jsonValue({ maxDepth: 1 })),
    crit: fc.constantFrom(['exp'], ['b64'], [], 'b64'),
    b64: fc.boolean(),
    jwk: fc.constant(outsider.publicJwk),
    jku: fc.constant('https://evil.example/jwks'),
    x5c: fc.constant(['MIIB']),
    zip: fc.constant('DEF'),
    nested: fc.jsonValue({ maxDepth: 6 }),
  },
  { requiredKeys: [] },
)

t.test('forged headers on a real payload and signature are refused', async (t) => {
  await fc.assert(
    fc.asyncProperty(goodName, forgedHeader, async (name, header) => {
      const good = GOOD[name]
      const [, payload, signature] = good.split('.')
      const token = `${enc(header)}.${payload}.${signature}`
      fc.pre(token !== good)
      count(await refusal(token))
    }),
    fcParams(),
  )
  t.pass('every forged header refused')
})

/** Claims sets around the valid one: each member dropped, retyped or replaced, plus deep and odd JSON. */
const claimsSet = fc.oneof(
  fc.record(
    {
      iss: fc.oneof(fc.constant(issuer.issuer), fc.constant(`${issuer.issuer}/`), fc.jsonValue({ maxDepth: 1 })),
      sub: fc.oneof(fc.constant('user-123'), fc.jsonValue({ maxDepth: 2 })),
      aud: fc.oneof(fc.constant(AUDIENCE), fc.constant([AUDIENCE, 'x']), fc.constant([[AUDIENCE]]), fc.jsonValue({ maxDepth: 2 })),
      exp: fc.oneof(fc.constant(Math.floor(clock.t / 1000) + 600), fc.double(), fc.constantFrom('9999999999', 1e308, -1, null)),
      iat: fc.oneof(fc.constant(Math.floor(clock.t / 1000)), fc.double(), fc.constantFrom('0', 1e308)),
      nbf: fc.oneof(fc.double(), fc.constantFrom('0', null)),
      jti: fc.oneof(fc.constant('j'), fc.jsonValue({ maxDepth: 1 })),
      client_id: fc.oneof(fc.constant('client-abc'), fc.jsonValue({ maxDepth: 1 })),
      scope: fc.oneof(fc.constant('orders:read'), fc.jsonValue({ maxDepth: 1 })),
      act: fc.oneof(fc.constant({ sub: 'svc' }), fc.jsonValue({ maxDepth: 4 })),
    },
    { requiredKeys: [] },
  ).map((claims) => JSON.stringify(claims)),
  // The valid claim set with at most one member dropped or replaced: reaches the time checks, and is sometimes valid.
  fc.tuple(fc.constantFrom('', 'iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope', 'act'), fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }))
    .map(([name, value]) => JSON.stringify({ ...claimsAt(issuer.issuer, clock.t), ...(name === '' ? {} : { [name]: value }) })),
  fc.jsonValue({ maxDepth: 8 }).map((value) => JSON.stringify(value)),
  fc.constant(`{"__proto__":${JSON.stringify(claimsAt(issuer.issuer, clock.t))}}`),
  fc.integer({ min: 1, max: 5000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.integer({ min: 1, max: 3000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
).map((json) => new TextEncoder().encode(json))

/** Payload bytes: claim sets as UTF-8 JSON, or raw bytes (not UTF-8, not JSON). */
const payloadBytes = fc.oneof({ weight: 4, arbitrary: claimsSet }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) })

t.test('validly signed payloads of any shape: accepted only when every claim holds, else a token error', async (t) => {
  const sign = (key: TestKey, payload: Uint8Array): Promise<string> =>
    new CompactSign(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey)
  let accepted = 0
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(rsa, ec), payloadBytes, async (key, payload) => {
      const token = await sign(key, payload)
      try {
        const claims = await verifier.verify(token)
        await wire.check()
        accepted++
        // Accepted: then the claims really are a keyturn access token's, for us, now.
        if (claims.iss !== issuer.issuer || typeof claims.sub !== 'string' || typeof claims.client_id !== 'string') throw new Error('accepted bad claims')
      } catch (error) {
        if (!(error instanceof VerifierError)) throw error
        if (!TOKEN_CODES.has(error.code)) throw new Error(`refused with ${error.code}`)
        count(error.code)
      }
    }),
    fcParams(200),
  )
  t.pass(`no untyped error (${accepted} well-formed claim sets accepted)`)
})

t.test('random strings are refused with a token error code', async (t) => {
  const segment = fc.string({ maxLength: 60, unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/') })
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 200, unit: 'binary' }),
        fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
        fc.tuple(fragment, fc.integer({ min: 1, max: 4 })).map(([text, n]) => text.repeat(n * 5000)),
      ),
      async (token) => {
        count(await refusal(token))
      },
    ),
    fcParams(),
  )
  t.comment(`refusal codes: ${JSON.stringify(Object.fromEntries([...codes].sort()))}`)
  t.pass('every random string refused')
})

t.test('keyturn/fastify answers any Authorization header with 401 or 400, never 5xx', async (t) => {
  const app = Fastify()
  await app.register(keyturnAuth, { verifier })
  app.get('/me', async (request) => ({ sub: request.auth?.sub }))
  t.teardown(() => app.close())
  const header = fc.oneof(
    fc.string({ maxLength: 100, unit: 'binary-ascii' }),
    tokenMutation,
    fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Bearer  ', 'Bearer\t'), fc.string({ maxLength: 60, unit: 'binary-ascii' })).map(([scheme, rest]) => `${scheme} ${rest}`),
  )
  await fc.assert(
    fc.asyncProperty(header, async (value) => {
      const authorization = typeof value === 'string' ? value : `Bearer ${mutateToken(goodEc, value)}`
      const sendable = authorization.replace(/[^\t\x20-\x7e]/g, '')
      const response = await app.inject({ method: 'GET', url: '/me', headers: { authorization: sendable } })
      await wire.check()
      const ok = sendable.trim() === `Bearer ${goodEc}` || /^bearer +/i.test(sendable) && sendable.replace(/^bearer +/i, '').trim() === goodEc
      if (response.statusCode === 200 && ok) return
      if (response.statusCode !== 401 && response.statusCode !== 400) throw new Error(`${response.statusCode} ${response.body.slice(0, 200)}`)
      if (!String(response.headers['www-authenticate']).startsWith('Bearer realm=')) throw new Error('no Bearer challenge')
    }),
    fcParams(),
  )
  t.pass('only 401/400 with a Bearer challenge')
})
