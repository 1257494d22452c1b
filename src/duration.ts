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

/** A human reading of a span for messages: `49540` → `49s`, `3723000` → `1h 2m 3s`. */
export function describeDuration(ms: number): string {
  let seconds = Math.floor(ms / 1000)
  if (seconds < 1) return `${ms}ms`
  const parts: string[] = []
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const count = Math.floor(seconds / size)
    seconds -= count * size
    if (count > 0) parts.push(`${count}${unit}`)
  }
  return parts.join(' ')
}
