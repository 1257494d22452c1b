import type { FastifyInstance } from 'fastify'
import { JWKS_CONTENT_TYPE, PATHS } from '../oauth.js'
import type { AppDeps } from '../app.js'
import { JWKS_RESPONSES, TAG } from './schemas.js'

/** True if an If-None-Match header matches the ETag (RFC 9110 §13.1.2: weak comparison, `*`, lists). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  // The common case, a verifier sending back the ETag it was given, needs no parsing.
  if (header === etag) return true
  if (header.trim() === '*') return true
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag)
}

/**
 * GET /.well-known/jwks.json: the body is serialized once per key-set version (see `buildJwks`); here we only pick
 * 200 or 304 and compute the cache lifetime, which shrinks as the next planned change of the set approaches.
 */
export function jwksRoute(app: FastifyInstance, { keys }: AppDeps): void {
  app.get(PATHS.jwks, {
    schema: { summary: 'Public signing keys (JWKS)', operationId: 'jwks', tags: [TAG.keys], docs: { responses: JWKS_RESPONSES } },
  }, async (request, reply) => {
    const jwks = keys.jwks()
    void reply
      .header('cache-control', `public, max-age=${keys.jwksMaxAge()}`)
      .header('etag', jwks.etag)
      .header('access-control-allow-origin', '*')
    if (matchesEtag(request.headers['if-none-match'], jwks.etag)) return reply.code(304).send()
    return reply.type(JWKS_CONTENT_TYPE).send(jwks.body)
  })
}
