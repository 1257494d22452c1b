/**
 * `keyturn/verifier`: verify keyturn access tokens in a downstream service. Depends only on `jose` and Node
 * built-ins; pulls in no issuer code.
 *
 * @example
 * ```ts
 * import { createVerifier } from 'keyturn/verifier'
 * const verifier = createVerifier({ issuer: 'https://id.example.com', audience: 'https://api.example.com' })
 * const claims = await verifier.verify(token)
 * ```
 *
 * @packageDocumentation
 */
export { createVerifier, type Verifier } from './verifier.js'
export { VERIFIER_DEFAULTS, type VerifierOptions } from './options.js'
export { DEFAULT_ALGORITHMS, type VerifierAlgorithm } from './algorithms.js'
export { hasScopes, scopesOf, type AccessTokenClaims, type ActorClaim } from './claims.js'
export {
  isVerifierError,
  TOKEN_ERROR_CODES,
  UNAVAILABLE_ERROR_CODES,
  VerifierError,
  type VerifierErrorCode,
} from './errors.js'
export type { VerifierStatus } from './jwks-cache.js'
