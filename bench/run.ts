/**
 * `npm run bench`: starts keyturn and its baselines on loopback, loads each with autocannon, measures jose's raw
 * signing and the verifier in process, and writes bench/results/<date>.json and .md with every keyturn figure
 * beside its baselines from the same run. Targets are printed as PASS/FAIL lines; the exit code only says whether
 * the bench itself worked (and, with --strict, whether every request was answered as expected).
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { availableParallelism, cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseOptions, type Group } from './lib/options.js'
import { foreignLoad, freePort, killAllNow, startService, stopAll, type Service } from './lib/proc.js'
import { compare, createQuietGate, fmt, say } from './lib/rounds.js'
import { AUDIENCE, basic, makeTempDir, postForm, prepareKeyturn, ROOT, SCOPE, startKeyturn } from './lib/keyturn.js'
import {
  introspectTarget, jwksTarget, JWKS_PATH, keyturnClientCredentials, minimalToken, oidcProviderToken, PASSWORD_CONNECTIONS, passwordTarget, refreshTarget, type Target,
} from './lib/scenarios.js'
import { checkTargets, formatCheck, type HttpMeasurement } from './lib/targets.js'
import { DISTURBED, markdown, type Report } from './lib/report.js'
import type { RawSignResult } from './micro/raw-sign.js'
import { verifierRate, type VerifyResult } from './micro/verify.js'
import { scryptRate } from './micro/scrypt.js'

function versionOf(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== ''
    return dirty ? `${head} + uncommitted changes` : head
  } catch {
    return 'unknown'
  }
}

const PER_CONNECTION_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'date', 'content-length', 'transfer-encoding'])

/** What must be undone however the run ends: the servers (tracked in proc.ts) and the temp dir. */
let tempDir: string | undefined
let keepTempDir = false

async function cleanUp(): Promise<void> {
  await stopAll()
  if (tempDir === undefined) return
  if (keepTempDir) say(`kept ${tempDir} (keys, database, keyturn logs)`)
  else await rm(tempDir, { recursive: true, force: true })
  tempDir = undefined
}

/** Ctrl-C, a CI timeout's SIGTERM, a closed terminal: stop every server and remove the temp dir, then exit. */
function onSignals(): void {
  let stopping = false
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(signal, () => {
      if (stopping) return
      stopping = true
      say(`\n${signal}: stopping the servers`)
      void cleanUp().finally(() => process.exit(code))
    })
  }
  process.on('uncaughtException', (error) => {
    say(`bench failed: ${error.stack ?? String(error)}`)
    if (stopping) return
    stopping = true
    void cleanUp().finally(() => process.exit(1))
  })
  // Whatever else ends this process (process.exit with a server still up): no orphans.
  process.on('exit', killAllNow)
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  onSignals()
  keepTempDir = options.keep
  const t0 = performance.now()
  const resultsDir = options.outDir ?? join(ROOT, 'bench/results')
  const mode = options.quick ? 'quick' : 'full'
  say(`keyturn bench (${mode}): ${options.connections} connections, ${options.durationS} s runs, ${options.rounds} round(s); groups ${options.groups.join(', ')}`)
  const foreignCpuAtStart = await foreignLoad(1000)
  if (foreignCpuAtStart > 0.3) say(`warning: other processes use ${fmt(foreignCpuAtStart, 2)} cores of ${availableParallelism()}; figures will be noisy`)

  const services: Service[] = []
  const quiet = createQuietGate(options, services)
  const http: HttpMeasurement[] = []
  const sign: RawSignResult[] = []
  const verify: VerifyResult[] = []
  let scrypt: Report['scrypt']
  const wants = (...groups: Group[]): boolean => groups.some((group) => options.groups.includes(group))
  try {
    tempDir = await makeTempDir()
    const state = await prepareKeyturn(tempDir)
    const profiles = join(resultsDir, 'profiles')
    if (options.cpuProf) mkdirSync(profiles, { recursive: true })
    const nodeArgs = options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`] : []
    const keyturn = await startKeyturn(state, { workers: 1, logFile: join(state.dir, 'keyturn.log'), nodeArgs })
    services.push(keyturn)
    // KEYTURN_WORKERS rows are for client_credentials and the JWKS only.
    const clustered = new Map<number, Service>()
    for (const workers of wants('cc-rs256', 'cc-es256', 'jwks') ? options.extraWorkers : []) {
      const service = await startKeyturn(state, { workers, logFile: join(state.dir, `keyturn-w${workers}.log`), nodeArgs })
      services.push(service)
      clustered.set(workers, service)
    }
    const baseline = async (name: string, script: string, readyPath: string, env: Record<string, string> = {}): Promise<Service> => {
      const port = await freePort()
      const service = await startService({
        name, script: join(ROOT, 'dist/bench/baselines', script), env: { BENCH_PORT: String(port), ...env }, cwd: state.dir, url: `http://127.0.0.1:${port}`, readyPath,
      })
      services.push(service)
      return service
    }
    // Only the baselines the chosen groups compare against are started.
    const minimal = wants('cc-rs256', 'cc-es256') ? await baseline('minimal fastify + jose', 'minimal-fastify.js', '/ready') : undefined
    const oidcClient = { id: 'bench-oidc', secret: randomBytes(32).toString('base64url') }
    const oidc = wants('cc-rs256', 'cc-es256', 'jwks')
      ? await baseline('node-oidc-provider', 'oidc-provider.js', '/.well-known/openid-configuration', { BENCH_CLIENT_ID: oidcClient.id, BENCH_CLIENT_SECRET: oidcClient.secret })
      : undefined
    let staticRoute: Service | undefined
    let etag = ''
    if (wants('jwks')) {
      const jwks = await fetch(`${keyturn.url}${JWKS_PATH}`)
      etag = jwks.headers.get('etag') ?? ''
      // The static route sends keyturn's body and headers, less those node's HTTP server writes itself.
      const headers = Object.fromEntries([...jwks.headers].filter(([name]) => !PER_CONNECTION_HEADERS.has(name)))
      writeFileSync(join(state.dir, 'jwks.json'), Buffer.from(await jwks.arrayBuffer()))
      writeFileSync(join(state.dir, 'jwks-headers.json'), JSON.stringify(headers))
      staticRoute = await baseline('static fastify route', 'static-fastify.js', '/ready', {
        BENCH_BODY_FILE: join(state.dir, 'jwks.json'), BENCH_HEADERS_FILE: join(state.dir, 'jwks-headers.json'),
      })
    }

    const token = async (client: { id: string; secret: string }): Promise<string> => {
      const { status, body } = await postForm(`${keyturn.url}/token`, { grant_type: 'client_credentials', scope: SCOPE }, basic(client))
      if (status !== 200 || typeof body.access_token !== 'string') throw new Error(`could not get a token: ${status}`)
      return body.access_token
    }
    const workerRows = (make: (service: Service, tag: string, label: string) => Target): (Target & { workers: number })[] =>
      [[1, keyturn] as const, ...clustered].map(([workers, service]) => ({
        ...make(service, workers === 1 ? '' : `-w${workers}`, workers === 1 ? 'keyturn' : `keyturn, KEYTURN_WORKERS=${workers}`), workers,
      }))

    for (const group of options.groups) {
      switch (group) {
        case 'cc-rs256':
        case 'cc-es256': {
          const alg = group === 'cc-rs256' ? 'RS256' : 'ES256'
          const client = alg === 'RS256' ? state.rs256 : state.es256
          const result = await compare(options, quiet, `client_credentials ${alg}`, [
            ...workerRows((service, tag, label) => keyturnClientCredentials(`keyturn${tag}.cc.${alg}`, label, service, client, alg)),
            minimalToken(minimal!, alg),
            oidcProviderToken(oidc!, oidcClient, alg),
          ], alg)
          http.push(...result.http)
          if (result.sign) sign.push(result.sign)
          break
        }
        case 'jwks':
          http.push(...(await compare(options, quiet, 'JWKS 200', [
            ...workerRows((service, tag, label) => jwksTarget(`keyturn${tag}.jwks.200`, label, service, JWKS_PATH)),
            jwksTarget('static.jwks.200', 'static fastify route', staticRoute!, '/jwks.json'),
            jwksTarget('oidc-provider.jwks.200', 'node-oidc-provider', oidc!, '/jwks'),
          ])).http)
          http.push(...(await compare(options, quiet, 'JWKS 304 (If-None-Match)', [jwksTarget('keyturn.jwks.304', 'keyturn', keyturn, JWKS_PATH, etag)])).http)
          break
        case 'introspect':
          http.push(...(await compare(options, quiet, '/introspect (ES256 access token)', [introspectTarget(keyturn, state, await token(state.es256))])).http)
          break
        case 'refresh':
          http.push(...(await compare(options, quiet, 'refresh_token (ES256, rotating)', [refreshTarget(keyturn, state)])).http)
          break
        case 'password': {
          await quiet.wait()
          scrypt = await scryptRate(Math.min(options.durationS, 5), PASSWORD_CONNECTIONS)
          say(`  scrypt verify (cost ${scrypt.cost}): ${fmt(scrypt.rate, 1)}/s with ${scrypt.inFlight} in flight`)
          // A few hashes a second: at least 6 s per run for a p99 worth the name.
          const target = passwordTarget(keyturn, state, Math.max(options.durationS, 6))
          http.push(...(await compare({ ...options, warmupS: Math.min(options.warmupS, 1) }, quiet, `password (ES256, scrypt, ${PASSWORD_CONNECTIONS} connections)`, [target])).http)
          break
        }
        case 'verify':
          for (const client of [state.rs256, state.es256]) {
            await quiet.wait()
            const result = await verifierRate({ issuer: keyturn.url, audience: AUDIENCE, token: await token(client), durationS: options.durationS })
            verify.push(result)
            say(`  verifier ${result.alg}: ${fmt(result.verifier)}/s vs jwtVerify ${fmt(result.raw)}/s${result.foreignCpu > DISTURBED ? `, host busy (${fmt(result.foreignCpu, 2)} cores elsewhere)` : ''}`)
          }
          break
      }
    }
  } finally {
    await cleanUp()
  }

  const now = new Date()
  const measurements = { http, sign, verify }
  const report: Report = {
    meta: {
      date: now.toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace('T', ' '),
      mode, node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memoryGB: totalmem() / 1e9,
      kernel: `Linux ${release()}`, commit: commit(), options,
      versions: Object.fromEntries(['fastify', 'jose', 'pino', 'autocannon', 'oidc-provider'].map((name) => [name, versionOf(name)])),
      foreignCpuAtStart, quietWaitS: quiet.waitedS(), wallS: (performance.now() - t0) / 1000,
    },
    ...measurements,
    ...(scrypt ? { scrypt } : {}),
    targets: checkTargets(measurements),
  }
  mkdirSync(resultsDir, { recursive: true })
  const stamp = now.toISOString().slice(0, 16).replace(/[:T]/g, '-')
  const base = join(resultsDir, `${stamp}${options.quick ? '-quick' : ''}`)
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(`${base}.md`, markdown(report))
  process.stdout.write(`\n${report.targets.map(formatCheck).join('\n')}\n\nwrote ${base}.md and .json in ${fmt(report.meta.wallS)} s\n`)
  const errors = http.reduce((sum, row) => sum + row.rounds.reduce((n, round) => n + round.errors, 0), 0)
  if (options.strict && errors > 0) {
    say(`--strict: ${errors} errors (see the errors and statuses of each run in ${base}.json)`)
    process.exitCode = 3
  }
}

main().catch(async (error: unknown) => {
  say(`bench failed: ${(error as Error).stack ?? String(error)}`)
  await cleanUp().catch(() => undefined)
  process.exit(1)
})
