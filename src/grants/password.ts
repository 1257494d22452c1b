import { InvalidGrant, InvalidRequest } from '../errors.js'
import { GRANT } from '../oauth.js'
import { single } from '../form-body.js'
import { hashPassword, needsRehash, verifyAgainstDummy, verifyPassword } from '../users/password.js'
import type { Grant } from './types.js'
import { resolveAudience, resolveScope } from './policy.js'
import { startFamily, userAccessToken } from './sessions.js'

/**
 * RFC 6749 §4.3, for first-party clients explicitly allowed it (RFC 9700 §2.4 deprecates it for everyone else).
 * Unknown user, disabled user and wrong password give one answer, after the same amount of hashing work.
 */
export const passwordGrant: Grant = {
  type: GRANT.password,
  params: ['username', 'password', 'scope', 'resource', 'audience'],
  async handle({ params, client: { client } }, context) {
    const username = single(params, 'username')
    const password = single(params, 'password')
    if (username === undefined || password === undefined) throw new InvalidRequest('username and password are required')
    const scope = resolveScope(params, client.scopes)
    const audience = resolveAudience(params, client, context.config.defaultAudience)
    const user = await context.store.users.getByUsername(username)
    const valid = user && !user.disabled
      ? await verifyPassword(password, user.passwordHash)
      : await verifyAgainstDummy(password, context.config.passwordHashCost)
    if (!user || user.disabled || !valid) {
      context.log.info({ event: 'login.failed', client_id: client.id }, 'password grant refused')
      throw new InvalidGrant('invalid username or password')
    }
    if (needsRehash(user.passwordHash, context.config.passwordHashCost)) {
      // The cost was raised since this hash was made: upgrade it now that we hold the password. Best effort.
      const passwordHash = await hashPassword(password, context.config.passwordHashCost)
      await context.store.users.update({ ...user, passwordHash, updatedAt: context.now() }).catch((error: unknown) => {
        context.log.error({ err: error, sub: user.id }, 'password rehash failed')
      })
    }
    const refreshToken = await startFamily(context, client, user, scope, audience)
    return { ...(await userAccessToken(context, client, user, scope, audience)), ...(refreshToken ? { refresh_token: refreshToken } : {}) }
  },
}
