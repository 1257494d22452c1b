/**
 * Baseline: a static fastify route that answers GET /jwks.json with fixed bytes: keyturn's own JWKS body and
 * response headers, captured from the keyturn under test when the bench starts (BENCH_BODY_FILE,
 * BENCH_HEADERS_FILE), so both send the same bytes and the ratio measures only how keyturn gets to them.
 * Environment: BENCH_PORT, BENCH_BODY_FILE, BENCH_HEADERS_FILE.
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const port = Number(process.env.BENCH_PORT)
const body = readFileSync(process.env.BENCH_BODY_FILE!)
const headers = JSON.parse(readFileSync(process.env.BENCH_HEADERS_FILE!, 'utf8')) as Record<string, string>
const app = Fastify({ logger: false })
app.get('/jwks.json', async (_request, reply) => reply.headers(headers).send(body))
app.get('/ready', async () => ({ ok: true }))
await app.listen({ port, host: '127.0.0.1' })
