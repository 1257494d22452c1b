import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import { PATHS } from './oauth.js'

/** Public documents whose successful fetches are not access-logged: anyone may read them, verifiers poll them. */
const QUIET_PATHS: ReadonlySet<string> = new Set([PATHS.jwks, PATHS.openidConfiguration, PATHS.oauthMetadata, PATHS.healthz, PATHS.readyz])

/**
 * Fastify's request log, one line per request instead of two: `request completed` carries the request (method, url,
 * remote address), the status and the response time; there is no separate `incoming request` line. Successful
 * reads of public documents (JWKS, discovery, health) are not logged at all; their failures are. Errors are
 * logged as fastify logs them.
 *
 * Each pino line costs the event loop some 10 µs; at thousands of requests a second the second line and the JWKS
 * lines were a fifth of the token endpoint's time and a third of the JWKS route's (docs/performance.md).
 */
export class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, request, reply)
    if (reply.statusCode < 400 && (request.method === 'GET' || request.method === 'HEAD') && QUIET_PATHS.has(request.routeOptions.url ?? '')) return
    reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}
