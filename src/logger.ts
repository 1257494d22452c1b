import type { LoggerOptions } from 'pino'

/**
 * Paths pino censors wherever they appear in a log line: credentials, tokens and private key members. Handlers
 * never log these on purpose; this is the net under that rule.
 */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'headers.authorization',
  'client_secret', 'password', 'access_token', 'refresh_token', 'token', 'subject_token', 'actor_token', 'client_assertion', 'secret',
  '*.client_secret', '*.password', '*.access_token', '*.refresh_token', '*.token', '*.subject_token', '*.actor_token',
  '*.client_assertion', '*.secret', '*.privateJwe', '*.d', '*.p', '*.q', '*.dp', '*.dq', '*.qi', '*.k',
]

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { service: 'keyturn' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
  }
}
