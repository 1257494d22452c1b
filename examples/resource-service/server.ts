/**
 * A small resource server protected by keyturn access tokens. Run after `npm run build`:
 *
 *   ISSUER=http://127.0.0.1:3000 AUDIENCE=https://orders.example PORT=4000 node dist/examples/resource-service/server.js
 *
 * It imports the plugin by its package name, exactly as a downstream service would.
 */
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { keyturnAuth, requireScope } from 'keyturn/fastify'

/** The example's settings, from the environment. */
export interface ServiceConfig {
  readonly issuer: string
  readonly audience: string
  readonly port: number
  readonly host: string
}

/** Reads ISSUER, AUDIENCE, PORT (default 4000) and HOST (default 127.0.0.1); throws naming the bad variable. */
export function loadServiceConfig(env: NodeJS.ProcessEnv): ServiceConfig {
  const issuer = env.ISSUER
  const audience = env.AUDIENCE
  if (issuer === undefined || issuer === '') throw new Error('ISSUER is required (e.g. http://127.0.0.1:3000)')
  if (audience === undefined || audience === '') throw new Error('AUDIENCE is required (the aud your tokens carry)')
  const port = Number(env.PORT ?? '4000')
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT must be an integer 0..65535')
  return { issuer, audience, port, host: env.HOST ?? '127.0.0.1' }
}

const orders = [
  { id: 'o-1', item: 'coffee beans', quantity: 2 },
  { id: 'o-2', item: 'grinder', quantity: 1 },
]

/** Builds the service (never listens), so tests can `inject()` into it. */
export async function buildService(config: Pick<ServiceConfig, 'issuer' | 'audience'>, logger: boolean = false): Promise<FastifyInstance> {
  const app = Fastify({ logger: logger && { redact: ['req.headers.authorization'] } })
  // Every route needs a valid token unless it says `config: { auth: false }`.
  await app.register(keyturnAuth, { issuer: config.issuer, audience: config.audience, realm: 'orders' })

  app.get('/healthz', { config: { auth: false } }, async () => ({ status: 'ok' }))

  app.get('/readyz', { config: { auth: false } }, async (_request, reply) => {
    const { state, keyCount, lastFetchAt, staleSince } = app.keyturn.verifier.status()
    const ready = state === 'fresh' || state === 'revalidate' || state === 'stale'
    return reply.code(ready ? 200 : 503).send({ state, keyCount, lastFetchAt, staleSince })
  })

  app.get('/me', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: { sub: { type: 'string' }, client_id: { type: 'string' }, scope: { type: 'string' } },
          additionalProperties: false,
        },
      },
    },
    handler: async (request) => request.auth,
  })

  app.get('/orders', { preHandler: requireScope('orders:read') }, async (request) => ({ owner: request.auth?.sub, orders }))

  app.post('/orders', { preHandler: requireScope('orders:write') }, async (request, reply) => {
    request.log.info({ sub: request.auth?.sub, client_id: request.auth?.client_id, jti: request.auth?.jti }, 'order created')
    return reply.code(201).send({ id: `o-${orders.length + 1}` })
  })

  return app
}

async function main(): Promise<void> {
  const config = loadServiceConfig(process.env)
  const app = await buildService(config, true)
  // Warm the key cache so the first request does not pay for discovery; not fatal if the issuer is still starting.
  const { state } = await app.keyturn.verifier.refresh()
  app.log.info({ issuer: config.issuer, state }, 'keyturn verifier ready')
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void app.close().then(() => process.exit(0))
    })
  }
  await app.listen({ port: config.port, host: config.host })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}
