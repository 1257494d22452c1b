import t from 'tap'
import { buildTestIssuer, form } from '../helper.js'
import { MAX_CONCURRENT_HASHES, MAX_WAITING_HASHES } from '../../src/users/password.js'

t.test('a burst of sign-ins past the hash gate: 503 temporarily_unavailable with Retry-After, never a wrong-password answer', async (t) => {
  const issuer = await buildTestIssuer(t, { KEYTURN_RATE_LIMIT_IP: 'off', KEYTURN_RATE_LIMIT_CLIENT: 'off' })
  const secret = await issuer.addClient({ id: 'app', grantTypes: ['password'] })
  await issuer.addUser('alice', 'correct horse battery')
  const burst = MAX_CONCURRENT_HASHES + MAX_WAITING_HASHES + 8
  const responses = await Promise.all(Array.from({ length: burst }, () => issuer.app.inject({
    method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: form({ grant_type: 'password', client_id: 'app', client_secret: secret, username: 'alice', password: 'correct horse battery' }),
  })))
  const statuses = responses.map((response) => response.statusCode)
  t.equal(statuses.filter((status) => status === 200).length, MAX_CONCURRENT_HASHES + MAX_WAITING_HASHES, 'every sign-in the gate admitted succeeds')
  const refused = responses.filter((response) => response.statusCode === 503)
  t.equal(refused.length, 8, 'the rest are refused at once')
  for (const response of refused) {
    t.equal(response.json().error, 'temporarily_unavailable')
    t.ok(Number(response.headers['retry-after']) > 0)
  }
  const after = await issuer.app.inject({
    method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: form({ grant_type: 'password', client_id: 'app', client_secret: secret, username: 'alice', password: 'correct horse battery' }),
  })
  t.equal(after.statusCode, 200, 'and the gate is open again once the burst is through')
})
