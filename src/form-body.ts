import { InvalidRequest } from './errors.js'

/** A parsed `application/x-www-form-urlencoded` body: single values, plus the few parameters that may repeat. */
export type FormBody = Readonly<Record<string, string | readonly string[]>>

/** Parameters a request may repeat: RFC 8707 `resource`, RFC 8693 `audience`. */
const REPEATABLE = new Set(['resource', 'audience'])
const MAX_PARAMS = 64
/** A `%` not followed by two hex digits: WHATWG parsing would keep it literally, silently changing a secret or token. */
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/
/** RFC 6749 Appendix A: no parameter allows C0 controls (but tab, in passwords) or DEL; NUL also breaks PostgreSQL text. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/
const UTF8 = new TextDecoder('utf-8', { fatal: true })
// A string handed in directly (not decoded from bytes) may hold half of a surrogate pair.
const SURROGATE_PAIR = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g
const LONE_SURROGATE = /[\uD800-\uDFFF]/

/** Decodes the raw body; bytes that are not UTF-8 are refused, never replaced by U+FFFD (RFC 6749 Appendix B). */
export function decodeFormBody(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw new InvalidRequest('request body is not valid UTF-8')
  }
}

/**
 * Parses a form body strictly: RFC 6749 §3.2 forbids repeating a parameter, so a repeat is `invalid_request`
 * naming it (except for the repeatable ones); empty values count as absent (RFC 6749 §3.1). Percent-encoding must
 * be well formed and decode to UTF-8: WHATWG parsing would otherwise keep a stray `%` and turn bad bytes into
 * U+FFFD, silently changing a secret or a token.
 */
export function parseForm(text: string): FormBody {
  if (LONE_SURROGATE.test(text.replace(SURROGATE_PAIR, ''))) throw new InvalidRequest('request body is not valid UTF-8')
  for (const pair of text.split('&')) {
    const problem = BAD_PERCENT.test(pair) ? 'has malformed percent-encoding' : decodesToUtf8(pair) ? undefined : 'is not valid UTF-8'
    if (problem) throw new InvalidRequest(`parameter ${JSON.stringify(pair.split('=')[0]!.slice(0, 40))} ${problem}`)
  }
  const body: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  let count = 0
  for (const [name, value] of new URLSearchParams(text)) {
    if (++count > MAX_PARAMS) throw new InvalidRequest(`too many parameters (at most ${MAX_PARAMS})`)
    if (value === '') continue
    if (CONTROL.test(name) || CONTROL.test(value)) {
      throw new InvalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} contains a control character`)
    }
    const existing = body[name]
    if (existing === undefined) body[name] = REPEATABLE.has(name) ? [value] : value
    else if (Array.isArray(existing)) existing.push(value)
    else throw new InvalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} is repeated`)
  }
  return body
}

/** decodeURIComponent throws on percent-encoded bytes that are not UTF-8 (lone surrogates included). */
function decodesToUtf8(pair: string): boolean {
  try {
    decodeURIComponent(pair)
    return true
  } catch {
    return false
  }
}

/**
 * Request-level checks of a form body, before it is parsed: RFC 6749 Appendix B forms are UTF-8, and a compressed
 * body would otherwise be read as garbage parameters.
 */
export function checkFormHeaders(contentType: string | undefined, contentEncoding: string | undefined): void {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType ?? '')?.[1]
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new InvalidRequest(`form bodies must be UTF-8, not charset ${JSON.stringify(charset.slice(0, 40))}`)
  }
  if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'identity') {
    throw new InvalidRequest('Content-Encoding is not supported: send the form uncompressed')
  }
}

/** One value of a parameter that may not repeat. */
export function single(body: FormBody, name: string): string | undefined {
  const value = body[name]
  if (Array.isArray(value)) throw new InvalidRequest(`parameter ${name} is repeated`)
  return value as string | undefined
}

/** All values of a repeatable parameter. */
export function many(body: FormBody, name: string): readonly string[] {
  const value = body[name]
  if (value === undefined) return []
  return typeof value === 'string' ? [value] : value
}
