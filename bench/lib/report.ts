import type { BenchOptions } from './options.js'
import { MAX_CONCURRENT_HASHES } from '../../src/users/password.js'
import { formatCheck, type HttpMeasurement, type Measurements, type TargetCheck } from './targets.js'

export interface Meta {
  readonly date: string
  readonly mode: 'full' | 'quick'
  readonly node: string
  readonly cpu: string
  readonly cores: number
  readonly memoryGB: number
  readonly kernel: string
  readonly commit: string
  readonly options: BenchOptions
  readonly versions: Readonly<Record<string, string>>
  /** CPU (cores) used by other processes on the host just before the bench started. */
  readonly foreignCpuAtStart: number
  /** Seconds spent waiting for other processes on the host to go quiet. */
  readonly quietWaitS: number
  readonly wallS: number
}

export interface Report extends Measurements {
  readonly meta: Meta
  readonly scrypt?: { readonly rate: number; readonly cost: number; readonly inFlight: number }
  readonly targets: readonly TargetCheck[]
}

/** A run during which other processes used more than this many cores is marked † (its figures are suspect). */
export const DISTURBED = 0.25

const n = (value: number, digits = 0): string => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const ms = (value: number): string => (Number.isInteger(value) || value >= 100 ? n(value) : n(value, value >= 10 ? 1 : 2))

/** "0.93× raw jose · 2.6× node-oidc-provider": keyturn's figure over each baseline's, from the same run. */
function ratios(report: Report, row: HttpMeasurement): string {
  if (!row.id.startsWith('keyturn')) return '—'
  const http = (id: string): number | undefined => report.http.find((other) => other.id === id)?.best.rps
  const parts: string[] = []
  const add = (label: string, base: number | undefined): void => {
    if (base !== undefined && base > 0) parts.push(`${(row.best.rps / base).toFixed(2)}× ${label}`)
  }
  const kind = row.id.replace(/^keyturn(-w\d+)?\./, '')
  const alg = /cc\.(RS256|ES256)$/.exec(kind)?.[1]
  if (alg) {
    add(`raw jose ${alg} (all cores)`, report.sign.find((s) => s.alg === alg)?.rate)
    add('minimal fastify + jose', http(`minimal.${alg}`))
    add('node-oidc-provider', http(`oidc-provider.${alg}`))
  } else if (kind === 'jwks.200') {
    add('static fastify route', http('static.jwks.200'))
    add('node-oidc-provider', http('oidc-provider.jwks.200'))
  } else if (kind === 'jwks.304') {
    add('keyturn 200', http('keyturn.jwks.200'))
    add('static fastify route (200)', http('static.jwks.200'))
  } else if (kind === 'password') {
    add(`raw scrypt verify (cost ${report.scrypt?.cost ?? '?'}, all cores)`, report.scrypt?.rate)
  } else if (kind === 'refresh') {
    add('client_credentials ES256', http('keyturn.cc.ES256'))
  } else if (kind === 'introspect') {
    // The same HTTP, client authentication and one ECDSA operation (a verification instead of a signature).
    add('client_credentials ES256', http('keyturn.cc.ES256'))
    add('jwtVerify ES256 in process, no HTTP', report.verify.find((v) => v.alg === 'ES256')?.raw)
  }
  return parts.join(' · ') || '—'
}

export function markdown(report: Report): string {
  const { meta } = report
  const o = meta.options
  const lines: string[] = []
  lines.push(`# keyturn benchmark — ${meta.date} (${meta.mode})`, '')
  lines.push(`- Host: ${meta.cpu}, ${meta.cores} cores, ${n(meta.memoryGB, 1)} GB, ${meta.kernel}; Node ${meta.node}. The load generator (autocannon, one thread) runs on the same cores.`)
  lines.push(`- Load: ${o.connections} connections, ${o.durationS} s per run after ${o.warmupS} s of warm-up, best of ${o.rounds} interleaved round${o.rounds === 1 ? '' : 's'}.`)
  lines.push(`- Code: ${meta.commit}. ${Object.entries(meta.versions).map(([name, version]) => `${name} ${version}`).join(', ')}.`)
  const foreign = report.http.map((row) => row.best.foreignCpu)
  if (foreign.length > 0) {
    lines.push(`- Other processes on the host used ${n(meta.foreignCpuAtStart, 2)} cores at start and ${n(Math.max(...foreign), 2)} at most during a reported run (0 is a quiet host).`)
  }
  lines.push(`- Wall time: ${n(meta.wallS)} s${meta.quietWaitS > 0 ? `, of which ${n(meta.quietWaitS)} s waiting for the host to go quiet` : ''}.`)
  lines.push('- Each ratio divides keyturn\'s figure by a baseline\'s measured in the same run, under the same load generator on the same cores; req/s is the best of the rounds.', '')

  lines.push('| scenario | server | req/s | vs baselines (same run) | p50 ms | p99 ms | errors | server CPU (cores) | CPU µs/req | peak RSS MB | autocannon CPU (cores) |')
  lines.push('| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const row of report.http) {
    const b = row.best
    const errors = row.rounds.reduce((sum, round) => sum + round.errors, 0)
    const mark = b.foreignCpu > DISTURBED ? ' †' : ''
    lines.push(`| ${row.group} | ${row.subject}${mark} | ${n(b.rps)} | ${ratios(report, row)} | ${ms(b.p50)} | ${ms(b.p99)} | ${errors} | ${n(b.serverCpu, 2)} | ${n(b.cpuPerRequestUs)} | ${n(b.peakRssMB)} | ${n(b.loadGeneratorCpu, 2)} |`)
  }
  if (report.http.some((row) => (row.workers ?? 1) > 1)) {
    lines.push('', 'KEYTURN_WORKERS rows: CPU and RSS are summed over the primary and its workers.')
  }
  if (report.http.some((row) => row.best.foreignCpu > DISTURBED) || report.verify.some((v) => v.foreignCpu > DISTURBED)) {
    lines.push('', `† other processes on the host used more than ${DISTURBED} cores during this run: treat its figures with suspicion.`)
  }
  lines.push('')

  if (report.sign.length > 0 || report.verify.length > 0 || report.scrypt) {
    lines.push('| in-process measurement | rate/s | ratio | CPU (cores) |', '| --- | ---: | --- | ---: |')
    for (const s of report.sign) lines.push(`| jose raw signing ${s.alg}, ${s.threads} worker threads × ${s.inFlight} in flight | ${n(s.rate)} | — | ${n(s.cpu, 2)} |`)
    for (const v of report.verify) {
      lines.push(`| jose jwtVerify ${v.alg}, imported key, ${v.inFlight} in flight | ${n(v.raw)} | — | |`)
      lines.push(`| keyturn verifier ${v.alg} (createVerifier().verify)${v.foreignCpu > DISTURBED ? ' †' : ''} | ${n(v.verifier)} | ${(v.verifier / v.raw).toFixed(2)}× jwtVerify | |`)
    }
    if (report.scrypt) lines.push(`| scrypt verify, cost ${report.scrypt.cost} (verifyPassword: ${MAX_CONCURRENT_HASHES} hashing at once), ${report.scrypt.inFlight} in flight | ${n(report.scrypt.rate, 1)} | — | |`)
    lines.push('')
  }

  lines.push('## Targets', '', '```', ...report.targets.map(formatCheck), '```', '')
  return `${lines.join('\n')}\n`
}
