import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import cookie from '@fastify/cookie'
import type { Config } from './config.js'
import { OAuthError, InvalidRequest, KeyturnError, TemporarilyUnavailable } from './errors.js'
import { ERROR, FORM_CONTENT_TYPE, PATHS } from './oauth.js'
import { checkFormHeaders, decodeFormBody, parseForm } from './form-body.js'
import { HTTP_LIMITS, serverLimitOptions, type HttpLimits } from './http/limits.js'
import type { KeyRing } from './keys/key-ring.js'
import type { Store } from './store/types.js'
import type { AccessTokenIssuer } from './tokens/access-token.js'
import { tokenRoute } from './routes/token.js'
import { jwksRoute } from './routes/jwks.js'
import { discoveryRoutes } from './routes/discovery.js'
import { healthRoutes } from './routes/health.js'
import { introspectRoute } from './routes/introspect.js'
import { revokeRoutes } from './routes/revoke.js'
import { createAccessTokenInspector, type AccessTokenInspector } from './tokens/inspect.js'
import { createClientAuthenticator, type ClientAuthenticator } from './clients/authenticate.js'
import { createAssertionVerifier } from './clients/assertion.js'
import { createJwksUriSource } from './clients/jwks-source.js'
import { registerSecurityHeaders } from './http/security-headers.js'
import { registerDrain } from './http/drain.js'
import { registerCors } from './http/cors.js'
import { registerRateLimits } from './http/rate-limits.js'
import { rotationPolicy } from './keys/rotation.js'
import { createMetrics, type Metrics } from './metrics/metrics.js'
import { observeRequests } from './metrics/http.js'
import { metricsRoute } from './routes/metrics.js'
import { openapiRoute, registerOpenApi } from './openapi.js'

/** Everything the HTTP layer needs, built by server.ts (or test/helper.ts with an injected clock). */
export interface AppDeps {
  readonly config: Config
  readonly store: Store
  readonly keys: KeyRing
  readonly issueAccessToken: AccessTokenIssuer
  /** Key of the keyed hash that client secrets are stored as. */
  readonly clientSecretKey: Uint8Array
  readonly now: () => number
  /** The app's metrics when KEYTURN_METRICS is on; built here if not given (server.ts gives a cluster worker's). */
  readonly metrics?: Metrics
}

/** Built once per app, shared by the routes: they hold caches (imported keys, clients' fetched JWK sets). */
export interface RouteServices {
  readonly authenticate: ClientAuthenticator
  readonly inspect: AccessTokenInspector
  /** Undefined when KEYTURN_METRICS=off. */
  readonly metrics: Metrics | undefined
}

/** Builds the issuer's fastify instance; never listens. `limits` (src/http/limits.ts) apply once it does. */
export function buildApp(deps: AppDeps, options: Pick<FastifyServerOptions, 'loggerInstance' | 'logger'> = {}, limits: HttpLimits = HTTP_LIMITS): FastifyInstance {
  const app = Fastify({
    ...options,
    ...serverLimitOptions(limits),
    bodyLimit: limits.bodyBytes,
    trustProxy: deps.config.trustProxy,
    requestIdHeader: false,
    return503OnClosing: true,
    // A path that is not valid percent-encoding never reaches routing or the error handler.
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply).code(400).header('cache-control', 'no-store').send(new InvalidRequest(error.code === 'FST_ERR_BAD_URL' ? 'the request path is not valid percent-encoding' : error.message).toJSON())
    },
  }) as unknown as FastifyInstance

  // A registry per app, never prom-client's global one: tests build many apps in one process.
  const metrics = deps.config.metrics ? deps.metrics ?? createMetrics({ keys: deps.keys, policy: rotationPolicy(deps.config), now: deps.now }) : undefined
  if (metrics) observeRequests(app, metrics)
  // hook: false — cookies are parsed only where one is read (src/routes/cookie-mode.ts); setCookie still works.
  void app.register(cookie, { hook: false })
  registerSecurityHeaders(app, deps.config.issuer)
  registerDrain(app)
  registerCors(app, deps.config.corsOrigins)
  registerRateLimits(app, {
    limits: deps.config.rateLimits, counters: deps.store.counters, now: deps.now,
    onLimited: metrics && ((route, scope) => metrics.rateLimited.inc({ route, scope })),
  })
  // Only form bodies: OAuth endpoints take application/x-www-form-urlencoded (RFC 6749 §3.2).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'buffer', bodyLimit: limits.bodyBytes }, (request, body, done) => {
    try {
      checkFormHeaders(request.headers['content-type'], request.headers['content-encoding'])
      done(null, parseForm(decodeFormBody(body as Buffer)))
    } catch (error) {
      done(error as Error, undefined)
    }
  })

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    if (error instanceof KeyturnError && error.code === 'ERR_STORE_UNAVAILABLE') {
      request.log.error({ err: error.cause ?? error }, 'store unavailable')
      error = new TemporarilyUnavailable('the issuer cannot reach its database; retry shortly')
    } else if (error instanceof KeyturnError && error.code === 'ERR_OVERLOADED') {
      request.log.warn({ event: 'overloaded' }, error.message)
      error = new TemporarilyUnavailable('too many sign-ins are being checked at once; retry shortly')
    }
    if (error instanceof OAuthError) {
      return reply.code(error.statusCode).headers({ ...error.headers, 'cache-control': 'no-store' }).send(error.toJSON())
    }
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      // Fastify's own client errors: unsupported media type, body too large, malformed body or header.
      const description = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `Content-Type must be ${FORM_CONTENT_TYPE}`
        : error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `the request body exceeds ${limits.bodyBytes} bytes` : error.message
      const wire = new InvalidRequest(description)
      return reply.code(status === 415 ? 400 : status).header('cache-control', 'no-store').send(wire.toJSON())
    }
    request.log.error({ err: error }, 'request failed')
    return reply.code(500).header('cache-control', 'no-store').send({ error: ERROR.serverError, error_description: 'internal error' })
  })
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).header('cache-control', 'no-store').send({ error: ERROR.invalidRequest, error_description: `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 100)}` })
  })

  const inspect = createAccessTokenInspector({ issuer: deps.config.issuer, keys: deps.keys, now: deps.now, clockSkewMs: deps.config.clockSkewMs })
  const verifyAssertion = createAssertionVerifier({
    issuer: deps.config.issuer, tokenEndpoint: `${deps.config.issuer}${PATHS.token}`, now: deps.now, clockSkewMs: deps.config.clockSkewMs,
    replay: deps.store.assertions, jwksUris: createJwksUriSource({ now: deps.now, log: app.log.child({ component: 'client-jwks' }) }),
  })
  const services: RouteServices = { inspect, metrics, authenticate: createClientAuthenticator({ clients: deps.store.clients, secretKey: deps.clientSecretKey, verifyAssertion }) }
  registerOpenApi(app, deps.config)
  // Routes are declared once the plugins registered above have loaded: an onRoute hook (the OpenAPI document's)
  // only sees routes declared after it is in place. A declaration error rejects ready().
  app.after(async (error) => {
    if (error) throw error
    tokenRoute(app, deps, services)
    introspectRoute(app, deps, services)
    revokeRoutes(app, deps, services)
    jwksRoute(app, deps)
    discoveryRoutes(app, deps)
    healthRoutes(app, deps)
    metricsRoute(app, deps, services)
    openapiRoute(app)
  })
  return app
}
