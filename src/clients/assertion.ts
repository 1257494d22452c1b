import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose'
import { InvalidClient } from '../errors.js'
import type { AssertionReplayStore } from '../store/types.js'
import type { ClientRecord } from './client.js'
import { ASSERTION_ALGS, isAssertionAlg } from './jwks.js'
import { clientKeySet, type ClientKeySet, type JwksUriSource } from './jwks-source.js'

/** An assertion may live at most this long from now (RFC 7523 §3 asks for a short `exp`; replay state is kept that long). */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300
const MAX_ASSERTION_LENGTH = 8 * 1024
const MAX_JTI_LENGTH = 256
const CONTROL = /[\x00-\x1f\x7f]/
// `typ` is optional (RFC 7523); when sent it must say JWT, or the explicit type of draft-ietf-oauth-rfc7523bis.
const ASSERTION_TYPES = new Set(['jwt', 'client-authentication+jwt'])

export interface AssertionVerifierDeps {
  /** Our issuer identifier: the recommended `aud`. */
  readonly issuer: string
  /** Our token endpoint URL: the `aud` OIDC Core §9 suggests, also accepted. */
  readonly tokenEndpoint: string
  readonly now: () => number
  readonly clockSkewMs: number
  readonly replay: AssertionReplayStore
  readonly jwksUris: JwksUriSource
}

/** Checks one `private_key_jwt` assertion for one client; resolves when the client is authenticated. */
export type AssertionVerifier = (client: ClientRecord, assertion: string) => Promise<void>

/**
 * The client id an assertion claims to come from (its `sub`, RFC 7523 §3 item 2.B), read before anything is
 * verified: only to know whose keys to verify it with.
 * @throws InvalidClient when it is not a JWT with a string `sub`
 */
export function assertionClientId(assertion: string): string {
  let sub: unknown
  try {
    if (assertion.length > MAX_ASSERTION_LENGTH) throw new Error('too long')
    sub = decodeJwt(assertion).sub
  } catch {
    throw new InvalidClient('client_assertion is not a JWT')
  }
  if (typeof sub !== 'string' || sub === '') throw new InvalidClient('client_assertion has no sub (it must be the client_id)')
  // Unverified input about to be looked up: a client_id has no control characters, and a NUL breaks a PostgreSQL query.
  if (CONTROL.test(sub)) throw new InvalidClient('client_assertion sub is not a client_id')
  return sub
}

/**
 * Verifies `private_key_jwt` assertions (RFC 7523 §2.2 and §3, OIDC Core §9): an allowed asymmetric `alg`, a
 * signature by one of the client's registered keys (matching the key's own `alg` when it names one), `iss` = `sub`
 * = client id, our issuer or token endpoint in `aud`, an `exp` in the future but at most five minutes ahead, no
 * `iat`/`nbf` in the future, and a `jti` never used before by this client. Every failure is `invalid_client`
 * saying which check failed; claim checks run only after the signature verified.
 */
export function createAssertionVerifier(deps: AssertionVerifierDeps): AssertionVerifier {
  const skew = Math.floor(deps.clockSkewMs / 1000)
  const inline = new Map<string, { json: string; set: ClientKeySet }>()

  function inlineKeys(client: ClientRecord): ClientKeySet {
    const json = JSON.stringify(client.jwks)
    const cached = inline.get(client.id)
    if (cached?.json === json) return cached.set
    if (inline.size >= 1000) inline.clear()
    const set = clientKeySet(client.jwks!)
    inline.set(client.id, { json, set })
    return set
  }

  async function verifyWith(assertion: string, set: ClientKeySet, options: JWTVerifyOptions): Promise<JWTPayload> {
    try {
      return (await jwtVerify(assertion, set.getKey, options)).payload
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error
      // Several keys fit (no kid sent): the one that verifies the signature wins.
      for await (const key of error) {
        try {
          return (await jwtVerify(assertion, key, options)).payload
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
        }
      }
      throw new errors.JWSSignatureVerificationFailed()
    }
  }

  async function verifySigned(client: ClientRecord, assertion: string): Promise<JWTPayload> {
    const options: JWTVerifyOptions = {
      algorithms: ASSERTION_ALGS, issuer: client.id, subject: client.id, audience: [deps.issuer, deps.tokenEndpoint],
      requiredClaims: ['exp', 'jti'], clockTolerance: skew, currentDate: new Date(deps.now()),
    }
    if (client.jwks) return verifyWith(assertion, inlineKeys(client), options)
    const uri = client.jwksUri!
    try {
      return await verifyWith(assertion, await deps.jwksUris.get(uri), options)
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error
      // An unknown key: the client may have rotated. Refetch, at most once per cooldown.
      const fresh = await deps.jwksUris.refresh(uri)
      if (!fresh) throw new InvalidClient("no key in the client's JWK set matches the assertion's kid and alg (its jwks_uri was fetched moments ago)")
      return verifyWith(assertion, fresh, options)
    }
  }

  return async (client, assertion) => {
    let header: ReturnType<typeof decodeProtectedHeader>
    try {
      header = decodeProtectedHeader(assertion)
    } catch {
      throw new InvalidClient('client_assertion is not a JWT')
    }
    if (!isAssertionAlg(header.alg)) {
      throw new InvalidClient(`client_assertion alg ${JSON.stringify(String(header.alg).slice(0, 20))} is not allowed; sign with one of ${ASSERTION_ALGS.join(', ')}`)
    }
    const typ: unknown = header.typ
    if (typ !== undefined && (typeof typ !== 'string' || !ASSERTION_TYPES.has(typ.toLowerCase().replace(/^application\//, '')))) {
      throw new InvalidClient('client_assertion typ must be JWT')
    }
    let payload: JWTPayload
    try {
      payload = await verifySigned(client, assertion)
    } catch (error) {
      throw describe(error, deps)
    }
    const now = Math.floor(deps.now() / 1000)
    const exp = payload.exp!
    if (typeof payload.iat === 'number' && payload.iat > now + skew) throw new InvalidClient('client_assertion iat is in the future')
    if (exp - now > MAX_ASSERTION_LIFETIME_SECONDS + skew) {
      throw new InvalidClient(`client_assertion lives too long: exp may be at most ${MAX_ASSERTION_LIFETIME_SECONDS} s ahead`)
    }
    const jti = payload.jti
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH || CONTROL.test(jti)) throw new InvalidClient(`client_assertion jti must be 1-${MAX_JTI_LENGTH} printable characters`)
    // Kept until the assertion could no longer pass the exp check anyway.
    if (!(await deps.replay.use(client.id, jti, (exp + skew) * 1000))) throw new InvalidClient('client_assertion jti was used before; assertions are single-use')
  }
}

/** Turns a jose failure into the `invalid_client` the client sees, saying which check failed. */
function describe(error: unknown, deps: AssertionVerifierDeps): InvalidClient {
  if (error instanceof InvalidClient) return error
  if (error instanceof errors.JWTExpired) return new InvalidClient('client_assertion has expired')
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'aud':
        return new InvalidClient(`client_assertion aud must name this issuer (${deps.issuer}) or its token endpoint (${deps.tokenEndpoint})`)
      case 'iss':
      case 'sub':
        return new InvalidClient('client_assertion iss and sub must both be the client_id')
      case 'nbf':
        return new InvalidClient('client_assertion is not valid yet (nbf)')
      default:
        return new InvalidClient(`client_assertion ${error.claim} is missing or invalid`)
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new InvalidClient("client_assertion signature does not verify with the client's registered keys")
  if (error instanceof errors.JWKSNoMatchingKey) return new InvalidClient("no key in the client's JWK set matches the assertion's kid and alg")
  return new InvalidClient('client_assertion is malformed')
}
