import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { freshnessFromHeaders, clampFreshness } from '../../src/verifier/cache-control.js'
import { importKeySet, NotAJwkSetError, publicSigningJwk } from '../../src/verifier/key-set.js'
import { createVerifier } from '../../src/verifier/index.js'
import { startIssuer } from './helpers-issuer.js'
import { AUDIENCE, claimsAt, makeKey, mint } from './helpers-tokens.js'

const allow = new Set(['RS256', 'ES256'] as const)
const rsa = await makeKey('RS256')
const ec = await makeKey('ES256')

t.test('publicSigningJwk accepts keyturn-shaped keys', async (t) => {
  t.same(publicSigningJwk(rsa.publicJwk, allow)?.kid, rsa.kid)
  t.same(publicSigningJwk(ec.publicJwk, allow)?.alg, 'ES256')
  t.same(publicSigningJwk({ ...rsa.publicJwk, use: undefined, key_ops: ['verify'] }, allow)?.kid, rsa.kid, 'use optional')
})

t.test('publicSigningJwk refuses anything else', async (t) => {
  const priv = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })
  const bad: Array<[string, unknown]> = [
    ['private RSA members', { ...priv, kid: 'p', alg: 'RS256', use: 'sig' }],
    ['oct key', { kty: 'oct', k: 'c2VjcmV0', kid: 'o', alg: 'HS256' }],
    ['oct key claiming RS256', { kty: 'oct', k: 'c2VjcmV0', kid: 'o', alg: 'RS256' }],
    ['use enc', { ...rsa.publicJwk, use: 'enc' }],
    ['key_ops without verify', { ...rsa.publicJwk, key_ops: ['encrypt'] }],
    ['no alg', { ...rsa.publicJwk, alg: undefined }],
    ['alg not allowed', { ...rsa.publicJwk, alg: 'PS256' }],
    ['alg for another key type', { ...ec.publicJwk, alg: 'RS256' }],
    ['EC on the wrong curve for alg', { ...ec.publicJwk, crv: 'P-384' }],
    ['no kid', { ...rsa.publicJwk, kid: undefined }],
    ['kid not a string', { ...rsa.publicJwk, kid: 7 }],
    ['missing n', { ...rsa.publicJwk, n: undefined }],
    ['not an object', 'RS256'],
    ['null', null],
  ]
  for (const [name, jwk] of bad) t.equal(publicSigningJwk(JSON.parse(JSON.stringify(jwk ?? null)), allow), undefined, name)
})

t.test('importKeySet ignores and counts unusable entries, drops duplicate kids', async (t) => {
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
  const set = await importKeySet(
    {
      keys: [
        rsa.publicJwk,
        ec.publicJwk,
        { ...small, kid: 'small', alg: 'RS256', use: 'sig' },
        { ...rsa.publicJwk, kid: 'dup' },
        { ...ec.publicJwk, kid: 'dup' },
        { ...rsa.publicJwk, kid: 'garbage-n', n: 'AAAA' },
        { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' },
      ],
    },
    allow,
  )
  t.same([...set.keys.keys()], [rsa.kid, ec.kid])
  t.equal(set.ignored, 5)
})

t.test('importKeySet reuses imported keys when unchanged', async (t) => {
  const first = await importKeySet({ keys: [rsa.publicJwk] }, allow)
  const second = await importKeySet({ keys: [rsa.publicJwk, ec.publicJwk] }, allow, first.keys)
  t.equal(second.keys.get(rsa.kid), first.keys.get(rsa.kid))
})

t.test('importKeySet refuses non-JWK-Set documents', async (t) => {
  for (const doc of [null, [], {}, { keys: 'x' }, 'keys']) await t.rejects(importKeySet(doc, allow), NotAJwkSetError)
})

t.test('a token whose kid is published only as an unusable key is ERR_KEY_UNKNOWN', async (t) => {
  const issuer = await startIssuer()
  t.teardown(() => issuer.close())
  issuer.keys = [{ ...rsa.publicJwk, alg: undefined }]
  const v = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE })
  await t.rejects(v.verify(await mint(rsa, claimsAt(issuer.issuer, Date.now()))), { code: 'ERR_KEY_UNKNOWN' })
  t.equal(v.status().ignoredKeys, 1)
})

t.test('freshnessFromHeaders', async (t) => {
  const h = (cc?: string, age?: string) => {
    const headers = new Headers()
    if (cc !== undefined) headers.set('cache-control', cc)
    if (age !== undefined) headers.set('age', age)
    return freshnessFromHeaders(headers)
  }
  t.equal(h('public, max-age=300'), 300_000)
  t.equal(h('max-age="30"'), 30_000)
  t.equal(h('Public, MAX-AGE=10'), 10_000)
  t.equal(h('public, max-age=300', '100'), 200_000, 'Age is subtracted')
  t.equal(h('public, max-age=300', '900'), 0, 'never negative')
  t.equal(h('no-cache'), 0)
  t.equal(h('max-age=60, no-store'), 0)
  t.equal(h('public'), undefined)
  t.equal(h('max-age=-5'), undefined)
  t.equal(h('max-age=abc'), undefined)
  t.equal(h('s-maxage=600'), undefined)
  t.equal(h(), undefined)
  const bounds = { minCacheMs: 1_000, maxCacheMs: 300_000, defaultCacheMs: 60_000 }
  t.equal(clampFreshness(undefined, bounds), 60_000)
  t.equal(clampFreshness(0, bounds), 1_000)
  t.equal(clampFreshness(3_600_000, bounds), 300_000)
})
