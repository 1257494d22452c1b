import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyServerOptions } from 'fastify'
import { ERROR } from '../oauth.js'

/**
 * What one client may make the issuer hold: bytes per request, and a socket for how long. Every breach is answered
 * with an RFC 6749 `invalid_request` body (413, 431, 408) and the connection is closed. See README "Input limits".
 */
export interface HttpLimits {
  /** Request body bytes (413 past it). */
  readonly bodyBytes: number
  /** Request line plus all header bytes: Node's `maxHeaderSize` (431 past it). */
  readonly headerBytes: number
  /** Time to receive the request line and every header (408 past it). */
  readonly headersTimeoutMs: number
  /** Time to receive the whole request, body included (408 past it). */
  readonly requestTimeoutMs: number
  /** A socket with no traffic either way this long is destroyed. */
  readonly idleTimeoutMs: number
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveTimeoutMs: number
  /** How often Node checks the header and request timeouts: they fire up to this much late. */
  readonly timeoutCheckIntervalMs: number
}

export const HTTP_LIMITS: HttpLimits = Object.freeze({
  // The largest honest form, a token exchange with an 8 KiB client assertion and two 16 KiB tokens, is about 41 KiB.
  bodyBytes: 64 * 1024,
  // Node's own default, made explicit: Basic credentials, a cookie and proxy headers fit many times over.
  headerBytes: 16 * 1024,
  // Slowloris: a client dribbling its headers holds a socket this long (plus one check interval) at most.
  headersTimeoutMs: 10_000,
  // Slow body: 64 KiB in 30 s is 2 KiB/s, slower than any real client; Fastify's default is no limit at all.
  requestTimeoutMs: 30_000,
  // Backstop once the request is read (e.g. a handler stuck on a wedged database); above every other bound.
  idleTimeoutMs: 90_000,
  // Above common load-balancer idle timeouts (AWS ALB: 60 s), so the balancer closes first and never reuses a socket we close.
  keepAliveTimeoutMs: 72_000,
  // Node's default is 30 s, which would let a slowloris socket live 40 s instead of 10.
  timeoutCheckIntervalMs: 1_000,
})

/** The Fastify server options that enforce `limits` (everything but the body limit, which the parser applies). */
export function serverLimitOptions(limits: HttpLimits): Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout' | 'clientErrorHandler'> & {
  http: { maxHeaderSize: number; headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number }
} {
  return {
    http: {
      maxHeaderSize: limits.headerBytes, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
    },
    // Fastify copies these onto the server after creating it (0 would switch Node's own timeouts off).
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    clientErrorHandler: (error, socket) => answerClientError(error, socket, limits),
  }
}

/**
 * Errors Node raises before a request reaches Fastify (oversized or timed-out headers, unparsable HTTP): answered
 * on the raw socket in the issuer's error format, then the socket is closed, as Node's own handler does.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket, limits: HttpLimits): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, description] =
    error.code === 'HPE_HEADER_OVERFLOW' ? [431, `the request line and headers exceed ${limits.headerBytes} bytes`]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request was not received in time']
        : [400, 'malformed HTTP request']
  const body = JSON.stringify({ error: ERROR.invalidRequest, error_description: description })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}
