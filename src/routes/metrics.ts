import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { InvalidClient, TemporarilyUnavailable } from '../errors.js'
import { PATHS } from '../oauth.js'
import type { AppDeps, RouteServices } from '../app.js'

/**
 * GET /metrics in the Prometheus text format; absent (404) with KEYTURN_METRICS=off. With KEYTURN_METRICS_TOKEN set
 * it needs `Authorization: Bearer <token>`. Not rate limited (src/http/rate-limits.ts limits only the endpoints that
 * authenticate clients); logged only when refused or failed (`logLevel: 'warn'`): Prometheus polls every few seconds.
 */
export function metricsRoute(app: FastifyInstance, { config }: AppDeps, { metrics }: RouteServices): void {
  if (!metrics) return
  const authorized = bearerCheck(config.metricsToken)
  app.get(PATHS.metrics, { logLevel: 'warn' }, async (request, reply) => {
    if (!authorized(request.headers.authorization)) {
      request.log.warn({ event: 'metrics.unauthorized', presented: request.headers.authorization !== undefined }, 'metrics scrape refused')
      throw new InvalidClient('the metrics endpoint needs its bearer token', 'Bearer')
    }
    let text: string
    try {
      text = await metrics.scrape()
    } catch (error) {
      request.log.error({ err: error }, 'metrics collection failed')
      throw new TemporarilyUnavailable('metrics could not be collected; retry shortly')
    }
    return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text)
  })
}

/** Compares SHA-256 digests in constant time, so neither the token nor its length leaks through timing. */
function bearerCheck(token: string | undefined): (header: string | undefined) => boolean {
  if (token === undefined) return () => true
  const expected = digest(token)
  return (header) => {
    const presented = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : undefined
    // Always compare, so a missing or malformed header takes the same path as a wrong token.
    const equal = timingSafeEqual(digest(presented ?? ''), expected)
    return equal && presented !== undefined
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()
