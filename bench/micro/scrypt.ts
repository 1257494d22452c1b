import { randomBytes } from 'node:crypto'
import { hashPassword, PASSWORD_HASH_PARAMS, verifyPassword } from '../../src/users/password.js'

/**
 * How many password verifications per second this host does with keyturn's own `verifyPassword` at the default
 * cost, `inFlight` at a time (4 = the libuv pool, where node's async scrypt runs): the ceiling of the password grant.
 */
export async function scryptRate(durationS: number, inFlight = 4): Promise<{ rate: number; cost: number; inFlight: number }> {
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
