import type { FastifyInstance } from 'fastify'
import { PATHS } from '../oauth.js'
import type { AppDeps } from '../app.js'
import { HEALTHZ_RESPONSES, READYZ_RESPONSES, TAG } from './schemas.js'

/** /healthz: the process is alive. /readyz: the store answers and every configured algorithm has a signing key. */
export function healthRoutes(app: FastifyInstance, { config, keys, store }: AppDeps): void {
  const healthz = { summary: 'Liveness', operationId: 'healthz', tags: [TAG.operations], docs: { responses: HEALTHZ_RESPONSES } }
  const readyz = { summary: 'Readiness', operationId: 'readyz', tags: [TAG.operations], docs: { responses: READYZ_RESPONSES } }
  app.get(PATHS.healthz, { schema: healthz }, async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }))
  app.get(PATHS.readyz, { schema: readyz }, async (_request, reply) => {
    const problems: string[] = []
    await store.ping().catch(() => problems.push('store unreachable'))
    for (const alg of config.signingAlgs) if (!keys.signingKey(alg)) problems.push(`no active ${alg} key`)
    if (keys.lastError()) problems.push('last key set reload failed')
    void reply.header('cache-control', 'no-store')
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', problems })
    return reply.send({ status: 'ready', keySetVersion: keys.current().version })
  })
}
