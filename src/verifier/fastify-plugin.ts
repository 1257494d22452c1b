import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { bearerToken, DESCRIPTIONS, formatChallenge, isScopeToken, type BearerChallenge } from './bearer-challenge.js'
import { hasScopes, type AccessTokenClaims } from './claims.js'
import { VerifierError } from './errors.js'
import type { VerifierOptions } from './options.js'
import { createVerifier, type Verifier } from './verifier.js'

/**
 * `keyturn/fastify`: protects a fastify resource server with keyturn access tokens.
 *
 * @example
 * ```ts
 * import { keyturnAuth, requireScope } from 'keyturn/fastify'
 * await app.register(keyturnAuth, { issuer: 'https://id.example.com', audience: 'https://api.example.com' })
 * app.get('/orders', { preHandler: requireScope('orders:read') }, async (req) => listOrders(req.auth!.sub))
 * app.get('/healthz', { config: { auth: false } }, async () => ({ ok: true }))
 * ```
 *
 * @packageDocumentation
 */

/** What the plugin decorates the instance with (`app.keyturn`). */
export interface KeyturnAuth {
  readonly verifier: Verifier
  readonly realm: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Claims of the verified access token, or `null` when the route did not authenticate. */
    auth: AccessTokenClaims | null
  }
  interface FastifyInstance {
    keyturn: KeyturnAuth
  }
  interface FastifyContextConfig {
    /** Per-route override of the plugin's `required` option: `false` makes a route public. */
    auth?: boolean
  }
}

/** Plugin behaviour, on top of either verifier options or a ready {@link Verifier}. */
export interface KeyturnAuthBehaviour {
  /** `realm` of `WWW-Authenticate` challenges. Default: the first audience. */
  realm?: string
  /**
   * `true` (default): every route requires a valid token unless its config says `auth: false`. `false`: only routes
   * with `config: { auth: true }` or a {@link requireScope} pre-handler authenticate.
   */
  required?: boolean
}

/** Options of {@link keyturnAuth}: verifier options (`issuer`, `audience`, …) or `{ verifier }` to share one. */
export type KeyturnAuthOptions = KeyturnAuthBehaviour & (VerifierOptions | { verifier: Verifier })

type Reply = FastifyReply

function challenge(reply: Reply, status: number, c: BearerChallenge): Reply {
  const body = c.error === undefined ? { error: 'unauthorized', error_description: 'a bearer access token is required' } : { error: c.error, error_description: c.description }
  return reply.code(status).header('www-authenticate', formatChallenge(c)).header('cache-control', 'no-store').send(body)
}

/** Verifies the request's bearer token; on failure sends the RFC 6750 answer and returns `undefined`. */
async function authenticate(request: FastifyRequest, reply: Reply, ctx: KeyturnAuth): Promise<AccessTokenClaims | undefined> {
  const { realm } = ctx
  const query = request.query as Record<string, unknown> | undefined
  if (query !== null && typeof query === 'object' && 'access_token' in query) {
    // RFC 6750 §2.3 is not supported: URLs end up in logs and Referer headers.
    challenge(reply, 400, { realm, error: 'invalid_request', description: 'access tokens in the query string are not accepted' })
    return undefined
  }
  const token = bearerToken(request.headers.authorization)
  if (token === undefined) {
    challenge(reply, 401, { realm })
    return undefined
  }
  if (token === null) {
    challenge(reply, 400, { realm, error: 'invalid_request', description: 'malformed Authorization header' })
    return undefined
  }
  try {
    const claims = await ctx.verifier.verify(token)
    request.auth = claims
    return claims
  } catch (err) {
    if (!(err instanceof VerifierError)) throw err
    if (!err.isTokenError) {
      // Our problem, not the client's: a 401 would make clients throw away good tokens.
      request.log.warn({ code: err.code }, 'access token could not be verified: issuer unavailable')
      reply.code(503).header('cache-control', 'no-store').send({ error: 'temporarily_unavailable', error_description: DESCRIPTIONS[err.code] })
      return undefined
    }
    request.log.debug({ code: err.code }, 'access token rejected')
    challenge(reply, 401, { realm, error: 'invalid_token', description: DESCRIPTIONS[err.code] })
    return undefined
  }
}

function contextOf(request: FastifyRequest): KeyturnAuth {
  const ctx = (request.server as Partial<FastifyInstance>).keyturn
  if (ctx === undefined) throw new Error('keyturn/fastify: register keyturnAuth before using requireScope')
  return ctx
}

/**
 * A pre-handler (or onRequest hook) that authenticates the request if it has not been yet, then requires every
 * listed scope: `403 insufficient_scope` with `scope="…"` otherwise. `requireScope()` with no scope only authenticates.
 */
export function requireScope(...scopes: string[]): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  for (const s of scopes) if (!isScopeToken(s)) throw new TypeError(`requireScope: invalid scope token ${JSON.stringify(s)}`)
  const needed = scopes.join(' ')
  return async function requireScopeHook(request, reply) {
    const ctx = contextOf(request)
    const claims = request.auth ?? (await authenticate(request, reply, ctx))
    if (claims === undefined) return reply
    if (!hasScopes(claims, ...scopes)) {
      return challenge(reply, 403, { realm: ctx.realm, error: 'insufficient_scope', description: 'the access token lacks a required scope', scope: needed })
    }
    return undefined
  }
}

const plugin: FastifyPluginAsync<KeyturnAuthOptions> = async function keyturnAuthPlugin(app, options) {
  const verifier = 'verifier' in options && options.verifier !== undefined ? options.verifier : createVerifier(options as VerifierOptions)
  const required = options.required ?? true
  const ctx: KeyturnAuth = Object.freeze({ verifier, realm: options.realm ?? verifier.audiences[0] ?? 'keyturn' })
  app.decorate('keyturn', ctx)
  app.decorateRequest('auth', null)
  app.addHook('onRequest', async function keyturnAuthenticate(request, reply) {
    if ((request.routeOptions.config.auth ?? required) !== true) return undefined
    const claims = await authenticate(request, reply, ctx)
    return claims === undefined ? reply : undefined
  })
}

/**
 * The fastify plugin. Not encapsulated (like `fastify-plugin`), so `request.auth`, the hook and `app.keyturn` apply
 * to the context it is registered in: register it before the routes it protects.
 */
export const keyturnAuth: FastifyPluginAsync<KeyturnAuthOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'keyturn-auth',
  [Symbol.for('plugin-meta')]: { name: 'keyturn-auth', fastify: '5.x' },
})

export { hasScopes, scopesOf, type AccessTokenClaims } from './claims.js'
