import { KeyturnError } from '../errors.js'
import { AUTH_METHOD, GRANT, type AuthMethod, type GrantType } from '../oauth.js'
import { isAlg, type Alg } from '../keys/algorithms.js'
import { isJwksUri, validateClientJwks, type ClientJwks } from './jwks.js'

/** A registered client. Secrets are never stored, only their keyed hash. */
export interface ClientRecord {
  readonly id: string
  /** base64url HMAC-SHA256 of the secret under the server's client-secret key. */
  readonly secretHash?: string
  readonly authMethods: readonly AuthMethod[]
  readonly grantTypes: readonly GrantType[]
  /** Scopes the client may ask for; a request without `scope` gets all of them. */
  readonly scopes: readonly string[]
  /** Audiences (resource indicators) the client may ask for; empty means the issuer's default audience only. */
  readonly audiences: readonly string[]
  /** Signing algorithm of its tokens; the issuer default when absent. */
  readonly alg?: Alg
  /** Access-token lifetime in seconds, at most the issuer's KEYTURN_ACCESS_TOKEN_TTL. */
  readonly accessTokenTtl?: number
  readonly disabled?: boolean
  /** Cookie mode: the refresh token travels in an HttpOnly cookie instead of the response body. */
  readonly refreshCookie?: boolean
  /** Browser origins allowed to use cookie mode (checked against `Origin` on cookie-authenticated requests). */
  readonly origins?: readonly string[]
  /** Audiences this client serves as a resource server: it may introspect tokens issued for them. */
  readonly resources?: readonly string[]
  /** `private_key_jwt`: the client's public keys, inline (exactly one of `jwks` and `jwksUri`). */
  readonly jwks?: ClientJwks
  /** `private_key_jwt`: where the client publishes its public keys (https, or http on loopback). */
  readonly jwksUri?: string
  /** Token exchange (RFC 8693): the audiences this client may exchange a subject token FOR. */
  readonly exchangeAudiences?: readonly string[]
  /** Token exchange: the client may present an `actor_token` (delegation, `act` claim), not only impersonate. */
  readonly mayAct?: boolean
  readonly createdAt: string
}

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

export const isClientId = (value: string): boolean => CLIENT_ID.test(value)
export const isScopeToken = (value: string): boolean => SCOPE_TOKEN.test(value)

function invalid(detail: string): never {
  throw new KeyturnError('ERR_CLIENT_INVALID', detail)
}

/**
 * Checks a client record read from storage or built by the admin CLI.
 * @throws KeyturnError `ERR_CLIENT_INVALID` naming the field.
 */
export function validateClient(input: unknown): ClientRecord {
  if (typeof input !== 'object' || input === null) invalid('a client must be an object')
  const client = input as Record<string, unknown>
  const id = client.id
  if (typeof id !== 'string' || !isClientId(id)) invalid(`id: must be 1-128 characters of A-Z a-z 0-9 . _ ~ - (got ${JSON.stringify(id)})`)
  const strings = (field: string, check: (value: string) => boolean, fallback: readonly string[]): string[] => {
    const value = client[field] ?? fallback
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && check(item))) invalid(`${id}.${field}: invalid entries`)
    return [...new Set(value as string[])]
  }
  const authMethods = strings('authMethods', (m) => Object.values<string>(AUTH_METHOD).includes(m), [AUTH_METHOD.secretBasic, AUTH_METHOD.secretPost]) as AuthMethod[]
  const grantTypes = strings('grantTypes', (g) => Object.values<string>(GRANT).includes(g), [GRANT.clientCredentials]) as GrantType[]
  const scopes = strings('scopes', isScopeToken, [])
  const audiences = strings('audiences', isAudience, [])
  if (client.alg !== undefined && !isAlg(client.alg)) invalid(`${id}.alg: unknown algorithm ${JSON.stringify(client.alg)}`)
  const ttl = client.accessTokenTtl
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 1)) invalid(`${id}.accessTokenTtl: must be a positive number of seconds`)
  if (client.secretHash !== undefined && typeof client.secretHash !== 'string') invalid(`${id}.secretHash: must be a string`)
  if (authMethods.length === 0) invalid(`${id}.authMethods: name at least one method`)
  const isPublic = authMethods.includes(AUTH_METHOD.none)
  if (isPublic && authMethods.length > 1) invalid(`${id}.authMethods: a public client (none) has no other method`)
  if (isPublic && client.secretHash !== undefined) invalid(`${id}: a public client has no secret`)
  if (isPublic && grantTypes.includes(GRANT.clientCredentials)) invalid(`${id}.grantTypes: a public client cannot use client_credentials`)
  const origins = strings('origins', isOrigin, [])
  const resources = strings('resources', isAudience, [])
  const keys = clientKeys(id, client, authMethods)
  const exchange = exchangePolicy(id, client, grantTypes, isPublic, strings('exchangeAudiences', isAudience, []))
  if (client.refreshCookie === true && origins.length === 0) invalid(`${id}.origins: cookie mode needs the browser origins it serves`)
  if (typeof client.createdAt !== 'string') invalid(`${id}.createdAt: missing`)
  return {
    id, authMethods, grantTypes, scopes, audiences, createdAt: client.createdAt,
    ...(client.secretHash === undefined ? {} : { secretHash: client.secretHash as string }),
    ...(client.alg === undefined ? {} : { alg: client.alg as Alg }),
    ...(ttl === undefined ? {} : { accessTokenTtl: ttl as number }),
    ...(client.disabled === true ? { disabled: true } : {}),
    ...(client.refreshCookie === true ? { refreshCookie: true } : {}),
    ...(origins.length > 0 ? { origins } : {}),
    ...(resources.length > 0 ? { resources } : {}),
    ...keys,
    ...exchange,
  }
}

/** `private_key_jwt` excludes every other method, and needs exactly one source of public keys. */
function clientKeys(id: string, client: Record<string, unknown>, authMethods: readonly AuthMethod[]): Pick<ClientRecord, 'jwks' | 'jwksUri'> {
  const usesKeys = authMethods.includes(AUTH_METHOD.privateKeyJwt)
  const { jwks, jwksUri } = client
  if (!usesKeys) {
    if (jwks !== undefined || jwksUri !== undefined) invalid(`${id}: jwks and jwksUri belong to private_key_jwt clients only`)
    return {}
  }
  // A key-authenticated client never falls back to a secret (or to none): that would undo the point of keys.
  if (authMethods.length > 1) invalid(`${id}.authMethods: a private_key_jwt client uses no other method`)
  if (client.secretHash !== undefined) invalid(`${id}: a private_key_jwt client has no secret`)
  if ((jwks === undefined) === (jwksUri === undefined)) invalid(`${id}: a private_key_jwt client needs exactly one of jwks and jwksUri`)
  if (jwksUri !== undefined) {
    if (typeof jwksUri !== 'string' || !isJwksUri(jwksUri)) invalid(`${id}.jwksUri: must be an https URL (http only on localhost), without credentials or fragment`)
    return { jwksUri: jwksUri as string }
  }
  try {
    return { jwks: validateClientJwks(jwks, `${id}.jwks`) }
  } catch (error) {
    return invalid((error as Error).message)
  }
}

/** The token-exchange grant needs the audiences it may exchange for; the policy fields mean nothing without it. */
function exchangePolicy(
  id: string, client: Record<string, unknown>, grantTypes: readonly GrantType[], isPublic: boolean, exchangeAudiences: string[],
): Pick<ClientRecord, 'exchangeAudiences' | 'mayAct'> {
  const mayAct = client.mayAct
  if (mayAct !== undefined && typeof mayAct !== 'boolean') invalid(`${id}.mayAct: must be true or false`)
  if (!grantTypes.includes(GRANT.tokenExchange)) {
    if (exchangeAudiences.length > 0 || mayAct === true) invalid(`${id}: exchangeAudiences and mayAct need the ${GRANT.tokenExchange} grant`)
    return {}
  }
  if (isPublic) invalid(`${id}.grantTypes: a public client cannot use token exchange`)
  if (exchangeAudiences.length === 0) invalid(`${id}.exchangeAudiences: name the audiences this client may exchange tokens for`)
  return { exchangeAudiences, ...(mayAct === true ? { mayAct: true } : {}) }
}

/** An audience is an absolute URI or a plain identifier without spaces (both are common in `aud`). */
export function isAudience(value: string): boolean {
  return value.length > 0 && value.length <= 512 && !/[\s\x00-\x1f]/.test(value)
}

/** A web origin: scheme, host and optional port, nothing else (e.g. `https://app.example.com`). */
export function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value
}
