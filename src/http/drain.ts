import type { FastifyInstance } from 'fastify'

/**
 * While the app closes, every response it still sends ends its connection. `close()` only closes connections that
 * are idle when it starts; a keep-alive connection busy at that moment would otherwise stay open after its
 * response and hold shutdown until the grace period runs out (then exit 1).
 */
export function registerDrain(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close')
    done(null, payload)
  })
}
