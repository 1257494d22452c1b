import t from 'tap'
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { decodeProtectedHeader } from 'jose'
import pino from 'pino'
import pg from 'pg'
import { createVerifier, type VerifierError } from '../../src/verifier/index.js'
import { freePort, jsonLines, ROTATE_KEYS, runNode, serverEnv, sleep, startServer, tempDir, waitFor, type ServerProcess } from './helpers.js'
import { freshDatabase, SKIP_REASON, TEST_DATABASE_URL } from '../store/pg-helper.js'
import { loadConfig } from '../../src/config.js'
import { openRuntime } from '../../src/runtime.js'
import { generateClientSecret, hashClientSecret } from '../../src/clients/secret.js'
import { hashPassword } from '../../src/users/password.js'
import { newUserId } from '../../src/users/user.js'
import { parseKeySet } from '../../src/keys/key-set-codec.js'

const SECRET = 'replica-test-key-encryption-secret-0123456789'
const AUDIENCE = 'https://orders.example'
const form = (params: Record<string, string>): string => new URLSearchParams(params).toString()

if (!TEST_DATABASE_URL) {
  t.pass('skipped: no PostgreSQL server', { skip: SKIP_REASON })
} else {
  t.test('three replicas on one PostgreSQL, rotating every two seconds, one killed mid-rotation', async (t) => {
    const databaseUrl = await freshDatabase(t)
    const dir = await tempDir(t, 'replicas')
    const ports = [await freePort(), await freePort(), await freePort()]
    // Replicas share config: one issuer URL (a load balancer's, in production), one secret, one database.
    const shared = {
      DATABASE_URL: databaseUrl, KEYTURN_KEY_ENCRYPTION_SECRET: SECRET, KEYTURN_ISSUER: `http://127.0.0.1:${ports[0]}`, KEYTURN_ROTATION_INTERVAL: '2s',
      KEYTURN_KEY_PROPAGATION: '2s', KEYTURN_JWKS_MAX_AGE: '1s', KEYTURN_ACCESS_TOKEN_TTL: '10s', KEYTURN_CLOCK_SKEW: '1s', KEYTURN_PASSWORD_HASH_COST: '14',
    }
    const env = (i: number) => serverEnv(ports[i]!, join(dir, `r${i}`), shared)
    for (const i of [0, 1, 2]) await mkdir(join(dir, `r${i}`))

    const setup = await openRuntime(loadConfig(env(0)), pino({ level: 'silent' }))
    const secret = generateClientSecret()
    await setup.store.clients.create({
      id: 'svc', secretHash: hashClientSecret(secret, setup.clientSecretKey), authMethods: ['client_secret_basic'], grantTypes: ['client_credentials'],
      scopes: [], audiences: [AUDIENCE], resources: [AUDIENCE], createdAt: new Date().toISOString(),
    })
    await setup.store.clients.create({ id: 'spa', authMethods: ['none'], grantTypes: ['password', 'refresh_token'], scopes: [], audiences: [AUDIENCE], createdAt: new Date().toISOString() })
    const now = Date.now()
    await setup.store.users.create({ id: newUserId(), username: 'alice', passwordHash: await hashPassword('correct horse battery', 14), claims: {}, disabled: false, tokenVersion: 0, createdAt: now, updatedAt: now })
    await setup.store.close()

    const replicas: ServerProcess[] = await Promise.all([0, 1, 2].map((i) => startServer(t, env(i))))
    const alive = new Set([0, 1, 2])
    const pick = (n: number): ServerProcess => replicas[[...alive][n % alive.size]!]!
    const basic = `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`
    const post = (server: ServerProcess, path: string, params: Record<string, string>, auth = true) => fetch(`${server.url}${path}`, {
      method: 'POST', body: form(params), headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: basic } : {}) },
    })

    // Refresh, introspection and revocation through different replicas; reuse detection across them.
    const signIn = await (await post(replicas[0]!, '/token', { grant_type: 'password', client_id: 'spa', username: 'alice', password: 'correct horse battery' }, false)).json() as Record<string, string>
    const refreshed = await (await post(replicas[1]!, '/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: signIn.refresh_token! }, false)).json() as Record<string, string>
    t.ok(refreshed.refresh_token, 'a sign-in on replica 0 refreshes on replica 1')
    const replay = await post(replicas[2]!, '/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: signIn.refresh_token! }, false)
    t.equal((await replay.json() as Record<string, string>).error, 'invalid_grant', 'the replay on replica 2 is refused')
    const afterReplay = await post(replicas[0]!, '/token', { grant_type: 'refresh_token', client_id: 'spa', refresh_token: refreshed.refresh_token! }, false)
    t.equal((await afterReplay.json() as Record<string, string>).error, 'invalid_grant', 'and the family is dead on every replica')
    const ccToken = (await (await post(replicas[2]!, '/token', { grant_type: 'client_credentials' })).json() as Record<string, string>).access_token!
    t.equal(((await (await post(replicas[1]!, '/introspect', { token: ccToken })).json()) as { active: boolean }).active, true, 'introspected on another replica')
    t.equal((await post(replicas[0]!, '/revoke', { token: ccToken })).status, 200)
    t.equal(((await (await post(replicas[1]!, '/introspect', { token: ccToken })).json()) as { active: boolean }).active, false, 'revoked on a third')

    // The verifier fetches the JWKS from whichever replica a load balancer would pick; it never refetches on an
    // unknown kid (huge cooldown), so no failure can be papered over.
    let fetches = 0
    const verifier = createVerifier({
      issuer: shared.KEYTURN_ISSUER, audience: AUDIENCE, cooldownMs: 3_600_000,
      fetch: (input, init) => {
        const url = new URL(String(input instanceof Request ? input.url : input))
        url.port = String(pick(fetches++).port)
        return fetch(url, init)
      },
    })
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 })
    t.teardown(() => admin.end())
    const broken: string[] = []
    const checkSets = async (): Promise<void> => {
      const { rows } = await admin.query<{ body: string }>('SELECT body FROM key_sets ORDER BY version')
      for (const row of rows) {
        const set = parseKeySet(row.body)
        for (const alg of ['RS256', 'ES256']) {
          const active = set.keys.filter((key) => key.alg === alg && key.state === 'active').length
          if (active !== 1) broken.push(`version ${set.version}: ${active} active ${alg} keys`)
        }
      }
    }

    const rejections: string[] = []
    const kids = new Set<string>()
    let verified = 0
    let failedRequests = 0
    let stop = false
    const deadline = Date.now() + 14_000
    const load = [0, 1, 2, 3, 4, 5].map(async (worker) => {
      for (let n = worker; !stop && Date.now() < deadline; n++) {
        const response = await post(pick(n), '/token', { grant_type: 'client_credentials' }).catch(() => undefined)
        if (!response || response.status !== 200) {
          failedRequests++
          continue
        }
        const token = ((await response.json()) as { access_token: string }).access_token
        kids.add(decodeProtectedHeader(token).kid!)
        try {
          await verifier.verify(token)
          verified++
        } catch (error) {
          rejections.push((error as VerifierError).code)
        }
      }
    })
    const monitor = (async () => {
      while (!stop && Date.now() < deadline) {
        await checkSets()
        await sleep(150)
      }
    })()
    // Kill replica 1 the moment a new key-set version appears: mid-rotation for whoever was writing it.
    await sleep(5000)
    const before = Number((await admin.query<{ v: string }>('SELECT max(version) AS v FROM key_sets')).rows[0]!.v)
    while (Number((await admin.query<{ v: string }>('SELECT max(version) AS v FROM key_sets')).rows[0]!.v) === before) await sleep(5)
    alive.delete(1)
    process.kill(replicas[1]!.pid, 'SIGKILL')
    await Promise.all(load)
    stop = true
    await monitor
    await checkSets()

    t.same(broken, [], 'every stored version has exactly one active key per algorithm')
    t.same(rejections, [], 'zero failed verifications')
    t.ok(failedRequests <= 6, `token requests lost only in flight to the killed replica (${failedRequests})`)
    t.ok(verified > 500, `${verified} tokens verified`)
    t.ok(kids.size >= 6, `across rotations (${kids.size} signing keys)`)

    // No duplicate rotation: each key became active once, though three replicas' crons raced for it.
    const transitions = replicas.flatMap((replica) => jsonLines(replica.stdout())).filter((line) => line.event === 'key.transition')
    const activations = transitions.filter((line) => line.to === 'active').map((line) => String(line.kid))
    t.equal(new Set(activations).size, activations.length, `${activations.length} activations, none twice`)
    const conflicts = replicas.flatMap((replica) => jsonLines(replica.stdout())).filter((line) => line.event === 'key.conflict').length
    t.comment(`${conflicts} lost compare-and-swap races across the replicas`)
    const { rows } = await admin.query<{ version: string }>('SELECT version FROM key_sets ORDER BY version')
    const versions = rows.map((row) => Number(row.version))
    t.same(versions, versions.map((_, i) => versions[0]! + i), 'stored versions are contiguous')
    for (const i of alive) t.equal((await fetch(`${replicas[i]!.url}/readyz`)).status, 200, `replica ${i} is ready after the kill`)

    // An emergency revoke through the admin script reaches every replica within the reload interval.
    const victim = decodeProtectedHeader(((await (await post(replicas[0]!, '/token', { grant_type: 'client_credentials' })).json()) as { access_token: string }).access_token).kid!
    const revoked = await runNode(ROTATE_KEYS, ['revoke', victim], env(0))
    t.equal(revoked.code, 0, 'rotate-keys revoke against DATABASE_URL', { stderr: revoked.stderr.split('\n').filter((line) => !line.startsWith('{')).join('\n') })
    const revokedAt = Date.now()
    for (const i of alive) {
      await waitFor(`replica ${i} to drop ${victim}`, async () => {
        const jwks = (await (await fetch(`${replicas[i]!.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }
        return jwks.keys.some((key) => key.kid === victim) ? undefined : true
      }, 15_000, 20)
    }
    const elapsed = Date.now() - revokedAt
    t.ok(elapsed < 5000, `every replica dropped the revoked key ${elapsed} ms after the script (reload interval 200 ms; slack for a loaded machine)`)
    const fresh = decodeProtectedHeader(((await (await post(replicas[2]!, '/token', { grant_type: 'client_credentials' })).json()) as { access_token: string }).access_token).kid
    t.not(fresh, victim, 'and signs with another key')
  })
}
