import t from 'tap'
import { mkdir } from 'node:fs/promises'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import pino from 'pino'
import { freePort, serverEnv, startServer, tempDir, waitFor } from './helpers.js'
import { freshDatabase, SKIP_REASON, TEST_DATABASE_URL } from '../store/pg-helper.js'
import { loadConfig } from '../../src/config.js'
import { openRuntime } from '../../src/runtime.js'
import { generateClientSecret, hashClientSecret } from '../../src/clients/secret.js'

const SECRET = 'outage-test-key-encryption-secret-0123456789'

/** A TCP proxy to PostgreSQL that the test can cut (every connection dropped, port closed) and restore. */
function cuttableProxy(target: URL, port: number) {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const open = (): Promise<void> => new Promise((resolve) => {
    server = createServer((inbound) => {
      const outbound = connect(Number(target.port), target.hostname)
      for (const socket of [inbound, outbound]) {
        sockets.add(socket)
        socket.on('close', () => sockets.delete(socket))
        socket.on('error', () => socket.destroy())
      }
      inbound.pipe(outbound).pipe(inbound)
    })
    server.listen(port, '127.0.0.1', resolve)
  })
  const cut = (): Promise<void> => new Promise((resolve) => {
    for (const socket of sockets) socket.destroy()
    server?.close(() => resolve())
  })
  return { open, cut }
}

if (!TEST_DATABASE_URL) {
  t.pass('skipped: no PostgreSQL server', { skip: SKIP_REASON })
} else {
  t.test('a database outage: 503s and readyz down, JWKS still served, recovery without a restart', async (t) => {
    const direct = new URL(await freshDatabase(t))
    const proxyPort = await freePort()
    const proxy = cuttableProxy(direct, proxyPort)
    await proxy.open()
    t.teardown(() => proxy.cut())
    const viaProxy = new URL(direct)
    viaProxy.hostname = '127.0.0.1'
    viaProxy.port = String(proxyPort)
    viaProxy.password = 'hunter2-db-password' // the test server trusts loopback, so any password works; none may be logged

    const dir = await tempDir(t, 'outage')
    await mkdir(join(dir, 'r'))
    const env = serverEnv(await freePort(), join(dir, 'r'), { DATABASE_URL: viaProxy.toString(), KEYTURN_KEY_ENCRYPTION_SECRET: SECRET, KEYTURN_SIGNING_ALGS: 'ES256' })
    const setup = await openRuntime(loadConfig(env), pino({ level: 'silent' }))
    const secret = generateClientSecret()
    await setup.store.clients.create({
      id: 'svc', secretHash: hashClientSecret(secret, setup.clientSecretKey), authMethods: ['client_secret_basic'], grantTypes: ['client_credentials'],
      scopes: [], audiences: [], createdAt: new Date().toISOString(),
    })
    await setup.store.close()
    const server = await startServer(t, env)
    const token = () => fetch(`${server.url}/token`, {
      method: 'POST', body: 'grant_type=client_credentials',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}` },
    })
    t.equal((await token()).status, 200, 'before the outage')

    await proxy.cut()
    await waitFor('readyz to fail', async () => ((await fetch(`${server.url}/readyz`)).status === 503 ? true : undefined), 15_000)
    const refused = await token()
    t.equal(refused.status, 503, 'a token request that needs the database gets 503')
    t.equal(((await refused.json()) as { error: string }).error, 'temporarily_unavailable')
    t.equal((await fetch(`${server.url}/.well-known/jwks.json`)).status, 200, 'the JWKS is served from memory')
    t.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the process is alive')

    await proxy.open()
    await waitFor('readyz to recover', async () => ((await fetch(`${server.url}/readyz`)).status === 200 ? true : undefined), 20_000)
    t.equal((await token()).status, 200, 'tokens again, without a restart')
    t.notOk((server.stdout() + server.stderr()).includes('hunter2-db-password'), 'the database password is never logged')
  })
}
