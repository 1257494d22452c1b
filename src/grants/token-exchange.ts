import { InvalidGrant, InvalidRequest, InvalidScope } from '../errors.js'
import { GRANT, TOKEN_TYPE } from '../oauth.js'
import { single, type FormBody } from '../form-body.js'
import type { ClientRecord } from '../clients/client.js'
import type { AccessTokenPayload } from '../tokens/inspect.js'
import type { Grant, GrantContext } from './types.js'
import { accessTokenTtl, allowedTargets, parseScope, signingAlg } from './policy.js'
import { subjectStanding, type Subject } from './subject.js'

/** RFC 8693 §4.1: the current actor, and nested inside it the actors before it (least recent deepest). */
export interface ActClaim {
  readonly sub: string
  readonly act?: ActClaim
}

/** Longest delegation chain a token may carry: each exchange adds one actor, and the chain rides in every token. */
export const MAX_ACTORS = 8

/** What keyturn can issue: its RFC 9068 access token, which is also a JWT, so `jwt` is granted with the same token. */
const REQUESTABLE: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt]

/**
 * RFC 8693 token exchange. The subject token (and the actor token, if any) must be our own live access tokens; a
 * refresh token is refused as a subject, because exchanging it would mint tokens outside the rotation and reuse
 * detection that guard refresh tokens. The exchanging client must be an audience of the subject token (its id, or
 * one of the resources it serves). The new token keeps `sub`, takes the exchanging client as `client_id`, an
 * audience from the client's `exchangeAudiences`, a scope within the subject's and the client's, an expiry no
 * later than the subject's (and the actor's); with an actor token it gains `act` (delegation), else it carries
 * the subject's `act` unchanged (impersonation adds no actor but never hides earlier ones).
 *
 * Errors: a token that is not a live access token of ours, or not meant for this client, is `invalid_grant`
 * (RFC 8693 §2.2.2 says `invalid_request`; see docs/token-exchange.md); a malformed request or a policy refusal of
 * the request's shape is `invalid_request`; a refused audience `invalid_target`; a wider scope `invalid_scope`.
 */
export const tokenExchangeGrant: Grant = {
  type: GRANT.tokenExchange,
  params: ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'scope', 'resource', 'audience'],
  async handle({ params, client: { client } }, context) {
    const subjectToken = single(params, 'subject_token')
    const subjectType = single(params, 'subject_token_type')
    if (subjectToken === undefined || subjectType === undefined) throw new InvalidRequest('subject_token and subject_token_type are required')
    checkTokenType(subjectType, 'subject_token_type')
    const actorToken = single(params, 'actor_token')
    const actorType = single(params, 'actor_token_type')
    if ((actorToken === undefined) !== (actorType === undefined)) throw new InvalidRequest('actor_token and actor_token_type go together')
    if (actorType !== undefined) checkTokenType(actorType, 'actor_token_type')
    const requestedType = single(params, 'requested_token_type')
    if (requestedType !== undefined && !REQUESTABLE.includes(requestedType)) {
      throw new InvalidRequest(`unsupported requested_token_type; keyturn issues access tokens (${TOKEN_TYPE.accessToken})`)
    }
    if (actorToken !== undefined && !client.mayAct) {
      throw new InvalidRequest('this client may not act for others (delegation): it may only impersonate, so send no actor_token')
    }

    const subject = await liveToken(context, subjectToken, 'subject_token')
    if (!meantFor(client, subject)) throw new InvalidGrant("subject_token was not issued for this client: its aud names neither the client nor a resource it serves")
    const party = await standing(context, subject, 'subject_token')
    let actor: AccessTokenPayload | undefined
    if (actorToken !== undefined) {
      actor = await liveToken(context, actorToken, 'actor_token')
      // The actor is the caller itself: a client cannot name another service as the one acting.
      if (actor.client_id !== client.id) throw new InvalidGrant('actor_token must be a token issued to this client')
      if (actor.act !== undefined) throw new InvalidRequest("actor_token must be the actor's own token, not an exchanged one")
      await standing(context, actor, 'actor_token')
    }

    const audience = allowedTargets(params, client.exchangeAudiences ?? [])
    const scope = narrowScope(params, subject, client)
    const act = delegationChain(subject, actor)
    const now = Math.floor(context.now() / 1000)
    const remaining = Math.min(subject.exp, actor?.exp ?? Infinity) - now
    // The inspector allows clock skew past exp; an exchanged token must not.
    if (remaining <= 0) throw new InvalidGrant(`${subject.exp - now <= 0 ? 'subject_token' : 'actor_token'} has expired`)

    const issued = await context.issueAccessToken({
      sub: subject.sub, clientId: client.id, audience, scope, alg: signingAlg(client, context.config),
      ttlSeconds: Math.min(accessTokenTtl(client, context.config), remaining),
      extra: { ...(party.kind === 'user' ? party.user.claims : {}), ...(act ? { act } : {}) },
    })
    context.log.info({
      event: 'token.exchanged', client_id: client.id, sub: subject.sub, subject_jti: subject.jti,
      ...(actor ? { actor_sub: actor.sub, actor_jti: actor.jti } : {}), jti: issued.jti, aud: audience, exp: issued.exp,
    }, 'token exchanged')
    return {
      access_token: issued.token,
      issued_token_type: TOKEN_TYPE.accessToken,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      ...(scope.length > 0 ? { scope: scope.join(' ') } : {}),
    }
  },
}

function checkTokenType(type: string, name: string): void {
  if (type === TOKEN_TYPE.accessToken) return
  if (type === TOKEN_TYPE.refreshToken) {
    throw new InvalidRequest(`${name}: refresh tokens cannot be exchanged (that would bypass their rotation and reuse detection); exchange an access token`)
  }
  throw new InvalidRequest(`unsupported ${name}; keyturn exchanges its own access tokens (${TOKEN_TYPE.accessToken})`)
}

/** One of our access tokens, verified, unexpired and not revoked. */
async function liveToken(context: GrantContext, token: string, name: string): Promise<AccessTokenPayload> {
  const claims = await context.inspectAccessToken(token)
  if (!claims) throw new InvalidGrant(`${name} is not a valid access token of this issuer (malformed, foreign, expired, or signed by a revoked key)`)
  if (await context.store.revocations.isRevoked(claims.jti)) throw new InvalidGrant(`${name} has been revoked`)
  return claims
}

/** The token's client and its subject (user or client) must still be enabled. */
async function standing(context: GrantContext, claims: AccessTokenPayload, name: string): Promise<Subject> {
  const owner = await context.store.clients.get(claims.client_id)
  if (!owner || owner.disabled) throw new InvalidGrant(`${name} was issued to a client that is disabled or deleted`)
  const party = claims.sub === claims.client_id ? { kind: 'client' as const, client: owner } : await subjectStanding(context.store, claims.sub)
  if (!party) throw new InvalidGrant(`${name} speaks for a user or client that is disabled or deleted`)
  return party
}

/** The exchanging client is an audience of the token: the token was sent to that service to use. */
function meantFor(client: ClientRecord, claims: AccessTokenPayload): boolean {
  const audience = [claims.aud ?? []].flat()
  return audience.includes(client.id) || audience.some((aud) => (client.resources ?? []).includes(aud))
}

/** Scope only narrows: within the subject token's scope and the exchanging client's; all of that when not asked. */
function narrowScope(params: FormBody, subject: AccessTokenPayload, client: ClientRecord): string[] {
  const held = subject.scope ? subject.scope.split(' ') : []
  const text = single(params, 'scope')
  if (text === undefined) return held.filter((item) => client.scopes.includes(item))
  const requested = parseScope(text)
  const wider = requested.filter((item) => !held.includes(item))
  if (wider.length > 0) throw new InvalidScope(`scope exceeds the subject token's: ${wider.join(' ').slice(0, 200)}`)
  const refused = requested.filter((item) => !client.scopes.includes(item))
  if (refused.length > 0) throw new InvalidScope(`scope not allowed for this client: ${refused.join(' ').slice(0, 200)}`)
  return requested
}

/** RFC 8693 §4.1: the new actor outermost, the subject token's chain nested inside it. */
function delegationChain(subject: AccessTokenPayload, actor: AccessTokenPayload | undefined): ActClaim | undefined {
  const previous = subject.act as ActClaim | undefined
  if (!actor) return previous
  let depth = 1
  for (let link = previous; link; link = link.act) depth++
  if (depth > MAX_ACTORS) throw new InvalidRequest(`the delegation chain would exceed ${MAX_ACTORS} actors`)
  return { sub: actor.sub, ...(previous ? { act: previous } : {}) }
}
