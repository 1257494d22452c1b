/**
 * Wire constants: every grant-type URN, token-type URN, error code and auth method keyturn speaks.
 * Nothing else in the code base spells these strings inline.
 */

export const GRANT = {
  clientCredentials: 'client_credentials',
  password: 'password',
  refreshToken: 'refresh_token',
  /** RFC 8693 §2.1 */
  tokenExchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
} as const
export type GrantType = (typeof GRANT)[keyof typeof GRANT]

/** Client authentication methods (RFC 8414 §2 `token_endpoint_auth_methods_supported`). */
export const AUTH_METHOD = {
  secretBasic: 'client_secret_basic',
  secretPost: 'client_secret_post',
  /** RFC 7523 §2.2 / OIDC Core §9: a JWT signed with the client's own private key; keyturn holds only public keys. */
  privateKeyJwt: 'private_key_jwt',
  /** Public clients (RFC 6749 §2.1): `client_id` only, for the grants such a client is allowed. */
  none: 'none',
} as const
export type AuthMethod = (typeof AUTH_METHOD)[keyof typeof AUTH_METHOD]

/** RFC 7523 §2.2 `client_assertion_type` of a JWT client assertion. */
export const CLIENT_ASSERTION_TYPE_JWT = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** RFC 8693 §3 token type identifiers (the ones keyturn names; others are refused by value). */
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const

/** RFC 6749 §5.2 error codes, plus RFC 8707 `invalid_target`. */
export const ERROR = {
  invalidRequest: 'invalid_request',
  invalidClient: 'invalid_client',
  invalidGrant: 'invalid_grant',
  unauthorizedClient: 'unauthorized_client',
  unsupportedGrantType: 'unsupported_grant_type',
  invalidScope: 'invalid_scope',
  invalidTarget: 'invalid_target',
  /** RFC 7009 §2.2.1 */
  unsupportedTokenType: 'unsupported_token_type',
  serverError: 'server_error',
  temporarilyUnavailable: 'temporarily_unavailable',
} as const
export type ErrorCode = (typeof ERROR)[keyof typeof ERROR]

export const TOKEN_TYPE_BEARER = 'Bearer'
/** RFC 9068 §2.1: the `typ` header of a JWT access token. */
export const ACCESS_TOKEN_JWT_TYPE = 'at+jwt'
export const JWKS_CONTENT_TYPE = 'application/jwk-set+json'
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded'

/** RFC 7009 / RFC 7662 `token_type_hint` values. */
export const TOKEN_HINT = { accessToken: 'access_token', refreshToken: 'refresh_token' } as const

/** The cookie that carries a browser client's refresh token (cookie mode), scoped to the token endpoint path. */
export const REFRESH_COOKIE = 'keyturn_refresh'

export const PATHS = {
  token: '/token',
  signOut: '/token/sign-out',
  introspect: '/introspect',
  revoke: '/revoke',
  jwks: '/.well-known/jwks.json',
  openidConfiguration: '/.well-known/openid-configuration',
  oauthMetadata: '/.well-known/oauth-authorization-server',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  /** The OpenAPI description of every endpoint (src/openapi.ts). */
  openapi: '/openapi.json',
} as const
