import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { Limit, RateLimits } from '../config.js'
import { OAuthError, RateLimited } from '../errors.js'
import { ERROR, GRANT, PATHS } from '../oauth.js'
import type { CounterStore } from '../store/types.js'
import type { FormBody } from '../form-body.js'
import { windowStores } from './window-stores.js'
import { claimedClientId } from '../clients/authenticate.js'
import { usernameKey } from '../users/user.js'

/** The endpoints that authenticate clients: the only ones limited (JWKS, discovery and health stay open). */
const LIMITED_ROUTES: ReadonlySet<string> = new Set([PATHS.token, PATHS.signOut, PATHS.introspect, PATHS.revoke])

/** Failures from one address across all accounts may reach this multiple of the per-account budget. */
export const IP_FAILURE_FACTOR = 5

export type LimitScope = 'ip' | 'client' | 'auth_failure'

export interface RateLimitDeps {
  readonly limits: RateLimits
  readonly counters: CounterStore
  readonly now: () => number
  /** Called once per refused request (for metrics). */
  readonly onLimited?: (route: string, scope: LimitScope) => void
}

/** What `createRateLimit` returns (no allow list is used, so results always carry the count). */
type Limiter = (request: FastifyRequest, options?: { increment?: boolean }) => Promise<{ max: number; remaining: number; ttlInSeconds: number; isExceeded: boolean }>

interface Tracked {
  /** Counter keys, hashed once per request. */
  keys: Map<string, string>
  clientId: string | undefined
  username: string | undefined
  error: string | undefined
  /** Failure-counter keys this attempt is in flight under (see `InFlight`). */
  attempts: { key: string; startedAt: number }[]
}

/** An attempt still running after this long is forgotten: no path can leave a key blocked for good. */
const IN_FLIGHT_MAX_MS = 60_000

/**
 * Password attempts under way in this process per (address, username). Once the pair has a failure in its window,
 * attempts in flight count against its budget too, so a burst of parallel guesses cannot all pass the check before
 * the first of their failures is recorded. A pair with no failure is not affected.
 */
class InFlight {
  private readonly attempts = new Map<string, number[]>()
  count(key: string, now: number): number {
    const live = (this.attempts.get(key) ?? []).filter((startedAt) => now - startedAt < IN_FLIGHT_MAX_MS)
    if (live.length === 0) this.attempts.delete(key)
    else this.attempts.set(key, live)
    return live.length
  }

  add(key: string, startedAt: number): void {
    this.attempts.set(key, [...(this.attempts.get(key) ?? []), startedAt])
  }

  remove(key: string, startedAt: number): void {
    const list = this.attempts.get(key)
    const at = list?.indexOf(startedAt) ?? -1
    if (!list || at < 0) return
    list.splice(at, 1)
    if (list.length === 0) this.attempts.delete(key)
  }
}

const tracked = new WeakMap<FastifyRequest, Tracked>()

/** Keys carry what a client chose (ids, usernames) only hashed: bounded length, and no usernames at rest. */
function key(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('base64url').slice(0, 32)
}

/**
 * The account a request claims, before anything is verified; only used to pick counters. Both come from the same
 * normalisation as the lookup they guard (`claimedClientId`, `usernameKey`), so respelling an id or a username
 * (`%73vc` for `svc`, `ＡＬＩＣＥ` for `alice`) cannot open a fresh window.
 */
function claimed(request: FastifyRequest<{ Body: FormBody }>): Tracked {
  const body: FormBody = typeof request.body === 'object' && request.body !== null ? request.body : {}
  const text = (name: string): string | undefined => (typeof body[name] === 'string' ? body[name] as string : undefined)
  const clientId = claimedClientId(request.headers.authorization, body)
  const username = request.routeOptions.url === PATHS.token && text('grant_type') === GRANT.password ? text('username') : undefined
  return { keys: new Map(), clientId, username: username === undefined ? undefined : usernameKey(username), error: undefined, attempts: [] }
}

/**
 * Rate limits on the endpoints that authenticate clients, built on @fastify/rate-limit's limiters:
 * - per client IP, every request, counted before the body is read (`KEYTURN_RATE_LIMIT_IP`);
 * - per client, successful requests only, so nobody can spend another client's budget by naming it
 *   (`KEYTURN_RATE_LIMIT_CLIENT`);
 * - failed client and user authentications per IP and account, and per IP across accounts (×5), shared by every
 *   process through the store, checked before the credentials are (`KEYTURN_RATE_LIMIT_AUTH_FAILURES`).
 * A refused request is a 429 `temporarily_unavailable` with `Retry-After`.
 */
export function registerRateLimits(app: FastifyInstance, deps: RateLimitDeps): void {
  const { ip, client, authFailures } = deps.limits
  if (!ip && !client && !authFailures) return
  const stores = windowStores(deps.counters, deps.now)
  void app.register(rateLimit, { global: false, store: stores.Store as never })

  const address = (request: FastifyRequest): string => normalizeIP(request.ip)
  const state = (request: FastifyRequest): Tracked => tracked.get(request) ?? { keys: new Map(), clientId: undefined, username: undefined, error: undefined, attempts: [] }
  const once = (request: FastifyRequest, name: string, make: () => string): string => {
    const keys = state(request).keys
    let value = keys.get(name)
    if (value === undefined) keys.set(name, value = make())
    return value
  }
  const inFlight = new InFlight()
  const failureKeys = {
    ip: (request: FastifyRequest): string => once(request, 'ip', () => `fail:ip:${key(address(request))}`),
    client: (request: FastifyRequest): string => once(request, 'client', () => `fail:client:${key(address(request), state(request).clientId ?? '')}`),
    user: (request: FastifyRequest): string => once(request, 'user', () => `fail:user:${key(address(request), state(request).username ?? '')}`),
  }
  // @fastify/rate-limit decorates the instance when it loads, after buildApp returns: build the limiters on first use.
  let limiters: Record<'ip' | 'client' | 'ipFailures' | 'clientFailures' | 'userFailures', Limiter | undefined> | undefined
  const make = (limit: Limit | undefined, keyOf: (request: FastifyRequest) => string, shared = false, factor = 1): Limiter | undefined =>
    limit && (app.createRateLimit({
      max: limit.max * factor, timeWindow: limit.windowMs, keyGenerator: keyOf, skipOnError: shared, ...({ shared } as object),
    }) as Limiter)
  const get = (): NonNullable<typeof limiters> => limiters ??= {
    ip: make(ip, (request) => `ip:${address(request)}`),
    client: make(client, (request) => once(request, 'own', () => `client:${key(state(request).clientId ?? '')}`)),
    ipFailures: make(authFailures, failureKeys.ip, true, IP_FAILURE_FACTOR),
    clientFailures: make(authFailures, failureKeys.client, true),
    userFailures: make(authFailures, failureKeys.user, true),
  }

  const refuse = (request: FastifyRequest, scope: LimitScope, result: { ttlInSeconds: number }, what: string): never => {
    deps.onLimited?.(request.routeOptions.url ?? '', scope)
    request.log.warn({ event: 'rate_limited', scope, route: request.routeOptions.url }, 'request refused by a rate limit')
    throw new RateLimited(`${what}; retry in ${Math.max(1, result.ttlInSeconds)} s`, Math.max(1, result.ttlInSeconds))
  }

  const hooks: Partial<Record<'onRequest' | 'preHandler' | 'onError' | 'onSend' | 'onResponse' | 'onRequestAbort', (...args: never[]) => Promise<unknown>>> = {}

  hooks.onRequest = async (request: FastifyRequest) => {
    const limiter = get().ip
    if (!limiter) return
    const result = await limiter(request)
    if (result.isExceeded) refuse(request, 'ip', result, 'too many requests from this address')
  }

  hooks.preHandler = async (request: FastifyRequest) => {
    const claim = claimed(request as FastifyRequest<{ Body: FormBody }>)
    tracked.set(request, claim)
    const { ipFailures, clientFailures, userFailures, client: perClient } = get()
    // Peek only: a blocked account is refused before its credentials cost a hash, and before they can be guessed.
    // While this process knows of no failure in any running window (the usual case), there is nothing to peek at.
    const checks: [Limiter | undefined, boolean][] = [[ipFailures, true], [clientFailures, claim.clientId !== undefined], [userFailures, claim.username !== undefined]]
    for (const [limiter, applies] of checks) {
      if (!limiter || !applies || !stores.anySeen()) continue
      // A peek reports the failures so far: at max, the budget is spent.
      const result = await limiter(request, { increment: false })
      if (result.remaining === 0) refuse(request, 'auth_failure', result, 'too many failed authentications')
    }
    // Passwords are what can be guessed (client secrets are 256 random bits): there, attempts in flight count too.
    if (userFailures && claim.username !== undefined) {
      const now = deps.now()
      const attemptKey = failureKeys.user(request)
      if (stores.anySeen()) {
        const result = await userFailures(request, { increment: false })
        const failures = result.max - result.remaining
        if (failures > 0 && failures + inFlight.count(attemptKey, now) >= result.max) refuse(request, 'auth_failure', result, 'too many failed authentications')
      }
      inFlight.add(attemptKey, now)
      claim.attempts = [{ key: attemptKey, startedAt: now }]
    }
    if (perClient && claim.clientId !== undefined) {
      const result = await perClient(request, { increment: false })
      if (result.remaining === 0) refuse(request, 'client', result, 'this client has made too many requests')
    }
  }

  hooks.onError = async (request: FastifyRequest, _reply: FastifyReply, error: Error) => {
    const claim = tracked.get(request)
    if (claim && error instanceof OAuthError) claim.error = error.error
  }

  const settle = (claim: Tracked): void => {
    for (const attempt of claim.attempts) inFlight.remove(attempt.key, attempt.startedAt)
    claim.attempts = []
  }

  // A failure is recorded before its answer leaves: a guesser's next request, sent on receipt, already meets it.
  hooks.onSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const claim = tracked.get(request)
    if (!claim) return payload
    const { ipFailures, clientFailures, userFailures, client: perClient } = get()
    const counts: (Limiter | undefined)[] = []
    if (reply.statusCode < 300) counts.push(perClient)
    // invalid_client: a bad client credential. invalid_grant on the password grant: a bad user credential.
    if (claim.error === ERROR.invalidClient) counts.push(ipFailures, claim.clientId === undefined ? undefined : clientFailures)
    if (claim.error === ERROR.invalidGrant && claim.username !== undefined) counts.push(ipFailures, userFailures)
    try {
      for (const limiter of counts) {
        await limiter?.(request).catch((error: unknown) => request.log.error({ err: error }, 'rate counter update failed'))
      }
    } finally {
      settle(claim)
    }
    return payload
  }
  // A request that ends without a response (the client went away) leaves nothing in flight either.
  hooks.onResponse = async (request: FastifyRequest) => {
    const claim = tracked.get(request)
    if (claim) settle(claim)
  }
  hooks.onRequestAbort = hooks.onResponse

  // On the limited routes only: JWKS, discovery and health never pay for a hook that has nothing to do there.
  app.addHook('onRoute', (route) => {
    if (!LIMITED_ROUTES.has(route.url) || ![route.method].flat().includes('POST')) return
    for (const [name, hook] of Object.entries(hooks)) {
      const own = (route as unknown as Record<string, unknown>)[name]
      ;(route as unknown as Record<string, unknown>)[name] = [...(own === undefined ? [] : [own].flat()), hook]
    }
  })
}
