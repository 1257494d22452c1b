/**
 * One bounded GET for a JSON document: a timeout covering headers and body, a size cap, no redirects (a redirect
 * could lead to another origin), and a strict UTF-8 + JSON parse. Errors are plain `Error`s with a constant message;
 * callers wrap them into the right {@link VerifierError} code.
 */

/** What a GET produced: a parsed 200 body, or a bodiless 304. */
export type JsonResponse =
  | { readonly status: 200; readonly headers: Headers; readonly body: unknown }
  | { readonly status: 304; readonly headers: Headers }

/** Limits and extra headers for {@link getJson}. */
export interface GetJsonOptions {
  readonly fetch: typeof globalThis.fetch
  readonly timeoutMs: number
  readonly maxBytes: number
  readonly headers?: Readonly<Record<string, string>>
  /** Accept a 304 answer (only meaningful with `If-None-Match`). */
  readonly allowNotModified?: boolean
}

/** Thrown for a non-200/304 status, so callers can tell "404" from "network down". */
export class HttpStatusError extends Error {
  readonly status: number
  constructor(status: number) {
    super(`unexpected HTTP status ${status}`)
    this.name = 'HttpStatusError'
    this.status = status
  }
}

/** GETs `url` and parses JSON within the limits. */
export async function getJson(url: URL, options: GetJsonOptions): Promise<JsonResponse> {
  const fetchImpl = options.fetch
  const signal = AbortSignal.timeout(options.timeoutMs)
  const res = await fetchImpl(url.href, {
    method: 'GET',
    headers: { accept: 'application/json', ...options.headers },
    redirect: 'error',
    signal,
  })
  if (res.status === 304 && options.allowNotModified === true) {
    await res.body?.cancel().catch(() => undefined)
    return { status: 304, headers: res.headers }
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined)
    throw new HttpStatusError(res.status)
  }
  const declared = Number(res.headers.get('content-length') ?? '0')
  if (declared > options.maxBytes) {
    await res.body?.cancel().catch(() => undefined)
    throw new Error('response body too large')
  }
  const bytes = await readCapped(res, options.maxBytes)
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (cause) {
    throw new Error('response body is not JSON', { cause })
  }
  return { status: 200, headers: res.headers, body }
}

async function readCapped(res: Response, maxBytes: number): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = res.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw new Error('response body too large')
    }
    chunks.push(value)
  }
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}
