/**
 * Baseline: node-oidc-provider configured like keyturn for machine clients: client_credentials with
 * client_secret_basic, and JWT access tokens (RFC 9068, `typ: at+jwt`) through its resourceIndicators feature.
 * One resource per algorithm: https://api.example.com/rs256 signs RS256, https://api.example.com/es256 signs ES256.
 * Environment: BENCH_PORT, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET.
 */
import { randomBytes } from 'node:crypto'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'

const port = Number(process.env.BENCH_PORT)
const clientId = process.env.BENCH_CLIENT_ID!
const clientSecret = process.env.BENCH_CLIENT_SECRET!
const SCOPES = 'orders:read orders:write'
const TTL = 900

async function signingJwk(alg: 'RS256' | 'ES256'): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) })
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: randomBytes(32).toString('base64url') }
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId, client_secret: clientSecret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
    token_endpoint_auth_method: 'client_secret_basic', scope: SCOPES,
  }],
  jwks: { keys: [await signingJwk('RS256'), await signingJwk('ES256')] },
  scopes: SCOPES.split(' '),
  ttl: { ClientCredentials: TTL },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.example.com/rs256',
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, resource: string) => ({
        scope: SCOPES, audience: resource, accessTokenTTL: TTL, accessTokenFormat: 'jwt',
        jwt: { sign: { alg: resource.endsWith('/es256') ? 'ES256' : 'RS256' } },
      }),
    },
  },
})
provider.listen(port, '127.0.0.1')
