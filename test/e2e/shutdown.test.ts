import { connect, type Socket } from 'node:net'
import t from 'tap'
import pino from 'pino'
import { loadConfig } from '../../src/config.js'
import { openRuntime } from '../../src/runtime.js'
import { generateClientSecret, hashClientSecret } from '../../src/clients/secret.js'
import { validateClient } from '../../src/clients/client.js'
import { TEST_SECRET } from '../helper.js'
import { freePort, jsonLines, serverEnv, sleep, startServer, tempDir, type Env, type Test } from './helpers.js'

/** Registers a client in the server's store before it starts, as an operator's admin command would. */
async function withClient(env: Env): Promise<{ id: string; secret: string }> {
  const runtime = await openRuntime(loadConfig(env), pino({ level: 'silent' }))
  const secret = generateClientSecret()
  await runtime.store.clients.create(validateClient({
    id: 'svc', createdAt: new Date().toISOString(), secretHash: hashClientSecret(secret, runtime.clientSecretKey),
  }))
  await runtime.store.close()
  return { id: 'svc', secret }
}

/** Sends a token request's headers and all but the last byte of its body: the request is in flight until `finish`. */
async function halfSentRequest(port: number, client: { id: string; secret: string }): Promise<{ finish(): void; response: Promise<string>; socket: Socket }> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }).toString()
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.write(`POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`)
  const response = new Promise<string>((resolve) => {
    let text = ''
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
    socket.on('close', () => resolve(text))
    socket.on('error', () => resolve(text))
  })
    // write, not end: a client that half-closes its socket makes Node abort the request it is still answering.
  return { finish: () => socket.write(body.slice(-1)), response, socket }
}

const refused = (port: number): Promise<boolean> => new Promise((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(false) })
  socket.once('error', () => resolve(true))
})

async function start(t: Test, extra: Env) {
  const port = await freePort()
  const env = serverEnv(port, await tempDir(t, 'shutdown'), { KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET, KEYTURN_SIGNING_ALGS: 'ES256', ...extra })
  const client = await withClient(env)
  return { port, client, server: await startServer(t, env) }
}

t.test('SIGTERM: stop accepting at once, finish the request in flight, close the store, exit 0', async (t) => {
  const { port, client, server } = await start(t, {})
  const inFlight = await halfSentRequest(port, client)
  await sleep(100)
  process.kill(server.pid, 'SIGTERM')
  await sleep(300)
  t.equal(await refused(port), true, 'new connections are refused while the request is still in flight')
  inFlight.finish()
  const response = await inFlight.response
  // t.ok, not t.match: a failure must not print the token in the diff.
  t.ok(response.startsWith('HTTP/1.1 200 '), 'the in-flight request got its answer')
  t.ok(response.includes('"access_token":"'))
  t.ok(/\r\nconnection: close\r\n/i.test(response), 'with Connection: close, so the keep-alive socket does not hold shutdown')
  const exit = await server.exited
  t.same(exit, { code: 0, signal: null })
  const lines = jsonLines(server.stdout())
  t.ok(lines.some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM'))
  t.ok(lines.some((line) => line.msg === 'shut down cleanly'), 'every step completed: server, rotation job, store')
})

t.test('SIGTERM: a request that never completes is cut off at KEYTURN_SHUTDOWN_GRACE and the process exits 1', async (t) => {
  const { port, client, server } = await start(t, { KEYTURN_SHUTDOWN_GRACE: '1s' })
  const stuck = await halfSentRequest(port, client)
  await sleep(100)
  const signalledAt = Date.now()
  process.kill(server.pid, 'SIGTERM')
  const exit = await server.exited
  const waited = Date.now() - signalledAt
  t.same(exit, { code: 1, signal: null }, 'exit 1: an orchestrator sees the shutdown was not clean')
  t.ok(waited >= 1000, `it waited the grace period for the request (${waited} ms)`)
  t.ok(jsonLines(server.stdout()).some((line) => line.msg === 'graceful shutdown timed out'))
  stuck.socket.destroy()
})

t.test('KEYTURN_SHUTDOWN_GRACE is a duration from 1s to 10m', async (t) => {
  const base = { KEYTURN_KEY_ENCRYPTION_SECRET: TEST_SECRET }
  t.equal(loadConfig(base).shutdownGraceMs, 10_000)
  t.equal(loadConfig({ ...base, KEYTURN_SHUTDOWN_GRACE: '25s' }).shutdownGraceMs, 25_000)
  for (const value of ['10', '500ms', '11m']) t.throws(() => loadConfig({ ...base, KEYTURN_SHUTDOWN_GRACE: value }), { code: 'ERR_CONFIG', variable: 'KEYTURN_SHUTDOWN_GRACE' }, value)
})
