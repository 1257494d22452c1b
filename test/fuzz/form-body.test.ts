import fc from 'fast-check'
import t from 'tap'
import { InvalidRequest } from '../../src/errors.js'
import { checkFormHeaders, parseForm } from '../../src/form-body.js'
import { fcParams, fragment } from './helpers.js'

/** The parser alone, at many more runs than the endpoints: it is pure and fast. */
const RUNS = 20 * Number(process.env.FUZZ_RUNS ?? 300)

const onlyInvalidRequest = (run: () => unknown): void => {
  try {
    run()
  } catch (error) {
    if (!(error instanceof InvalidRequest)) throw error
    if (error.message === '') throw new Error('an InvalidRequest without a description')
  }
}

t.test('parseForm: any text parses or is an invalid_request, never another error', async (t) => {
  const text = fc.oneof(
    fc.string({ maxLength: 300, unit: 'binary' }),
    fc.array(fc.oneof(fragment, fc.constantFrom('a=b', '=', '&', 'resource=x', 'audience=y', '__proto__=1', 'constructor=2')), { maxLength: 30 }).map((parts) => parts.join('')),
  )
  fc.assert(fc.property(text, (body) => onlyInvalidRequest(() => parseForm(body))), fcParams(RUNS))
  t.pass('no untyped error')
})

t.test('parseForm: well-formed forms round-trip; a repeat is refused by name', async (t) => {
  // Any Unicode but the controls RFC 6749 Appendix A leaves out; U+FFFD included (it is a character like any other).
  const name = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }).filter((n) => !/[\x00-\x1f\x7f]/.test(n) && n !== 'resource' && n !== 'audience')
  const value = fc.oneof(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }), fc.constant('\ufffd')).filter((v) => !/[\x00-\x08\x0a-\x1f\x7f]/.test(v))
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(name, value), { maxLength: 20, selector: ([n]) => n }), fc.boolean(), (params, repeat) => {
      const body = new URLSearchParams(params)
      if (repeat && params[0]) body.append(params[0][0], params[0][1])
      if (repeat && params[0]) {
        let refused: unknown
        try {
          parseForm(body.toString())
        } catch (error) {
          refused = error
        }
        if (!(refused instanceof InvalidRequest) || !refused.message.includes('repeated')) throw new Error('a repeated parameter was accepted')
        return
      }
      const parsed = parseForm(body.toString())
      // Sorted: an object lists integer-like keys ("8") first, whatever the order they were sent in.
      const sorted = (entries: ReadonlyArray<readonly [string, unknown]>): string => JSON.stringify([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      if (sorted(Object.entries(parsed)) !== sorted(params)) throw new Error('round trip changed the parameters')
      if (Object.getPrototypeOf(parsed) !== null) throw new Error('the parsed body has a prototype')
    }),
    fcParams(RUNS),
  )
  t.pass('round trip and repeat refusal hold')
})

t.test('checkFormHeaders: any Content-Type / Content-Encoding passes or is an invalid_request', async (t) => {
  const header = fc.option(fc.oneof(fragment, fc.string({ maxLength: 60 }), fc.constantFrom('application/x-www-form-urlencoded; charset=', '; charset="', 'gzip', 'identity')), { nil: undefined })
  fc.assert(fc.property(header, header, (type, encoding) => onlyInvalidRequest(() => checkFormHeaders(type, encoding))), fcParams(RUNS))
  t.pass('no untyped error')
})
