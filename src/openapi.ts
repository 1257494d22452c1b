import { readFileSync } from 'node:fs'
import type { FastifyInstance, FastifySchema } from 'fastify'
import swagger from '@fastify/swagger'
import type { Config } from './config.js'
import { AUTH_METHOD, FORM_CONTENT_TYPE, PATHS, type AuthMethod } from './oauth.js'
import { ERROR_RESPONSES, EXTERNAL_ROUTE_DOCS, oauthErrorSchema, TAG, type DocResponse } from './routes/schemas.js'

/** The security scheme of `client_secret_basic`; the other methods send their credentials in the form. */
const BASIC = 'client_secret_basic'

function packageVersion(): string {
  try {
    // dist/src/openapi.js → the package root, as in the Docker image.
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

/**
 * The OpenAPI operation security for the accepted client authentication methods: HTTP Basic, or (the empty
 * requirement) credentials in the form — `client_secret_post`, `private_key_jwt`, or `client_id` alone for `none`.
 */
function security(methods: readonly AuthMethod[]): { [scheme: string]: string[] }[] {
  const inForm = methods.some((method) => method !== AUTH_METHOD.secretBasic)
  return [...(methods.includes(AUTH_METHOD.secretBasic) ? [{ [BASIC]: [] }] : []), ...(inForm ? [{}] : [])]
}

/**
 * Turns a route schema's documentation-only part (`schema.docs`, see src/routes/schemas.ts) into what
 * @fastify/swagger describes. The result only feeds the document: fastify compiled the route's own schema, without
 * `docs`, so the form stays validated by the handlers and no error body goes through a serializer.
 */
export function documentedSchema(schema: FastifySchema | undefined): FastifySchema {
  if (schema?.docs === undefined) return schema ?? {}
  const { docs, ...own } = schema
  const documented: Record<string, unknown> = { ...own }
  if (docs.form) Object.assign(documented, { body: docs.form, consumes: [FORM_CONTENT_TYPE] })
  if (docs.cookies) documented.cookies = docs.cookies
  if (docs.authMethods) Object.assign(documented, { security: security(docs.authMethods), 'x-auth-methods': docs.authMethods })
  const responses: Record<string, unknown> = { ...(own.response as Record<string, DocResponse> | undefined) }
  for (const [status, doc] of Object.entries(docs.responses ?? {})) responses[status] = { ...(responses[status] as object | undefined), ...doc }
  for (const status of docs.errors ?? []) responses[status] = { ...ERROR_RESPONSES[status], $ref: '#/components/schemas/OAuthError' }
  documented.response = responses
  return documented
}

/**
 * Registers @fastify/swagger. Its onRoute hook only sees routes declared after it has loaded, so buildApp declares
 * the routes in `app.after()`.
 */
export function registerOpenApi(app: FastifyInstance, config: Pick<Config, 'issuer'>): void {
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'keyturn',
        version: packageVersion(),
        description: 'OAuth 2.0 token issuer: RFC 9068 JWT access tokens, self-rotating keys published as a JWKS. '
          + 'Request bodies are application/x-www-form-urlencoded; errors are RFC 6749 §5.2 JSON. Operators: docs/operations.md.',
      },
      servers: [{ url: config.issuer }],
      tags: [
        { name: TAG.oauth, description: 'Token, introspection (RFC 7662) and revocation (RFC 7009) endpoints; clients authenticate' },
        { name: TAG.keys, description: 'Public documents verifiers fetch: JWKS and RFC 8414 metadata' },
        { name: TAG.operations, description: 'Health, metrics and this document' },
      ],
      components: {
        securitySchemes: {
          metrics_token: { type: 'http', scheme: 'bearer', description: 'KEYTURN_METRICS_TOKEN, when set (GET /metrics only)' },
          [BASIC]: {
            type: 'http', scheme: 'basic',
            description: 'client_secret_basic (RFC 6749 §2.3.1): client id and secret, each form-urlencoded, joined by ":". The other methods send '
              + 'their credentials in the form instead: client_secret_post (client_id, client_secret), private_key_jwt (client_assertion_type, '
              + 'client_assertion; RFC 7523) and none (client_id of a public client). Exactly one method per request; each operation lists '
              + 'the methods it accepts in x-auth-methods.',
          },
        },
        schemas: { OAuthError: oauthErrorSchema as Record<string, never> },
      },
    },
    // The issuer may have a path; route URLs are never below it, so nothing is stripped.
    stripBasePath: false,
    transform: ({ schema, url }) => ({ url, schema: documentedSchema(schema?.summary === undefined ? { ...schema, ...EXTERNAL_ROUTE_DOCS[url] } : schema) }),
  })
}

/** GET /openapi.json: the document, generated once when the app is ready (every route is declared by then). */
export function openapiRoute(app: FastifyInstance): void {
  let body = ''
  app.addHook('onReady', async () => {
    body = JSON.stringify(app.swagger())
  })
  app.get(PATHS.openapi, {
    schema: {
      summary: 'This OpenAPI 3.1 description', operationId: 'openapi', tags: [TAG.operations],
      docs: {
        responses: {
          200: {
            description: 'OpenAPI document; public, describes public endpoints only',
            headers: { 'cache-control': { type: 'string', description: '`public, max-age=3600`' }, 'access-control-allow-origin': { type: 'string', description: '`*`' } },
            type: 'object', required: ['openapi', 'info', 'paths'], additionalProperties: true,
          },
        },
      },
    },
  }, async (_request, reply) => {
    return reply.header('cache-control', 'public, max-age=3600').header('access-control-allow-origin', '*').type('application/json').send(body)
  })
}
