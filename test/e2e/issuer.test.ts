import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import {
  ADMIN, PRIVATE_JWK_MEMBERS, ROTATE_KEYS, freePort, jsonLines, requestToken, runNode, serverEnv, sleep, startServer, tempDir, waitFor,
  type ClientCredentials, type RunResult, type Test,
} from './helpers.js'

// End to end on a real port: `node dist/src/server.js` plus the two admin CLIs, all sharing one keys directory.
// Timings are short so a whole key lifecycle (publish, promote, retire, expire, revoke, prune) fits in ~30 s.

const PROPAGATION_MS = 8000
const JWKS_MAX_AGE_S = 1
const RELOAD_MS = 200
const TTL_S = 12
/** A change made by a CLI must reach the running server within its reload interval; the rest is slack for busy CI. */
const RELOAD_BOUND_MS = 1500
/** The rotation check runs every second; a key due for deletion goes at the next tick. */
const TICK_MS = 1000
const AUDIENCE = 'https://api.example.test'
const ALGS = ['RS256', 'ES256'] as const
type Alg = (typeof ALGS)[number]

interface KeyRow {
  kid: string; alg: Alg; state: 'next' | 'active' | 'retired' | 'revoked'; createdAt: string
  activatesAt: string | null; retiresAt: string | null; deletesAt: string | null; revokedAt: string | null
}
interface KeyList { keys: KeyRow[]; version?: number; transitions?: { kid: string; alg: Alg; from: string; to: string; reason: string }[] }

const port = await freePort()
const stateDir = await tempDir(t, 'e2e-issuer')
const env = serverEnv(port, stateDir, {
  KEYTURN_KEY_PROPAGATION: `${PROPAGATION_MS / 1000}s`, KEYTURN_ACCESS_TOKEN_TTL: `${TTL_S}s`, KEYTURN_CLOCK_SKEW: '0s',
})
const server = await startServer(t, env)
const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, string>

// What the final checks scan: every secret and token handed out, every CLI run, every JWKS body seen.
const secrets: { label: string; value: string }[] = []
const issued: { token: string; kid: string; jti: string; alg: string }[] = []
const cliRuns: { name: string; result: RunResult; printsSecret: boolean }[] = []
const jwksBodies: string[] = []

async function cli(script: string, args: string[], printsSecret = false): Promise<RunResult> {
  const result = await runNode(script, args, env)
  cliRuns.push({ name: `${script === ADMIN ? 'admin' : 'rotate-keys'} ${args.join(' ')}`, result, printsSecret })
  return result
}
const rotateKeys = (...args: string[]): Promise<RunResult> => cli(ROTATE_KEYS, args)
async function keyList(): Promise<KeyList> {
  const result = await rotateKeys('list', '--json')
  if (result.code !== 0) throw new Error(`rotate-keys list failed: ${result.stderr}`)
  return JSON.parse(result.stdout) as KeyList
}
const keyOf = (list: KeyList, alg: Alg, state: KeyRow['state']): KeyRow[] => list.keys.filter((key) => key.alg === alg && key.state === state)
const one = (list: KeyList, alg: Alg, state: KeyRow['state']): KeyRow => {
  const [key, ...more] = keyOf(list, alg, state)
  if (!key || more.length > 0) throw new Error(`expected exactly one ${state} ${alg} key, found ${more.length + (key ? 1 : 0)}`)
  return key
}

/** A verifier that has never seen the JWKS: it fetches the current document on first use. Records what it fetched. */
function freshJwks() {
  return createRemoteJWKSet(new URL(discovery.jwks_uri!), {
    [customFetch]: async (url, options) => {
      const response = await fetch(url, options)
      jwksBodies.push(await response.clone().text())
      return response
    },
  })
}

async function fetchJwks(headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; kids: string[]; body: string }> {
  const response = await fetch(discovery.jwks_uri!, { headers })
  const body = await response.text()
  if (response.status === 200) jwksBodies.push(body)
  const kids = response.status === 200 ? (JSON.parse(body) as { keys: { kid: string }[] }).keys.map((key) => key.kid) : []
  return { status: response.status, headers: response.headers, kids, body }
}

const clients: Record<'rs' | 'es', ClientCredentials & { alg: Alg; ttl: number; scope: string }> = {} as never

/** Gets a token (must succeed) and records it for the log scan. */
async function token(client: (typeof clients)['rs'], method: 'basic' | 'post' = 'basic', params: Record<string, string> = {}): Promise<string> {
  const reply = await requestToken(discovery.token_endpoint!, client, method, params)
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${String(reply.body.error)}`)
  const accessToken = String(reply.body.access_token)
  const header = decodeProtectedHeader(accessToken)
  issued.push({ token: accessToken, kid: String(header.kid), jti: String(decodeJwt(accessToken).jti), alg: String(header.alg) })
  return accessToken
}
const kidOf = (accessToken: string): string => String(decodeProtectedHeader(accessToken).kid)

/** Polls for a token signed by `kid`; returns how long that took. */
async function untilSignedBy(client: (typeof clients)['rs'], kid: string): Promise<number> {
  const started = Date.now()
  await waitFor(`a token signed by ${kid}`, async () => ((kidOf(await token(client)) === kid) ? true : undefined), 5000, 25)
  return Date.now() - started
}

async function verify(t: Test, accessToken: string, client: (typeof clients)['rs'], scope = client.scope): Promise<JWTPayload> {
  const { payload, protectedHeader } = await jwtVerify(accessToken, freshJwks(), {
    issuer: discovery.issuer!, audience: AUDIENCE, typ: 'at+jwt', algorithms: [client.alg],
  })
  t.equal(protectedHeader.typ, 'at+jwt', 'typ header is at+jwt (RFC 9068)')
  t.equal(protectedHeader.alg, client.alg)
  t.equal(payload.iss, server.url)
  t.equal(payload.aud, AUDIENCE)
  t.equal(payload.sub, client.id)
  t.equal(payload.client_id, client.id)
  t.equal(payload.scope, scope)
  t.match(payload.jti, /^[A-Za-z0-9_-]{16,}$/)
  t.equal((payload.exp ?? 0) - (payload.iat ?? 0), client.ttl, 'exp - iat is the granted lifetime')
  return payload
}

/**
 * Runs a rotate command that must be refused because `minted` (a next key) is younger than the propagation time.
 * On a machine so loaded that the command finished after the key had propagated, the check cannot prove anything
 * and is skipped visibly rather than failing.
 */
async function expectRefused(t: Test, minted: KeyRow[], args: string[], what: string): Promise<RunResult | undefined> {
  const result = await rotateKeys(...args)
  const age = Date.now() - Math.min(...minted.map((key) => Date.parse(key.createdAt)))
  if (age >= PROPAGATION_MS - 250) {
    t.pass(what, { skip: `the command finished ${age} ms after the key was minted, past the ${PROPAGATION_MS} ms propagation time` })
    return undefined
  }
  t.equal(result.code, 1, `${what}: exit code 1 (ERR_ROTATION_REFUSED)`)
  t.match(result.stderr, /propagation/)
  t.match(result.stderr, /--force/)
  return result
}

t.test('rotate-keys rotate right after start-up is refused: the next keys have not propagated', async (t) => {
  const before = await keyList()
  await expectRefused(t, ALGS.map((alg) => one(before, alg, 'next')), ['rotate'], 'rotate right after start-up')
  t.same((await keyList()).keys, before.keys, 'a refused rotation changes nothing')
})

t.test('discovery, JWKS headers, ETag/304', async (t) => {
  t.equal(discovery.issuer, server.url)
  t.equal(discovery.jwks_uri, `${server.url}/.well-known/jwks.json`)
  t.equal(discovery.token_endpoint, `${server.url}/token`)
  t.same(discovery.access_token_signing_alg_values_supported, [...ALGS])

  const jwks = await fetchJwks()
  t.equal(jwks.status, 200)
  t.match(jwks.headers.get('content-type'), /^application\/jwk-set\+json/)
  const cacheControl = jwks.headers.get('cache-control') ?? ''
  const maxAge = Number(/^public, max-age=(\d+)$/.exec(cacheControl)?.[1] ?? Number.NaN)
  t.ok(maxAge >= 0 && maxAge <= Math.min(JWKS_MAX_AGE_S, PROPAGATION_MS / 2000), `max-age ${maxAge} <= min(KEYTURN_JWKS_MAX_AGE, propagation/2)`)
  const etag = jwks.headers.get('etag') ?? ''
  t.match(etag, /^"[^"]+"$/, 'strong ETag')
  t.equal(jwks.kids.length, 4, 'active + next for RS256 and ES256')
  t.equal(new Set(jwks.kids).size, 4)

  for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const revalidated = await fetchJwks({ 'if-none-match': inm })
    t.equal(revalidated.status, 304, `If-None-Match: ${inm} → 304`)
    t.equal(revalidated.body, '')
    t.equal(revalidated.headers.get('etag'), etag)
    t.match(revalidated.headers.get('cache-control'), /^public, max-age=\d+$/)
  }
  t.equal((await fetchJwks({ 'if-none-match': '"other"' })).status, 200)

  const list = await keyList()
  for (const alg of ALGS) {
    t.equal(keyOf(list, alg, 'active').length, 1, `one active ${alg} key`)
    t.equal(keyOf(list, alg, 'next').length, 1, `one next ${alg} key`)
  }
  t.same(new Set(list.keys.map((key) => key.kid)), new Set(jwks.kids), 'the JWKS publishes exactly the listed keys')
})

t.test('admin CLI clients; client_secret_basic and client_secret_post; tokens verify against the remote JWKS', async (t) => {
  const create = async (id: string, args: string[]): Promise<Record<string, unknown>> => {
    const result = await cli(ADMIN, ['clients', 'create', id, '--audience', AUDIENCE, ...args, '--json'], true)
    t.equal(result.code, 0, `admin clients create ${id} exits 0`, { stderr: result.stderr })
    const out = JSON.parse(result.stdout) as Record<string, unknown>
    t.equal(out.id, id)
    t.type(out.client_secret, 'string')
    t.ok(String(out.client_secret).length >= 32, 'the secret is long')
    t.notOk('secretHash' in out, 'the stored hash is not printed')
    secrets.push({ label: `client_secret of ${id}`, value: String(out.client_secret) })
    return out
  }
  const rs = await create('svc-rs', ['--scope', 'read write'])
  t.same(rs.scopes, ['read', 'write'])
  t.same(rs.audiences, [AUDIENCE])
  const es = await create('svc-es', ['--scope', 'read', '--alg', 'ES256', '--ttl', '10s'])
  t.equal(es.alg, 'ES256')
  t.equal(es.accessTokenTtl, 10)
  clients.rs = { id: 'svc-rs', secret: String(rs.client_secret), alg: 'RS256', ttl: TTL_S, scope: 'read write' }
  clients.es = { id: 'svc-es', secret: String(es.client_secret), alg: 'ES256', ttl: 10, scope: 'read' }

  // The server re-reads the clients file at most once a second.
  await waitFor('the new client to be usable', () => token(clients.rs), 5000)

  const list = await keyList()
  for (const client of [clients.rs, clients.es]) {
    for (const method of ['basic', 'post'] as const) {
      const reply = await requestToken(discovery.token_endpoint!, client, method)
      t.equal(reply.status, 200, `${client.id} via client_secret_${method}`)
      t.equal(reply.body.token_type, 'Bearer')
      t.equal(reply.body.expires_in, client.ttl)
      t.equal(reply.body.scope, client.scope)
      t.equal(reply.headers.get('cache-control'), 'no-store')
      const accessToken = String(reply.body.access_token)
      issued.push({ token: accessToken, kid: kidOf(accessToken), jti: String(decodeJwt(accessToken).jti), alg: client.alg })
      t.equal(kidOf(accessToken), one(list, client.alg, 'active').kid, 'signed by the active key of its algorithm')
      await verify(t, accessToken, client)
    }
  }
  const narrowed = await token(clients.rs, 'post', { scope: 'read' })
  await verify(t, narrowed, clients.rs, 'read')
  t.equal(new Set(issued.map((entry) => entry.jti)).size, issued.length, 'every jti is unique')

  const wrong = await requestToken(discovery.token_endpoint!, { id: 'svc-rs', secret: 'not-the-secret' }, 'basic')
  t.equal(wrong.status, 401)
  t.equal(wrong.body.error, 'invalid_client')
  t.match(wrong.headers.get('www-authenticate'), /^Basic /)
  const unknown = await requestToken(discovery.token_endpoint!, { id: 'nobody', secret: 'x' }, 'post')
  t.equal(unknown.status, 401)
  t.equal(unknown.body.error, 'invalid_client')
})

/** Retired keys seen so far and when each may be deleted (from the CLI's own `deletesAt`). */
const retiredDeadlines = new Map<string, number>()
/** Retired keys a CLI prune deleted (only under a very slow run); the server's tick deletes the others. */
const cliExpired = new Set<string>()
function noteRetired(list: KeyList): void {
  for (const key of list.keys) if (key.state === 'retired') retiredDeadlines.set(key.kid, Date.parse(key.deletesAt!))
}
/** A prune may delete a retired key only once its deadline has passed. */
function checkPruned(t: Test, list: KeyList, what: string): void {
  const early = (list.transitions ?? []).filter((entry) => entry.reason === 'expired' && !((retiredDeadlines.get(entry.kid) ?? Infinity) <= Date.now()))
  t.same(early, [], `${what}: no retired key deleted before its tokens expired`)
  for (const entry of list.transitions ?? []) if (entry.reason === 'expired') cliExpired.add(entry.kid)
}

t.test('rotate: promoted once next keys have propagated, seen by the running server within the reload bound', async (t) => {
  const before = await keyList()
  const version = (await (await fetch(`${server.url}/readyz`)).json() as { keySetVersion: number }).keySetVersion

  const nexts = ALGS.map((alg) => one(before, alg, 'next'))
  await sleep(Math.max(...nexts.map((key) => Date.parse(key.createdAt))) + PROPAGATION_MS + 100 - Date.now())

  const oldTokens = { rs: await token(clients.rs), es: await token(clients.es) }
  const rotated = await rotateKeys('rotate', '--json')
  t.equal(rotated.code, 0, 'rotate succeeds once next keys have propagated')
  const result = JSON.parse(rotated.stdout) as KeyList
  noteRetired(result)
  t.equal(result.version, version + 1, 'one new version')
  for (const alg of ALGS) {
    const previous = one(before, alg, 'active')
    const next = one(before, alg, 'next')
    const mine = (result.transitions ?? []).filter((entry) => entry.alg === alg)
    t.match(mine, [
      { kid: previous.kid, from: 'active', to: 'retired', reason: 'manual' },
      { kid: next.kid, from: 'next', to: 'active', reason: 'manual' },
      { from: 'new', to: 'next', reason: 'manual' },
    ], `${alg}: active retires, next activates, a new next appears`)
    t.equal(mine.length, 3)
  }
  const minted = result.keys.filter((key) => key.alg === 'ES256' && key.state === 'next')
  await expectRefused(t, minted, ['rotate', '--alg', 'ES256'], 'promoting the brand-new ES256 next key without --force')

  const pruned = await rotateKeys('prune', '--json')
  t.equal(pruned.code, 0)
  t.same((JSON.parse(pruned.stdout) as KeyList).transitions, [], 'prune right after a rotation deletes nothing: tokens of the retired keys are still valid')

  for (const [name, client] of Object.entries(clients)) {
    const next = one(before, client.alg, 'next').kid
    const took = await untilSignedBy(client, next)
    t.ok(took <= RELOAD_BOUND_MS, `${name}: new tokens carry the new kid after ${took} ms (bound ${RELOAD_BOUND_MS} ms), no restart`)
  }
  t.equal((await (await fetch(`${server.url}/readyz`)).json() as { keySetVersion: number }).keySetVersion, version + 1)

  // Tokens signed just before the rotation stay valid: the retired keys are still published.
  await verify(t, oldTokens.rs, clients.rs)
  await verify(t, oldTokens.es, clients.es)
  const published = (await fetchJwks()).kids
  for (const alg of ALGS) t.ok(published.includes(one(before, alg, 'active').kid), `retired ${alg} key still in the JWKS`)

  // --alg with --force: promote a next key published for less than the propagation time.
  const afterManual = await keyList()
  const esBefore = await token(clients.es)
  const forced = await rotateKeys('rotate', '--alg', 'ES256', '--force', '--json')
  t.equal(forced.code, 0, 'rotate --alg ES256 --force succeeds')
  const forcedResult = JSON.parse(forced.stdout) as KeyList
  noteRetired(forcedResult)
  t.ok((forcedResult.transitions ?? []).every((entry) => entry.alg === 'ES256'), 'only ES256 keys change')
  t.match(forcedResult.transitions, [
    { kid: one(afterManual, 'ES256', 'active').kid, from: 'active', to: 'retired', reason: 'forced' },
    { kid: one(afterManual, 'ES256', 'next').kid, from: 'next', to: 'active', reason: 'forced' },
    { from: 'new', to: 'next', reason: 'forced' },
  ])
  const took = await untilSignedBy(clients.es, one(afterManual, 'ES256', 'next').kid)
  t.ok(took <= RELOAD_BOUND_MS, `forced ES256 key signs after ${took} ms`)
  await verify(t, esBefore, clients.es)
  t.equal(kidOf(await token(clients.rs)), one(afterManual, 'RS256', 'active').kid, 'RS256 is untouched')
  t.equal(retiredDeadlines.size, 3, 'three keys retired so far')
})

let revokedKid = ''
let revokedAt = 0

t.test('revoke the active RS256 key: gone from the JWKS, tokens it signed stop verifying', async (t) => {
  const before = await keyList()
  const active = one(before, 'RS256', 'active')
  const next = one(before, 'RS256', 'next')
  revokedKid = active.kid
  const victim = await token(clients.rs)
  t.equal(kidOf(victim), active.kid)
  await verify(t, victim, clients.rs)

  const revoked = await rotateKeys('revoke', active.kid, '--json')
  t.equal(revoked.code, 0, 'revoke exits 0')
  const result = JSON.parse(revoked.stdout) as KeyList
  t.match(result.transitions, [
    { kid: active.kid, from: 'active', to: 'revoked', reason: 'revoked' },
    { kid: next.kid, from: 'next', to: 'active', reason: 'emergency' },
    { from: 'new', to: 'next', reason: 'emergency' },
  ])
  revokedAt = Date.parse(one(result, 'RS256', 'revoked').revokedAt!)

  const tooRecent = JSON.parse((await rotateKeys('prune', '--revoked', '--json')).stdout) as KeyList
  t.same((tooRecent.transitions ?? []).filter((entry) => entry.reason === 'pruned'), [], 'prune --revoked keeps a revoked key while tokens it signed could be unexpired')
  checkPruned(t, tooRecent, 'prune --revoked')

  const started = Date.now()
  const kids = await waitFor('the revoked kid to leave the JWKS', async () => {
    const jwks = await fetchJwks()
    return jwks.kids.includes(active.kid) ? undefined : jwks.kids
  }, 5000, 25)
  const took = Date.now() - started
  t.ok(took <= RELOAD_BOUND_MS, `the revoked kid left the JWKS at most ${took} ms after the command returned`)
  t.ok(kids.includes(next.kid), 'the promoted key is published')

  const tookToken = await untilSignedBy(clients.rs, next.kid)
  t.ok(tookToken <= RELOAD_BOUND_MS, `fresh tokens are signed by the promoted key after ${tookToken} ms`)
  const fresh = await token(clients.rs)
  t.not(kidOf(fresh), active.kid)
  await verify(t, fresh, clients.rs)

  await t.rejects(jwtVerify(victim, freshJwks(), { issuer: server.url, audience: AUDIENCE }), { code: 'ERR_JWKS_NO_MATCHING_KEY' },
    'a token signed by the revoked key no longer verifies with a fresh JWKS')

  const again = await rotateKeys('revoke', active.kid)
  t.equal(again.code, 1, 'revoking it again fails (ERR_KEY_STATE)')
  const missing = await rotateKeys('revoke', 'no-such-kid')
  t.equal(missing.code, 1, 'revoking an unknown kid fails (ERR_KEY_NOT_FOUND)')
  const usage = await rotateKeys('revoke')
  t.equal(usage.code, 2, 'revoke without a kid is a usage error')
})

t.test('rotate-keys list --json: one row per key, fields by state', async (t) => {
  const list = await keyList()
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
  const expect: Record<KeyRow['state'], Partial<Record<keyof KeyRow, boolean>>> = {
    next: { activatesAt: true, retiresAt: false, deletesAt: false, revokedAt: false },
    active: { activatesAt: true, retiresAt: true, deletesAt: false, revokedAt: false },
    retired: { activatesAt: true, retiresAt: true, deletesAt: true, revokedAt: false },
    revoked: { activatesAt: true, retiresAt: false, deletesAt: false, revokedAt: true },
  }
  t.same(Object.keys(list), ['keys'], 'list --json prints { keys }')
  for (const key of list.keys) {
    t.match(key, { kid: /^[A-Za-z0-9_-]{43}$/, alg: /^(RS256|ES256)$/, state: /^(next|active|retired|revoked)$/, createdAt: iso }, `row ${key.state} ${key.alg}`)
    t.same(Object.keys(key).sort(), ['activatesAt', 'alg', 'createdAt', 'deletesAt', 'kid', 'retiresAt', 'revokedAt', 'state'])
    for (const [field, present] of Object.entries(expect[key.state])) {
      const value = key[field as keyof KeyRow]
      if (present) t.match(value, iso, `${key.state}.${field} is a time`)
      else t.equal(value, null, `${key.state}.${field} is null`)
    }
  }
  for (const alg of ALGS) {
    t.equal(keyOf(list, alg, 'active').length, 1, `one active ${alg} key`)
    t.equal(keyOf(list, alg, 'next').length, 1, `one next ${alg} key`)
  }
  t.same(list.keys.filter((key) => key.state === 'revoked').map((key) => key.kid), [revokedKid], 'the revoked key is listed (for audit)')
  // Retired: the three keys retired above, minus any whose tokens have all expired since (on a very slow run).
  const listedAt = Date.now()
  const retired = list.keys.filter((key) => key.state === 'retired').map((key) => key.kid)
  t.same(retired.filter((kid) => !retiredDeadlines.has(kid)), [], 'no unknown retired key')
  t.same([...retiredDeadlines].filter(([kid, deadline]) => !retired.includes(kid) && deadline > listedAt), [], 'no retired key gone before its deadline')
  for (const key of list.keys.filter((row) => row.state === 'retired')) {
    t.equal(Date.parse(key.deletesAt!), retiredDeadlines.get(key.kid), 'deletesAt is stable')
  }
})

t.test('retired keys leave the JWKS once their tokens expired; prune --revoked deletes the revoked key after the same lifetime', async (t) => {
  // Retired keys go at retiredAt + reload + TTL + skew (the server's own tick deletes them); a revoked key after the
  // same lifetime, but only on prune --revoked.
  await sleep(Math.max(...retiredDeadlines.values(), revokedAt + TTL_S * 1000 + RELOAD_MS) + TICK_MS + 300 - Date.now())
  const published = await waitFor('retired keys to expire', async () => {
    const jwks = await fetchJwks()
    return jwks.kids.length === 4 ? jwks.kids : undefined
  }, 3000)
  t.same([...retiredDeadlines.keys()].filter((kid) => published.includes(kid)), [], 'no retired key is published any more')

  const pruned = await rotateKeys('prune', '--revoked', '--json')
  t.equal(pruned.code, 0)
  t.same((JSON.parse(pruned.stdout) as KeyList).transitions, [{ kid: revokedKid, alg: 'RS256', from: 'revoked', to: 'deleted', reason: 'pruned' }])
  const after = await keyList()
  t.same(ALGS.map((alg) => after.keys.filter((key) => key.alg === alg).map((key) => key.state).sort()), [['active', 'next'], ['active', 'next']])
})

t.test('logs: no token or secret anywhere; an audit line per token and per key transition; no private JWK member served', async (t) => {
  const exit = await server.stop()
  t.same(exit, { code: 0, signal: null }, 'SIGTERM shuts the server down cleanly')

  const devSecret = (await readFile(join(env.KEYTURN_KEYS_DIR!, '.encryption-secret'), 'utf8')).trim()
  const needles = [
    ...secrets,
    { label: 'the development encryption secret', value: devSecret },
    ...issued.flatMap((entry, index) => [
      { label: `access token #${index}`, value: entry.token },
      { label: `signature of access token #${index}`, value: entry.token.split('.')[2]! },
    ]),
  ]
  const haystacks = [
    { label: 'server stdout', text: server.stdout() },
    { label: 'server stderr', text: server.stderr() },
    ...cliRuns.map((run) => ({ label: `stderr of ${run.name}`, text: run.result.stderr })),
    ...cliRuns.filter((run) => !run.printsSecret).map((run) => ({ label: `stdout of ${run.name}`, text: run.result.stdout })),
  ]
  const leaks = haystacks.flatMap((hay) => needles.filter((needle) => hay.text.includes(needle.value)).map((needle) => `${needle.label} in ${hay.label}`))
  t.same(leaks, [], `none of ${needles.length} secrets/tokens appear in ${haystacks.length} outputs`)
  t.ok(issued.length >= 10 && secrets.length === 2, `${issued.length} tokens and ${secrets.length} client secrets were checked`)
  t.notMatch(server.stdout(), /"(d|p|q|dp|dq|qi|privateJwe)":/, 'no private key member in the server log')

  const lines = jsonLines(server.stdout())
  const audit = lines.filter((line) => line.event === 'token.issued')
  const unaudited = issued.filter((entry) => !audit.some((line) => line.jti === entry.jti && line.kid === entry.kid && line.alg === entry.alg))
  t.equal(unaudited.length, 0, `every one of ${issued.length} tokens has a token.issued line with its jti and kid`)
  t.equal(audit.length, issued.length, 'exactly one audit line per token issued')

  const transitions = lines.filter((line) => line.event === 'key.transition')
  for (const alg of ALGS) {
    t.equal(transitions.filter((line) => line.alg === alg && line.reason === 'bootstrap').length, 2, `bootstrap of ${alg} (active + next) is logged`)
  }
  const expired = transitions.filter((line) => line.to === 'deleted' && line.reason === 'expired').map((line) => String(line.kid))
  t.same(new Set([...expired, ...cliExpired]), new Set(retiredDeadlines.keys()), 'every retired key was deleted once its tokens expired')
  t.equal(expired.length + cliExpired.size, retiredDeadlines.size, 'each exactly once')
  t.ok(expired.length > 0, `the server logged ${expired.length} of its own deletions`)
  const cliTransitions = cliRuns.flatMap((run) => jsonLines(run.result.stderr)).filter((line) => line.event === 'key.transition')
  t.ok(cliTransitions.length > 0 || transitions.some((line) => line.reason === 'manual'), 'rotations made with rotate-keys leave an audit line')

  t.ok(jwksBodies.length >= 10, `${jwksBodies.length} JWKS bodies were checked`)
  const allowed = new Set(['kty', 'kid', 'alg', 'use', 'n', 'e', 'crv', 'x', 'y'])
  const bad = jwksBodies.flatMap((body) => (JSON.parse(body) as { keys: Record<string, unknown>[] }).keys)
    .filter((key) => PRIVATE_JWK_MEMBERS.some((member) => member in key) || Object.keys(key).some((member) => !allowed.has(member)))
  t.equal(bad.length, 0, 'every published key carries only public members')
})
