/**
 * Baseline: a static fastify route that answers GET /jwks.json with fixed bytes (keyturn's own JWKS body, read from
 * BENCH_BODY_FILE) and the same headers keyturn sends. Environment: BENCH_PORT, BENCH_BODY_FILE.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const port = Number(process.env.BENCH_PORT)
const body = readFileSync(process.env.BENCH_BODY_FILE!)
const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`
const app = Fastify({ logger: false })
app.get('/jwks.json', async (_request, reply) => {
  return reply
    .header('cache-control', 'public, max-age=600')
    .header('etag', etag)
    .header('access-control-allow-origin', '*')
    .type('application/jwk-set+json')
    .send(body)
})
app.get('/ready', async () => ({ ok: true }))
await app.listen({ port, host: '127.0.0.1' })
