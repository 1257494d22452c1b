import type { FastifySchema } from 'fastify'
import { AUTH_METHOD, CLIENT_ASSERTION_TYPE_JWT, ERROR, JWKS_CONTENT_TYPE, PATHS, REFRESH_COOKIE, TOKEN_HINT, TOKEN_TYPE, type AuthMethod } from '../oauth.js'
import { GRANTS } from '../grants/index.js'
import { SUPPORTED_ALGS } from '../keys/algorithms.js'

/** A JSON schema as the route files write it. */
export type JsonSchema = Readonly<Record<string, unknown>>

/**
 * A documented response in @fastify/swagger's notation: a JSON schema of the body plus `description` and
 * `headers`; `type: 'null'` means no body, `content` names another media type.
 */
export type DocResponse = JsonSchema & { readonly description: string }

/** Status codes answered with an RFC 6749 §5.2 error body by the app's error handler. */
export type ErrorStatus = 400 | 401 | 413 | 429 | 503

/**
 * The parts of a route's OpenAPI description that fastify must NOT compile, read only by src/openapi.ts.
 * Request bodies are parsed by src/form-body.ts and checked by the handlers, which answer with specific RFC 6749
 * errors; a `schema.body` would have Ajv validate (and coerce) first and answer with its own errors instead.
 * Likewise `schema.response` entries become fast-json-stringify serializers, so only bodies the route builds as
 * objects with exactly those members belong there; error bodies, pre-serialized documents and the rest go here.
 */
export interface RouteDocs {
  /** The form parameters (`application/x-www-form-urlencoded`). */
  readonly form?: JsonSchema
  /** Client authentication methods the endpoint accepts (as in discovery). */
  readonly authMethods?: readonly AuthMethod[]
  /** Cookies the endpoint reads. */
  readonly cookies?: JsonSchema
  /** Responses described but not serialized by a schema; merged over `schema.response` in the document. */
  readonly responses?: Readonly<Record<number, DocResponse>>
  /** Error statuses the endpoint answers with an OAuth error body. */
  readonly errors?: readonly ErrorStatus[]
}

declare module 'fastify' {
  interface FastifySchema {
    /** Documentation only: never compiled by fastify; see `RouteDocs`. */
    docs?: RouteDocs
  }
}

export const TAG = { oauth: 'oauth', keys: 'keys and discovery', operations: 'operations' } as const

const string = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', description, ...extra })
const header = (description: string): JsonSchema => string(description)
const NO_STORE = header('`no-store`')

/** RFC 6749 §5.2 error body, as `OAuthError.toJSON()` writes it. */
export const oauthErrorSchema: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: string('RFC 6749 §5.2 error code (RFC 7009 `unsupported_token_type`, RFC 8707 `invalid_target`)', { enum: Object.values(ERROR) }),
    error_description: string('Human-readable detail; never carries a secret or a token.'),
  },
  additionalProperties: false,
}

/** What each error status means on keyturn's endpoints; the body is always `oauthErrorSchema`. */
export const ERROR_RESPONSES: Readonly<Record<ErrorStatus, { description: string; headers: Record<string, JsonSchema> }>> = {
  400: { description: 'Refused request (`invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `invalid_target`, `unsupported_token_type`); also a body that is not form-encoded, not UTF-8, has more than 64 parameters or repeats a parameter', headers: { 'cache-control': NO_STORE } },
  401: { description: '`invalid_client`: client authentication failed (on /metrics: a missing or wrong bearer token)', headers: { 'cache-control': NO_STORE, 'www-authenticate': header('`Basic realm="keyturn", charset="UTF-8"` (`Bearer …` on /metrics)') } },
  413: { description: '`invalid_request`: the body is larger than 64 KiB', headers: { 'cache-control': NO_STORE } },
  429: { description: '`temporarily_unavailable`: a rate limit refused the request (docs/operations.md, "Rate limits")', headers: { 'cache-control': NO_STORE, 'retry-after': header('Seconds to wait before retrying') } },
  503: { description: '`temporarily_unavailable`: the database is unreachable, no key signs yet for the client\'s algorithm, or (on /metrics) the metrics could not be collected', headers: { 'cache-control': NO_STORE, 'retry-after': header('Seconds to wait before retrying') } },
}

const CREDENTIALS: Readonly<Record<string, JsonSchema>> = {
  client_id: string('`client_secret_post`, `private_key_jwt` (optional; must match the assertion) and `none` (public clients)'),
  client_secret: string('`client_secret_post` only; never together with an Authorization header'),
  client_assertion_type: string('`private_key_jwt` (RFC 7523 §2.2)', { enum: [CLIENT_ASSERTION_TYPE_JWT] }),
  client_assertion: string('`private_key_jwt`: a JWT signed with the client\'s registered key; `iss` = `sub` = client id, this issuer in `aud`, `exp` at most 5 minutes ahead, a `jti` used once'),
}

const FORM_RULES = 'Empty values count as absent; a repeated parameter is `invalid_request` (only `resource` and `audience` may repeat); at most 64 parameters; unknown parameters are ignored.'

function form(description: string, properties: Readonly<Record<string, JsonSchema>>, required: readonly string[] = []): JsonSchema {
  return { type: 'object', description: `${description} ${FORM_RULES}`, properties: { ...properties, ...CREDENTIALS }, required }
}

const repeatable = (description: string): JsonSchema => ({ type: 'array', items: { type: 'string' }, description: `${description} (may repeat)` })

/** Every parameter some grant reads; a grant receives only those it declares (its `params`). */
const TOKEN_PARAMS: Readonly<Record<string, JsonSchema>> = {
  scope: string('Space-separated scopes; omitted means every scope the client (or the subject token, or the refresh-token family) has; may only narrow'),
  resource: repeatable('RFC 8707 target audience; must be one the client may ask for'),
  audience: repeatable('RFC 8693 target audience (same rules as `resource`)'),
  username: string('password grant'),
  password: string('password grant'),
  refresh_token: string(`refresh_token grant; cookie-mode clients send it in the \`${REFRESH_COOKIE}\` cookie instead`),
  subject_token: string('token exchange: one of our access tokens'),
  subject_token_type: string('token exchange', { enum: [TOKEN_TYPE.accessToken] }),
  actor_token: string('token exchange: the exchanging client\'s own access token (yields `act`)'),
  actor_token_type: string('token exchange', { enum: [TOKEN_TYPE.accessToken] }),
  requested_token_type: string('token exchange; either way an access token is issued', { enum: [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt] }),
}

const perGrant = [...GRANTS.values()].map((grant) => `\`${grant.type}\`: ${grant.params.map((name) => `\`${name}\``).join(', ') || 'nothing else'}`).join('; ')

export const TOKEN_FORM = form(`Parameters by grant — ${perGrant}.`, {
  grant_type: string('The grant', { enum: [...GRANTS.keys()] }),
  ...Object.fromEntries(Object.entries(TOKEN_PARAMS).filter(([name]) => [...GRANTS.values()].some((grant) => grant.params.includes(name)))),
}, ['grant_type'])

const tokenHint = string('Where to look first', { enum: Object.values(TOKEN_HINT) })
export const INTROSPECT_FORM = form('RFC 7662 §2.1.', { token: string('The token to describe'), token_type_hint: tokenHint }, ['token'])
export const REVOKE_FORM = form('RFC 7009 §2.1.', { token: string('The token to revoke'), token_type_hint: tokenHint }, ['token'])
export const SIGN_OUT_FORM = form('Only the client\'s credentials (cookie-mode clients: `client_id`).', {})

/** The cookie-mode refresh cookie (see src/routes/cookie-mode.ts). */
export const REFRESH_COOKIE_PARAM: JsonSchema = {
  type: 'object',
  properties: {
    [REFRESH_COOKIE]: string(`Cookie mode: the refresh token (HttpOnly; Secure; SameSite=Strict; Path=/token). A request authenticated by it must carry an \`Origin\` registered for the client`),
  },
}
export const SET_REFRESH_COOKIE = header(`Cookie mode: \`${REFRESH_COOKIE}=…; Max-Age=…; Path=/token; HttpOnly; Secure; SameSite=Strict\` (set on issue, cleared on sign-out and revoke)`)

export const CLIENT_AUTH_METHODS: readonly AuthMethod[] = Object.values(AUTH_METHOD)
export const CONFIDENTIAL_AUTH_METHODS: readonly AuthMethod[] = [AUTH_METHOD.secretBasic, AUTH_METHOD.secretPost, AUTH_METHOD.privateKeyJwt]

const publicJwk: JsonSchema = {
  type: 'object',
  required: ['kty', 'kid', 'alg', 'use'],
  properties: {
    kty: string('Key type', { enum: ['RSA', 'EC'] }), kid: string('RFC 7638 thumbprint'), alg: string('Signing algorithm', { enum: [...SUPPORTED_ALGS] }),
    use: string('Always `sig`', { enum: ['sig'] }), n: string('RSA modulus'), e: string('RSA exponent'), crv: string('EC curve'), x: string('EC x'), y: string('EC y'),
  },
  additionalProperties: false,
}

export const JWKS_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: {
    description: 'Public keys of every `next`, `active` and `retired` key (never a private member); the body is serialized once per key-set version',
    headers: { 'cache-control': header('`public, max-age=M`: M = min(KEYTURN_JWKS_MAX_AGE, propagation/2, time to the next planned change)'), etag: header('Strong ETag of the body'), 'access-control-allow-origin': header('`*`') },
    content: { [JWKS_CONTENT_TYPE]: { schema: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: publicJwk } }, additionalProperties: false } } },
  },
  304: { description: '`If-None-Match` matched the current ETag', type: 'null', headers: { etag: header('Strong ETag'), 'cache-control': header('As for 200') } },
}

export const DISCOVERY_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: {
    description: 'RFC 8414 metadata (one document at both paths): only endpoints, grants, methods and algorithms that exist',
    headers: { 'cache-control': header('`public, max-age=3600`'), 'access-control-allow-origin': header('`*`') },
    type: 'object',
    required: ['issuer', 'token_endpoint', 'jwks_uri', 'grant_types_supported'],
    properties: {
      issuer: string('KEYTURN_ISSUER'), token_endpoint: string('URL'), jwks_uri: string('URL'), introspection_endpoint: string('URL'), revocation_endpoint: string('URL'),
      grant_types_supported: { type: 'array', items: { type: 'string' } }, token_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string' } },
      access_token_signing_alg_values_supported: { type: 'array', items: { type: 'string' }, description: 'keyturn extension: algorithms access tokens are signed with' },
    },
    additionalProperties: true,
  },
}

export const HEALTHZ_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: { description: 'The process is alive', headers: { 'cache-control': NO_STORE }, type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } },
}

export const READYZ_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: {
    description: 'The store answers, every configured algorithm has an active key, the last key-set reload succeeded',
    headers: { 'cache-control': NO_STORE }, type: 'object', required: ['status', 'keySetVersion'], properties: { status: { type: 'string', enum: ['ready'] }, keySetVersion: { type: 'integer' } },
  },
  503: {
    description: 'Not ready; `problems` says why (e.g. `store unreachable`, `no active ES256 key`, `last key set reload failed`)',
    headers: { 'cache-control': NO_STORE }, type: 'object', required: ['status', 'problems'], properties: { status: { type: 'string', enum: ['unavailable'] }, problems: { type: 'array', items: { type: 'string' } } },
  },
}

const PRAGMA = header('`no-cache`')

export const TOKEN_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: {
    description: 'RFC 6749 §5.1 token response (RFC 8693 §2.2.1 adds `issued_token_type`). Cookie-mode clients get the refresh token only as a cookie',
    headers: { 'cache-control': NO_STORE, pragma: PRAGMA, 'set-cookie': SET_REFRESH_COOKIE },
  },
}

export const INTROSPECT_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: {
    description: 'RFC 7662 §2.2: `{"active": false}` and nothing else for any token that is expired, revoked, malformed, foreign, signed by a revoked key, or not meant for the caller',
    headers: { 'cache-control': NO_STORE },
  },
}

const EMPTY_OK = (description: string): DocResponse => ({ description, type: 'null', headers: { 'cache-control': NO_STORE, 'set-cookie': SET_REFRESH_COOKIE } })
export const REVOKE_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: EMPTY_OK('Always 200 with an empty body (RFC 7009 §2.2), also for unknown tokens and other clients\' tokens, which are left alone; clears the refresh cookie of a cookie-mode client'),
}
export const SIGN_OUT_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: EMPTY_OK('The refresh-token family in the cookie (if any) is revoked and the cookie cleared'),
}

export const METRICS_RESPONSES: Readonly<Record<number, DocResponse>> = {
  200: {
    description: 'Prometheus text exposition format (see docs/metrics.md)',
    headers: { 'cache-control': NO_STORE },
    content: { 'text/plain': { schema: { type: 'string' } } },
  },
}

/** Documentation of routes declared in files outside src/routes/{token,introspect,revoke,jwks,discovery,health}.ts, by path. */
export const EXTERNAL_ROUTE_DOCS: Readonly<Record<string, FastifySchema>> = {
  [PATHS.metrics]: {
    summary: 'Prometheus metrics', operationId: 'metrics', tags: [TAG.operations],
    description: 'Absent (404) with KEYTURN_METRICS=off. With KEYTURN_METRICS_TOKEN set, requires `Authorization: Bearer <token>`. Not rate limited.',
    security: [{ metrics_token: [] }, {}],
    docs: { responses: METRICS_RESPONSES, errors: [401, 503] },
  },
}
