import t from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { buildTestIssuer, basic, post } from '../helper.js'
import { tokenExchangeGrant } from '../../src/grants/token-exchange.js'
import { createAccessTokenIssuer } from '../../src/tokens/access-token.js'
import { createAccessTokenInspector } from '../../src/tokens/inspect.js'

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'

t.test('token.exchanged audit line: subject jti, actor sub, new jti; never a token', async (t) => {
  const issuer = await buildTestIssuer(t)
  await issuer.addClient({ id: 'spa', authMethods: ['none'], grantTypes: ['password'], scopes: ['read'], audiences: ['https://a.example'] })
  const secret = await issuer.addClient({ id: 'svc-a', grantTypes: ['client_credentials', TE], scopes: ['read'], resources: ['https://a.example'], exchangeAudiences: ['https://b.example'], mayAct: true })
  const alice = await issuer.addUser('alice', 'correct horse battery')
  const userToken = (await post(issuer, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: 'correct horse battery' })).json().access_token as string
  const actorToken = (await post(issuer, '/token', { grant_type: 'client_credentials' }, { authorization: basic('svc-a', secret) })).json().access_token as string

  const lines: { fields: Record<string, unknown>; message: string }[] = []
  const log = { info: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }) } as unknown as FastifyBaseLogger
  const { config, clock, keys, runtime } = issuer
  const response = await tokenExchangeGrant.handle({
    params: { subject_token: userToken, subject_token_type: AT, actor_token: actorToken, actor_token_type: AT },
    client: { client: (await runtime.store.clients.get('svc-a'))!, method: 'client_secret_basic' },
  }, {
    config, store: runtime.store, now: clock.now, log,
    issueAccessToken: createAccessTokenIssuer({ issuer: config.issuer, keys, now: clock.now }),
    inspectAccessToken: createAccessTokenInspector({ issuer: config.issuer, keys, now: clock.now, clockSkewMs: config.clockSkewMs }),
  })
  const audit = lines.filter((line) => line.fields.event === 'token.exchanged')
  t.equal(audit.length, 1)
  const jti = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string
  t.match(audit[0]!.fields, {
    client_id: 'svc-a', sub: alice.id, subject_jti: jti(userToken), actor_sub: 'svc-a', actor_jti: jti(actorToken), jti: jti(response.access_token), aud: ['https://b.example'],
  })
  const logged = JSON.stringify(lines)
  for (const token of [userToken, actorToken, response.access_token]) {
    t.notOk(logged.includes(token.split('.')[2]!), 'no token signature in any log line')
  }
})
