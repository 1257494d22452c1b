import { VerifierError } from './errors.js'
import { getJson, HttpStatusError } from './http.js'
import { isAllowedUrl, type ResolvedOptions } from './options.js'

/**
 * Where discovery documents live for an issuer: OpenID Connect Discovery first (`{issuer}/.well-known/openid-configuration`),
 * then RFC 8414 (`{origin}/.well-known/oauth-authorization-server{path}`), which is tried only when the first answers 404.
 */
export function discoveryUrls(issuer: URL): [URL, URL] {
  const path = issuer.pathname.replace(/\/$/, '')
  return [
    new URL(`${issuer.origin}${path}/.well-known/openid-configuration`),
    new URL(`${issuer.origin}/.well-known/oauth-authorization-server${path}`),
  ]
}

/**
 * Fetches the issuer's metadata and returns its `jwks_uri`, after checking that the document's `issuer` is exactly
 * the configured one (OIDC Discovery §4.3, RFC 8414 §3.3: this is what stops a mix-up) and that the `jwks_uri` is
 * on the issuer's origin or a trusted one, over https (or http where allowed). Throws `ERR_DISCOVERY`.
 */
export async function discoverJwksUri(options: ResolvedOptions): Promise<URL> {
  const [oidc, oauth] = discoveryUrls(options.issuerUrl)
  const get = async (url: URL): Promise<unknown> => {
    const res = await getJson(url, { fetch: options.fetch, timeoutMs: options.timeoutMs, maxBytes: options.maxResponseBytes })
    return res.status === 200 ? res.body : undefined
  }
  let body: unknown
  try {
    try {
      body = await get(oidc)
    } catch (err) {
      if (!(err instanceof HttpStatusError && err.status === 404)) throw err
      body = await get(oauth)
    }
  } catch (cause) {
    throw new VerifierError('ERR_DISCOVERY', 'issuer discovery document could not be fetched', { cause })
  }
  return jwksUriFromMetadata(body, options)
}

/** Validates a parsed discovery document and extracts the `jwks_uri`. Pure; exported for tests. */
export function jwksUriFromMetadata(body: unknown, options: Pick<ResolvedOptions, 'issuer' | 'issuerUrl' | 'trustedJwksOrigins' | 'allowHttp'>): URL {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new VerifierError('ERR_DISCOVERY', 'discovery document is not a JSON object')
  }
  const metadata = body as Record<string, unknown>
  if (metadata.issuer !== options.issuer) {
    throw new VerifierError('ERR_DISCOVERY', 'discovery issuer does not match the configured issuer exactly')
  }
  if (typeof metadata.jwks_uri !== 'string') throw new VerifierError('ERR_DISCOVERY', 'discovery document has no jwks_uri')
  let jwksUri: URL
  try {
    jwksUri = new URL(metadata.jwks_uri)
  } catch {
    throw new VerifierError('ERR_DISCOVERY', 'discovery jwks_uri is not an absolute URL')
  }
  if (!isAllowedUrl(jwksUri, options.allowHttp)) throw new VerifierError('ERR_DISCOVERY', 'discovery jwks_uri must be https')
  if (jwksUri.origin !== options.issuerUrl.origin && !options.trustedJwksOrigins.has(jwksUri.origin)) {
    throw new VerifierError('ERR_DISCOVERY', 'discovery jwks_uri is on an untrusted origin (see trustedJwksOrigins)')
  }
  return jwksUri
}
