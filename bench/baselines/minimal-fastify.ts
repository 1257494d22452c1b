/**
 * Baseline: the least a JWT token endpoint can be on fastify + jose. POST /rs256/token and /es256/token sign an
 * RFC 9068-shaped JWT with fixed claims (fresh iat, exp, jti) and answer the usual token response. No client
 * authentication, no store, no logging. Environment: BENCH_PORT.
 */
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose'

const port = Number(process.env.BENCH_PORT)
const issuer = `http://127.0.0.1:${port}`
const app = Fastify({ logger: false })
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body))

const responseSchema = {
  200: {
    type: 'object',
    properties: { access_token: { type: 'string' }, token_type: { type: 'string' }, expires_in: { type: 'integer' }, scope: { type: 'string' } },
  },
}

for (const alg of ['RS256', 'ES256'] as const) {
  const { privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048 } : {})
  const kid = randomBytes(32).toString('base64url')
  const sign = (key: CryptoKey): Promise<string> => {
    const iat = Math.floor(Date.now() / 1000)
    return new SignJWT({
      iss: issuer, sub: 'bench-client', aud: 'https://api.example.com', exp: iat + 900, iat,
      jti: randomBytes(16).toString('base64url'), client_id: 'bench-client', scope: 'orders:read',
    }).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(key)
  }
  app.post(`/${alg.toLowerCase()}/token`, { schema: { response: responseSchema } }, async (_request, reply) => {
    void reply.header('cache-control', 'no-store')
    return { access_token: await sign(privateKey), token_type: 'Bearer', expires_in: 900, scope: 'orders:read' }
  })
}
app.get('/ready', async () => ({ ok: true }))
await app.listen({ port, host: '127.0.0.1' })
