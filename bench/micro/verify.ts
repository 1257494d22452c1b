import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose'
import { createVerifier } from '../../src/verifier/index.js'
import { hostBusySeconds } from '../lib/proc.js'

export interface VerifyResult {
  readonly alg: string
  /** Verifications per second through keyturn's verifier (`createVerifier().verify`). */
  readonly verifier: number
  /** Verifications per second of jose's `jwtVerify` with the same checks and an already imported key. */
  readonly raw: number
  readonly inFlight: number
  readonly durationS: number
  /** CPU used on the host by other processes meanwhile, in cores. */
  readonly foreignCpu: number
}

/**
 * The downstream verifier against raw jose, in this process, no HTTP: the verifier's JWKS is fetched once (warm-up),
 * then both verify the same token in alternating slices, `inFlight` at a time. The verifier is the package
 * `keyturn/verifier` exports (dist/src/verifier), imported by path so the bench needs no self-link.
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
  // Warm-up of both paths (JIT, the key caches), not counted.
  await runFor(raw, inFlight, 300)
  await runFor(viaVerifier, inFlight, 300)

  // Short slices in ABBA order, so drift (other work on the host, CPU clocks) falls on both sides alike.
  const slices = Math.max(4, Math.ceil((options.durationS * 1000) / SLICE_MS / 4) * 4)
  const sliceMs = (options.durationS * 1000) / slices
  const totals = { raw: { count: 0, ms: 0 }, verifier: { count: 0, ms: 0 } }
  const cpu0 = process.cpuUsage()
  const host0 = hostBusySeconds()
  const t0 = performance.now()
  for (let slice = 0; slice < slices; slice++) {
    const kind = slice % 4 === 0 || slice % 4 === 3 ? 'raw' : 'verifier'
    const { count, ms } = await runFor(kind === 'raw' ? raw : viaVerifier, inFlight, sliceMs)
    totals[kind].count += count
    totals[kind].ms += ms
  }
  const wallS = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const ownS = (cpu.user + cpu.system) / 1e6
  return {
    alg, inFlight, durationS: options.durationS,
    verifier: totals.verifier.count / (totals.verifier.ms / 1000),
    raw: totals.raw.count / (totals.raw.ms / 1000),
    foreignCpu: Math.max(0, (hostBusySeconds() - host0 - ownS) / wallS),
  }
}

const SLICE_MS = 250

/** Keeps `inFlight` calls of `run` going for `ms`; returns how many completed and how long that took. */
async function runFor(run: () => Promise<unknown>, inFlight: number, ms: number): Promise<{ count: number; ms: number }> {
  const t0 = performance.now()
  const deadline = t0 + ms
  let count = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      await run()
      count++
    }
  }))
  return { count, ms: performance.now() - t0 }
}
