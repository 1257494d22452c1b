import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import type { Test } from 'tap'
import { DATABASE_FILE } from '../../src/store/index.js'
import { ERROR } from '../../src/oauth.js'
import type { TestIssuer } from '../helper.js'

/**
 * Rate limits off: with them on, a fuzz run would mostly exercise the limiter (every rejected authentication counts).
 * Unknown variables are ignored, so this is harmless where the limiter does not exist.
 */
export const FUZZ_ENV: Readonly<Record<string, string>> = {
  KEYTURN_RATE_LIMIT_IP: 'off',
  KEYTURN_RATE_LIMIT_CLIENT: 'off',
  KEYTURN_RATE_LIMIT_AUTH_FAILURES: 'off',
}

/** Runs per property: bounded so the whole fuzz directory stays under a minute on two cores. `FUZZ_RUNS` overrides. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 300)

/** fast-check parameters: a fixed run count, and the seed from `FUZZ_SEED` to replay a reported failure. */
export function fcParams(runs = RUNS): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
  return { numRuns: runs, ...(seed === undefined ? {} : { seed }) }
}

/** The state a rejected request must leave alone. `rate_counters` is left out: failed authentications count there by design. */
const STATE_TABLES = ['clients', 'users', 'refresh_families', 'refresh_tokens', 'revoked_jtis', 'used_assertions'] as const

/** Every state table's rows, serialised, by table name. */
export type Snapshot = Readonly<Record<(typeof STATE_TABLES)[number], string>>

/** A read-only view of the test issuer's SQLite database, for before/after comparisons. */
export function storeSnapshots(t: Test, issuer: TestIssuer): () => Snapshot {
  const db = new Database(join(issuer.config.dataDir, DATABASE_FILE), { readonly: true, fileMustExist: true })
  t.teardown(() => db.close())
  const statements = STATE_TABLES.map((table) => [table, db.prepare(`SELECT * FROM ${table} ORDER BY rowid`)] as const)
  return () => Object.fromEntries(statements.map(([table, statement]) => [table, JSON.stringify(statement.all())])) as Snapshot
}

/** The tables that differ between two snapshots. */
export function changedTables(before: Snapshot, after: Snapshot): string[] {
  return STATE_TABLES.filter((table) => before[table] !== after[table])
}

/**
 * Records unhandled rejections while a test runs (the listener also keeps Node from crashing the test file, so the
 * failure lands on the request that caused it): `check()` throws if any happened, after letting pending ones
 * surface; one left unchecked fails the teardown.
 */
export function tripwire(t: Test): { check: () => Promise<void> } {
  const seen: unknown[] = []
  const record = (reason: unknown): void => {
    seen.push(reason)
  }
  const report = (): void => {
    // Cleared once reported: while fast-check shrinks, each input must earn its own failure.
    const first = seen.splice(0)[0]
    if (first !== undefined) throw new Error(`unhandled rejection: ${String((first as Error)?.stack ?? first)}`)
  }
  process.on('unhandledRejection', record)
  t.teardown(() => {
    process.off('unhandledRejection', record)
    report()
  })
  return {
    async check() {
      await new Promise((resolve) => setImmediate(resolve))
      report()
    },
  }
}

/** Every error code the issuer may answer with. */
export const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ERROR))

/** What every answer to a hostile request must look like; throws (for fast-check to shrink) with the reason. */
export function checkAnswer(response: { statusCode: number; headers: Record<string, unknown>; body: string }): void {
  const { statusCode: status } = response
  if (status >= 500) throw new Error(`${status}: ${response.body.slice(0, 300)}`)
  if (status < 400) return
  if (response.headers['cache-control'] !== 'no-store') throw new Error(`${status} without cache-control: no-store`)
  let body: { error?: unknown; error_description?: unknown }
  try {
    body = JSON.parse(response.body) as typeof body
  } catch {
    throw new Error(`${status} with a body that is not JSON: ${response.body.slice(0, 100)}`)
  }
  if (typeof body.error !== 'string' || !ERROR_CODES.has(body.error)) throw new Error(`${status} with error ${String(body.error)}`)
  if (typeof body.error_description !== 'string' || body.error_description === '') throw new Error(`${status} ${body.error} without error_description`)
}

/** One edit of a string: the building block of every mutation below. */
export type StringEdit =
  | { readonly kind: 'replace'; readonly at: number; readonly text: string }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'append'; readonly text: string }
  | { readonly kind: 'repeat'; readonly times: number }

/** Characters that tend to matter to parsers: separators, escapes, controls, non-ASCII, surrogate halves. */
const NASTY = ['%', '%2', '%zz', '%00', '%FF', '%C3%28', '%ED%A0%80', '&', '=', '+', '.', '..', ':', ' ', '\u0000', '\n', '\r\n', '\t', '\u007f', '"', '\\', '{', '[', '\u00e9', '\ud800', '\udc00', '\uffff', '\ufffd', '😀', '=='] as const

/** A short hostile fragment: a nasty token, random unicode, or a long run. */
export const fragment: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ maxLength: 8, unit: 'binary' }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 8, unit: fc.constantFrom(...'ABCDEFabcdef0123456789-_') }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'A', '%', '.', '='), fc.integer({ min: 100, max: 5000 })).map(([c, n]) => c.repeat(n)) },
)

/** Positions are fractions of the length, so one edit applies to any string (a freshly minted token, say). */
export const stringEdit: fc.Arbitrary<StringEdit> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), text: fragment }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), text: fragment }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('append' as const), text: fragment }),
  fc.record({ kind: fc.constant('repeat' as const), times: fc.integer({ min: 2, max: 3 }) }),
)

export function applyEdit(text: string, edit: StringEdit): string {
  const index = (at: number): number => Math.min(text.length, Math.floor(at * text.length))
  switch (edit.kind) {
    case 'replace': {
      const i = index(edit.at)
      return text.slice(0, i) + edit.text + text.slice(i + Math.max(1, edit.text.length))
    }
    case 'insert':
      return text.slice(0, index(edit.at)) + edit.text + text.slice(index(edit.at))
    case 'delete':
      return text.slice(0, index(edit.at)) + text.slice(index(edit.at) + edit.length)
    case 'truncate':
      return text.slice(0, index(edit.at))
    case 'append':
      return text + edit.text
    case 'repeat':
      return text.repeat(edit.times)
  }
}

/** Ways a compact JWS gets damaged or forged, as data (so a failing case prints what was done). */
export type TokenMutation =
  | { readonly kind: 'flip'; readonly at: number; readonly char: string }
  | { readonly kind: 'edit'; readonly edit: StringEdit }
  | { readonly kind: 'segments'; readonly how: 'reverse' | 'swap-header-payload' | 'extra-segment' | 'empty-signature' | 'header-twice' | 'two-segments' }

export const tokenMutation: fc.Arbitrary<TokenMutation> = fc.oneof(
  // One base64url character changed: the classic bit flip (often in the last character's unused bits).
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.constant(0.99999)),
    char: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
  }),
  fc.record({ kind: fc.constant('edit' as const), edit: stringEdit }),
  fc.record({ kind: fc.constant('segments' as const), how: fc.constantFrom('reverse', 'swap-header-payload', 'extra-segment', 'empty-signature', 'header-twice', 'two-segments') }),
)

export function mutateToken(token: string, change: TokenMutation): string {
  const [h = '', p = '', s = ''] = token.split('.')
  switch (change.kind) {
    case 'flip': {
      const i = Math.floor(change.at * token.length)
      return token.slice(0, i) + change.char + token.slice(i + 1)
    }
    case 'edit':
      return applyEdit(token, change.edit)
    case 'segments':
      switch (change.how) {
        case 'reverse': return `${s}.${p}.${h}`
        case 'swap-header-payload': return `${p}.${h}.${s}`
        case 'extra-segment': return `${token}.${p}`
        case 'empty-signature': return `${h}.${p}.`
        case 'header-twice': return `${h}.${h}.${s}`
        case 'two-segments': return `${h}.${p}`
      }
  }
}
