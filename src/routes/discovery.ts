import type { FastifyInstance } from 'fastify'
import { AUTH_METHOD, PATHS } from '../oauth.js'
import { GRANTS } from '../grants/index.js'
import { ASSERTION_ALGS } from '../clients/jwks.js'
import type { Config } from '../config.js'
import type { AppDeps } from '../app.js'
import { DISCOVERY_RESPONSES, TAG } from './schemas.js'

/**
 * RFC 8414 metadata, truthful: only endpoints, grants, methods and algorithms that exist. keyturn has no
 * authorization endpoint, so `response_types_supported` is empty, and it issues no ID tokens.
 */
export function discoveryDocument(config: Config): Record<string, unknown> {
  const url = (path: string): string => `${config.issuer}${path}`
  return {
    issuer: config.issuer,
    token_endpoint: url(PATHS.token),
    jwks_uri: url(PATHS.jwks),
    grant_types_supported: [...GRANTS.keys()],
    token_endpoint_auth_methods_supported: Object.values(AUTH_METHOD),
    // RFC 8414 §2: the algorithms a private_key_jwt assertion may be signed with, per endpoint.
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    introspection_endpoint: url(PATHS.introspect),
    introspection_endpoint_auth_methods_supported: [AUTH_METHOD.secretBasic, AUTH_METHOD.secretPost, AUTH_METHOD.privateKeyJwt],
    introspection_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    revocation_endpoint: url(PATHS.revoke),
    revocation_endpoint_auth_methods_supported: Object.values(AUTH_METHOD),
    revocation_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    response_types_supported: [],
    scopes_supported: [],
    // keyturn extension: the algorithms access tokens are signed with (no registered metadata name exists).
    access_token_signing_alg_values_supported: [...config.signingAlgs],
  }
}

export function discoveryRoutes(app: FastifyInstance, { config }: AppDeps): void {
  const body = JSON.stringify(discoveryDocument(config))
  for (const path of [PATHS.openidConfiguration, PATHS.oauthMetadata]) {
    const operationId = path === PATHS.oauthMetadata ? 'oauthMetadata' : 'openidConfiguration'
    app.get(path, { schema: { summary: 'Authorization server metadata (RFC 8414)', operationId, tags: [TAG.keys], docs: { responses: DISCOVERY_RESPONSES } } }, async (_request, reply) => {
      return reply.header('cache-control', 'public, max-age=3600').header('access-control-allow-origin', '*').type('application/json').send(body)
    })
  }
}
