import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose'
import { createVerifier } from '../../src/verifier/index.js'

export interface VerifyResult {
  readonly alg: string
  /** Verifications per second through keyturn's verifier (`createVerifier().verify`). */
  readonly verifier: number
  /** Verifications per second of jose's `jwtVerify` with the same checks and an already imported key. */
  readonly raw: number
  readonly inFlight: number
  readonly durationS: number
}

/**
 * The downstream verifier against raw jose, in this process, no HTTP: the verifier's JWKS is fetched once (warm-up),
 * then both verify the same token in alternating slices, `inFlight` at a time.
 */
export async function verifierRate(options: { issuer: string; audience: string; token: string; durationS: number; inFlight?: number }): Promise<VerifyResult> {
  const inFlight = options.inFlight ?? 8
  const { kid, alg } = decodeProtectedHeader(options.token)
  const verifier = createVerifier({ issuer: options.issuer, audience: options.audience })
  const status = await verifier.refresh()
  if (status.state !== 'fresh') throw new Error(`verifier could not fetch the JWKS: ${JSON.stringify(status)}`)
  const jwks = (await (await fetch(`${options.issuer}/.well-known/jwks.json`)).json()) as { keys: JWK[] }
  const jwk = jwks.keys.find((key) => key.kid === kid)
  if (!jwk || !alg) throw new Error('token kid not in the JWKS')
  const key = await importJWK(jwk, alg)
  const checks = { issuer: options.issuer, audience: options.audience, typ: 'at+jwt', algorithms: [alg] }
  const raw = async (): Promise<unknown> => jwtVerify(options.token, key, checks)
  const viaVerifier = (): Promise<unknown> => verifier.verify(options.token)
  await raw()
  await viaVerifier()

  const slices = 6
  const sliceMs = (options.durationS * 1000) / slices
  const totals = { raw: { count: 0, ms: 0 }, verifier: { count: 0, ms: 0 } }
  for (let slice = 0; slice < slices; slice++) {
    const kind = slice % 2 === 0 ? 'raw' : 'verifier'
    const run = kind === 'raw' ? raw : viaVerifier
    const t0 = performance.now()
    const deadline = t0 + sliceMs
    let count = 0
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await run()
        count++
      }
    }))
    totals[kind].count += count
    totals[kind].ms += performance.now() - t0
  }
  return {
    alg, inFlight, durationS: options.durationS,
    verifier: totals.verifier.count / (totals.verifier.ms / 1000),
    raw: totals.raw.count / (totals.raw.ms / 1000),
  }
}
