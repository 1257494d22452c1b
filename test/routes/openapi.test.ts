import t from 'tap'
import { buildTestIssuer, post } from '../helper.js'
import { FORM_CONTENT_TYPE, PATHS } from '../../src/oauth.js'
import { GRANTS } from '../../src/grants/index.js'
import { documentedSchema } from '../../src/openapi.js'
import { TOKEN_FORM } from '../../src/routes/schemas.js'

type Json = Record<string, unknown>
type Operation = Json & { responses: Record<string, Json>; requestBody?: Json; security?: Json[]; tags?: string[]; operationId?: string; summary?: string }

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const
const PUBLIC_GETS: readonly string[] = [PATHS.jwks, PATHS.openidConfiguration, PATHS.oauthMetadata, PATHS.openapi]

/** Every `$ref` in the document, with where it was found. */
function refs(node: unknown, at = '#'): [string, string][] {
  if (Array.isArray(node)) return node.flatMap((item, index) => refs(item, `${at}/${index}`))
  if (typeof node !== 'object' || node === null) return []
  return Object.entries(node).flatMap(([key, value]) => (key === '$ref' && typeof value === 'string' ? [[value, at] as [string, string]] : refs(value, `${at}/${key}`)))
}

/** Resolves a local JSON pointer (RFC 6901), or undefined. */
function resolve(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined
  return ref.slice(2).split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~')).reduce<unknown>(
    (node, part) => (typeof node === 'object' && node !== null && Object.hasOwn(node, part) ? (node as Json)[part] : undefined), document)
}

/** The members of `body` a documented object schema does not allow, and the required ones it lacks. */
function mismatches(schema: Json, body: Json): string[] {
  const properties = (schema.properties ?? {}) as Json
  const problems = ((schema.required ?? []) as string[]).filter((name) => !(name in body)).map((name) => `missing ${name}`)
  if (schema.additionalProperties === false) problems.push(...Object.keys(body).filter((name) => !(name in properties)).map((name) => `undocumented ${name}`))
  return problems
}

t.test('GET /openapi.json: public, cacheable, OpenAPI 3.1 for this issuer', async (t) => {
  const issuer = await buildTestIssuer(t)
  const response = await issuer.app.inject({ url: PATHS.openapi })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  t.equal(response.headers['cache-control'], 'public, max-age=3600')
  t.equal(response.headers['access-control-allow-origin'], '*')
  const document = response.json() as Json & { info: Json; servers: Json[] }
  t.match(document.openapi, /^3\.1\.\d+$/)
  t.equal(document.info.title, 'keyturn')
  t.match(document.info.version, /^\d+\.\d+\.\d+/)
  t.same(document.servers, [{ url: 'https://issuer.test' }])
  t.equal((await issuer.app.inject({ url: PATHS.openapi })).body, response.body, 'generated once: the same bytes every time')
})

t.test('describes every route, and only routes that exist', async (t) => {
  const issuer = await buildTestIssuer(t)
  const document = (await issuer.app.inject({ url: PATHS.openapi })).json() as Json & { paths: Record<string, Record<string, Operation>>; components: Json; tags: Json[] }
  const declaredTags = new Set(document.tags.map((tag) => tag.name))
  const schemes = (document.components.securitySchemes ?? {}) as Json
  const operationIds = new Set<string>()

  for (const path of Object.values(PATHS)) {
    const methods = METHODS.filter((method) => issuer.app.hasRoute({ method: method.toUpperCase() as 'GET', url: path }))
    t.not(methods.length, 0, `${path} has a route`)
    for (const method of methods) t.ok(document.paths[path]?.[method], `${method.toUpperCase()} ${path} is described`)
  }
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const name = `${method.toUpperCase()} ${path}`
      t.ok(issuer.app.hasRoute({ method: method.toUpperCase() as 'GET', url: path }), `${name} exists`)
      t.ok(operation.summary, `${name} has a summary`)
      t.ok(operation.operationId && !operationIds.has(operation.operationId), `${name} has a unique operationId`)
      operationIds.add(operation.operationId!)
      t.ok(operation.tags?.length && operation.tags.every((tag) => declaredTags.has(tag)), `${name} has declared tags`)
      t.ok(Object.keys(operation.responses).length > 0, `${name} has responses`)
      for (const [status, response] of Object.entries(operation.responses)) {
        t.match(status, /^[1-5]\d\d$/, `${name} ${status} is a status code`)
        t.ok(response.description, `${name} ${status} has a description`)
      }
      t.notOk('x-docs' in operation || 'docs' in operation, `${name}: the documentation-only part was translated`)
      for (const requirement of operation.security ?? []) for (const scheme of Object.keys(requirement)) t.ok(schemes[scheme], `${name}: security scheme ${scheme} exists`)
      if (method === 'post') {
        const form = ((operation.requestBody?.content ?? {}) as Json)[FORM_CONTENT_TYPE] as Json | undefined
        t.ok(form?.schema, `${name} documents its form body`)
        t.same(Object.keys(operation.requestBody?.content as Json), [FORM_CONTENT_TYPE], `${name}: form bodies only`)
        for (const status of ['400', '401', '413', '429', '503']) {
          t.equal((operation.responses[status]?.content as Record<string, { schema: Json }> | undefined)?.['application/json']?.schema.$ref, '#/components/schemas/OAuthError', `${name} ${status}: OAuth error body`)
        }
        t.ok(operation.security?.some((requirement) => 'client_secret_basic' in requirement), `${name}: client_secret_basic`)
      }
    }
  }
  const unresolved = refs(document).filter(([ref]) => resolve(document, ref) === undefined)
  t.same(unresolved, [], 'every $ref resolves')
  t.ok(refs(document).length > 0, 'refs were checked')
})

t.test('what the document says matches what is sent', async (t) => {
  const issuer = await buildTestIssuer(t)
  const document = (await issuer.app.inject({ url: PATHS.openapi })).json() as { paths: Record<string, Record<string, Operation>> }
  const bodySchema = (path: string, method: string, status: string, type = 'application/json'): Json =>
    ((document.paths[path]![method]!.responses[status]!.content as Record<string, { schema: Json }>)[type]!).schema

  const secret = await issuer.addClient({ id: 'docs-client', scopes: ['a'], audiences: ['https://api.test'], grantTypes: ['client_credentials'] })
  const token = await post(issuer, PATHS.token, { grant_type: 'client_credentials', client_id: 'docs-client', client_secret: secret })
  t.equal(token.statusCode, 200)
  t.same(mismatches(bodySchema(PATHS.token, 'post', '200'), token.json() as Json), [], 'token response')

  const jwks = await issuer.app.inject({ url: PATHS.jwks })
  const keySchema = (bodySchema(PATHS.jwks, 'get', '200', 'application/jwk-set+json').properties as { keys: { items: Json } }).keys.items
  for (const key of (jwks.json() as { keys: Json[] }).keys) t.same(mismatches(keySchema, key), [], `JWK ${String(key.kid)}`)

  const discovery = await issuer.app.inject({ url: PATHS.openidConfiguration })
  t.same(mismatches(bodySchema(PATHS.openidConfiguration, 'get', '200'), discovery.json() as Json), [], 'discovery')
  const ready = await issuer.app.inject({ url: PATHS.readyz })
  t.same(mismatches(bodySchema(PATHS.readyz, 'get', '200'), ready.json() as Json), [], 'readyz')

  const refused = await post(issuer, PATHS.token, { grant_type: 'client_credentials', client_id: 'docs-client', client_secret: 'wrong' })
  t.equal(refused.statusCode, 401)
  t.same(Object.keys(refused.json() as Json).sort(), ['error', 'error_description'], 'OAuthError members')
  for (const path of PUBLIC_GETS) {
    t.ok(document.paths[path]?.get?.responses['200']?.headers, `${path}: caching headers documented`)
  }
})

t.test('the form schemas are documentation only: the handlers still validate, with their own errors', async (t) => {
  const issuer = await buildTestIssuer(t)
  const secret = await issuer.addClient({ id: 'docs-client', scopes: ['a'], audiences: ['https://api.test'], grantTypes: ['client_credentials'] })
  const credentials = { client_id: 'docs-client', client_secret: secret }
  const missing = await post(issuer, PATHS.token, credentials)
  t.same(missing.json(), { error: 'invalid_request', error_description: 'grant_type is required' }, 'a required parameter: the handler\'s message')
  const unknown = await post(issuer, PATHS.token, { ...credentials, grant_type: 'implicit' })
  t.equal((unknown.json() as Json).error, 'unsupported_grant_type', 'a value outside the documented enum: the handler\'s error')
  const introspect = await post(issuer, PATHS.introspect, credentials)
  t.same(introspect.json(), { error: 'invalid_request', error_description: 'token is required' }, 'not Ajv\'s "body must have required property"')
})

t.test('documentedSchema: the token form lists every parameter of every grant', async (t) => {
  const properties = TOKEN_FORM.properties as Json
  for (const grant of GRANTS.values()) for (const name of grant.params) t.ok(properties[name], `${grant.type}: ${name}`)
  t.same((properties.grant_type as { enum: string[] }).enum, [...GRANTS.keys()])
  const plain = { summary: 'x', response: { 200: { type: 'object' } } }
  t.equal(documentedSchema(plain), plain, 'a schema without docs is left as it is')
  const documented = documentedSchema({ ...plain, docs: { form: { type: 'object' }, errors: [401] } }) as Json & { response: Record<string, Json> }
  t.notOk('docs' in documented)
  t.same(documented.consumes, [FORM_CONTENT_TYPE])
  t.equal(documented.response['401']!.$ref, '#/components/schemas/OAuthError')
  t.same(documented.response['200'], { type: 'object' }, 'the compiled response schema is kept')
})
