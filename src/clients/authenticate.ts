import { InvalidClient, InvalidRequest } from '../errors.js'
import { AUTH_METHOD, type AuthMethod } from '../oauth.js'
import type { ClientStore } from '../store/types.js'
import type { ClientRecord } from './client.js'
import { verifyClientSecret } from './secret.js'
import { single, type FormBody } from '../form-body.js'

export interface AuthenticatedClient {
  readonly client: ClientRecord
  readonly method: AuthMethod
}

interface Presented {
  readonly method: AuthMethod
  readonly id: string
  /** Absent for a public client (`none`). */
  readonly secret?: string
}

function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    throw new InvalidClient('malformed client credentials in the Authorization header')
  }
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

/** Works out which credentials a request presents; more than one method is an error (RFC 6749 §2.3). */
function presented(authorization: string | undefined, params: FormBody): Presented {
  const basic = authorization !== undefined && /^basic /i.test(authorization) ? parseBasic(authorization) : undefined
  if (authorization !== undefined && !basic) throw new InvalidClient('unsupported Authorization scheme; use Basic')
  const postSecret = single(params, 'client_secret')
  const clientId = single(params, 'client_id')
  if (basic && postSecret !== undefined) throw new InvalidRequest('use one client authentication method, not both Basic and client_secret')
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
 * Authenticates the client of a token-endpoint request. Every failure that could tell an attacker which part was
 * wrong (unknown client, wrong secret, disabled client, method not allowed) is the same `invalid_client`.
 */
export async function authenticateClient(
  clients: ClientStore,
  secretKey: Uint8Array,
  authorization: string | undefined,
  params: FormBody,
): Promise<AuthenticatedClient> {
  const credentials = presented(authorization, params)
  const client = await clients.get(credentials.id)
  const secretOk = credentials.secret === undefined
    ? client?.secretHash === undefined
    : verifyClientSecret(credentials.secret, client?.secretHash, secretKey)
  if (!client || !secretOk || client.disabled || !client.authMethods.includes(credentials.method)) {
    throw new InvalidClient()
  }
  return { client, method: credentials.method }
}
