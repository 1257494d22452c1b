import { spawn } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import t from 'tap'
import pino from 'pino'
import { loadConfig } from '../../src/config.js'
import type { Alg } from '../../src/keys/algorithms.js'
import { keysOf, type KeySet } from '../../src/keys/key-set.js'
import { keyEncryptionKey, openPrivateKey } from '../../src/keys/key-material.js'
import { createRotation, rotationPolicy, type Rotation } from '../../src/keys/rotation.js'
import { loggerOptions } from '../../src/logger.js'
import { createKeySetFiles } from '../../src/store/local/key-set-files.js'
import type { KeySetStore } from '../../src/store/types.js'
import { ROOT, childCwd, childEnv, stateEnv, tempDir, type Env, type Test } from '../e2e/helpers.js'

// DESIGN §3: "two processes racing produce exactly one rotation". Real processes race rotate() on one keys
// directory (the compare-and-swap is link(2) in src/store/local/key-set-files.ts), then the same in one process.

const FIXTURE = join(ROOT, 'dist/test/keys/fixtures/rotate-once.js')
const SECRET = 'race-test-fixed-key-encryption-secret-0123456789'
const RACERS = 4
const HOUR = 3_600_000

interface Outcome {
  readonly transitions?: number
  readonly version?: number
  readonly conflicts: number
  readonly error?: string
}

/** Spawns `n` racers, waits until every one is ready, starts them together, and returns what each reported. */
async function race(t: Test, env: Env, n = RACERS): Promise<Outcome[]> {
  const children = Array.from({ length: n }, () => spawn(process.execPath, [FIXTURE], { cwd: childCwd(env), env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] }))
  t.teardown(() => children.forEach((child) => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')))
  const results = children.map((child) => {
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        if (stdout.startsWith('ready\n')) resolve()
      })
      child.once('exit', (code) => reject(new Error(`racer exited (${code}) before it was ready: ${stderr.slice(0, 1000)}`)))
    })
    const done = new Promise<Outcome>((resolve) => {
      child.once('close', (code) => {
        const last = stdout.trim().split('\n').pop() ?? ''
        try {
          resolve(JSON.parse(last) as Outcome)
        } catch {
          resolve({ conflicts: 0, error: `exit ${code}: ${stderr.slice(0, 500)}` })
        }
      })
    })
    return { ready, done }
  })
  await Promise.all(results.map((result) => result.ready))
  for (const child of children) child.stdin.write('go\n')
  return Promise.all(results.map((result) => result.done))
}

const silentCounter = () => {
  const counts = { conflicts: 0 }
  const log = pino(loggerOptions('info'), {
    write(line: string): void {
      if ((JSON.parse(line) as { event?: string }).event === 'key.conflict') counts.conflicts++
    },
  })
  return { counts, log }
}

/** `dir` is the keys dir; the database goes beside it. */
function envFor(dir: string, algs: readonly Alg[], extra: Env = {}): Env {
  return { ...stateEnv(dirname(dir)), KEYTURN_SIGNING_ALGS: algs.join(','), KEYTURN_KEY_ENCRYPTION_SECRET: SECRET, ...extra }
}

/** A due set: bootstrapped through the store API by a rotation whose injected clock runs three hours behind. */
const DUE_TIMINGS: Env = { KEYTURN_ROTATION_INTERVAL: '1h', KEYTURN_KEY_PROPAGATION: '2h' }

function rotationOn(dir: string, env: Env, now: () => number = Date.now, store: KeySetStore = createKeySetFiles(dir)) {
  const { counts, log } = silentCounter()
  const policy = rotationPolicy(loadConfig(env))
  return { rotation: createRotation({ store, policy, kek: keyEncryptionKey(SECRET), now, log }), counts }
}

async function craftDueSet(dir: string, env: Env): Promise<KeySet> {
  const { rotation } = rotationOn(dir, env, () => Date.now() - 3 * HOUR)
  const { set } = await rotation.rotate()
  return set
}

async function versionsOnDisk(dir: string): Promise<{ versions: number[]; temps: string[] }> {
  const names = await readdir(dir)
  return {
    versions: names.flatMap((name) => /^keyset\.(\d{12})\.json$/.exec(name)?.[1] ?? []).map(Number).sort((a, b) => a - b),
    temps: names.filter((name) => name.includes('.tmp-')),
  }
}

/** Exactly one active and one next key per algorithm, every private part opens with the fixed secret. */
async function checkShape(t: Test, set: KeySet, algs: readonly Alg[], retired: number): Promise<void> {
  for (const alg of algs) {
    t.equal(keysOf(set, alg, 'active').length, 1, `one active ${alg} key`)
    t.equal(keysOf(set, alg, 'next').length, 1, `one next ${alg} key`)
    t.equal(keysOf(set, alg, 'retired').length, retired, `${retired} retired ${alg} key(s)`)
  }
  t.equal(set.keys.length, algs.length * (2 + retired), 'no extra keys')
  const kek = keyEncryptionKey(SECRET)
  const sealed = set.keys.filter((key) => key.state === 'active' || key.state === 'next')
  await Promise.all(sealed.map((key) => openPrivateKey(key, kek)))
  t.pass(`${sealed.length} private parts open with the fixed secret`)
}

const processRounds: { algs: Alg[] }[] = [{ algs: ['ES256'] }, { algs: ['ES256'] }, { algs: ['RS256', 'ES256'] }]
let processConflicts = 0

t.test(`processes: ${RACERS} racers bootstrap an empty keys dir → exactly one writes version 1`, async (t) => {
  for (const [round, { algs }] of processRounds.entries()) {
    await t.test(`round ${round + 1}: ${algs.join('+')}`, async (t) => {
      const dir = join(await tempDir(t, 'race-bootstrap'), 'keys')
      const outcomes = await race(t, envFor(dir, algs))
      t.same(outcomes.filter((outcome) => outcome.error !== undefined), [], 'no racer failed')
      const winners = outcomes.filter((outcome) => (outcome.transitions ?? 0) > 0)
      t.equal(winners.length, 1, 'exactly one racer reports transitions')
      t.equal(winners[0]?.transitions, 2 * algs.length, 'bootstrap: an active and a next key per algorithm')
      t.ok(outcomes.every((outcome) => outcome.version === 1), 'every racer ends on version 1')
      processConflicts += outcomes.reduce((sum, outcome) => sum + outcome.conflicts, 0)

      const set = await createKeySetFiles(dir).load()
      t.equal(set.version, 1)
      await checkShape(t, set, algs, 0)
      t.same(await versionsOnDisk(dir), { versions: [1], temps: [] }, 'one version file, no temp file left')
    })
  }
})

t.test(`processes: ${RACERS} racers on a due set → exactly one promotion`, async (t) => {
  for (const [round, { algs }] of processRounds.entries()) {
    await t.test(`round ${round + 1}: ${algs.join('+')}`, async (t) => {
      const dir = join(await tempDir(t, 'race-due'), 'keys')
      const env = envFor(dir, algs, DUE_TIMINGS)
      const before = await craftDueSet(dir, env)
      t.equal(before.version, 1)
      const outcomes = await race(t, env)
      t.same(outcomes.filter((outcome) => outcome.error !== undefined), [], 'no racer failed')
      const winners = outcomes.filter((outcome) => (outcome.transitions ?? 0) > 0)
      t.equal(winners.length, 1, 'exactly one racer promotes')
      t.equal(winners[0]?.transitions, 3 * algs.length, 'per algorithm: active retires, next activates, a new next appears')
      t.ok(outcomes.every((outcome) => outcome.version === 2), 'every racer ends on version 2: one version bump')
      processConflicts += outcomes.reduce((sum, outcome) => sum + outcome.conflicts, 0)

      const set = await createKeySetFiles(dir).load()
      t.equal(set.version, 2)
      await checkShape(t, set, algs, 1)
      for (const alg of algs) {
        t.equal(keysOf(set, alg, 'active')[0]?.kid, keysOf(before, alg, 'next')[0]?.kid, `${alg}: the old next key is the active one`)
        t.equal(keysOf(set, alg, 'retired')[0]?.kid, keysOf(before, alg, 'active')[0]?.kid, `${alg}: the old active key retired`)
      }
      t.same(await versionsOnDisk(dir), { versions: [1, 2], temps: [] })
    })
  }
})

t.test('the process races really overlapped', async (t) => {
  t.comment(`${processConflicts} compare-and-swap conflicts over ${processRounds.length * 2} rounds of ${RACERS} racers`)
  t.ok(processConflicts > 0, 'at least one racer lost a compare-and-swap and replanned (else the races proved nothing)')
})

/** Holds the first load() of every party until all have loaded: they all plan from the same version. */
function loadBarrier(parties: number): (store: KeySetStore) => KeySetStore {
  let arrived = 0
  let release!: () => void
  const all = new Promise<void>((resolve) => (release = resolve))
  return (store) => {
    let first = true
    return {
      version: () => store.version(),
      compareAndSwap: (next) => store.compareAndSwap(next),
      async load() {
        const set = await store.load()
        if (first) {
          first = false
          if (++arrived === parties) release()
          await all
        }
        return set
      },
    }
  }
}

/** Two rotation services on one dir, each with its own store handle, forced to plan from the same version. */
function twoRotations(dir: string, env: Env): { a: Rotation; b: Rotation; conflicts: () => number } {
  const gate = loadBarrier(2)
  const a = rotationOn(dir, env, Date.now, gate(createKeySetFiles(dir)))
  const b = rotationOn(dir, env, Date.now, gate(createKeySetFiles(dir)))
  return { a: a.rotation, b: b.rotation, conflicts: () => a.counts.conflicts + b.counts.conflicts }
}

t.test('in process: two createRotation instances, Promise.all', async (t) => {
  t.test('bootstrap race, 10 rounds: exactly one writes', async (t) => {
    for (let round = 0; round < 10; round++) {
      const dir = join(await tempDir(t, 'race-inproc'), 'keys')
      const env = envFor(dir, ['ES256'])
      const { a, b, conflicts } = twoRotations(dir, env)
      const results = await Promise.all([a.rotate(), b.rotate()])
      t.same(results.map((result) => result.transitions.length).sort(), [0, 2], `round ${round + 1}: one bootstrap, one no-op`)
      t.same(results.map((result) => result.set.version), [1, 1])
      t.equal(conflicts(), 1, 'the loser saw the conflict and replanned')
      t.same((await versionsOnDisk(dir)).versions, [1])
    }
  })

  t.test('scheduled promotion race on a due set: exactly one promotion', async (t) => {
    const dir = join(await tempDir(t, 'race-inproc-due'), 'keys')
    const env = envFor(dir, ['ES256'], DUE_TIMINGS)
    const before = await craftDueSet(dir, env)
    const { a, b, conflicts } = twoRotations(dir, env)
    const results = await Promise.all([a.rotate(), b.rotate()])
    t.same(results.map((result) => result.transitions.length).sort(), [0, 3])
    t.same(results.map((result) => result.set.version), [2, 2])
    t.equal(conflicts(), 1)
    const set = await createKeySetFiles(dir).load()
    await checkShape(t, set, ['ES256'], 1)
    t.equal(keysOf(set, 'ES256', 'active')[0]?.kid, keysOf(before, 'ES256', 'next')[0]?.kid)
  })

  t.test('two requested promotions (--force) race: one wins, the other is refused, not replayed', async (t) => {
    const dir = join(await tempDir(t, 'race-inproc-forced'), 'keys')
    const env = envFor(dir, ['ES256'])
    await rotationOn(dir, env).rotation.rotate()
    const { a, b } = twoRotations(dir, env)
    const results = await Promise.allSettled([a.rotate({ promote: ['ES256'], force: true }), b.rotate({ promote: ['ES256'], force: true })])
    const fulfilled = results.filter((result) => result.status === 'fulfilled')
    const rejected = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as { code?: string }] : []))
    t.equal(fulfilled.length, 1, 'one promotion')
    t.match(rejected, [{ code: 'ERR_KEYSET_CONFLICT' }], 'the other reports the conflict instead of promoting a second time')
    const set = await createKeySetFiles(dir).load()
    t.equal(set.version, 2, 'one version bump')
    await checkShape(t, set, ['ES256'], 1)
  })

  t.test('two revocations of the same key race: one revokes, the other finds it revoked', async (t) => {
    const dir = join(await tempDir(t, 'race-inproc-revoke'), 'keys')
    const env = envFor(dir, ['ES256'])
    const { set: start } = await rotationOn(dir, env).rotation.rotate()
    const kid = keysOf(start, 'ES256', 'active')[0]!.kid
    const { a, b } = twoRotations(dir, env)
    const results = await Promise.allSettled([a.revoke(kid), b.revoke(kid)])
    t.equal(results.filter((result) => result.status === 'fulfilled').length, 1, 'one revocation')
    t.match(results.flatMap((result) => (result.status === 'rejected' ? [result.reason as { code?: string }] : [])), [{ code: 'ERR_KEY_STATE' }])
    const set = await createKeySetFiles(dir).load()
    t.equal(set.version, 2)
    t.equal(keysOf(set, 'ES256', 'revoked')[0]?.kid, kid)
    t.equal(keysOf(set, 'ES256', 'active').length, 1)
    t.equal(keysOf(set, 'ES256', 'next').length, 1)
  })

  t.test('a scheduled promotion races a revocation of the active key: both apply, in some order, and the set stays whole', async (t) => {
    for (let round = 0; round < 5; round++) {
      const dir = join(await tempDir(t, 'race-inproc-mixed'), 'keys')
      const env = envFor(dir, ['ES256'], DUE_TIMINGS)
      const before = await craftDueSet(dir, env)
      const active = keysOf(before, 'ES256', 'active')[0]!.kid
      const { a, b } = twoRotations(dir, env)
      const [rotated, revoked] = await Promise.all([a.rotate(), b.revoke(active)])
      const set = await createKeySetFiles(dir).load()
      t.equal(set.version, 1 + (rotated.transitions.length > 0 ? 1 : 0) + 1, `round ${round + 1}: every applied change is one version`)
      t.ok(revoked.transitions.some((entry) => entry.kid === active && entry.to === 'revoked'), 'the revocation applied')
      t.equal(keysOf(set, 'ES256', 'revoked')[0]?.kid, active)
      t.equal(keysOf(set, 'ES256', 'active').length, 1, 'one active key')
      t.equal(keysOf(set, 'ES256', 'next').length, 1, 'one next key')
      t.not(keysOf(set, 'ES256', 'active')[0]?.kid, active)
    }
  })
})
