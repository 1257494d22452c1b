import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import { InvalidClient } from '../errors.js'
import { validateClientJwks, type ClientJwks } from './jwks.js'

/** A client's public keys, ready for `jwtVerify`. */
export interface ClientKeySet {
  readonly jwks: ClientJwks
  readonly getKey: JWTVerifyGetKey
}

export function clientKeySet(jwks: ClientJwks): ClientKeySet {
  return { jwks, getKey: createLocalJWKSet({ keys: jwks.keys.map((key) => ({ ...key })) }) }
}

export interface JwksUriSourceOptions {
  readonly now: () => number
  /** Bound on one fetch, connection to last byte. */
  readonly timeoutMs?: number
  readonly maxBytes?: number
  /** How long a fetched set is used before it is fetched again. */
  readonly ttlMs?: number
  /** Least time between two fetches of one URI outside the TTL (unknown `kid`, or after a failure). */
  readonly cooldownMs?: number
  /** How long past its TTL a set is still used while the URI fails. */
  readonly staleMs?: number
  readonly maxEntries?: number
  readonly fetch?: typeof fetch
  /** Told about every failed fetch (operators need to see a client's keys going dark). */
  readonly log?: { warn(fields: Record<string, unknown>, message: string): void }
}

export const JWKS_URI_DEFAULTS = {
  timeoutMs: 3000, maxBytes: 64 * 1024, ttlMs: 5 * 60_000, cooldownMs: 10_000, staleMs: 60 * 60_000, maxEntries: 1000,
} as const

/** Fetches and caches clients' `jwks_uri` documents. */
export interface JwksUriSource {
  /**
   * The key set at `uri`: the cached one while fresh, else fetched (one fetch per URI at a time). A failed fetch
   * falls back to the last good set for `staleMs`, and is not retried for `cooldownMs`.
   * @throws InvalidClient describing why the set could not be had
   */
  get(uri: string): Promise<ClientKeySet>
  /**
   * Refetches after an assertion named a key the cached set lacks (the client rotated), at most once per cooldown.
   * @returns undefined when a fetch happened too recently to try again
   */
  refresh(uri: string): Promise<ClientKeySet | undefined>
}

interface Entry {
  set?: ClientKeySet
  fetchedAt: number
  attemptedAt: number
  failure?: InvalidClient
  inflight?: Promise<ClientKeySet>
}

export function createJwksUriSource(options: JwksUriSourceOptions): JwksUriSource {
  const settings = { ...JWKS_URI_DEFAULTS, ...options }
  const { now } = settings
  const doFetch = options.fetch ?? fetch
  const entries = new Map<string, Entry>()

  function entryFor(uri: string): Entry {
    let entry = entries.get(uri)
    if (!entry) {
      // A crude bound: client URIs are few; an attacker cannot add any (they come from registered clients).
      if (entries.size >= settings.maxEntries) entries.clear()
      entry = { fetchedAt: -Infinity, attemptedAt: -Infinity }
      entries.set(uri, entry)
    }
    return entry
  }

  function load(uri: string, entry: Entry): Promise<ClientKeySet> {
    entry.inflight ??= (async () => {
      entry.attemptedAt = now()
      try {
        const set = await fetchJwks(uri)
        Object.assign(entry, { set, fetchedAt: now(), failure: undefined })
        return set
      } catch (error) {
        entry.failure = error instanceof InvalidClient ? error : new InvalidClient("the client's jwks_uri could not be read")
        // Origin and path only: a query string could carry something the operator did not mean to log.
        const url = new URL(uri)
        options.log?.warn({ event: 'client.jwks_uri_failed', jwks_uri: `${url.origin}${url.pathname}`, reason: entry.failure.message, cached: entry.set !== undefined }, 'client jwks_uri fetch failed')
        throw entry.failure
      } finally {
        entry.inflight = undefined
      }
    })()
    return entry.inflight
  }

  async function fetchJwks(uri: string): Promise<ClientKeySet> {
    const seconds = `${settings.timeoutMs / 1000} s`
    const signal = AbortSignal.timeout(settings.timeoutMs)
    let response: Response
    try {
      // No redirects: the registered URI is the one place the client's keys may come from.
      response = await doFetch(uri, { signal, redirect: 'error', headers: { accept: 'application/jwk-set+json, application/json' } })
    } catch {
      throw new InvalidClient(signal.aborted ? `the client's jwks_uri did not answer within ${seconds}` : "the client's jwks_uri could not be reached")
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined)
      throw new InvalidClient(`the client's jwks_uri answered HTTP ${response.status}`)
    }
    let text: string
    try {
      text = await readCapped(response, settings.maxBytes)
    } catch (error) {
      if (error instanceof InvalidClient) throw error
      throw new InvalidClient(signal.aborted ? `the client's jwks_uri did not finish answering within ${seconds}` : "the client's jwks_uri broke off its answer")
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new InvalidClient("the client's jwks_uri did not serve JSON")
    }
    try {
      return clientKeySet(validateClientJwks(parsed, 'the JWK set at the client\'s jwks_uri'))
    } catch (error) {
      throw new InvalidClient((error as Error).message)
    }
  }

  return {
    async get(uri) {
      const entry = entryFor(uri)
      const at = now()
      if (entry.set && at - entry.fetchedAt < settings.ttlMs) return entry.set
      const usable = entry.set && at - entry.fetchedAt < settings.ttlMs + settings.staleMs ? entry.set : undefined
      if (!entry.inflight && entry.failure && at - entry.attemptedAt < settings.cooldownMs) {
        if (usable) return usable
        throw entry.failure
      }
      try {
        return await load(uri, entry)
      } catch (error) {
        if (usable) return usable
        throw error
      }
    },
    async refresh(uri) {
      const entry = entryFor(uri)
      if (entry.inflight) return entry.inflight
      if (now() - entry.attemptedAt < settings.cooldownMs) return undefined
      return load(uri, entry)
    },
  }
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN)
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined)
    throw new InvalidClient(`the client's jwks_uri document is larger than ${maxBytes} bytes`)
  }
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw new InvalidClient(`the client's jwks_uri document is larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}
