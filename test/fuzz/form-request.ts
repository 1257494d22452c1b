import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import { applyEdit, fragment, stringEdit, type StringEdit } from './helpers.js'

/** A form POST as the fuzzers see it: parameters in order (so they can repeat), headers, and optional raw-body edits. */
export interface FormRequest {
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly params: ReadonlyArray<readonly [string, string]>
  /** Edits of the encoded body text, applied after encoding. */
  readonly bodyEdits: readonly StringEdit[]
  /** Raw bytes spliced into the encoded body (non-UTF-8, NUL…), as [fraction of length, byte]. */
  readonly rawBytes: ReadonlyArray<readonly [number, number]>
}

export const formRequest = (url: string, params: Record<string, string>, headers: Record<string, string> = {}): FormRequest => ({
  url, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, params: Object.entries(params), bodyEdits: [], rawBytes: [],
})

/** Every parameter name an endpoint reads, plus prototype names and noise. */
const NAMES = [
  'grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'resource', 'audience', 'username',
  'password', 'refresh_token', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'token',
  'token_type_hint', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'grant_type[]', 'GRANT_TYPE', '',
] as const

/** Values that mean something somewhere: grant types (known and not), token types and hints, URIs. */
const VALUES = [
  'client_credentials', 'password', 'refresh_token', 'authorization_code', 'implicit', 'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:token-type:access_token',
  'urn:ietf:params:oauth:token-type:refresh_token', 'urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  'access_token', 'https://orders.example', 'https://evil.example', 'orders:read', 'orders:read orders:read', 'admin', '*', 'null', 'undefined',
  'eyJhbGciOiJub25lIn0.e30.', 'a.b.c', '...', 'svc', 'spa',
] as const

const CONTENT_TYPES = [
  undefined, '', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded; charset=iso-8859-1',
  'application/x-www-form-urlencoded; charset=utf-8', 'application/x-www-form-urlencoded; charset="UTF-8"', 'APPLICATION/X-WWW-FORM-URLENCODED',
  'application/x-www-form-urlencoded;;', 'application/x-www-form-urlencoded, application/json', 'application/x-www-form-urlencodedx',
  'application/*', '*/*', 'application/x-www-form-urlencoded; charset=', 'application/jwt',
] as const

const AUTHORIZATIONS = [
  undefined, '', 'Basic', 'Basic ', 'Basic !!!', 'Basic Og==', 'Basic YQ==', 'Basic YTo=', 'Basic OmI=', 'Basic JXp6OnNlY3JldA==', 'Basic JUZGOiVGRQ==',
  'Bearer x', 'Bearer', 'Digest username="a"', 'basic c3ZjOng=', `Basic ${'A'.repeat(10_000)}`, 'Basic c3ZjOng= extra',
] as const

const headerValue = fc.oneof(fragment, fc.string({ maxLength: 40 }))

/** One structural change to a request. */
export type Mutation =
  | { readonly kind: 'drop'; readonly at: number }
  | { readonly kind: 'duplicate'; readonly at: number; readonly edit: StringEdit | null }
  | { readonly kind: 'editValue'; readonly at: number; readonly edit: StringEdit }
  | { readonly kind: 'editName'; readonly at: number; readonly edit: StringEdit }
  | { readonly kind: 'setValue'; readonly at: number; readonly value: string }
  | { readonly kind: 'add'; readonly name: string; readonly value: string }
  | { readonly kind: 'swapValues'; readonly a: number; readonly b: number }
  | { readonly kind: 'header'; readonly name: string; readonly value: string | undefined }
  | { readonly kind: 'editHeader'; readonly name: string; readonly edit: StringEdit }
  | { readonly kind: 'body'; readonly edit: StringEdit }
  | { readonly kind: 'byte'; readonly at: number; readonly byte: number }

const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true })
const value = fc.oneof(fc.constantFrom(...VALUES), fragment, fc.string({ maxLength: 30, unit: 'grapheme' }))

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), at }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at, edit: fc.option(stringEdit) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('editValue' as const), at, edit: stringEdit }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('editName' as const), at, edit: stringEdit }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('setValue' as const), at, value }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), name: fc.oneof(fc.constantFrom(...NAMES), fragment), value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swapValues' as const), a: at, b: at }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('header' as const), name: fc.constant('content-type'), value: fc.oneof(fc.constantFrom(...CONTENT_TYPES), headerValue) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('header' as const), name: fc.constant('authorization'), value: fc.oneof(fc.constantFrom(...AUTHORIZATIONS), headerValue) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('header' as const), name: fc.constantFrom('content-encoding', 'cookie', 'origin'), value: fc.option(headerValue, { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('editHeader' as const), name: fc.constantFrom('authorization', 'content-type', 'cookie'), edit: stringEdit }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('body' as const), edit: stringEdit }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('byte' as const), at, byte: fc.integer({ min: 0, max: 255 }) }) },
)

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 })

export function mutate(request: FormRequest, change: Mutation): FormRequest {
  const params = [...request.params]
  const pick = (fraction: number): number => Math.floor(fraction * params.length)
  switch (change.kind) {
    case 'drop':
      params.splice(pick(change.at), 1)
      return { ...request, params }
    case 'duplicate': {
      const param = params[pick(change.at)]
      if (param) params.push([param[0], change.edit ? applyEdit(param[1], change.edit) : param[1]])
      return { ...request, params }
    }
    case 'editValue':
    case 'editName': {
      const i = pick(change.at)
      const param = params[i]
      if (param) params[i] = change.kind === 'editName' ? [applyEdit(param[0], change.edit), param[1]] : [param[0], applyEdit(param[1], change.edit)]
      return { ...request, params }
    }
    case 'setValue': {
      const i = pick(change.at)
      if (params[i]) params[i] = [params[i][0], change.value]
      return { ...request, params }
    }
    case 'add':
      params.push([change.name, change.value])
      return { ...request, params }
    case 'swapValues': {
      const [a, b] = [params[pick(change.a)], params[pick(change.b)]]
      if (a && b) {
        params[pick(change.a)] = [a[0], b[1]]
        params[pick(change.b)] = [b[0], a[1]]
      }
      return { ...request, params }
    }
    case 'header':
      return { ...request, headers: { ...request.headers, [change.name]: change.value } }
    case 'editHeader':
      return { ...request, headers: { ...request.headers, [change.name]: applyEdit(request.headers[change.name] ?? '', change.edit) } }
    case 'body':
      return { ...request, bodyEdits: [...request.bodyEdits, change.edit] }
    case 'byte':
      return { ...request, rawBytes: [...request.rawBytes, [change.at, change.byte]] }
  }
}

/** Percent-encodes UTF-8 bytes (never throws, unlike encodeURIComponent on a lone surrogate). */
function encode(text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Header values a real HTTP client could send: Node refuses controls (but tab) and anything above U+00FF. */
function sendable(text: string): string {
  return text.replace(/[^\t\x20-\x7e\x80-\xff]/g, '')
}

/** The body bytes of a request: the encoded parameters, then the text edits, then the raw bytes. */
function bodyOf(request: FormRequest): Buffer {
  let text = request.params.map(([name, value]) => `${encode(name)}=${encode(value)}`).join('&')
  for (const edit of request.bodyEdits) text = applyEdit(text, edit)
  let payload = Buffer.from(text, 'utf8')
  for (const [fraction, byte] of request.rawBytes) {
    const i = Math.floor(fraction * payload.length)
    payload = Buffer.concat([payload.subarray(0, i), Buffer.from([byte]), payload.subarray(i)])
  }
  return payload
}

/** The inject() options for a request: encoded body with its edits and raw bytes, sendable headers. */
export function toInject(request: FormRequest): InjectOptions {
  const payload = bodyOf(request)
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = sendable(value)
  }
  return { method: 'POST', url: request.url, headers, payload }
}

/**
 * The value of parameter `name` as the issuer would read it from the bytes actually sent (body edits can rename or
 * merge parameters): the first non-empty one, since empty values count as absent (RFC 6749 §3.1).
 */
export function param(request: FormRequest, name: string): string | undefined {
  for (const [n, value] of new URLSearchParams(bodyOf(request).toString('utf8'))) if (n === name && value !== '') return value
  return undefined
}
