import { randomBytes } from 'node:crypto'
import { hashPassword, MAX_CONCURRENT_HASHES, PASSWORD_HASH_PARAMS, verifyPassword } from '../../src/users/password.js'

/**
 * How many password verifications per second this host does with keyturn's own `verifyPassword` at the default
 * cost, `inFlight` at a time: the ceiling of the password grant. verifyPassword runs at most MAX_CONCURRENT_HASHES
 * hashes at once (src/users/password.ts, on the libuv pool) and queues the rest, as it does in the server.
 */
export async function scryptRate(durationS: number, inFlight = MAX_CONCURRENT_HASHES): Promise<{ rate: number; cost: number; inFlight: number }> {
  const password = randomBytes(18).toString('base64url')
  const stored = await hashPassword(password)
  const t0 = performance.now()
  const deadline = t0 + durationS * 1000
  let count = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      if (!(await verifyPassword(password, stored))) throw new Error('scrypt verification failed')
      count++
    }
  }))
  return { rate: count / ((performance.now() - t0) / 1000), cost: PASSWORD_HASH_PARAMS.log2N, inFlight }
}
