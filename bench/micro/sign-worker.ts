import { randomBytes } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import { generateKeyPair, SignJWT } from 'jose'

/** One thread of the raw signing measurement: jose alone, keyturn's header and claim shapes, nothing else. */
interface Job {
  readonly alg: 'RS256' | 'ES256'
  readonly inFlight: number
}

const { alg, inFlight } = workerData as Job
const { privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048 } : {})
const kid = randomBytes(32).toString('base64url')

async function signOne(): Promise<string> {
  const iat = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: 'http://127.0.0.1:3000', sub: 'bench-client', aud: 'https://api.example.com', exp: iat + 900, iat,
    jti: randomBytes(16).toString('base64url'), client_id: 'bench-client', scope: 'orders:read',
  }).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(privateKey)
}

await signOne()
parentPort!.postMessage({ ready: true })
parentPort!.once('message', async ({ durationMs }: { durationMs: number }) => {
  const deadline = performance.now() + durationMs
  let count = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      await signOne()
      count++
    }
  }))
  parentPort!.postMessage({ count })
})
