import { ERROR, type ErrorCode } from './oauth.js'

/**
 * An error that goes on the wire as an RFC 6749 §5.2 JSON body: `{ error, error_description }`.
 * Only `expose`d errors reach the client as they are; anything else becomes a generic `server_error`.
 */
export class OAuthError extends Error {
  readonly error: ErrorCode
  readonly statusCode: number
  readonly expose: boolean = true
  /** Extra response headers (e.g. `WWW-Authenticate` for `invalid_client`). */
  readonly headers: Readonly<Record<string, string>>

  constructor(error: ErrorCode, statusCode: number, description: string, headers: Record<string, string> = {}) {
    super(description)
    this.name = new.target.name
    this.error = error
    this.statusCode = statusCode
    this.headers = headers
  }

  toJSON(): { error: ErrorCode; error_description: string } {
    return { error: this.error, error_description: this.message }
  }
}

export class InvalidRequest extends OAuthError {
  constructor(description: string) {
    super(ERROR.invalidRequest, 400, description)
  }
}

/** 401 with a `WWW-Authenticate` challenge naming the scheme the client tried (RFC 6749 §5.2). */
export class InvalidClient extends OAuthError {
  constructor(description = 'client authentication failed', scheme: 'Basic' | 'Bearer' = 'Basic') {
    super(ERROR.invalidClient, 401, description, { 'www-authenticate': `${scheme} realm="keyturn", charset="UTF-8"` })
  }
}

export class InvalidGrant extends OAuthError {
  constructor(description: string) {
    super(ERROR.invalidGrant, 400, description)
  }
}

export class UnauthorizedClient extends OAuthError {
  constructor(description: string) {
    super(ERROR.unauthorizedClient, 400, description)
  }
}

export class UnsupportedGrantType extends OAuthError {
  constructor(description: string) {
    super(ERROR.unsupportedGrantType, 400, description)
  }
}

export class InvalidScope extends OAuthError {
  constructor(description: string) {
    super(ERROR.invalidScope, 400, description)
  }
}

/** RFC 8707 §2: the requested `resource`/`audience` is not allowed for this client. */
export class InvalidTarget extends OAuthError {
  constructor(description: string) {
    super(ERROR.invalidTarget, 400, description)
  }
}

/** 503: e.g. no active signing key yet for the client's algorithm. */
export class TemporarilyUnavailable extends OAuthError {
  constructor(description: string) {
    super(ERROR.temporarilyUnavailable, 503, description, { 'retry-after': '5' })
  }
}

/**
 * 429: a rate limit refused the request. RFC 6749 has no code for it; `temporarily_unavailable` tells a client
 * to retry later, and `Retry-After` says when.
 */
export class RateLimited extends OAuthError {
  constructor(description: string, retryAfterSeconds: number) {
    super(ERROR.temporarilyUnavailable, 429, description, { 'retry-after': String(retryAfterSeconds) })
  }
}

/** Internal error codes: callers switch on `code`, tests assert codes, never message text. */
export type InternalErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_KEYSET_CORRUPT'
  | 'ERR_KEYSET_CONFLICT'
  | 'ERR_KEY_DECRYPT'
  | 'ERR_KEY_NOT_FOUND'
  | 'ERR_KEY_STATE'
  | 'ERR_ROTATION_REFUSED'
  | 'ERR_CLIENT_EXISTS'
  | 'ERR_CLIENT_NOT_FOUND'
  | 'ERR_CLIENT_INVALID'
  | 'ERR_CLIENT_READONLY'
  | 'ERR_USER_EXISTS'
  | 'ERR_USER_NOT_FOUND'
  | 'ERR_USER_INVALID'
  | 'ERR_STORE_CORRUPT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_OVERLOADED'
  | 'ERR_USAGE'

export class KeyturnError extends Error {
  readonly code: InternalErrorCode
  constructor(code: InternalErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'KeyturnError'
    this.code = code
  }
}

/** A configuration value that fails validation; `variable` names the environment variable. */
export class ConfigError extends KeyturnError {
  readonly variable: string
  constructor(variable: string, message: string) {
    super('ERR_CONFIG', `${variable}: ${message}`)
    this.name = 'ConfigError'
    this.variable = variable
  }
}
