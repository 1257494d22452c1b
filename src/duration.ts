const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Parses `90s`, `15m`, `24h`, `7d` (and `500ms`) into milliseconds. A bare number is refused: a duration
 * without a unit is the classic seconds-or-milliseconds config bug.
 * @returns milliseconds, or `undefined` when `text` is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim())
  if (!match) return undefined
  const value = Number(match[1]) * (UNITS[match[2]!] ?? Number.NaN)
  return Number.isSafeInteger(value) ? value : undefined
}

/** Formats milliseconds as the largest whole unit (`86400000` → `1d`, `90000` → `90s`). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
