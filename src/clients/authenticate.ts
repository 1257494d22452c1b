import { InvalidClient, InvalidRequest } from '../errors.js'
import { AUTH_METHOD, CLIENT_ASSERTION_TYPE_JWT, type AuthMethod } from '../oauth.js'
import type { ClientStore } from '../store/types.js'
import type { ClientRecord } from './client.js'
import { verifyClientSecret } from './secret.js'
import { assertionClientId, type AssertionVerifier } from './assertion.js'
import { single, type FormBody } from '../form-body.js'

export interface AuthenticatedClient {
  readonly client: ClientRecord
  readonly method: AuthMethod
}

/** Authenticates the client of a request to /token, /introspect, /revoke or /token/sign-out. */
export type ClientAuthenticator = (authorization: string | undefined, params: FormBody) => Promise<AuthenticatedClient>

/** Form parameters that carry client credentials: never handed to a grant. */
export const CREDENTIAL_PARAMS: readonly string[] = ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type']

type Presented =
  | { readonly method: typeof AUTH_METHOD.secretBasic | typeof AUTH_METHOD.secretPost; readonly id: string; readonly secret: string }
  | { readonly method: typeof AUTH_METHOD.privateKeyJwt; readonly id: string; readonly assertion: string }
  | { readonly method: typeof AUTH_METHOD.none; readonly id: string }

function formDecode(value: string): string {
  let decoded: string
  try {
    decoded = decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    throw new InvalidClient('malformed client credentials in the Authorization header')
  }
  // RFC 6749 Appendix A: client_id and client_secret are VSCHARs; a NUL would also break a PostgreSQL lookup.
  if (/[\x00-\x1f\x7f]/.test(decoded)) throw new InvalidClient('malformed client credentials in the Authorization header')
  return decoded
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined by ':' and base64-encoded. */
function parseBasic(header: string): Presented {
  const encoded = header.slice('basic '.length).trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new InvalidClient('malformed Basic credentials')
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 1) throw new InvalidClient('malformed Basic credentials')
  return { method: AUTH_METHOD.secretBasic, id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
}

/** RFC 7521 §4.2: both parameters, the JWT type, and a client_id (if sent) that is the assertion's subject. */
function parseAssertion(params: FormBody, clientId: string | undefined): Presented {
  const assertion = single(params, 'client_assertion')
  const type = single(params, 'client_assertion_type')
  if (assertion === undefined || type === undefined) throw new InvalidRequest('client_assertion and client_assertion_type go together')
  if (type !== CLIENT_ASSERTION_TYPE_JWT) throw new InvalidRequest(`unsupported client_assertion_type; use ${CLIENT_ASSERTION_TYPE_JWT}`)
  const id = assertionClientId(assertion)
  if (clientId !== undefined && clientId !== id) throw new InvalidRequest('client_id does not match the client assertion')
  return { method: AUTH_METHOD.privateKeyJwt, id, assertion }
}

/** Works out which credentials a request presents; more than one method is an error (RFC 6749 §2.3). */
function presented(authorization: string | undefined, params: FormBody): Presented {
  const basic = authorization !== undefined && /^basic /i.test(authorization) ? parseBasic(authorization) : undefined
  if (authorization !== undefined && !basic) throw new InvalidClient('unsupported Authorization scheme; use Basic')
  const postSecret = single(params, 'client_secret')
  const clientId = single(params, 'client_id')
  const asserted = params.client_assertion !== undefined || params.client_assertion_type !== undefined
  if ([basic !== undefined, postSecret !== undefined, asserted].filter(Boolean).length > 1) {
    throw new InvalidRequest('use one client authentication method: Basic, client_secret or client_assertion')
  }
  if (asserted) return parseAssertion(params, clientId)
  if (basic) {
    if (clientId !== undefined && clientId !== basic.id) throw new InvalidRequest('client_id does not match the Basic credentials')
    return basic
  }
  if (postSecret !== undefined) {
    if (clientId === undefined) throw new InvalidRequest('client_secret requires client_id')
    return { method: AUTH_METHOD.secretPost, id: clientId, secret: postSecret }
  }
  if (clientId !== undefined) return { method: AUTH_METHOD.none, id: clientId }
  throw new InvalidClient('client authentication required')
}

/**
 * The client id a request's credentials name, parsed exactly as authentication parses them (Basic form-decoding,
 * the assertion's `sub`), or undefined if they are malformed. Nothing is verified: for picking rate-limit counters.
 */
export function claimedClientId(authorization: string | undefined, params: FormBody): string | undefined {
  try {
    return presented(authorization, params).id
  } catch {
    return undefined
  }
}

/**
 * Builds the client authenticator. Every failure that could tell an attacker which part was wrong (unknown client,
 * wrong secret, disabled client, method not allowed) is the same `invalid_client`. A `private_key_jwt` assertion
 * is only looked at once the client exists and uses that method; its failures then say which check failed, as
 * the assertion's author (who holds the key) needs to know.
 */
export function createClientAuthenticator(deps: { clients: ClientStore; secretKey: Uint8Array; verifyAssertion: AssertionVerifier }): ClientAuthenticator {
  return async (authorization, params) => {
    const credentials = presented(authorization, params)
    const client = await deps.clients.get(credentials.id)
    if (credentials.method === AUTH_METHOD.privateKeyJwt) {
      if (!client || client.disabled || !client.authMethods.includes(AUTH_METHOD.privateKeyJwt)) throw new InvalidClient()
      await deps.verifyAssertion(client, credentials.assertion)
      return { client, method: credentials.method }
    }
    const secretOk = credentials.method === AUTH_METHOD.none
      ? client?.secretHash === undefined
      : verifyClientSecret(credentials.secret, client?.secretHash, deps.secretKey)
    if (!client || !secretOk || client.disabled || !client.authMethods.includes(credentials.method)) {
      throw new InvalidClient()
    }
    return { client, method: credentials.method }
  }
}
