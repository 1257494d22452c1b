import { readdir, readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import pino from 'pino'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { openRuntime } from '../../src/runtime.js'
import { generateClientSecret, hashClientSecret } from '../../src/clients/secret.js'
import { freePort, jsonLines, serverEnv, startServer, tempDir, waitFor } from './helpers.js'

// KEYTURN_WORKERS=2 on a real port: whichever worker a scrape reaches, /metrics reports both workers' counts.

const SECRET = 'metrics-e2e-key-encryption-secret-0123456789'
const METRICS_TOKEN = 'metrics-e2e-bearer-token-0123456789abcdef'

interface Reply { readonly status: number; readonly body: string }

/** One request on a connection of its own, so node:cluster hands each to the next worker in turn. */
function fresh(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: false, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(options.body)
  })
}

/** `name{labels} value` lines of the exposition, by `name{labels}` exactly as written. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    map.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return map
}

/** Fields of /proc/<pid>/stat after the command (field 2, in parentheses, may hold spaces): state, then parent pid. */
const statFields = (stat: string): string[] => stat.slice(stat.lastIndexOf(')') + 2).split(' ')
const stateOf = (stat: string): string | undefined => statFields(stat)[0]

/** Pids of `parent`'s child processes, from /proc (Linux). */
async function childPids(parent: number): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    if (stat !== '' && Number(statFields(stat)[1]) === parent) pids.push(Number(entry))
  }
  return pids
}

const port = await freePort()
const dir = await tempDir(t, 'metrics')
const env = serverEnv(port, dir, { KEYTURN_WORKERS: '2', KEYTURN_KEY_ENCRYPTION_SECRET: SECRET, KEYTURN_METRICS_TOKEN: METRICS_TOKEN })

const setup = await openRuntime(loadConfig(env), pino({ level: 'silent' }))
const clientSecret = generateClientSecret()
await setup.store.clients.create({
  id: 'svc', secretHash: hashClientSecret(clientSecret, setup.clientSecretKey), authMethods: ['client_secret_basic'], grantTypes: ['client_credentials'],
  scopes: [], audiences: ['https://api.example'], createdAt: new Date().toISOString(),
})
await setup.store.close()

const server = await startServer(t, env)
// /readyz answers once one worker listens; the primary logs this once both do.
await waitFor('both workers to listen', async () => (jsonLines(server.stdout()).some((line) => line.msg === 'keyturn cluster ready') ? true : undefined), 20_000)
const auth = { authorization: `Bearer ${METRICS_TOKEN}` }
const scrape = async (): Promise<Map<string, number>> => {
  const reply = await fresh(`${server.url}/metrics`, { headers: auth })
  if (reply.status !== 200) throw new Error(`GET /metrics: ${reply.status} ${reply.body}`)
  return samples(reply.body)
}
const token = (secret: string): Promise<Reply> => fresh(`${server.url}/token`, {
  method: 'POST', body: 'grant_type=client_credentials',
  headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}` },
})

t.test('every scrape sums both workers; gauges are not summed', async (t) => {
  const JWKS = 10
  const FAILED = 2
  for (let i = 0; i < JWKS; i++) t.equal((await fresh(`${server.url}/.well-known/jwks.json`)).status, 200)
  for (let i = 0; i < FAILED; i++) t.equal((await token('wrong')).status, 401)
  // node:cluster hands connections to whichever worker is free, in turn; on a busy machine one may take several.
  const issuers = (): Set<unknown> => new Set(jsonLines(server.stdout()).filter((line) => line.event === 'token.issued').map((line) => line.worker))
  let ISSUED = 0
  while (ISSUED < 4 || (issuers().size < 2 && ISSUED < 40)) {
    t.equal((await token(clientSecret)).status, 200)
    ISSUED++
  }
  t.equal(issuers().size, 2, `both workers issued some of the ${ISSUED} tokens, so no single registry holds every count`)

  for (let i = 0; i < 4; i++) {
    const metrics = await scrape()
    t.equal(metrics.get('keyturn_jwks_responses_total{status="200"}'), JWKS, `scrape ${i + 1}: JWKS 200s`)
    t.equal(metrics.get('keyturn_tokens_issued_total{grant="client_credentials",alg="RS256"}'), ISSUED, `scrape ${i + 1}: tokens issued`)
    t.equal(metrics.get('keyturn_token_requests_total{grant="client_credentials",outcome="issued"}'), ISSUED)
    t.equal(metrics.get('keyturn_token_requests_total{grant="client_credentials",outcome="invalid_client"}'), FAILED)
    t.equal(metrics.get('keyturn_token_request_duration_seconds_count{grant="client_credentials"}'), ISSUED + FAILED)
    // serverEnv: rotation every hour, on keys created at start-up. Summed over two workers these would double.
    for (const alg of ['RS256', 'ES256']) {
      const until = metrics.get(`keyturn_signing_key_rotation_in_seconds{alg="${alg}"}`)!
      const age = metrics.get(`keyturn_signing_key_age_seconds{alg="${alg}"}`)!
      t.ok(until > 3000 && until <= 3600, `${alg}: next rotation within the hour (${until})`)
      t.ok(age >= 0 && age < 600, `${alg}: key age since start-up (${age})`)
    }
    t.ok((metrics.get('process_resident_memory_bytes') ?? 0) > 0, 'process metrics are there')
  }
})

t.test('the bearer token is required in a cluster too', async (t) => {
  const reply = await fresh(`${server.url}/metrics`)
  t.equal(reply.status, 401)
  const refusals = await waitFor('the refusal to be logged', async () => {
    const lines = jsonLines(server.stdout()).filter((line) => line.event === 'metrics.unauthorized')
    return lines.length > 0 ? lines : undefined
  })
  t.equal(refusals.length, 1, 'a refused scrape is logged once')
  t.equal(refusals[0]!.level, 40, 'at warn')
  const scrapes = jsonLines(server.stdout()).filter((line) => JSON.stringify(line).includes('/metrics') && line.event !== 'metrics.unauthorized')
  t.same(scrapes, [], 'successful scrapes are not access-logged')
  t.notOk(server.stdout().includes(METRICS_TOKEN) || server.stderr().includes(METRICS_TOKEN), 'the metrics token is never logged')
})

t.test('a worker that does not answer fails the scrape with 503, within the timeout', { skip: process.platform === 'linux' ? false : 'needs /proc and SIGSTOP' }, async (t) => {
  const workers = await childPids(server.pid)
  t.equal(workers.length, 2, 'the primary has two workers')
  const stopped = workers[0]!
  process.kill(stopped, 'SIGSTOP')
  // The signal takes effect when the kernel next schedules the worker: wait for its state to read T (stopped).
  await waitFor('the worker to stop', async () => (stateOf(await readFile(`/proc/${stopped}/stat`, 'utf8')) === 'T' ? true : undefined), 5000, 10)
  try {
    // One of two fresh connections reaches the running worker, which asks the primary; the stopped worker never answers.
    const started = Date.now()
    const timed = (reply: Reply): Reply & { ms: number } => ({ ...reply, ms: Date.now() - started })
    const replies = await Promise.allSettled([0, 1].map(() => fresh(`${server.url}/metrics`, { headers: auth, timeoutMs: 8000 }).then(timed)))
    const answered = replies.flatMap((reply) => (reply.status === 'fulfilled' ? [reply.value] : []))
    t.ok(answered.length >= 1, 'the running worker answered')
    for (const reply of answered) {
      t.equal(reply.status, 503, 'a partial sum is never served')
      t.equal(JSON.parse(reply.body).error, 'temporarily_unavailable')
      // The primary waits 2 s for the workers (COLLECT_TIMEOUT_MS); the rest is slack for a busy machine.
      t.ok(reply.ms >= 1900 && reply.ms < 6000, `after the collection timeout (${reply.ms} ms)`)
    }
  } finally {
    process.kill(stopped, 'SIGCONT')
  }
  await waitFor('scrapes to succeed again', async () => {
    const replies = await Promise.all([0, 1].map(() => fresh(`${server.url}/metrics`, { headers: auth, timeoutMs: 3000 })))
    return replies.every((reply) => reply.status === 200) ? true : undefined
  }, 20_000, 200)
})
