import { InvalidRequest } from './errors.js'

/** A parsed `application/x-www-form-urlencoded` body: single values, plus the few parameters that may repeat. */
export type FormBody = Readonly<Record<string, string | readonly string[]>>

/** Parameters a request may repeat: RFC 8707 `resource`, RFC 8693 `audience`. */
const REPEATABLE = new Set(['resource', 'audience'])
const MAX_PARAMS = 64

/**
 * Parses a form body strictly: RFC 6749 §3.2 forbids repeating a parameter, so a repeat is `invalid_request`
 * naming it (except for the repeatable ones); empty values count as absent (RFC 6749 §3.1).
 */
export function parseForm(text: string): FormBody {
  if (!isWellFormedUtf8(text)) throw new InvalidRequest('request body is not valid UTF-8')
  const body: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  let count = 0
  for (const [name, value] of new URLSearchParams(text)) {
    if (++count > MAX_PARAMS) throw new InvalidRequest(`too many parameters (at most ${MAX_PARAMS})`)
    if (value === '') continue
    if (!isWellFormedUtf8(name) || !isWellFormedUtf8(value) || value.includes('\uFFFD')) {
      throw new InvalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} is not valid UTF-8`)
    }
    const existing = body[name]
    if (existing === undefined) body[name] = REPEATABLE.has(name) ? [value] : value
    else if (Array.isArray(existing)) existing.push(value)
    else throw new InvalidRequest(`parameter ${JSON.stringify(name.slice(0, 40))} is repeated`)
  }
  return body
}

function isWellFormedUtf8(text: string): boolean {
  // Lone surrogates come from broken percent-encoding; U+FFFD from bytes that were not UTF-8.
  return !/[\uD800-\uDFFF]/.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')) && !text.includes('\uFFFD')
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
