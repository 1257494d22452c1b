import { parseArgs } from 'node:util'

export const GROUPS = ['cc-rs256', 'cc-es256', 'jwks', 'introspect', 'refresh', 'password', 'verify'] as const
export type Group = (typeof GROUPS)[number]

export interface BenchOptions {
  readonly quick: boolean
  /** Seconds of each measured run. */
  readonly durationS: number
  /** Seconds of load before each measured run (JIT, connection set-up); not recorded. */
  readonly warmupS: number
  readonly connections: number
  /** Each comparison runs this many times, its targets interleaved; the best round of each target is reported. */
  readonly rounds: number
  readonly groups: readonly Group[]
  /** KEYTURN_WORKERS values to measure besides 1 (on client_credentials and the JWKS). */
  readonly extraWorkers: readonly number[]
  /** Start keyturn with --cpu-prof; profiles land in bench/results/profiles/. */
  readonly cpuProf: boolean
  /** Before each measured run, wait up to this long for other processes on the host to go quiet. */
  readonly quietWaitS: number
  /** The most waiting for a quiet host over the whole bench, in seconds. */
  readonly quietBudgetS: number
  readonly outDir: string | undefined
  /** Keep the temp dir (keys, database, audit log) for inspection. */
  readonly keep: boolean
  /** Exit with status 3 when any run had errors (for CI; the other targets depend on the host and never fail a run). */
  readonly strict: boolean
}

export const USAGE = `usage: npm run bench -- [--quick] [--duration S] [--warmup S] [--connections N] [--rounds N]
                        [--only ${GROUPS.join(',')}] [--workers 2[,4]] [--quiet-wait S] [--quiet-budget S]
                        [--cpu-prof] [--out DIR] [--keep] [--strict]

  default: 50 connections, 10 s runs after 3 s of warm-up, 2 interleaved rounds, KEYTURN_WORKERS 1 and 2, and
           up to 30 s of waiting before each run for other processes on the host to go quiet, 180 s at most in
           all (a target whose runs were all disturbed is run again, twice at most, while that budget lasts)
  --quick: 2 s runs, 1 s warm-up, 1 round, KEYTURN_WORKERS 1 only, no waiting (under 2 minutes; proves the bench
           and every endpoint work, judges nothing)
  --only:  groups to run (default all); --workers '': no KEYTURN_WORKERS rows
  --strict: exit 3 if any run had errors (CI: npm run bench -- --quick --strict); targets never fail a run
  --cpu-prof: keyturn runs with node --cpu-prof; profiles in <out>/profiles/, summarise them with
           node dist/bench/profile.js <file>`

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false }, duration: { type: 'string' }, warmup: { type: 'string' }, connections: { type: 'string' },
      rounds: { type: 'string' }, only: { type: 'string' }, workers: { type: 'string' }, 'cpu-prof': { type: 'boolean', default: false }, 'quiet-wait': { type: 'string' }, 'quiet-budget': { type: 'string' },
      out: { type: 'string' }, keep: { type: 'boolean', default: false }, strict: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const number = (value: string | undefined, fallback: number, name: string, min: number): number => {
    if (value === undefined) return fallback
    const parsed = Number(value)
    if (!Number.isFinite(parsed) || parsed < min) throw new Error(`--${name}: a number ≥ ${min}`)
    return parsed
  }
  const groups = values.only === undefined ? [...GROUPS] : values.only.split(',').map((name) => {
    if (!(GROUPS as readonly string[]).includes(name)) throw new Error(`--only: unknown group ${name} (${GROUPS.join(', ')})`)
    return name as Group
  })
  const quick = values.quick
  const extraWorkers = (values.workers ?? (quick ? '' : '2')).split(',').filter(Boolean).map((text) => Math.floor(number(text, 2, 'workers', 2)))
  return {
    quick,
    durationS: number(values.duration, quick ? 2 : 10, 'duration', 1),
    warmupS: number(values.warmup, quick ? 1 : 3, 'warmup', 0),
    connections: Math.floor(number(values.connections, 50, 'connections', 1)),
    rounds: Math.floor(number(values.rounds, quick ? 1 : 2, 'rounds', 1)),
    groups,
    extraWorkers,
    cpuProf: values['cpu-prof'],
    quietWaitS: number(values['quiet-wait'], quick ? 0 : 30, 'quiet-wait', 0),
    quietBudgetS: number(values['quiet-budget'], 180, 'quiet-budget', 0),
    outDir: values.out,
    keep: values.keep,
    strict: values.strict,
  }
}
