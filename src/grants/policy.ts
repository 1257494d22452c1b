import { InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from '../errors.js'
import type { Alg } from '../keys/algorithms.js'
import { isScopeToken, type ClientRecord } from '../clients/client.js'
import { many, single, type FormBody } from '../form-body.js'

/** Parses a space-delimited `scope` (RFC 6749 §3.3) into distinct tokens. */
export function parseScope(text: string): string[] {
  const tokens = text.split(' ')
  if (tokens.some((token) => !isScopeToken(token))) throw new InvalidScope('scope must be space-separated scope tokens')
  return [...new Set(tokens)]
}

/** The granted scope: the requested one if every token is allowed, else `invalid_scope`; all allowed if absent. */
export function resolveScope(params: FormBody, allowed: readonly string[]): string[] {
  const text = single(params, 'scope')
  if (text === undefined) return [...allowed]
  const requested = parseScope(text)
  const refused = requested.filter((token) => !allowed.includes(token))
  if (refused.length > 0) throw new InvalidScope(`scope not allowed for this client: ${refused.join(' ').slice(0, 200)}`)
  return requested
}

/**
 * The token audience from RFC 8707 `resource` and/or `audience` parameters (repeatable); each must be one the client
 * is allowed. Without either, the client's configured audiences (or the issuer default) are used.
 */
export function resolveAudience(params: FormBody, client: ClientRecord, defaultAudience: string): string[] {
  return allowedTargets(params, client.audiences.length > 0 ? client.audiences : [defaultAudience])
}

/**
 * The requested `resource` and `audience` values (RFC 8707, RFC 8693 §2.1), each of which must be in `allowed`
 * (else `invalid_target`); all of `allowed` when none is requested.
 */
export function allowedTargets(params: FormBody, allowed: readonly string[]): string[] {
  const requested = [...many(params, 'resource'), ...many(params, 'audience')]
  if (requested.length === 0) return [...allowed]
  for (const resource of many(params, 'resource')) {
    // RFC 8707 §2: a resource is an absolute URI without a fragment.
    if (!URL.canParse(resource) || resource.includes('#')) throw new InvalidRequest('resource must be an absolute URI without a fragment')
  }
  const refused = requested.filter((target) => !allowed.includes(target))
  if (refused.length > 0) throw new InvalidTarget(`audience not allowed for this client: ${refused.join(' ').slice(0, 200)}`)
  return [...new Set(requested)]
}

/** The client's signing algorithm, which must be one this issuer signs with. */
export function signingAlg(client: ClientRecord, config: { defaultAlg: Alg; signingAlgs: readonly Alg[] }): Alg {
  const alg = client.alg ?? config.defaultAlg
  if (!config.signingAlgs.includes(alg)) throw new UnauthorizedClient(`this client signs with ${alg}, which this issuer does not enable`)
  return alg
}

/** The client's access-token lifetime in seconds, capped by the issuer's. */
export function accessTokenTtl(client: ClientRecord, config: { accessTokenTtlMs: number }): number {
  return Math.floor(Math.min(client.accessTokenTtl ?? Infinity, config.accessTokenTtlMs / 1000))
}
