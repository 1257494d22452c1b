import type { CounterStore } from '../store/types.js'

/** The store interface @fastify/rate-limit calls (its `incr`/`read` callbacks, with `ttl` in milliseconds). */
export interface RateLimitStore {
  incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, windowMs: number, max: number): void
  read(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, windowMs: number, max: number): void
  child(params: Record<string, unknown>): RateLimitStore
}

/** Enough for every address of a busy day; a flood of fresh addresses evicts the oldest windows, never grows memory. */
const MAX_WINDOWS = 100_000

interface Window {
  count: number
  resetAt: number
}

/** Fixed windows in a Map bounded by `MAX_WINDOWS`, on the app's clock (tests move it by hand). */
class Windows {
  private readonly windows = new Map<string, Window>()
  constructor(private readonly now: () => number) {}

  get(key: string): Window | undefined {
    const window = this.windows.get(key)
    if (window && window.resetAt <= this.now()) {
      this.windows.delete(key)
      return undefined
    }
    return window
  }

  set(key: string, window: Window): void {
    this.windows.delete(key)
    if (this.windows.size >= MAX_WINDOWS) {
      // Map keeps insertion order: the first key is the least recently set.
      const oldest = this.windows.keys().next().value
      if (oldest !== undefined) this.windows.delete(oldest)
    }
    this.windows.set(key, window)
  }

  /**
   * Windows held: 0 means none is running. Ended windows are dropped from the oldest on, up to the first running
   * one, so the answer returns to 0 soon after the last window ends (amortised O(1)).
   */
  size(): number {
    const now = this.now()
    for (const [key, window] of this.windows) {
      if (window.resetAt > now) break
      this.windows.delete(key)
    }
    return this.windows.size
  }

  answer(window: Window | undefined): { current: number; ttl: number } {
    return window ? { current: window.count, ttl: window.resetAt - this.now() } : { current: 0, ttl: 0 }
  }
}

/** The shared counters, and what this process has learned of them (one memory for every shared limiter). */
interface Shared {
  readonly counters: CounterStore
  readonly seen: Windows
}

/** Counts in this process only: the per-IP and per-client request limits, on the hot path. */
class MemoryStore implements RateLimitStore {
  private readonly windows: Windows
  constructor(private readonly now: () => number, private readonly shared: Shared) {
    this.windows = new Windows(now)
  }

  incr(key: string, callback: Parameters<RateLimitStore['incr']>[1], windowMs: number): void {
    const window = this.windows.get(key) ?? { count: 0, resetAt: this.now() + windowMs }
    window.count++
    this.windows.set(key, window)
    callback(null, this.windows.answer(window))
  }

  read(key: string, callback: Parameters<RateLimitStore['read']>[1]): void {
    callback(null, this.windows.answer(this.windows.get(key)))
  }

  child(params: Record<string, unknown>): RateLimitStore {
    return params.shared === true ? new SharedStore(this.shared, this.now) : new MemoryStore(this.now, this.shared)
  }
}

/**
 * Counts through the database, so every replica and worker adds to one count; reads answer from what this process
 * last learned. So a key another process has just blocked passes here once more: the next failure's `hit` returns
 * the shared count and blocks it here too. With R processes, at most max + R − 1 sequential events get through a
 * window (the caller records each before answering), and the hot path never waits for the database: only failures
 * write to it.
 */
class SharedStore implements RateLimitStore {
  constructor(private readonly shared: Shared, private readonly now: () => number) {}

  incr(key: string, callback: Parameters<RateLimitStore['incr']>[1], windowMs: number): void {
    this.shared.counters.hit(key, windowMs, this.now()).then(({ count, resetAt }) => {
      const window = { count, resetAt }
      this.shared.seen.set(key, window)
      callback(null, this.shared.seen.answer(window))
    }, (error: Error) => callback(error))
  }

  read(key: string, callback: Parameters<RateLimitStore['read']>[1]): void {
    callback(null, this.shared.seen.answer(this.shared.seen.get(key)))
  }

  child(): RateLimitStore {
    return new SharedStore(this.shared, this.now)
  }
}

/**
 * The store class handed to @fastify/rate-limit. Each limiter made with `createRateLimit` gets its own child:
 * in memory, or shared through `counters` when the limiter's options say `shared: true`.
 */
export function windowStores(counters: CounterStore, now: () => number): { Store: new () => RateLimitStore; anySeen: () => boolean } {
  // One memory of shared counts for all shared limiters (their keys differ by prefix): while it is empty, no failure
  // is known here and the peeks can be skipped.
  const shared: Shared = { counters, seen: new Windows(now) }
  const Store = class extends MemoryStore {
    constructor() {
      super(now, shared)
    }
  }
  return { Store, anySeen: () => shared.seen.size() > 0 }
}
