import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ADMIN, childCwd, childEnv, freePort, jsonLines, ROOT, runNode, serverEnv, startServer, tempDir, type Env } from '../e2e/helpers.js'
import { TEST_SECRET } from '../helper.js'

const GENERATE_KEY = join(ROOT, 'dist/examples/token-exchange/generate-key.js')
const EXAMPLE = join(ROOT, 'dist/examples/token-exchange/exchange.js')
const PASSWORD = 'Example-pw-3c9e1d7a-do-not-leak'

/** `printf %s "$PASSWORD" | npm run admin -- users create alice`, as the README says. */
function createUser(env: Env, username: string, password: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ADMIN, 'users', 'create', username], { cwd: childCwd(env), env: childEnv(env), stdio: ['pipe', 'ignore', 'ignore'] })
    child.once('error', reject)
    child.once('close', resolve)
    child.stdin.end(password)
  })
}

t.test('the token-exchange example runs against a real keyturn, with the README setup', async (t) => {
  const dir = await tempDir(t, 'token-exchange-example')
  const env = serverEnv(await freePort(), dir, { KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET, KEYTURN_PASSWORD_HASH_COST: '14' })
  const server = await startServer(t, env)

  const key = await runNode(GENERATE_KEY, ['service-a'], env)
  t.equal(key.code, 0, key.stderr)
  t.match(key.stdout, /kid: [A-Za-z0-9_-]{43}/)
  const admin = async (...args: string[]) => {
    const result = await runNode(ADMIN, args, env)
    t.equal(result.code, 0, `admin ${args.slice(0, 3).join(' ')}: ${result.stderr}`)
    return result
  }
  await admin('clients', 'create', 'web', '--auth-method', 'none', '--grant', 'password', '--scope', 'orders:read orders:write', '--audience', 'https://service-a.example')
  const serviceA = await admin('clients', 'create', 'service-a', '--jwks-file', 'service-a.jwks.json', '--grant', 'client_credentials', '--grant', 'token-exchange',
    '--scope', 'orders:read', '--resource', 'https://service-a.example', '--exchange-audience', 'https://service-b.example', '--may-act')
  t.notMatch(serviceA.stdout, /client_secret/)
  t.equal(await createUser(env, 'alice', PASSWORD), 0)

  const run = await runNode(EXAMPLE, [], { ...env, ISSUER: server.url, EXAMPLE_USER: 'alice', EXAMPLE_PASSWORD: PASSWORD })
  t.equal(run.code, 0, run.stderr)
  const verified = JSON.parse(/^4\. service B verified it: (.*)$/m.exec(run.stdout)![1]!)
  t.match(verified, { client_id: 'service-a', aud: 'https://service-b.example', scope: 'orders:read', act: { sub: 'service-a' } })
  t.match(verified.sub, /^usr_/)

  const logs = jsonLines(server.stdout())
  t.ok(logs.some((line) => line.event === 'token.exchanged' && line.actor_sub === 'service-a'), 'the issuer logged the exchange')
  const everything = [run.stdout, run.stderr, server.stdout(), server.stderr()].join('\n')
  t.notOk(everything.includes('eyJ'), 'no JWT (token or assertion) printed or logged')
  t.notOk(everything.includes(PASSWORD), 'no password printed or logged')
})
