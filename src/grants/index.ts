import type { GrantType } from '../oauth.js'
import type { Grant } from './types.js'
import { clientCredentialsGrant } from './client-credentials.js'
import { passwordGrant } from './password.js'
import { refreshTokenGrant } from './refresh-token.js'
import { tokenExchangeGrant } from './token-exchange.js'

/** Every grant keyturn serves. A new grant is one file plus one line here. */
export const GRANTS: ReadonlyMap<string, Grant> = new Map<GrantType, Grant>([
  [clientCredentialsGrant.type, clientCredentialsGrant],
  [passwordGrant.type, passwordGrant],
  [refreshTokenGrant.type, refreshTokenGrant],
  [tokenExchangeGrant.type, tokenExchangeGrant],
])
