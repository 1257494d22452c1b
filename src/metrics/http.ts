import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../oauth.js'
import { GRANTS } from '../grants/index.js'
import type { FormBody } from '../form-body.js'
import { TOKEN_OUTCOMES, type GrantLabel, type Metrics, type TokenOutcome } from './metrics.js'

const ERROR_OUTCOMES: ReadonlySet<string> = new Set(TOKEN_OUTCOMES.filter((outcome) => outcome !== 'issued' && outcome !== 'rate_limited'))

/**
 * Counts token and JWKS responses from one `onSend` hook, so the routes carry no metrics code of their own (the
 * token route only counts what it alone knows: each signed token's algorithm). `onSend` rather than `onResponse`:
 * only `onSend` sees the body, whose `error` member is the outcome exactly as the client received it, whichever
 * layer produced it (a grant, client authentication, body parsing, the store-outage mapping).
 */
export function observeRequests(app: FastifyInstance, metrics: Metrics): void {
  const jwks200 = metrics.jwksResponses.labels('200')
  const jwks304 = metrics.jwksResponses.labels('304')
  app.addHook('onSend', (request, reply, payload, done) => {
    const route = request.routeOptions.url
    if (route === PATHS.token && request.method === 'POST') {
      const grant = grantOf(request)
      metrics.tokenRequests.inc({ grant, outcome: outcomeOf(reply, payload) })
      metrics.tokenDuration.observe({ grant }, reply.elapsedTime / 1000)
    } else if (route === PATHS.jwks) {
      if (reply.statusCode === 200) jwks200.inc()
      else if (reply.statusCode === 304) jwks304.inc()
    }
    done(null, payload)
  })
}

function grantOf(request: FastifyRequest): GrantLabel {
  const value = (request.body as FormBody | undefined)?.grant_type
  return typeof value === 'string' && GRANTS.has(value) ? (value as GrantLabel) : 'unknown'
}

/** Only error bodies are read; a successful body holds tokens and is never touched. */
function outcomeOf(reply: FastifyReply, payload: unknown): TokenOutcome {
  const status = reply.statusCode
  if (status < 400) return 'issued'
  if (status === 429) return 'rate_limited'
  if (typeof payload === 'string') {
    try {
      const error = (JSON.parse(payload) as { error?: unknown }).error
      if (typeof error === 'string' && ERROR_OUTCOMES.has(error)) return error as TokenOutcome
    } catch {
      // Not our JSON error body; fall back on the status.
    }
  }
  return status >= 500 ? 'server_error' : 'invalid_request'
}
