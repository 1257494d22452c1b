import { spawn } from 'node:child_process'
import { watch } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import t from 'tap'
import pino from 'pino'
import { SignJWT, calculateJwkThumbprint, importJWK, jwtVerify } from 'jose'
import { loadConfig } from '../../src/config.js'
import type { Alg } from '../../src/keys/algorithms.js'
import { keysOf, type KeySet } from '../../src/keys/key-set.js'
import { parseKeySet } from '../../src/keys/key-set-codec.js'
import { keyEncryptionKey, openPrivateKey } from '../../src/keys/key-material.js'
import { createRotation, rotationPolicy } from '../../src/keys/rotation.js'
import { createKeySetFiles } from '../../src/store/local/key-set-files.js'
import { ROOT, childCwd, childEnv, sleep, stateEnv, tempDir, type Env, type Test } from '../e2e/helpers.js'

// A process rewriting the key set is SIGKILLed at random moments; after every kill the directory must still hold a
// loadable, whole, usable key set (DESIGN §3: "a crash leaves either the old or the new set").

const FIXTURE = join(ROOT, 'dist/test/keys/fixtures/rewrite-loop.js')
const SECRET = 'crash-test-fixed-key-encryption-secret-0123456789'
const KEK = keyEncryptionKey(SECRET)
/** Kill delays are drawn from a seeded generator: a failure reproduces with KEYTURN_TEST_SEED=<seed printed>. */
const SEED = Number(process.env.KEYTURN_TEST_SEED ?? 20240611)
const FILE = /^keyset\.(\d{12})\.json$/

/** mulberry32: a tiny deterministic PRNG. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = Math.imul(state ^ (state >>> 15), state | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296
  }
}

function envFor(dir: string, algs: readonly Alg[]): Env {
  // Short lifetimes so retired and revoked keys are deleted within ~1 s and the set stays small.
  return {
    ...stateEnv(dirname(dir)), KEYTURN_SIGNING_ALGS: algs.join(','), KEYTURN_KEY_ENCRYPTION_SECRET: SECRET,
    KEYTURN_ROTATION_INTERVAL: '1h', KEYTURN_KEY_PROPAGATION: '2s', KEYTURN_JWKS_MAX_AGE: '1s', KEYTURN_KEYS_RELOAD_INTERVAL: '100ms',
    KEYTURN_ACCESS_TOKEN_TTL: '1s', KEYTURN_CLOCK_SKEW: '0s',
  }
}

/**
 * Starts the rewriter, waits until it has written, lets it run `delayMs`, SIGKILLs it. With `onFileEvent`, the kill
 * waits for the next change in the keys dir after the delay, so it lands while a write is in flight.
 */
async function killMidWrite(t: Test, env: Env, delayMs: number, onFileEvent: boolean): Promise<NodeJS.Signals | null> {
  const child = spawn(process.execPath, [FIXTURE], { cwd: childCwd(env), env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)))
  await new Promise<void>((resolve, reject) => {
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (stdout.includes('ready\n')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`the rewriter exited (${code}) before writing: ${stderr.slice(0, 1000)}`)))
  })
  await sleep(delayMs)
  if (onFileEvent) {
    await new Promise<void>((resolve) => {
      const watcher = watch(env.KEYTURN_KEYS_DIR!, () => {
        child.kill('SIGKILL')
        watcher.close()
        resolve()
      })
    })
  }
  child.kill('SIGKILL')
  const signal = await closed
  if (stderr) t.comment(`rewriter stderr: ${stderr.slice(0, 500)}`)
  return signal
}

interface DiskState {
  readonly versions: number[]
  readonly temps: string[]
}

async function disk(dir: string): Promise<DiskState> {
  const names = await readdir(dir)
  return {
    versions: names.flatMap((name) => FILE.exec(name)?.[1] ?? []).map(Number).sort((a, b) => b - a),
    temps: names.filter((name) => name.includes('.tmp-')),
  }
}

/** Everything a restarted process needs from the directory, checked as that process would use it. */
async function checkDir(t: Test, dir: string, algs: readonly Alg[]): Promise<KeySet> {
  const set = await createKeySetFiles(dir).load()
  const { versions } = await disk(dir)
  t.equal(set.version, versions[0], 'load() returns the highest version on disk')
  let run = 1
  while (versions[run] === set.version - run) run++
  t.ok(run >= Math.min(set.version, 2), `the top ${run} versions are contiguous (${versions.slice(0, 6).join(', ')}…)`)
  const torn: number[] = []
  for (const version of versions) {
    const text = await readFile(join(dir, `keyset.${String(version).padStart(12, '0')}.json`), 'utf8')
    if (parseKeySet(text).version !== version) torn.push(version)
  }
  t.same(torn, [], `all ${versions.length} version files on disk are whole`)
  for (const alg of algs) {
    t.equal(keysOf(set, alg, 'active').length, 1, `exactly one active ${alg} key`)
    t.equal(keysOf(set, alg, 'next').length, 1, `exactly one next ${alg} key`)
  }
  const problems: string[] = []
  let usable = 0
  for (const key of set.keys) {
    if ((await calculateJwkThumbprint(key.publicJwk, 'sha256')) !== key.kid) problems.push(`${key.kid}: kid is not the thumbprint`)
    if (key.state === 'retired' || key.state === 'revoked') {
      if (key.privateJwe !== undefined) problems.push(`${key.kid}: ${key.state} but still holds a private part`)
      continue
    }
    const privateKey = await openPrivateKey(key, KEK)
    const jwt = await new SignJWT({ probe: true }).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(privateKey)
    const { payload } = await jwtVerify(jwt, await importJWK(key.publicJwk, key.alg), { algorithms: [key.alg] })
    if (payload.probe === true) usable++
  }
  t.same(problems, [], `${set.keys.length} keys: kids are thumbprints; retired/revoked keys hold no private part`)
  t.equal(usable, 2 * algs.length, 'every active and next key decrypts, signs, and verifies with its published JWK')
  return set
}

async function crashRounds(t: Test, algs: readonly Alg[], rounds: number, seed: number): Promise<void> {
  const dir = join(await tempDir(t, 'crash'), 'keys')
  const env = envFor(dir, algs)
  const next = random(seed)
  t.comment(`seed ${seed}`)
  let version = 0
  let leftovers = 0
  for (let round = 1; round <= rounds; round++) {
    const delayMs = 5 + Math.floor(next() * 146)
    const onFileEvent = round % 2 === 0
    await t.test(`round ${round}: SIGKILL after ${delayMs} ms${onFileEvent ? ' at the next file event' : ''}`, async (t) => {
      const signal = await killMidWrite(t, env, delayMs, onFileEvent)
      t.equal(signal, 'SIGKILL', 'the rewriter was still running when killed')
      const set = await checkDir(t, dir, algs)
      t.ok(set.version > version, `the rewriter wrote (version ${version} → ${set.version})`)
      version = set.version
      leftovers = (await disk(dir)).temps.length
    })
  }
  t.comment(`${version} versions written; ${leftovers} temp file(s) of killed writers left in the directory`)

  // A restarted process writes straight over whatever the kills left behind.
  const rotation = createRotation({
    store: createKeySetFiles(dir), policy: rotationPolicy(loadConfig(env)), kek: KEK, now: Date.now, log: pino({ level: 'silent' }),
  })
  const { set } = await rotation.rotate({ promote: [...algs], force: true })
  t.equal(set.version, version + 1, 'the next write after the last kill succeeds')
  await checkDir(t, dir, algs)
}

t.test('ES256: 30 kills at random moments leave a whole, usable key set every time', (t) => crashRounds(t, ['ES256'], 30, SEED))
t.test('RS256+ES256: 8 kills, with RSA generation in the loop', (t) => crashRounds(t, ['RS256', 'ES256'], 8, SEED + 1))
