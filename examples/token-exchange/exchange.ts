/**
 * Service A calls service B on a user's behalf (RFC 8693 token exchange, with private_key_jwt). Run after the setup
 * in this folder's README:
 *
 *   ISSUER=http://localhost:3000 EXAMPLE_USER=alice EXAMPLE_PASSWORD=… node dist/examples/token-exchange/exchange.js
 *
 * 1. The user signs in through the `web` app and sends their token to service A (here: the password grant, or
 *    USER_TOKEN if you already have one).
 * 2. Service A authenticates to keyturn with a JWT signed by its own key (no shared secret) and gets its own token:
 *    the actor token, which says "service A is the one acting".
 * 3. Service A exchanges the user's token for one meant for service B, presenting its actor token.
 * 4. Service B verifies the new token with `keyturn/verifier`: `sub` is the user, `client_id` service A, and
 *    `act.sub` names service A as the party acting for the user.
 *
 * It prints claims, never a token, assertion, password or key.
 */
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'
import { importJWK, SignJWT, type JWK } from 'jose'
import { createVerifier, type AccessTokenClaims } from 'keyturn/verifier'

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

export interface ExampleOptions {
  readonly issuer: string
  /** Service A's client id and the file with its private JWK (from generate-key.js). */
  readonly serviceA: { readonly id: string; readonly keyFile: string }
  /** The audience service B accepts. */
  readonly serviceB: string
  /** The user's access token (meant for service A), or credentials to sign in with through `webClient`. */
  readonly user: { readonly token: string } | { readonly webClient: string; readonly username: string; readonly password: string }
  readonly scope?: string
  readonly log?: (line: string) => void
}

async function postForm(url: string, params: Record<string, string>): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) })
  const body = (await response.json()) as Record<string, unknown>
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${String(body.error)}: ${String(body.error_description)}`)
  return body
}

/** Runs the four steps; returns what service B verified. */
export async function runExample(options: ExampleOptions): Promise<AccessTokenClaims> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`))
  const tokenEndpoint = `${options.issuer}/token`
  const privateJwk = JSON.parse(await readFile(options.serviceA.keyFile, 'utf8')) as JWK
  const privateKey = await importJWK(privateJwk, privateJwk.alg ?? 'ES256')

  // RFC 7523 §3: iss = sub = our client id, aud = the issuer, a short exp, a fresh jti. One assertion per request.
  const authenticateA = async (): Promise<Record<string, string>> => ({
    client_assertion_type: JWT_BEARER,
    client_assertion: await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: privateJwk.alg ?? 'ES256', kid: privateJwk.kid!, typ: 'JWT' })
      .setIssuer(options.serviceA.id).setSubject(options.serviceA.id).setAudience(options.issuer)
      .setIssuedAt().setExpirationTime('60s').sign(privateKey),
  })

  const userToken = 'token' in options.user
    ? options.user.token
    : String((await postForm(tokenEndpoint, { grant_type: 'password', client_id: options.user.webClient, username: options.user.username, password: options.user.password })).access_token)
  log('1. user token obtained (meant for service A)')

  const actorToken = String((await postForm(tokenEndpoint, { grant_type: 'client_credentials', ...(await authenticateA()) })).access_token)
  log(`2. service A authenticated with private_key_jwt and got its own token (the actor token)`)

  const exchanged = await postForm(tokenEndpoint, {
    grant_type: TOKEN_EXCHANGE, ...(await authenticateA()),
    subject_token: userToken, subject_token_type: ACCESS_TOKEN_TYPE,
    actor_token: actorToken, actor_token_type: ACCESS_TOKEN_TYPE,
    audience: options.serviceB, ...(options.scope ? { scope: options.scope } : {}),
  })
  log(`3. exchanged for a token for ${options.serviceB}: issued_token_type ${String(exchanged.issued_token_type)}, expires_in ${String(exchanged.expires_in)} s`)

  const serviceB = createVerifier({ issuer: options.issuer, audience: options.serviceB })
  const claims = await serviceB.verify(String(exchanged.access_token))
  log(`4. service B verified it: ${JSON.stringify({ sub: claims.sub, client_id: claims.client_id, aud: claims.aud, scope: claims.scope, act: claims.act })}`)
  return claims
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const env = process.env
  const user = env.USER_TOKEN
    ? { token: env.USER_TOKEN }
    : { webClient: env.WEB_CLIENT_ID ?? 'web', username: env.EXAMPLE_USER ?? 'alice', password: env.EXAMPLE_PASSWORD ?? '' }
  if (!('token' in user) && user.password === '') {
    process.stderr.write('set EXAMPLE_PASSWORD (the user\'s password) or USER_TOKEN (a user access token meant for service A)\n')
    process.exit(2)
  }
  runExample({
    issuer: env.ISSUER ?? 'http://localhost:3000',
    serviceA: { id: env.SERVICE_A_ID ?? 'service-a', keyFile: env.SERVICE_A_KEY ?? 'service-a.private.jwk.json' },
    serviceB: env.SERVICE_B_AUDIENCE ?? 'https://service-b.example',
    user,
    ...(env.SCOPE ? { scope: env.SCOPE } : {}),
  }).catch((error: Error) => {
    process.stderr.write(`token-exchange example: ${error.message}\n`)
    process.exit(1)
  })
}
