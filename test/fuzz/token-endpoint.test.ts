import t from 'tap'
import fc from 'fast-check'
import { buildTestIssuer, basic, post } from '../helper.js'
import { assertionParams, makeAssertion, makeClientKey } from '../clients/helpers.js'
import { FUZZ_ENV, changedTables, checkAnswer, fcParams, storeSnapshots, tripwire } from './helpers.js'
import { formRequest, mutations, mutate, param, toInject, type FormRequest } from './form-request.js'

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const ORDERS = 'https://orders.example'
const BILLING = 'https://billing.example'
const PASSWORD = 'correct horse battery'

/**
 * POST /token, driven by valid requests of every grant and client authentication method, each mutated 1-4 times:
 * parameters dropped, repeated, edited, swapped or added, headers replaced or edited, the encoded body edited, raw
 * bytes spliced in. Whatever comes out: no 5xx, an RFC 6749 error body with no-store, no unhandled rejection,
 * and the store exactly as it was whenever the request was refused.
 */
t.test('/token survives mutated requests of every grant', async (t) => {
  const issuer = await buildTestIssuer(t, FUZZ_ENV)
  const wire = tripwire(t)
  const snapshot = storeSnapshots(t, issuer)
  const key = await makeClientKey('ES256')
  const secrets = {
    svc: await issuer.addClient({ id: 'svc', grantTypes: ['client_credentials', TE], scopes: ['orders:read', 'orders:write'], audiences: [ORDERS, BILLING], resources: [ORDERS], exchangeAudiences: [BILLING], mayAct: true }),
    post: await issuer.addClient({ id: 'post', authMethods: ['client_secret_post'], scopes: ['orders:read'] }),
  }
  await issuer.addClient({ id: 'jwt', authMethods: ['private_key_jwt'], secretHash: undefined, jwks: { keys: [key.publicJwk as never] }, scopes: ['orders:read'] })
  await issuer.addClient({ id: 'spa', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], scopes: ['orders:read', 'profile'], audiences: [ORDERS] })
  await issuer.addUser('alice', PASSWORD)
  const signIn = async (): Promise<{ access_token: string; refresh_token: string }> =>
    (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: PASSWORD })).json()
  const session = await signIn()
  let refreshToken = session.refresh_token

  const bases: Record<string, () => Promise<FormRequest>> = {
    basic: async () => formRequest('/token', { grant_type: 'client_credentials', scope: 'orders:read', resource: ORDERS }, { authorization: basic('svc', secrets.svc) }),
    post: async () => formRequest('/token', { grant_type: 'client_credentials', client_id: 'post', client_secret: secrets.post }),
    assertion: async () => formRequest('/token', { grant_type: 'client_credentials', ...assertionParams(await makeAssertion({ clientId: 'jwt', key, now: issuer.clock.now() })) }),
    password: async () => formRequest('/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: PASSWORD, scope: 'orders:read' }),
    refresh: async () => formRequest('/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: refreshToken }),
    exchange: async () => formRequest('/token', { grant_type: TE, subject_token: session.access_token, subject_token_type: AT, audience: BILLING }, { authorization: basic('svc', secrets.svc) }),
  }
  const statuses = new Map<number, number>()

  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...Object.keys(bases)), mutations, async (name, changes) => {
      const base = await bases[name]!()
      const request = changes.reduce(mutate, base)
      const before = snapshot()
      const response = await issuer.app.inject(toInject(request))
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      await wire.check()
      checkAnswer(response)
      if (response.statusCode === 200) {
        // Accepted after all (a harmless mutation): rotated refresh tokens move the base along.
        const issued = response.json() as { refresh_token?: string }
        if (param(request, 'grant_type') === 'refresh_token' && issued.refresh_token !== undefined) refreshToken = issued.refresh_token
        return
      }
      // RFC 7523 §3: a client assertion that verified is spent even if the request then fails, so its jti may be recorded.
      const spent = name === 'assertion' && param(request, 'client_assertion') === param(base, 'client_assertion')
      const changed = changedTables(before, snapshot()).filter((table) => !(spent && table === 'used_assertions'))
      if (changed.length > 0) throw new Error(`refused with ${response.statusCode} ${response.body.slice(0, 200)} but ${changed.join(', ')} changed`)
    }),
    fcParams(),
  )
  t.pass('no 5xx, only RFC 6749 errors, store unchanged by every refusal')
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
})

/** Purely random requests: any bytes, any content type, any credentials. */
t.test('/token survives random requests', async (t) => {
  const issuer = await buildTestIssuer(t, FUZZ_ENV)
  const wire = tripwire(t)
  const snapshot = storeSnapshots(t, issuer)
  await issuer.addClient({ id: 'svc' })
  const before = snapshot()
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.string({ maxLength: 500 }).map((s) => Buffer.from(s))),
      fc.option(fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data'), { nil: undefined }),
      fc.option(fc.string({ maxLength: 100, unit: 'binary-ascii' }), { nil: undefined }),
      async (body, contentType, authorization) => {
        const headers: Record<string, string> = {}
        if (contentType !== undefined) headers['content-type'] = contentType
        if (authorization !== undefined) headers.authorization = `Basic ${authorization.replace(/[^\t\x20-\x7e]/g, '')}`
        const response = await issuer.app.inject({ method: 'POST', url: '/token', headers, payload: Buffer.from(body) })
        await wire.check()
        checkAnswer(response)
        if (response.statusCode < 400) throw new Error(`random input accepted: ${response.statusCode}`)
        const changed = changedTables(before, snapshot())
        if (changed.length > 0) throw new Error(`a refused request changed ${changed.join(', ')}`)
      },
    ),
    fcParams(),
  )
  t.pass('random bodies and credentials: refused cleanly, store unchanged')
})
