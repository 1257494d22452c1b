import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createStore, DATABASE_FILE } from '../../src/store/index.js'
import type { RefreshFamily, Store } from '../../src/store/types.js'
import { verifyPassword } from '../../src/users/password.js'
import { TEST_SECRET } from '../helper.js'

const ADMIN = fileURLToPath(new URL('../../scripts/admin.js', import.meta.url))

// Distinctive, so a leak anywhere is found by a plain substring search.
const PASSWORDS = {
  alice: 'Alice-pw-7f3a9c1e-do-not-leak',
  aliceNew: 'Alice-new-pw-52be0d44-do-not-leak',
  bob: 'Bob-pw-0c6d2a7b-do-not-leak',
  argv: 'Argv-pw-9e81f3d2-do-not-leak',
}

interface Result { code: number | null; stdout: string; stderr: string }

interface Cli {
  dir: string
  /** Runs `node dist/scripts/admin.js users …` as a real process; `stdin` is written then closed. */
  users(args: string[], stdin?: string): Promise<Result>
  /** Opens the store in this process, as the server would, closed at teardown. */
  open(): Promise<Store>
  /** Every stdout and stderr of this test's processes. */
  outputs: string[]
}

async function setup(t: Test): Promise<Cli> {
  const dir = await mkdtemp(join(tmpdir(), 'keyturn-admin-users-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const outputs: string[] = []
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', KEYTURN_KEYS_DIR: join(dir, 'keys'), KEYTURN_DATA_DIR: join(dir, 'data'),
    KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET, KEYTURN_PASSWORD_HASH_COST: '14',
  }
  return {
    dir,
    outputs,
    users: (args, stdin) => new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [ADMIN, 'users', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
      child.on('error', reject)
      child.on('close', (code) => {
        outputs.push(stdout, stderr)
        resolve({ code, stdout, stderr })
      })
      child.stdin.on('error', () => {}) // the process may exit before reading stdin (e.g. a refused option)
      child.stdin.end(stdin ?? '')
    }),
    async open() {
      const store = await createStore({ keysDir: join(dir, 'keys'), dataDir: join(dir, 'data'), clientsFile: undefined })
      t.teardown(() => store.close())
      return store
    },
  }
}

/** Asserts nothing this test printed contains a password or a hash. */
function assertNoSecrets(t: Test, cli: Cli): void {
  const all = cli.outputs.join('\n')
  for (const [name, password] of Object.entries(PASSWORDS)) t.notOk(all.includes(password), `the ${name} password never appears in output`)
  t.notOk(all.includes('scrypt$'), 'no password hash appears in output')
}

async function addFamily(store: Store, id: string, userId: string, tokenVersion = 0): Promise<void> {
  const now = Date.now()
  const family: RefreshFamily = { id, clientId: 'app', userId, userTokenVersion: tokenVersion, scope: ['openid'], audience: ['https://api'], createdAt: now, expiresAt: now + 3_600_000 }
  await store.refreshTokens.createFamily(family, { hash: `hash-${id}`, expiresAt: now + 600_000 })
}

async function familyOf(store: Store, id: string): Promise<RefreshFamily | undefined> {
  return (await store.refreshTokens.find(`hash-${id}`))?.family
}

t.test('create, list and show; the password comes from stdin and is never printed or stored in the clear', async (t) => {
  const cli = await setup(t)
  const created = await cli.users(['create', 'alice', '--claim', 'roles=admin', '--claim', 'roles=ops', '--claim', 'team=x'], `${PASSWORDS.alice}\n`)
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /^user alice created \(id usr_[A-Za-z0-9_-]{22}\)\n$/)

  const list = await cli.users(['list'])
  t.equal(list.code, 0)
  const [header, row, ...rest] = list.stdout.trimEnd().split('\n')
  t.match(header, /^USERNAME\s+ID\s+STATUS\s+TOKEN VERSION\s+CREATED$/)
  t.match(row, /^alice\s+usr_\S+\s+enabled\s+0\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  t.same(rest, [])

  const shown = await cli.users(['show', 'ALICE', '--json'])
  t.equal(shown.code, 0)
  const user = JSON.parse(shown.stdout) as Record<string, unknown>
  t.match(user, { username: 'alice', id: /^usr_/, claims: { roles: ['admin', 'ops'], team: 'x' }, disabled: false, tokenVersion: 0 })
  t.notOk('passwordHash' in user, 'show never prints the hash')
  const listed = JSON.parse((await cli.users(['list', '--json'])).stdout) as Record<string, unknown>[]
  t.same(listed, [user], 'list --json is the same summary')
  t.same(JSON.parse((await cli.users(['show', 'alice'])).stdout), user, 'show without --json prints the same fields')

  const store = await cli.open()
  const stored = await store.users.get(user.id as string)
  t.match(stored?.passwordHash, /^scrypt\$14\$8\$1\$/, 'hashed at KEYTURN_PASSWORD_HASH_COST')
  t.equal(await verifyPassword(PASSWORDS.alice, stored!.passwordHash), true, 'exactly the first line, newline stripped')
  await store.close()

  const data = join(cli.dir, 'data')
  const files = (await readdir(data)).filter((name) => name.startsWith(DATABASE_FILE))
  const bytes = Buffer.concat(await Promise.all(files.map((name) => readFile(join(data, name)))))
  t.ok(bytes.includes('scrypt$14$'), `the hash is in the database files (${files.join(', ')})`)
  t.notOk(bytes.includes(PASSWORDS.alice), 'the password itself is not')
  assertNoSecrets(t, cli)
})

t.test('a duplicate username, in any case, is refused with one clear line and exit code 1', async (t) => {
  const cli = await setup(t)
  t.equal((await cli.users(['create', 'Alice'], `${PASSWORDS.alice}\n`)).code, 0)
  const again = await cli.users(['create', 'aLICE'], `${PASSWORDS.bob}\n`)
  t.equal(again.code, 1)
  t.equal(again.stderr, 'admin: user aLICE already exists (usernames ignore case: it exists as Alice)\n')
  t.equal(again.stdout, '')
  const same = await cli.users(['create', 'Alice'], `${PASSWORDS.bob}\n`)
  t.equal(same.code, 1)
  t.equal(same.stderr, 'admin: user Alice already exists\n')
  t.equal(JSON.parse((await cli.users(['list', '--json'])).stdout).length, 1)
  assertNoSecrets(t, cli)
})

t.test('--password is refused, explaining why, and nothing is created', async (t) => {
  const cli = await setup(t)
  for (const args of [['create', 'bob', '--password', PASSWORDS.argv], ['create', 'bob', `--password=${PASSWORDS.argv}`], ['set-password', 'bob', '--password']]) {
    const result = await cli.users(args)
    t.equal(result.code, 2, args.join(' '))
    t.match(result.stderr, /no --password option: a password in argv is visible/)
    t.match(result.stderr, /stdin/)
  }
  t.same(JSON.parse((await cli.users(['list', '--json'])).stdout), [])
  assertNoSecrets(t, cli)
})

t.test('bad input: password rules, empty stdin, reserved claims, unknown users and commands', async (t) => {
  const cli = await setup(t)
  const cases: [string[], string | undefined, number, RegExp][] = [
    [['create', 'carol'], 'short\n', 1, /password: 8-1024 characters/],
    [['create', 'carol'], '          \n', 1, /only whitespace/],
    [['create', 'carol'], undefined, 2, /stdin: expected the password/],
    [['create', 'carol'], '\nsecond-line-password\n', 2, /stdin: expected the password/],
    [['create', 'carol', '--claim', 'sub=carol'], `${PASSWORDS.bob}\n`, 1, /claim "sub" is reserved/],
    [['create', 'carol', '--claim', 'bad name=x'], `${PASSWORDS.bob}\n`, 1, /claim "bad name"/],
    [['create', ' carol'], `${PASSWORDS.bob}\n`, 1, /username/],
    [['create'], undefined, 2, /needs a username/],
    [['show', 'nobody'], undefined, 1, /no user nobody/],
    [['set-password', 'nobody'], `${PASSWORDS.bob}\n`, 1, /no user nobody/],
    [['disable', 'nobody'], undefined, 1, /no user nobody/],
    [['sign-out-everywhere', 'nobody'], undefined, 1, /no user nobody/],
    [['frobnicate'], undefined, 2, /unknown command "frobnicate"/],
    [['list', '--claim', 'a=b'], undefined, 2, /takes no --claim/],
    [['list', '--nope'], undefined, 2, /--nope/],
  ]
  for (const [args, stdin, code, message] of cases) {
    const result = await cli.users(args, stdin)
    t.equal(result.code, code, args.join(' '))
    t.match(result.stderr, message, args.join(' '))
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
  }
  t.same(JSON.parse((await cli.users(['list', '--json'])).stdout), [], 'nothing was created')
  assertNoSecrets(t, cli)
})

t.test('stdin: CRLF is stripped and the password is NFKC-normalised', async (t) => {
  const cli = await setup(t)
  t.equal((await cli.users(['create', 'dora'], `\uFB01ne-${PASSWORDS.bob}\r\nignored second line\n`)).code, 0)
  const store = await cli.open()
  const dora = await store.users.getByUsername('dora')
  t.equal(await verifyPassword(`fine-${PASSWORDS.bob}`, dora!.passwordHash), true)
})

t.test('set-password: new hash, token version bumped, every family of the user revoked', async (t) => {
  const cli = await setup(t)
  await cli.users(['create', 'alice'], `${PASSWORDS.alice}\n`)
  await cli.users(['create', 'bob'], `${PASSWORDS.bob}\n`)
  let store = await cli.open()
  const alice = (await store.users.getByUsername('alice'))!
  const bob = (await store.users.getByUsername('bob'))!
  await addFamily(store, 'fam_a1', alice.id)
  await addFamily(store, 'fam_a2', alice.id)
  await addFamily(store, 'fam_b1', bob.id)
  await store.close()

  const changed = await cli.users(['set-password', 'Alice', '--json'], `${PASSWORDS.aliceNew}\n`)
  t.equal(changed.code, 0, changed.stderr)
  t.same(JSON.parse(changed.stdout), { id: alice.id, username: 'alice', tokenVersion: 1, sessionsEnded: 2 })

  store = await cli.open()
  const after = (await store.users.get(alice.id))!
  t.equal(after.tokenVersion, 1)
  t.equal(await verifyPassword(PASSWORDS.aliceNew, after.passwordHash), true, 'the new password works')
  t.equal(await verifyPassword(PASSWORDS.alice, after.passwordHash), false, 'the old one does not')
  for (const id of ['fam_a1', 'fam_a2']) t.match(await familyOf(store, id), { revokedAt: Number, revokedReason: 'password-changed' }, id)
  t.equal((await familyOf(store, 'fam_b1'))?.revokedAt, undefined, 'another user\'s session lives on')
  t.equal((await store.users.get(bob.id))?.tokenVersion, 0)

  const text = await cli.users(['set-password', 'alice'], `${PASSWORDS.alice}\n`)
  t.equal(text.stdout, 'password changed for alice; 0 sessions ended (token version 2)\n')
  assertNoSecrets(t, cli)
})

t.test('disable revokes families; enable does not bring them back', async (t) => {
  const cli = await setup(t)
  await cli.users(['create', 'alice'], `${PASSWORDS.alice}\n`)
  let store = await cli.open()
  const alice = (await store.users.getByUsername('alice'))!
  await addFamily(store, 'fam_a1', alice.id)
  await store.close()

  const disabled = await cli.users(['disable', 'alice'])
  t.equal(disabled.stdout, 'user alice disabled; 1 session ended\n')
  t.match((await cli.users(['list'])).stdout, /alice\s+usr_\S+\s+disabled\s+0\s/)
  store = await cli.open()
  t.match(await familyOf(store, 'fam_a1'), { revokedAt: Number, revokedReason: 'user-disabled' })
  t.equal((await store.users.get(alice.id))?.disabled, true)
  await store.close()

  const enabled = await cli.users(['enable', 'alice', '--json'])
  t.same(JSON.parse(enabled.stdout), { id: alice.id, username: 'alice', disabled: false, sessionsEnded: 0 })
  store = await cli.open()
  t.equal((await store.users.get(alice.id))?.disabled, false)
  t.match(await familyOf(store, 'fam_a1'), { revokedReason: 'user-disabled' }, 'still revoked')
  t.equal((await store.users.get(alice.id))?.passwordHash, alice.passwordHash, 'the password is untouched')
})

t.test('sign-out-everywhere bumps the token version and says how many sessions ended', async (t) => {
  const cli = await setup(t)
  await cli.users(['create', 'alice'], `${PASSWORDS.alice}\n`)
  let store = await cli.open()
  const alice = (await store.users.getByUsername('alice'))!
  for (const id of ['fam_1', 'fam_2', 'fam_3']) await addFamily(store, id, alice.id)
  await store.refreshTokens.revokeFamily('fam_3', 'reuse', Date.now())
  await store.close()

  const first = await cli.users(['sign-out-everywhere', 'alice'])
  t.equal(first.code, 0)
  t.equal(first.stdout, 'alice signed out everywhere: 2 sessions ended (token version 1)\n', 'the already revoked family is not counted')
  const second = await cli.users(['sign-out-everywhere', 'alice', '--json'])
  t.same(JSON.parse(second.stdout), { id: alice.id, username: 'alice', tokenVersion: 2, sessionsEnded: 0 })

  store = await cli.open()
  t.equal((await store.users.get(alice.id))?.tokenVersion, 2)
  for (const id of ['fam_1', 'fam_2']) t.match(await familyOf(store, id), { revokedAt: Number, revokedReason: 'signed-out-everywhere' }, id)
  t.match(await familyOf(store, 'fam_3'), { revokedReason: 'reuse' }, 'an earlier revocation keeps its reason')
  t.match((await cli.users(['list'])).stdout, /alice\s+usr_\S+\s+enabled\s+2\s/)
})

t.test('set-claims replaces the claims', async (t) => {
  const cli = await setup(t)
  await cli.users(['create', 'alice', '--claim', 'roles=admin', '--claim', 'team=x'], `${PASSWORDS.alice}\n`)
  const set = await cli.users(['set-claims', 'alice', '--claim', 'roles=ops', '--claim', 'level:=3', '--json'])
  t.equal(set.code, 0, set.stderr)
  t.match(JSON.parse(set.stdout), { username: 'alice', claims: { roles: 'ops', level: 3 } })
  t.same(JSON.parse((await cli.users(['show', 'alice', '--json'])).stdout).claims, { roles: 'ops', level: 3 }, 'team is gone')
  const refused = await cli.users(['set-claims', 'alice', '--claim', 'exp:=1'])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /claim "exp" is reserved/)
  t.same(JSON.parse((await cli.users(['show', 'alice', '--json'])).stdout).claims, { roles: 'ops', level: 3 }, 'unchanged by the refusal')
  const cleared = await cli.users(['set-claims', 'alice'])
  t.equal(cleared.stdout, 'claims of alice: {}\n')
  assertNoSecrets(t, cli)
})
