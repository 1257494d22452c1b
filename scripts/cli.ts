import pino, { type Logger } from 'pino'
import { loadConfig, type Config } from '../src/config.js'
import { KeyturnError } from '../src/errors.js'
import { loggerOptions } from '../src/logger.js'
import { openRuntime, type Runtime } from '../src/runtime.js'

/** A command's failure that is the user's to fix: printed as one line, exit code 2 for usage, 1 otherwise. */
export class UsageError extends KeyturnError {
  constructor(message: string) {
    super('ERR_USAGE', message)
  }
}

/** Opens config, logs (to stderr, so stdout stays machine-readable) and the store for an admin command. */
export async function openCli(): Promise<{ config: Config; log: Logger; runtime: Runtime }> {
  const config = loadConfig(process.env)
  // JSON logs go to stderr at the configured level, so key transitions made here leave the same audit lines as the
  // server's; the human-readable result goes to stdout.
  const log = pino(loggerOptions(config.logLevel), pino.destination(2))
  if (config.keyEncryptionSecret === undefined) {
    process.stderr.write(`warning: KEYTURN_KEY_ENCRYPTION_SECRET is not set; using the development secret in ${config.keysDir}\n`)
  }
  return { config, log, runtime: await openRuntime(config, log) }
}

/** Runs a command's main, printing errors as one line without a stack (the stack is for bugs only). */
export function run(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof KeyturnError) {
        process.stderr.write(`${name}: ${error.message}\n`)
        process.exit(error.code === 'ERR_USAGE' ? 2 : 1)
      }
      process.stderr.write(`${name}: ${(error as Error).stack ?? String(error)}\n`)
      process.exit(1)
    },
  )
}

/** A plain-text table with aligned columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

export const iso = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'))
