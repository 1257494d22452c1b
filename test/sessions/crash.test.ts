import t from 'tap'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pino from 'pino'
import { freePort, serverEnv, sleep, startServer, tempDir } from '../e2e/helpers.js'
import { loadConfig } from '../../src/config.js'
import { openRuntime } from '../../src/runtime.js'
import { hashPassword } from '../../src/users/password.js'
import { newUserId } from '../../src/users/user.js'
import { hashRefreshToken } from '../../src/tokens/refresh-token.js'

const SECRET = 'crash-test-key-encryption-secret-0123456789'
const SESSIONS = 12

interface Session { current: string; used: string[]; dead: boolean }

async function call(url: string, params: Record<string, string>): Promise<{ status: number; body: Record<string, string> }> {
  const response = await fetch(`${url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() })
  return { status: response.status, body: (await response.json()) as Record<string, string> }
}

t.test('SIGKILL during refreshes under load never lets a used token work', async (t) => {
  const dir = await tempDir(t, 'refresh-crash')
  const env = {
    ...serverEnv(await freePort(), join(dir, 'keys')), KEYTURN_DATA_DIR: join(dir, 'data'), KEYTURN_KEY_ENCRYPTION_SECRET: SECRET,
    KEYTURN_SIGNING_ALGS: 'ES256', KEYTURN_PASSWORD_HASH_COST: '14', KEYTURN_LOG_LEVEL: 'warn',
  }
  const config = loadConfig(env)
  const setup = await openRuntime(config, pino({ level: 'silent' }))
  await setup.store.clients.create({ id: 'spa', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], scopes: [], audiences: [], createdAt: new Date().toISOString() })
  const now = Date.now()
  await setup.store.users.create({ id: newUserId(), username: 'alice', passwordHash: await hashPassword('correct horse battery', 14), claims: {}, disabled: false, tokenVersion: 0, createdAt: now, updatedAt: now })
  await setup.store.close()

  let server = await startServer(t, env)
  const sessions: Session[] = []
  for (let i = 0; i < SESSIONS; i++) {
    const { body } = await call(server.url, { grant_type: 'password', client_id: 'spa', username: 'alice', password: 'correct horse battery' })
    sessions.push({ current: body.refresh_token!, used: [], dead: false })
  }

  for (let round = 0; round < 4; round++) {
    let stop = false
    const load = sessions.map(async (session) => {
      while (!stop && !session.dead) {
        const presented = session.current
        const reply = await call(server.url, { grant_type: 'refresh_token', client_id: 'spa', refresh_token: presented }).catch(() => undefined)
        if (!reply) return // the server died mid-request: whether it committed is unknown
        if (reply.status !== 200) throw new Error(`refresh refused before the crash: ${reply.body.error}`)
        session.used.push(presented)
        session.current = reply.body.refresh_token!
      }
    })
    await sleep(150 + Math.floor(Math.random() * 400))
    process.kill(server.pid, 'SIGKILL')
    stop = true
    await Promise.all(load)
    await server.exited

    // The database after the crash: at most one unused token per family, and every token that got an answer is used.
    const db = new Database(join(dir, 'data', 'keyturn.db'), { readonly: true })
    const unusedPerFamily = db.prepare('SELECT family_id, COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NULL GROUP BY family_id HAVING n > 1').all()
    t.same(unusedPerFamily, [], `round ${round}: no family has two live tokens`)
    const usedAt = db.prepare<[string], { used_at: number | null }>('SELECT used_at FROM refresh_tokens WHERE hash = ?')
    const stillLive = sessions.flatMap((s) => s.used).filter((token) => usedAt.get(hashRefreshToken(token))?.used_at === null)
    t.same(stillLive, [], `round ${round}: every answered refresh left its token used`)
    db.close()

    server = await startServer(t, env)
    for (const session of sessions.filter((s) => !s.dead)) {
      // The token whose answer was lost may or may not have been consumed; either way only one token can work.
      const reply = await call(server.url, { grant_type: 'refresh_token', client_id: 'spa', refresh_token: session.current })
      if (reply.status === 200) session.current = reply.body.refresh_token!
      else {
        t.equal(reply.body.error, 'invalid_grant')
        session.dead = true // the crash ate the answer: the user signs in again (fail closed)
      }
    }
  }
  for (const session of sessions) {
    for (const token of session.used.slice(-3)) {
      const reply = await call(server.url, { grant_type: 'refresh_token', client_id: 'spa', refresh_token: token })
      t.equal(reply.status, 400, 'a used token never works after restarts')
    }
  }
  t.comment(`${sessions.filter((s) => !s.dead).length} of ${SESSIONS} sessions survived four crashes`)
})
