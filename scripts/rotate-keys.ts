import { parseArgs } from 'node:util'
import { isAlg, type Alg } from '../src/keys/algorithms.js'
import { deletesAt, keysOf, promotesAt, activeKey, type KeyRecord, type KeySet, type RotationPolicy } from '../src/keys/key-set.js'
import type { RotationResult } from '../src/keys/rotation.js'
import { iso, openCli, run, table, UsageError } from './cli.js'

const USAGE = `usage: npm run rotate-keys -- <command> [options]

  list [--json]                     every key: kid, alg, state and when it activates, retires, is deleted
  rotate [--alg A] [--force]        promote the next key of every (or one) algorithm now; refuses if it has been
                                    published for less than KEYTURN_KEY_PROPAGATION unless --force
  revoke <kid>                      emergency: the key leaves the JWKS at once; its algorithm gets a new active key
  prune [--revoked]                 delete retired keys whose tokens have expired (and, with --revoked, old revoked keys)

A running server picks up every change within KEYTURN_KEYS_RELOAD_INTERVAL (default 2s), without a restart.`

interface KeyRow {
  kid: string; alg: Alg; state: string; createdAt: string; activatesAt: string | null; retiresAt: string | null; deletesAt: string | null
  revokedAt: string | null
}

function describe(set: KeySet, policy: RotationPolicy): KeyRow[] {
  const at = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString())
  return set.keys.map((key: KeyRecord) => {
    const active = activeKey(set, key.alg)
    const next = keysOf(set, key.alg, 'next')[0]
    const promotion = active && next ? promotesAt(active, next, policy) : undefined
    return {
      kid: key.kid, alg: key.alg, state: key.state, createdAt: new Date(key.createdAt).toISOString(),
      activatesAt: key.state === 'next' ? at(promotion) : at(key.activatedAt),
      retiresAt: key.state === 'active' ? at(promotion) : at(key.retiredAt),
      deletesAt: at(deletesAt(key, policy)),
      revokedAt: at(key.revokedAt),
    }
  })
}

function print(rows: KeyRow[], json: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...extra, keys: rows }, null, 2)}\n`)
    return
  }
  const show = (value: string | null): string => (value === null ? '-' : iso(Date.parse(value)))
  process.stdout.write(`${table(
    ['KID', 'ALG', 'STATE', 'CREATED', 'ACTIVATES', 'RETIRES', 'DELETES/REVOKED'],
    rows.map((row) => [row.kid, row.alg, row.state, show(row.createdAt), show(row.activatesAt), show(row.retiresAt), show(row.deletesAt ?? row.revokedAt)]),
  )}\n`)
}

function report(result: RotationResult, policy: RotationPolicy, json: boolean): void {
  if (json) return print(describe(result.set, policy), true, { version: result.set.version, transitions: result.transitions })
  if (result.transitions.length === 0) process.stdout.write('nothing to do\n')
  for (const t of result.transitions) process.stdout.write(`${t.alg} ${t.kid}: ${t.from} -> ${t.to} (${t.reason})\n`)
  process.stdout.write(`key set version ${result.set.version}; running servers pick it up within a few seconds\n`)
}

run('rotate-keys', async () => {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2), allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, alg: { type: 'string' }, force: { type: 'boolean', default: false }, revoked: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  })
  const [command, ...rest] = positionals
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`)
    if (command === undefined && !values.help) throw new UsageError('name a command')
    return
  }
  const { config, runtime } = await openCli()
  const { rotation, policy, store } = runtime
  switch (command) {
    case 'list':
      return print(describe(await store.keys.load(), policy), values.json)
    case 'rotate': {
      if (values.alg !== undefined && (!isAlg(values.alg) || !config.signingAlgs.includes(values.alg))) {
        throw new UsageError(`--alg must be one of ${config.signingAlgs.join(', ')}`)
      }
      const promote: Alg[] = values.alg ? [values.alg as Alg] : [...config.signingAlgs]
      return report(await rotation.rotate({ promote, force: values.force }), policy, values.json)
    }
    case 'revoke': {
      const kid = rest[0]
      if (!kid) throw new UsageError('revoke needs the kid of the key (see `list`)')
      return report(await rotation.revoke(kid), policy, values.json)
    }
    case 'prune':
      return report(await rotation.prune({ revoked: values.revoked }), policy, values.json)
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USAGE}`)
  }
})
