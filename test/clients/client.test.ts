import t from 'tap'
import { validateClient } from '../../src/clients/client.js'
import { checkClientJwksImport, isJwksUri, validateClientJwks } from '../../src/clients/jwks.js'
import { KeyturnError } from '../../src/errors.js'
import { makeClientKey } from './helpers.js'

const es = await makeClientKey('ES256')
const rs = await makeClientKey('RS256')
const ed = await makeClientKey('EdDSA')
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const base = { createdAt: '2026-01-01T00:00:00.000Z' }

const invalid = (input: unknown): string => {
  try {
    validateClient(input)
  } catch (error) {
    if (error instanceof KeyturnError && error.code === 'ERR_CLIENT_INVALID') return error.message
    throw error
  }
  throw new Error('accepted')
}

t.test('private_key_jwt clients: exactly one key source, no other method, no secret', async (t) => {
  const inline = validateClient({ ...base, id: 'a', authMethods: ['private_key_jwt'], jwks: { keys: [{ ...es.publicJwk, x5c: ['ignored'] }] } })
  t.same(Object.keys(inline.jwks!.keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'], 'only the members keyturn uses are kept')
  t.same(validateClient(inline), inline, 'validating a stored record again changes nothing')
  t.equal(validateClient({ ...base, id: 'b', authMethods: ['private_key_jwt'], jwksUri: 'https://b.example/jwks.json' }).jwksUri, 'https://b.example/jwks.json')
  const refusals: [string, Record<string, unknown>][] = [
    ['no keys', { authMethods: ['private_key_jwt'] }],
    ['both key sources', { authMethods: ['private_key_jwt'], jwks: { keys: [es.publicJwk] }, jwksUri: 'https://b.example/jwks' }],
    ['with a secret method', { authMethods: ['private_key_jwt', 'client_secret_basic'], jwks: { keys: [es.publicJwk] } }],
    ['with none', { authMethods: ['private_key_jwt', 'none'], jwks: { keys: [es.publicJwk] } }],
    ['with a secret hash', { authMethods: ['private_key_jwt'], jwks: { keys: [es.publicJwk] }, secretHash: 'abc' }],
    ['keys on a secret client', { jwks: { keys: [es.publicJwk] } }],
    ['http jwks_uri off loopback', { authMethods: ['private_key_jwt'], jwksUri: 'http://b.example/jwks' }],
    ['a private key', { authMethods: ['private_key_jwt'], jwks: { keys: [{ ...es.publicJwk, d: 'AAAA' }] } }],
  ]
  for (const [name, fields] of refusals) t.type(invalid({ ...base, id: 'x', ...fields }), 'string', name)
})

t.test('token exchange policy fields', async (t) => {
  const ok = validateClient({ ...base, id: 'a', grantTypes: [TE], exchangeAudiences: ['https://b.example'], mayAct: true })
  t.same(ok.exchangeAudiences, ['https://b.example'])
  t.equal(ok.mayAct, true)
  t.notOk('mayAct' in validateClient({ ...base, id: 'a', grantTypes: [TE], exchangeAudiences: ['b'], mayAct: false }), 'false is the default, not stored')
  t.type(invalid({ ...base, id: 'a', grantTypes: [TE] }), 'string', 'the grant needs exchange audiences')
  t.type(invalid({ ...base, id: 'a', exchangeAudiences: ['b'] }), 'string', 'exchange audiences need the grant')
  t.type(invalid({ ...base, id: 'a', mayAct: true }), 'string', 'mayAct needs the grant')
  t.type(invalid({ ...base, id: 'a', grantTypes: [TE], exchangeAudiences: ['b'], mayAct: 'yes' }), 'string', 'mayAct is a boolean')
  t.type(invalid({ ...base, id: 'a', authMethods: ['none'], grantTypes: [TE], exchangeAudiences: ['b'] }), 'string', 'not for public clients')
  t.type(invalid({ ...base, id: 'a', grantTypes: [TE], exchangeAudiences: ['has space'] }), 'string', 'audiences are checked')
})

t.test('client JWK sets: public signing keys of allowed types only', async (t) => {
  t.equal(validateClientJwks({ keys: [es.publicJwk, rs.publicJwk, ed.publicJwk] }).keys.length, 3)
  const refused: [string, unknown][] = [
    ['not a set', [es.publicJwk]],
    ['empty', { keys: [] }],
    ['too many', { keys: Array.from({ length: 21 }, (_, i) => ({ ...es.publicJwk, kid: `k${i}` })) }],
    ['RSA private member', { keys: [{ ...rs.publicJwk, p: 'AAAA' }] }],
    ['symmetric key', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }],
    ['oct without k', { keys: [{ kty: 'oct' }] }],
    ['HS256 alg', { keys: [{ ...es.publicJwk, alg: 'HS256' }] }],
    ['alg that does not fit the key', { keys: [{ ...es.publicJwk, alg: 'RS256' }] }],
    ['ES384 on a P-256 key', { keys: [{ ...es.publicJwk, alg: 'ES384' }] }],
    ['use enc', { keys: [{ ...es.publicJwk, use: 'enc' }] }],
    ['key_ops without verify', { keys: [{ ...es.publicJwk, key_ops: ['sign'] }] }],
    ['duplicate kid', { keys: [es.publicJwk, { ...es.publicJwk }] }],
    ['unknown curve', { keys: [{ ...es.publicJwk, crv: 'secp256k1', alg: undefined }] }],
    ['RSA under 2048 bits', { keys: [{ ...rs.publicJwk, n: rs.publicJwk.n!.slice(0, 170) }] }],
    ['not base64url', { keys: [{ ...es.publicJwk, x: 'a+b/' }] }],
  ]
  for (const [name, input] of refused) t.throws(() => validateClientJwks(input), { code: 'ERR_CLIENT_INVALID' }, name)
  await t.resolves(checkClientJwksImport(validateClientJwks({ keys: [es.publicJwk, rs.publicJwk, ed.publicJwk] })))
  const offCurve = validateClientJwks({ keys: [{ ...es.publicJwk, y: es.publicJwk.x }] })
  await t.rejects(checkClientJwksImport(offCurve), { code: 'ERR_CLIENT_INVALID' }, 'a point not on the curve')
})

t.test('jwks_uri values', async (t) => {
  for (const uri of ['https://svc.example/jwks.json', 'http://localhost:8080/jwks', 'http://127.0.0.1:1/k', 'http://[::1]/k']) t.ok(isJwksUri(uri), uri)
  for (const uri of ['http://svc.example/jwks', 'ftp://svc.example/k', 'https://user:pw@svc.example/k', 'https://svc.example/k#frag', '/relative', 'https://']) t.notOk(isJwksUri(uri), uri)
})
