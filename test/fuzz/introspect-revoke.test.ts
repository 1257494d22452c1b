import t from 'tap'
import fc from 'fast-check'
import { buildTestIssuer, basic, post } from '../helper.js'
import { FUZZ_ENV, changedTables, checkAnswer, fcParams, mutateToken, storeSnapshots, tokenMutation, tripwire } from './helpers.js'
import { formRequest, mutations, mutate, param, toInject, type FormRequest } from './form-request.js'

const ORDERS = 'https://orders.example'
const PASSWORD = 'correct horse battery'
const ORIGIN = 'https://app.example'

interface Tokens {
  access: string
  refresh: string
  publicRefresh: string
  cookieRefresh: string
}

/** Confidential `web` and `svc`, public `spa`, cookie-mode `browser`; one user; fresh tokens on demand. */
async function setup(t: Parameters<typeof buildTestIssuer>[0]) {
  const issuer = await buildTestIssuer(t, FUZZ_ENV)
  const secrets = {
    svc: await issuer.addClient({ id: 'svc', scopes: ['orders:read'], audiences: [ORDERS] }),
    web: await issuer.addClient({ id: 'web', grantTypes: ['password', 'refresh_token', 'client_credentials'], scopes: ['orders:read'], audiences: [ORDERS] }),
    orders: await issuer.addClient({ id: 'orders-api', resources: [ORDERS], grantTypes: [] }),
  }
  await issuer.addClient({ id: 'spa', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], scopes: ['orders:read'], audiences: [ORDERS] })
  await issuer.addClient({ id: 'browser', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], refreshCookie: true, origins: [ORIGIN] })
  await issuer.addUser('alice', PASSWORD)
  const mint = async (): Promise<Tokens> => {
    const web = (await post(issuer, '/token', { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: basic('web', secrets.web) })).json()
    const spa = (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: PASSWORD })).json()
    const browser = await post(issuer, '/token', { grant_type: 'password', client_id: 'browser', username: 'alice', password: PASSWORD })
    const cookie = /keyturn_refresh=([^;]+)/.exec(String(browser.headers['set-cookie']))?.[1]
    if (!web.refresh_token || !spa.refresh_token || !cookie) throw new Error('setup: sign-in failed')
    return { access: web.access_token, refresh: web.refresh_token, publicRefresh: spa.refresh_token, cookieRefresh: cookie }
  }
  return { issuer, secrets, mint }
}

/**
 * Whether a request still presents the token its base did: the `token` parameter, or for sign-out the refresh
 * cookie (anywhere in the Cookie header: other cookies around it do not matter).
 */
function presentsSameToken(request: FormRequest, base: FormRequest, tokens: Tokens): boolean {
  if (request.url === '/token/sign-out') return (request.headers.cookie ?? '').includes(`keyturn_refresh=${tokens.cookieRefresh}`)
  return param(request, 'token') === param(base, 'token')
}

/**
 * /introspect, /revoke and /token/sign-out, from valid requests mutated 1-4 times. Introspection never writes; a
 * revocation may only write when it presents the exact token it started from, with a 200. Any token that is not
 * exactly the issued one introspects as inactive.
 */
t.test('/introspect, /revoke and /token/sign-out survive mutated requests', async (t) => {
  const { issuer, secrets, mint } = await setup(t)
  const wire = tripwire(t)
  const snapshot = storeSnapshots(t, issuer)
  let tokens = await mint()
  const bases: Record<string, (tk: Tokens) => FormRequest> = {
    introspectAccess: (tk) => formRequest('/introspect', { token: tk.access }, { authorization: basic('web', secrets.web) }),
    introspectByResource: (tk) => formRequest('/introspect', { token: tk.access, token_type_hint: 'access_token' }, { authorization: basic('orders-api', secrets.orders) }),
    introspectRefresh: (tk) => formRequest('/introspect', { token: tk.refresh, token_type_hint: 'refresh_token' }, { authorization: basic('web', secrets.web) }),
    revokeAccess: (tk) => formRequest('/revoke', { token: tk.access, token_type_hint: 'access_token', client_id: 'web', client_secret: secrets.web }),
    revokeRefresh: (tk) => formRequest('/revoke', { token: tk.refresh }, { authorization: basic('web', secrets.web) }),
    revokePublic: (tk) => formRequest('/revoke', { token: tk.publicRefresh, token_type_hint: 'refresh_token', client_id: 'spa' }),
    signOut: (tk) => formRequest('/token/sign-out', { client_id: 'browser' }, { cookie: `keyturn_refresh=${tk.cookieRefresh}`, origin: ORIGIN }),
  }
  const statuses = new Map<string, number>()

  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...Object.keys(bases)), mutations, async (name, changes) => {
      const base = bases[name]!(tokens)
      const request = changes.reduce(mutate, base)
      const before = snapshot()
      const response = await issuer.app.inject(toInject(request))
      statuses.set(`${request.url} ${response.statusCode}`, (statuses.get(`${request.url} ${response.statusCode}`) ?? 0) + 1)
      await wire.check()
      checkAnswer(response)
      const changed = changedTables(before, snapshot())
      const sameToken = presentsSameToken(request, base, tokens)
      if (request.url === '/introspect') {
        if (changed.length > 0) throw new Error(`introspection changed ${changed.join(', ')}`)
        if (response.statusCode === 200 && !sameToken && (response.json() as { active: boolean }).active) throw new Error('a mutated token introspected as active')
        return
      }
      if (changed.length > 0 && !(response.statusCode === 200 && sameToken)) {
        throw new Error(`${response.statusCode} with ${sameToken ? 'the issued' : 'a mutated'} token changed ${changed.join(', ')}`)
      }
      // A revocation went through: start again from live tokens so later runs revoke something too.
      if (changed.length > 0) tokens = await mint()
    }),
    fcParams(),
  )
  t.pass('no 5xx, RFC errors only, writes only from exact, accepted revocations')
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
})

/**
 * The token alone, mutated the way tokens get damaged or forged: one character flipped, edited, segments swapped.
 * Introspection must say inactive and revocation must write nothing.
 */
t.test('mutated tokens are inactive and revoke nothing', async (t) => {
  const { issuer, secrets, mint } = await setup(t)
  const wire = tripwire(t)
  const snapshot = storeSnapshots(t, issuer)
  const tokens = await mint()
  await fc.assert(
    fc.asyncProperty(fc.constantFrom<keyof Tokens>('access', 'refresh'), tokenMutation, fc.constantFrom('/introspect', '/revoke'), async (kind, change, url) => {
      const token = mutateToken(tokens[kind], change)
      fc.pre(token !== tokens[kind])
      const before = snapshot()
      const response = await issuer.app.inject(toInject(formRequest(url, { token }, { authorization: basic('web', secrets.web) })))
      await wire.check()
      checkAnswer(response)
      if (url === '/introspect' && response.statusCode === 200 && (response.json() as { active: boolean }).active) throw new Error('a mutated token is active')
      const changed = changedTables(before, snapshot())
      if (changed.length > 0) throw new Error(`revoking a mutated token changed ${changed.join(', ')}`)
    }),
    fcParams(),
  )
  const live = await issuer.app.inject(toInject(formRequest('/introspect', { token: tokens.access }, { authorization: basic('web', secrets.web) })))
  t.equal(live.json().active, true, 'the untouched token is still active')
})
