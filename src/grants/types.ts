import type { FastifyBaseLogger } from 'fastify'
import type { GrantType } from '../oauth.js'
import type { AuthenticatedClient } from '../clients/authenticate.js'
import type { AccessTokenIssuer } from '../tokens/access-token.js'
import type { AccessTokenInspector } from '../tokens/inspect.js'
import type { FormBody } from '../form-body.js'
import type { Config } from '../config.js'
import type { Store } from '../store/types.js'
import type { Metrics } from '../metrics/metrics.js'

/** What a grant receives: only the parameters it declared, and the already-authenticated client. */
export interface TokenRequest {
  readonly params: FormBody
  readonly client: AuthenticatedClient
}

/** RFC 6749 §5.1 successful response. */
export interface TokenResponse {
  readonly access_token: string
  readonly token_type: 'Bearer'
  readonly expires_in: number
  readonly scope?: string
  readonly refresh_token?: string
  /** RFC 8693 §2.2.1 */
  readonly issued_token_type?: string
}

export interface GrantContext {
  readonly config: Config
  readonly store: Store
  readonly now: () => number
  readonly issueAccessToken: AccessTokenIssuer
  /** Verifies one of our own access tokens (signature, issuer, type, expiry, key not revoked), e.g. a subject token. */
  readonly inspectAccessToken: AccessTokenInspector
  readonly log: FastifyBaseLogger
  /** Security events for /metrics (src/metrics/metrics.ts); absent when KEYTURN_METRICS=off. */
  readonly metrics?: Pick<Metrics, 'refreshReuse'>
}

/**
 * One grant type. The token route does every shared step (parsing, client authentication, allowed-grant check,
 * dropping undeclared parameters, no-store headers) so a grant only fills in what is unique to it.
 */
export interface Grant {
  readonly type: GrantType
  /** Parameters the grant reads besides `grant_type` and client credentials; others are dropped. */
  readonly params: readonly string[]
  handle(request: TokenRequest, context: GrantContext): Promise<TokenResponse>
}
