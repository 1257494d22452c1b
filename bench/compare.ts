/**
 * Puts the key ratios of several bench results side by side (for docs/performance.md's history): each result is
 * one column, each ratio one row, and every ratio comes from within its own run.
 * Usage: node dist/bench/compare.js <label>=<result.json> [<label>=<result.json>]...
 */
import { readFileSync } from 'node:fs'
import type { Report } from './lib/report.js'

const columns = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=')
  if (at < 1) {
    process.stderr.write('usage: node dist/bench/compare.js <label>=<result.json>...\n')
    process.exit(2)
  }
  return { label: arg.slice(0, at), report: JSON.parse(readFileSync(arg.slice(at + 1), 'utf8')) as Report }
})

const rps = (report: Report, id: string): number | undefined => report.http.find((row) => row.id === id)?.best.rps
const cpu = (report: Report, id: string): number | undefined => report.http.find((row) => row.id === id)?.best.cpuPerRequestUs
const raw = (report: Report, alg: string): number | undefined => report.sign.find((row) => row.alg === alg)?.rate
const over = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || b === 0 ? undefined : a / b)
const verifier = (report: Report, alg: string): number | undefined => {
  const row = report.verify.find((v) => v.alg === alg)
  return row ? row.verifier / row.raw : undefined
}

const rows: [string, (report: Report) => number | undefined, 'ratio' | 'rate' | 'us'][] = [
  ['client_credentials RS256 ÷ raw jose RS256 (all cores)', (r) => over(rps(r, 'keyturn.cc.RS256'), raw(r, 'RS256')), 'ratio'],
  ['client_credentials RS256 ÷ minimal fastify + jose', (r) => over(rps(r, 'keyturn.cc.RS256'), rps(r, 'minimal.RS256')), 'ratio'],
  ['client_credentials RS256 ÷ node-oidc-provider', (r) => over(rps(r, 'keyturn.cc.RS256'), rps(r, 'oidc-provider.RS256')), 'ratio'],
  ['client_credentials ES256 ÷ minimal fastify + jose', (r) => over(rps(r, 'keyturn.cc.ES256'), rps(r, 'minimal.ES256')), 'ratio'],
  ['client_credentials ES256 ÷ node-oidc-provider', (r) => over(rps(r, 'keyturn.cc.ES256'), rps(r, 'oidc-provider.ES256')), 'ratio'],
  ['JWKS 200 ÷ static fastify route', (r) => over(rps(r, 'keyturn.jwks.200'), rps(r, 'static.jwks.200')), 'ratio'],
  ['JWKS 304 ÷ static fastify route (200)', (r) => over(rps(r, 'keyturn.jwks.304'), rps(r, 'static.jwks.200')), 'ratio'],
  ['/introspect ÷ client_credentials ES256', (r) => over(rps(r, 'keyturn.introspect'), rps(r, 'keyturn.cc.ES256')), 'ratio'],
  ['refresh_token ÷ client_credentials ES256', (r) => over(rps(r, 'keyturn.refresh'), rps(r, 'keyturn.cc.ES256')), 'ratio'],
  ['verifier ÷ jwtVerify, RS256', (r) => verifier(r, 'RS256'), 'ratio'],
  ['verifier ÷ jwtVerify, ES256', (r) => verifier(r, 'ES256'), 'ratio'],
  ['client_credentials RS256, server CPU µs per request', (r) => cpu(r, 'keyturn.cc.RS256'), 'us'],
  ['client_credentials ES256, server CPU µs per request', (r) => cpu(r, 'keyturn.cc.ES256'), 'us'],
  ['minimal fastify + jose ES256, server CPU µs per request', (r) => cpu(r, 'minimal.ES256'), 'us'],
  ['JWKS 200, server CPU µs per request', (r) => cpu(r, 'keyturn.jwks.200'), 'us'],
  ['/introspect, server CPU µs per request', (r) => cpu(r, 'keyturn.introspect'), 'us'],
  ['refresh_token, server CPU µs per request', (r) => cpu(r, 'keyturn.refresh'), 'us'],
  ['client_credentials ES256 req/s (keyturn)', (r) => rps(r, 'keyturn.cc.ES256'), 'rate'],
  ['client_credentials ES256 req/s (minimal)', (r) => rps(r, 'minimal.ES256'), 'rate'],
]

const format = (value: number | undefined, kind: 'ratio' | 'rate' | 'us'): string => {
  if (value === undefined) return '—'
  if (kind === 'ratio') return `${value.toFixed(2)}×`
  return Math.round(value).toLocaleString('en-US')
}

const lines = [
  `| | ${columns.map((column) => column.label).join(' | ')} |`,
  `| --- | ${columns.map(() => '---:').join(' | ')} |`,
  ...rows.map(([name, value, kind]) => `| ${name} | ${columns.map((column) => format(value(column.report), kind)).join(' | ')} |`),
]
process.stdout.write(`${lines.join('\n')}\n`)
