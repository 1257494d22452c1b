import type { BenchOptions } from './options.js'
import { foreignLoad, processTree, type Service } from './proc.js'
import { runLoad, type LoadResult } from './load.js'
import type { Target } from './scenarios.js'
import type { HttpMeasurement } from './targets.js'
import { DISTURBED } from './report.js'
import { rawSignRate, type RawSignResult } from '../micro/raw-sign.js'

export const say = (text: string): void => void process.stderr.write(`${text}\n`)
export const fmt = (value: number, digits = 0): string => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const disturbed = (foreignCpu: number): string => (foreignCpu > DISTURBED ? `, host busy (${fmt(foreignCpu, 2)} cores elsewhere)` : '')

/** Other processes may use this many cores before a run counts as disturbed enough to wait for. */
const QUIET = 0.3

/** Extra runs a target gets, after its rounds, while all of its runs were disturbed by other processes (only while the gate is patient: not in --quick). */
const RETRIES = 2

/**
 * Waits before each measured run until processes other than the bench and its servers use under 0.3 cores (other
 * jobs on a shared host would otherwise be billed to whichever target runs beside them): at most `quietWaitS` per
 * run, and at most `quietBudgetS` over the whole bench, so a host that never goes quiet costs minutes, not hours.
 */
export interface QuietGate {
  wait(): Promise<void>
  /** False once the waiting budget is spent: then disturbed runs are not repeated either. */
  patient(): boolean
  waitedS(): number
}

export function createQuietGate(options: BenchOptions, services: readonly Service[]): QuietGate {
  let waitedMs = 0
  return {
    async wait() {
      const budgetMs = options.quietBudgetS * 1000 - waitedMs
      if (options.quietWaitS <= 0 || budgetMs <= 0) return
      const pids = services.flatMap((service) => processTree(service.pid))
      const t0 = Date.now()
      const deadline = t0 + Math.min(options.quietWaitS * 1000, budgetMs)
      let load = await foreignLoad(500, pids)
      if (load > QUIET) {
        say(`  (waiting for the host: ${fmt(load, 2)} cores busy elsewhere)`)
        while (load > QUIET && Date.now() < deadline) load = await foreignLoad(1000, pids)
      }
      waitedMs += Date.now() - t0
    },
    patient: () => options.quietWaitS > 0 && waitedMs < options.quietBudgetS * 1000,
    waitedS: () => waitedMs / 1000,
  }
}

/** The best of a target's runs: the fastest among those no other process disturbed, else the fastest. */
function bestOf<T extends { foreignCpu: number }>(runs: readonly T[], rate: (run: T) => number): T {
  const quiet = runs.filter((run) => run.foreignCpu <= DISTURBED)
  return (quiet.length > 0 ? quiet : runs).reduce((a, b) => (rate(b) > rate(a) ? b : a))
}

/**
 * Loads each target of one comparison, interleaved round by round (and jose's raw signing rate of `rawAlg` in
 * each round, so the ceiling is measured under the same conditions), keeping each target's best round. A target
 * whose every run was disturbed by other processes on the host is run again, up to RETRIES times.
 */
export async function compare(
  options: BenchOptions, quiet: QuietGate, group: string, targets: readonly (Target & { workers?: number })[], rawAlg?: 'RS256' | 'ES256',
): Promise<{ http: HttpMeasurement[]; sign: RawSignResult | undefined }> {
  for (const target of targets) await target.preflight()
  const rounds = new Map<string, LoadResult[]>(targets.map((target) => [target.id, []]))
  const signs: RawSignResult[] = []
  const measureSign = async (alg: 'RS256' | 'ES256', label: string): Promise<void> => {
    await quiet.wait()
    const result = await rawSignRate(alg, options.durationS)
    say(`  jose raw signing ${alg}${label}: ${fmt(result.rate)}/s on ${result.threads} threads (CPU ${fmt(result.cpu, 2)} cores)${disturbed(result.foreignCpu)}`)
    signs.push(result)
  }
  const measure = async (target: Target, label: string, warm: boolean): Promise<void> => {
    const connections = target.connections ?? options.connections
    const load = { connections, serverPid: target.service.pid }
    if (warm && options.warmupS > 0) {
      await target.prepare?.(connections)
      await runLoad(target.spec, { ...load, durationS: options.warmupS })
    }
    await target.prepare?.(connections)
    await quiet.wait()
    const result = await runLoad(target.spec, { ...load, durationS: target.durationS ?? options.durationS })
    rounds.get(target.id)!.push(result)
    say(`  ${group} · ${target.subject}${label}: ${fmt(result.rps)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, `
      + `${result.errors} errors, CPU ${fmt(result.serverCpu, 2)} cores, RSS ${fmt(result.peakRssMB)} MB${disturbed(result.foreignCpu)}`)
  }
  for (let round = 0; round < options.rounds; round++) {
    const label = options.rounds > 1 ? ` (round ${round + 1})` : ''
    if (rawAlg) await measureSign(rawAlg, label)
    for (const target of targets) await measure(target, label, round === 0)
  }
  for (let retry = 1; retry <= RETRIES && quiet.patient(); retry++) {
    const label = ` (retry ${retry}: earlier runs disturbed)`
    if (rawAlg && signs.every((run) => run.foreignCpu > DISTURBED)) await measureSign(rawAlg, label)
    for (const target of targets) {
      if (rounds.get(target.id)!.every((run) => run.foreignCpu > DISTURBED)) await measure(target, label, false)
    }
  }
  const http = targets.map((target) => {
    const runs = rounds.get(target.id)!
    return { id: target.id, group, subject: target.subject, ...(target.workers === undefined ? {} : { workers: target.workers }), rounds: runs, best: bestOf(runs, (run) => run.rps) }
  })
  return { http, sign: signs.length > 0 ? bestOf(signs, (run) => run.rate) : undefined }
}
