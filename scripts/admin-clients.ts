import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { AUTH_METHOD, GRANT, type AuthMethod, type GrantType } from '../src/oauth.js'
import { parseDuration } from '../src/duration.js'
import { isAlg } from '../src/keys/algorithms.js'
import { isAudience, isClientId, isOrigin, isScopeToken, validateClient, type ClientRecord } from '../src/clients/client.js'
import { generateClientSecret, hashClientSecret } from '../src/clients/secret.js'
import { checkClientJwksImport, isJwksUri, validateClientJwks } from '../src/clients/jwks.js'
import { KeyturnError } from '../src/errors.js'
import { openCli, table, UsageError } from './cli.js'

export const CLIENTS_USAGE = `usage: npm run admin -- clients <command> [options]

  clients create <id> [--scope S]... [--audience A]... [--alg RS256|ES256] [--ttl 5m]
                      [--auth-method client_secret_basic|client_secret_post|private_key_jwt|none]... [--grant G]...
                      [--resource R]... [--refresh-cookie --origin https://app.example.com]...
                      [--jwks-file keys.json | --jwks-uri https://svc.example.com/jwks.json]
                      [--exchange-audience A]... [--may-act]
                                    register a client; prints its secret ONCE (a public client, --auth-method none,
                                    has no secret and defaults to --grant password --grant refresh_token; a
                                    private_key_jwt client, implied by --jwks-file/--jwks-uri, has none either)
  clients list                      every client (never a secret)
  clients show <id>
  clients rotate-secret <id>        issue a new secret (the old one stops working at once)
  clients set-keys <id> --jwks-file keys.json | --jwks-uri URL
                                    replace a private_key_jwt client's public keys
  clients disable <id> | enable <id>
  clients delete <id>

  --scope, --audience, --resource and --origin repeat, or take a space-separated list. --json for machine output.
  Grants: ${Object.values(GRANT).join(', ')} (token-exchange for short). --resource: audiences this client serves
  (it may introspect their tokens, and exchange tokens issued for them). --jwks-file: a public JWK set (no private
  members). --exchange-audience: audiences it may exchange tokens for (token exchange); --may-act: it may present
  an actor_token, so its exchanged tokens carry act (delegation), not only impersonate.`

const words = (values: string[] | undefined): string[] => (values ?? []).flatMap((value) => value.split(/\s+/)).filter(Boolean)

function summary(client: ClientRecord): Record<string, unknown> {
  const { secretHash: _hidden, ...visible } = client
  return visible
}

function check(values: string[], valid: (value: string) => boolean, flag: string, what: string): string[] {
  const bad = values.find((value) => !valid(value))
  if (bad !== undefined) throw new UsageError(`${flag}: ${JSON.stringify(bad)} is not ${what}`)
  return values
}

const grantAlias = (grant: string): string => (grant === 'token-exchange' ? GRANT.tokenExchange : grant)

/** Reads `--jwks-file` (a public JWK set, checked key by key) or takes `--jwks-uri`; undefined when neither is given. */
async function clientKeys(file: string | undefined, uri: string | undefined): Promise<Pick<ClientRecord, 'jwks' | 'jwksUri'> | undefined> {
  if (file !== undefined && uri !== undefined) throw new UsageError('give --jwks-file or --jwks-uri, not both')
  if (uri !== undefined) {
    if (!isJwksUri(uri)) throw new UsageError('--jwks-uri: an https URL (http only on localhost), without credentials or fragment')
    return { jwksUri: uri }
  }
  if (file === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'))
  } catch (error) {
    throw new UsageError(`--jwks-file: cannot read ${file} as JSON (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})`)
  }
  try {
    const jwks = validateClientJwks(parsed, '--jwks-file')
    await checkClientJwksImport(jwks)
    return { jwks }
  } catch (error) {
    if (error instanceof KeyturnError) throw new UsageError(error.message)
    throw error
  }
}

/** `npm run admin -- clients …` */
export async function clientsCommand(args: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...args], allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false }, scope: { type: 'string', multiple: true }, audience: { type: 'string', multiple: true },
      alg: { type: 'string' }, ttl: { type: 'string' }, 'auth-method': { type: 'string', multiple: true }, grant: { type: 'string', multiple: true },
      resource: { type: 'string', multiple: true }, origin: { type: 'string', multiple: true }, 'refresh-cookie': { type: 'boolean', default: false },
      'jwks-file': { type: 'string' }, 'jwks-uri': { type: 'string' }, 'exchange-audience': { type: 'string', multiple: true }, 'may-act': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [, command, id] = positionals
  if (values.help || command === undefined) {
    process.stdout.write(`${CLIENTS_USAGE}\n`)
    if (!values.help) throw new UsageError('name a clients command')
    return
  }
  const out = (json: unknown, text: string): void => {
    process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`)
  }
  const needId = (): string => {
    if (!id) throw new UsageError(`clients ${command} needs a client id`)
    return id
  }
  const { config, runtime } = await openCli()
  const clients = runtime.store.clients
  const existing = async (clientId: string): Promise<ClientRecord> => {
    const client = await clients.get(clientId)
    if (!client) throw new KeyturnError('ERR_CLIENT_NOT_FOUND', `no client ${clientId}`)
    return client
  }

  switch (command) {
    case 'create': {
      const clientId = needId()
      if (!isClientId(clientId)) throw new UsageError('client id: 1-128 characters of A-Z a-z 0-9 . _ ~ -')
      const scopes = check(words(values.scope), isScopeToken, '--scope', 'a scope token')
      const audiences = check(words(values.audience), isAudience, '--audience', 'an audience (no spaces or control characters)')
      const resources = check(words(values.resource), isAudience, '--resource', 'an audience (no spaces or control characters)')
      const origins = check(words(values.origin), isOrigin, '--origin', 'an origin like https://app.example.com (no path)')
      if (values.alg !== undefined && (!isAlg(values.alg) || !config.signingAlgs.includes(values.alg))) {
        throw new UsageError(`--alg must be one of KEYTURN_SIGNING_ALGS (${config.signingAlgs.join(', ')})`)
      }
      let ttl: number | undefined
      if (values.ttl !== undefined) {
        const ms = parseDuration(values.ttl)
        if (ms === undefined || ms < 1000) throw new UsageError('--ttl: a duration such as 5m')
        if (ms > config.accessTokenTtlMs) throw new UsageError('--ttl may not exceed KEYTURN_ACCESS_TOKEN_TTL')
        ttl = Math.floor(ms / 1000)
      }
      const keys = await clientKeys(values['jwks-file'], values['jwks-uri'])
      const keyed = keys !== undefined
      const authMethods = check(values['auth-method'] ?? (keyed ? [AUTH_METHOD.privateKeyJwt] : [AUTH_METHOD.secretBasic, AUTH_METHOD.secretPost]), (m) => Object.values<string>(AUTH_METHOD).includes(m), '--auth-method', `one of ${Object.values(AUTH_METHOD).join(', ')}`) as AuthMethod[]
      const isPublic = authMethods.includes(AUTH_METHOD.none)
      const usesKeys = authMethods.includes(AUTH_METHOD.privateKeyJwt)
      if (usesKeys && !keyed) throw new UsageError('--auth-method private_key_jwt needs the client\'s public keys: --jwks-file keys.json or --jwks-uri https://…')
      const grantTypes = check((values.grant ?? (isPublic ? [GRANT.password, GRANT.refreshToken] : [GRANT.clientCredentials])).map(grantAlias), (g) => Object.values<string>(GRANT).includes(g), '--grant', `one of ${Object.values(GRANT).join(', ')}`) as GrantType[]
      const exchangeAudiences = check(words(values['exchange-audience']), isAudience, '--exchange-audience', 'an audience (no spaces or control characters)')
      if (values['refresh-cookie'] && origins.length === 0) throw new UsageError('--refresh-cookie needs --origin: the browser origins allowed to use the cookie')
      const secret = isPublic || usesKeys ? undefined : generateClientSecret()
      let client: ClientRecord
      try {
        client = validateClient({
          id: clientId, ...(secret ? { secretHash: hashClientSecret(secret, runtime.clientSecretKey) } : {}), authMethods, grantTypes, scopes, audiences,
          ...(values.alg ? { alg: values.alg } : {}), ...(ttl === undefined ? {} : { accessTokenTtl: ttl }),
          ...(resources.length ? { resources } : {}), ...(origins.length ? { origins } : {}), ...(values['refresh-cookie'] ? { refreshCookie: true } : {}),
          ...keys, ...(exchangeAudiences.length ? { exchangeAudiences } : {}), ...(values['may-act'] ? { mayAct: true } : {}),
          createdAt: new Date().toISOString(),
        })
      } catch (error) {
        // The record's rule (e.g. a public client with client_credentials) is the user's to fix.
        if (error instanceof KeyturnError && error.code === 'ERR_CLIENT_INVALID') throw new UsageError(error.message)
        throw error
      }
      await clients.create(client)
      if (usesKeys) return out(summary(client), `client ${clientId} created (private_key_jwt: it signs assertions with its own key; there is no secret).`)
      if (!secret) return out(summary(client), `public client ${clientId} created (no secret: it sends only client_id).`)
      return out(
        { ...summary(client), client_secret: secret },
        `client ${clientId} created.\nclient_secret: ${secret}\nThis secret is shown once and is not stored; keep it in your secret manager now.`,
      )
    }
    case 'list': {
      const list = (await clients.list()).sort((a, b) => a.id.localeCompare(b.id))
      return out(list.map(summary), table(['ID', 'AUTH', 'GRANTS', 'SCOPES', 'AUDIENCES', 'ALG', 'STATUS'], list.map((client) => [
        client.id, client.authMethods.includes(AUTH_METHOD.none) ? 'public' : client.authMethods.includes(AUTH_METHOD.privateKeyJwt) ? 'private_key_jwt' : 'secret', client.grantTypes.join(','), client.scopes.join(' ') || '-',
        client.audiences.join(' ') || `(default ${config.defaultAudience})`, client.alg ?? config.defaultAlg, client.disabled ? 'disabled' : 'enabled',
      ])))
    }
    case 'show': {
      const client = await existing(needId())
      return out(summary(client), JSON.stringify(summary(client), null, 2))
    }
    case 'rotate-secret': {
      const client = await existing(needId())
      if (client.authMethods.includes(AUTH_METHOD.none)) throw new UsageError(`${client.id} is a public client: it has no secret`)
      if (client.authMethods.includes(AUTH_METHOD.privateKeyJwt)) throw new UsageError(`${client.id} authenticates with its own keys: use clients set-keys`)
      const secret = generateClientSecret()
      await clients.update({ ...client, secretHash: hashClientSecret(secret, runtime.clientSecretKey) })
      return out({ id: client.id, client_secret: secret }, `new client_secret for ${client.id}: ${secret}\nThe old secret no longer works. This one is shown once.`)
    }
    case 'set-keys': {
      const client = await existing(needId())
      if (!client.authMethods.includes(AUTH_METHOD.privateKeyJwt)) throw new UsageError(`${client.id} is not a private_key_jwt client`)
      const keys = await clientKeys(values['jwks-file'], values['jwks-uri'])
      if (!keys) throw new UsageError('clients set-keys needs --jwks-file keys.json or --jwks-uri https://…')
      const { jwks: _oldKeys, jwksUri: _oldUri, ...rest } = client
      await clients.update({ ...rest, ...keys })
      return out(summary({ ...rest, ...keys }), `client ${client.id} keys replaced`)
    }
    case 'disable':
    case 'enable': {
      const client = await existing(needId())
      const { disabled: _was, ...rest } = client
      await clients.update(command === 'disable' ? { ...rest, disabled: true } : rest)
      return out({ id: client.id, disabled: command === 'disable' }, `client ${client.id} ${command}d`)
    }
    case 'delete': {
      const clientId = needId()
      if (!(await clients.delete(clientId))) throw new KeyturnError('ERR_CLIENT_NOT_FOUND', `no client ${clientId}`)
      return out({ id: clientId, deleted: true }, `client ${clientId} deleted`)
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}\n${CLIENTS_USAGE}`)
  }
}
