import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createJwksUriSource } from '../../src/clients/jwks-source.js'
import { InvalidClient } from '../../src/errors.js'
import { createClock } from '../helper.js'
import { deadUri, makeClientKey, startJwksServer } from './helpers.js'

const key = await makeClientKey('ES256')
const next = await makeClientKey('ES256')

/** Resolves to the InvalidClient a promise rejects with (fails the test otherwise). */
async function refusal(promise: Promise<unknown>): Promise<InvalidClient> {
  const error = await promise.then(() => undefined, (e: unknown) => e)
  if (!(error instanceof InvalidClient)) throw new Error(`expected InvalidClient, got ${String(error)}`)
  return error
}

t.test('fresh within the TTL, refetched after it; stale set kept (bounded) while the URI fails', async (t) => {
  const server = await startJwksServer([key.publicJwk])
  t.teardown(() => server.close())
  const clock = createClock()
  const warnings: Record<string, unknown>[] = []
  const source = createJwksUriSource({ now: clock.now, ttlMs: 60_000, cooldownMs: 5_000, staleMs: 120_000, log: { warn: (fields) => warnings.push(fields) } })
  const first = await source.get(server.uri)
  t.same(first.jwks.keys.map((k) => k.kid), [key.kid])
  t.equal(await source.get(server.uri), first, 'cached')
  t.equal(server.fetches, 1)

  clock.advance(60_000)
  server.mode = 'error'
  t.equal(await source.get(server.uri), first, 'TTL passed, URI failing: the last good set, for now')
  t.equal(server.fetches, 2)
  t.match(warnings[0], { event: 'client.jwks_uri_failed', reason: /HTTP 500/, cached: true })
  t.equal(await source.get(server.uri), first, 'inside the cooldown no new attempt')
  t.equal(server.fetches, 2)
  clock.advance(125_000)
  t.match((await refusal(source.get(server.uri))).message, /HTTP 500/, 'past TTL + stale: refused')

  server.mode = 'up'
  server.keys = [next.publicJwk]
  clock.advance(5_000)
  t.same((await source.get(server.uri)).jwks.keys.map((k) => k.kid), [next.kid], 'recovers after the cooldown')
})

t.test('refresh: at most once per cooldown, single flight', async (t) => {
  const server = await startJwksServer([key.publicJwk])
  t.teardown(() => server.close())
  const clock = createClock()
  const source = createJwksUriSource({ now: clock.now, cooldownMs: 10_000 })
  await source.get(server.uri)
  t.equal(await source.refresh(server.uri), undefined, 'just fetched: no refetch')
  clock.advance(10_000)
  server.keys = [next.publicJwk]
  const [a, b] = await Promise.all([source.refresh(server.uri), source.refresh(server.uri)])
  t.equal(a, b, 'one fetch shared')
  t.same(a!.jwks.keys.map((k) => k.kid), [next.kid])
  t.equal(server.fetches, 2)
})

t.test('bounded and strict: timeout, size cap, status, JSON, private keys, redirects', async (t) => {
  const clock = createClock()
  const source = createJwksUriSource({ now: clock.now, timeoutMs: 200, maxBytes: 4096 })
  const hang = await startJwksServer()
  hang.mode = 'hang'
  const huge = await startJwksServer()
  huge.mode = 'huge'
  t.teardown(() => Promise.all([hang.close(), huge.close()]))
  const started = Date.now()
  t.match((await refusal(source.get(hang.uri))).message, /did not answer within 0.2 s/)
  t.ok(Date.now() - started < 2000, 'gave up after the timeout')
  t.match((await refusal(source.get(huge.uri))).message, /larger than 4096 bytes/)
  t.match((await refusal(source.get(await deadUri()))).message, /could not be reached/)

  const bodies: Record<string, [number, string, Record<string, string>?]> = {
    '/text': [200, 'not json'],
    '/404': [404, ''],
    '/private': [200, JSON.stringify({ keys: [{ ...key.publicJwk, d: 'AAAA' }] })],
    '/empty': [200, JSON.stringify({ keys: [] })],
    '/redirect': [302, '', { location: '/text' }],
    '/chunked-huge': [200, 'x'.repeat(10_000)],
  }
  const server = createServer((req, res) => {
    const [status, body, headers] = bodies[req.url ?? ''] ?? [404, '']
    if (req.url === '/chunked-huge') {
      // No content-length: the cap must hold while streaming.
      res.writeHead(200)
      res.write(body.slice(0, 5000))
      res.end(body.slice(5000))
      return
    }
    res.writeHead(status, headers).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.match((await refusal(source.get(`${base}/text`))).message, /did not serve JSON/)
  t.match((await refusal(source.get(`${base}/404`))).message, /HTTP 404/)
  t.match((await refusal(source.get(`${base}/private`))).message, /private member "d"/)
  t.match((await refusal(source.get(`${base}/empty`))).message, /1 to 20 keys/)
  t.match((await refusal(source.get(`${base}/redirect`))).message, /HTTP 302|could not be reached/, 'a redirect is not followed')
  t.match((await refusal(source.get(`${base}/chunked-huge`))).message, /larger than 4096 bytes/)
})
