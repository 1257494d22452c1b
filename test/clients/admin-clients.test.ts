import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportJWK } from 'jose'
import { TEST_SECRET } from '../helper.js'
import { makeClientKey } from './helpers.js'

const ADMIN = fileURLToPath(new URL('../../scripts/admin.js', import.meta.url))
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange'

interface Result { code: number | null; stdout: string; stderr: string }

async function setup(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'keyturn-admin-clients-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const env = { PATH: process.env.PATH ?? '', KEYTURN_KEYS_DIR: join(dir, 'keys'), KEYTURN_DATA_DIR: join(dir, 'data'), KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET, KEYTURN_LOG_LEVEL: 'warn' }
  const outputs: string[] = []
  const clients = (...args: string[]) => new Promise<Result>((resolve, reject) => {
    const child = spawn(process.execPath, [ADMIN, 'clients', ...args], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      outputs.push(stdout, stderr)
      resolve({ code, stdout, stderr })
    })
  })
  const file = async (name: string, body: unknown) => {
    const path = join(dir, name)
    await writeFile(path, JSON.stringify(body))
    return path
  }
  return { clients, file, outputs }
}

t.test('private_key_jwt clients: keys from a file or a URI, never a secret; exchange policy flags', async (t) => {
  const { clients, file, outputs } = await setup(t)
  const key = await makeClientKey('ES256')
  const keysFile = await file('svc-a.jwks.json', { keys: [key.publicJwk] })

  const created = await clients('create', 'svc-a', '--auth-method', 'private_key_jwt', '--jwks-file', keysFile, '--grant', 'client_credentials', '--grant', 'token-exchange',
    '--scope', 'orders:read', '--resource', 'https://a.example', '--exchange-audience', 'https://b.example', '--exchange-audience', 'https://c.example', '--may-act', '--json')
  t.equal(created.code, 0, created.stderr)
  const record = JSON.parse(created.stdout)
  t.notOk('client_secret' in record, 'no secret for a key client')
  t.same(record.authMethods, ['private_key_jwt'])
  t.same(record.grantTypes, ['client_credentials', TE], 'token-exchange is short for the URN')
  t.same(record.exchangeAudiences, ['https://b.example', 'https://c.example'])
  t.equal(record.mayAct, true)
  t.equal(record.jwks.keys[0].kid, key.kid)

  const byUri = await clients('create', 'svc-b', '--jwks-uri', 'https://b.example/.well-known/jwks.json')
  t.equal(byUri.code, 0, byUri.stderr)
  t.match(byUri.stdout, /private_key_jwt/, '--jwks-uri implies private_key_jwt')
  t.notMatch(byUri.stdout, /client_secret/)
  const listed = await clients('list')
  t.match(listed.stdout, /svc-b\s+private_key_jwt/)

  const rotated = await clients('rotate-secret', 'svc-a')
  t.equal(rotated.code, 2, 'a key client has no secret to rotate')
  const next = await makeClientKey('RS256')
  const replaced = await clients('set-keys', 'svc-a', '--jwks-file', await file('next.json', { keys: [next.publicJwk] }), '--json')
  t.equal(replaced.code, 0, replaced.stderr)
  t.equal(JSON.parse((await clients('show', 'svc-a', '--json')).stdout).jwks.keys[0].kid, next.kid, 'set-keys replaced the set')
  t.notMatch(outputs.join('\n'), /client_secret/, 'no secret was ever printed')
})

t.test('refusals are usage errors that never echo key material', async (t) => {
  const { clients, file, outputs } = await setup(t)
  const key = await makeClientKey('ES256')
  const privateJwk = await exportJWK(key.privateKey)
  const cases: [string, string[]][] = [
    ['a private key', ['create', 'x1', '--jwks-file', await file('private.json', { keys: [privateJwk] })]],
    ['not JSON', ['create', 'x2', '--jwks-file', await file('bad.json', 'nope').then(async (path) => { await writeFile(path, `{"keys": [${privateJwk.d}`); return path })]],
    ['a missing file', ['create', 'x3', '--jwks-file', '/nonexistent/keys.json']],
    ['both sources', ['create', 'x4', '--jwks-file', await file('k.json', { keys: [key.publicJwk] }), '--jwks-uri', 'https://x.example/jwks']],
    ['http off loopback', ['create', 'x5', '--jwks-uri', 'http://x.example/jwks']],
    ['private_key_jwt without keys', ['create', 'x6', '--auth-method', 'private_key_jwt']],
    ['private_key_jwt with a secret method', ['create', 'x7', '--auth-method', 'private_key_jwt', '--auth-method', 'client_secret_basic', '--jwks-uri', 'https://x.example/jwks']],
    ['--may-act without the grant', ['create', 'x8', '--may-act']],
    ['token-exchange without --exchange-audience', ['create', 'x9', '--grant', 'token-exchange']],
    ['a key that does not import', ['create', 'x10', '--jwks-file', await file('off.json', { keys: [{ ...key.publicJwk, y: key.publicJwk.x }] })]],
  ]
  for (const [name, args] of cases) {
    const result = await clients(...args)
    t.equal(result.code, 2, `${name}: exit 2`)
    t.match(result.stderr, /^admin: /, `${name}: one line`)
  }
  t.notOk(outputs.join('\n').includes(privateJwk.d!), 'the private key never appears in output')
})
