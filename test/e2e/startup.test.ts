import { randomBytes } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { decodeProtectedHeader } from 'jose'
import { ROTATE_KEYS, SERVER, freePort, runNode, serverEnv, startServer, tempDir } from './helpers.js'

// Start-up of `node dist/src/server.js`: a bad configuration is refused naming the variable, and the key-encryption
// secret really protects the keys at rest.

t.test('refuses to start on a bad configuration, naming the variable, before touching the keys dir', async (t) => {
  const dir = await tempDir(t, 'e2e-config')
  const cases: { name: string; env: Record<string, string>; variable: string }[] = [
    { name: 'propagation not longer than the JWKS max-age', env: { KEYTURN_KEY_PROPAGATION: '5m', KEYTURN_JWKS_MAX_AGE: '10m' }, variable: 'KEYTURN_KEY_PROPAGATION' },
    { name: 'production without an encryption secret', env: { NODE_ENV: 'production' }, variable: 'KEYTURN_KEY_ENCRYPTION_SECRET' },
    { name: 'an encryption secret under 32 characters', env: { KEYTURN_KEY_ENCRYPTION_SECRET: 'too-short' }, variable: 'KEYTURN_KEY_ENCRYPTION_SECRET' },
    { name: 'an unknown algorithm', env: { KEYTURN_SIGNING_ALGS: 'HS256' }, variable: 'KEYTURN_SIGNING_ALGS' },
    { name: 'a duration without a unit', env: { KEYTURN_ROTATION_INTERVAL: '3600' }, variable: 'KEYTURN_ROTATION_INTERVAL' },
    { name: 'a bad cron expression', env: { KEYTURN_ROTATION_CHECK: 'every minute' }, variable: 'KEYTURN_ROTATION_CHECK' },
  ]
  const port = await freePort()
  const results = await Promise.all(cases.map((c, index) => runNode(SERVER, [], serverEnv(port, dir, { ...c.env, KEYTURN_KEYS_DIR: join(dir, `keys-${index}`), KEYTURN_DATA_DIR: join(dir, `data-${index}`) }), 15_000)))
  for (const [index, c] of cases.entries()) {
    const result = results[index]!
    t.equal(result.code, 1, `${c.name}: exit code 1`)
    t.match(result.stderr, new RegExp(`^keyturn: configuration error: ${c.variable}\\b`), `${c.name}: stderr names ${c.variable}`)
    t.notMatch(result.stderr, /\n\s+at /, `${c.name}: one line, no stack trace`)
    t.equal(result.stdout, '', `${c.name}: nothing logged`)
  }
  t.same(await readdir(dir), [], 'no keys or data directory (nor anything else) was created')
})

t.test('private keys are encrypted at rest; a different secret refuses to start; the right one starts again', async (t) => {
  const dir = await tempDir(t, 'e2e-secret')
  const keysDir = join(dir, 'keys')
  const secretA = randomBytes(32).toString('base64url')
  const secretB = randomBytes(32).toString('base64url')
  const port = await freePort()
  const env = (secret: string) => serverEnv(port, dir, { NODE_ENV: 'production', KEYTURN_KEY_ENCRYPTION_SECRET: secret })

  const first = await startServer(t, env(secretA))
  const jwks = (await (await fetch(`${first.url}/.well-known/jwks.json`)).json()) as { keys: unknown[] }
  t.equal(jwks.keys.length, 4, 'NODE_ENV=production with a secret starts and publishes RS256 and ES256 keys')
  t.same(await first.stop(), { code: 0, signal: null })

  const names = await readdir(keysDir)
  t.notOk(names.includes('.encryption-secret'), 'no development secret file when the secret is configured')
  t.ok(names.some((name) => /^keyset\.\d{12}\.json$/.test(name)), 'a key-set file was written')
  t.equal((await stat(keysDir)).mode & 0o777, 0o700, 'keys dir is 0700')
  let privateParts = 0
  for (const name of names) {
    const path = join(keysDir, name)
    const text = await readFile(path, 'utf8')
    t.notOk(text.includes('"d":'), `${name}: no plain private JWK member`)
    t.notOk(text.includes(secretA), `${name}: does not hold the secret`)
    if (!name.startsWith('keyset.')) continue
    t.equal((await stat(path)).mode & 0o777, 0o600, `${name} is 0600`)
    for (const key of (JSON.parse(text) as { keys: { kid: string; state: string; privateJwe?: string }[] }).keys) {
      if (key.privateJwe === undefined) continue
      privateParts++
      t.match(decodeProtectedHeader(key.privateJwe), { alg: 'dir', enc: 'A256GCM', kid: key.kid }, `${key.state} key sealed as a dir+A256GCM JWE bound to its kid`)
    }
  }
  t.equal(privateParts, 4, 'active and next keys of both algorithms carry a sealed private part')

  const wrong = await runNode(SERVER, [], env(secretB), 15_000)
  t.equal(wrong.code, 1, 'a different secret: exit code 1')
  t.match(wrong.stderr, /KEYTURN_KEY_ENCRYPTION_SECRET/, 'the message names KEYTURN_KEY_ENCRYPTION_SECRET')
  t.notOk(wrong.stderr.includes(secretA) || wrong.stderr.includes(secretB) || wrong.stdout.includes(secretB), 'no secret is printed')
  t.match(wrong.stderr, /ERR_KEY_DECRYPT/, 'the error code is printed')

  const again = await startServer(t, env(secretA))
  t.equal((await (await fetch(`${again.url}/readyz`)).json() as { status: string }).status, 'ready', 'the right secret starts again: the failed start damaged nothing')
  t.same(await again.stop(), { code: 0, signal: null })

  // An admin shell with the wrong secret must not seal new keys under it: once such a key is promoted, every
  // process holding the right secret fails to load the set.
  const versionsBefore = (await readdir(keysDir)).filter((name) => name.startsWith('keyset.')).length
  const forced = await runNode(ROTATE_KEYS, ['rotate', '--force'], env(secretB))
  t.equal(forced.code, 1, 'rotate-keys with a different secret is refused')
  t.equal((await readdir(keysDir)).filter((name) => name.startsWith('keyset.')).length, versionsBefore, 'and writes nothing')
})
