import { GRANT } from '../oauth.js'
import type { Grant } from './types.js'
import { accessTokenTtl, resolveAudience, resolveScope, signingAlg } from './policy.js'

/** RFC 6749 §4.4: the client acts on its own behalf; `sub` is the client id (RFC 9068 §2.2). */
export const clientCredentialsGrant: Grant = {
  type: GRANT.clientCredentials,
  params: ['scope', 'resource', 'audience'],
  async handle({ params, client: { client } }, { config, issueAccessToken }) {
    const scope = resolveScope(params, client.scopes)
    const audience = resolveAudience(params, client, config.defaultAudience)
    const issued = await issueAccessToken({
      sub: client.id, clientId: client.id, audience, scope, ttlSeconds: accessTokenTtl(client, config), alg: signingAlg(client, config),
    })
    return {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      ...(scope.length > 0 ? { scope: scope.join(' ') } : {}),
    }
  },
}
