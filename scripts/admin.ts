import { parseArgs } from 'node:util'
import { AUTH_METHOD, GRANT, type AuthMethod, type GrantType } from '../src/oauth.js'
import { parseDuration } from '../src/duration.js'
import { isAlg } from '../src/keys/algorithms.js'
import { isAudience, isClientId, isScopeToken, validateClient, type ClientRecord } from '../src/clients/client.js'
import { generateClientSecret, hashClientSecret } from '../src/clients/secret.js'
import { KeyturnError } from '../src/errors.js'
import { openCli, run, table, UsageError } from './cli.js'

const USAGE = `usage: npm run admin -- clients <command> [options]

  clients create <id> [--scope S]... [--audience A]... [--alg RS256|ES256] [--ttl 5m]
                      [--auth-method client_secret_basic|client_secret_post]... [--grant client_credentials]...
                                    register a client; prints its secret ONCE
  clients list                      every client (never a secret)
  clients show <id>
  clients rotate-secret <id>        issue a new secret (the old one stops working within a second)
  clients disable <id> | enable <id>
  clients delete <id>

  --json prints machine-readable output. --scope and --audience repeat, or take a space-separated list.`

const words = (values: string[] | undefined): string[] => (values ?? []).flatMap((value) => value.split(/\s+/)).filter(Boolean)

function summary(client: ClientRecord): Record<string, unknown> {
  const { secretHash: _hidden, ...visible } = client
  return visible
}

run('admin', async () => {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2), allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false }, scope: { type: 'string', multiple: true }, audience: { type: 'string', multiple: true },
      alg: { type: 'string' }, ttl: { type: 'string' }, 'auth-method': { type: 'string', multiple: true }, grant: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [area, command, id] = positionals
  if (values.help || area === undefined) {
    process.stdout.write(`${USAGE}\n`)
    if (!values.help) throw new UsageError('name a command')
    return
  }
  if (area !== 'clients') throw new UsageError(`unknown area ${JSON.stringify(area)}\n${USAGE}`)
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
      const scopes = words(values.scope)
      const bad = scopes.find((scope) => !isScopeToken(scope))
      if (bad !== undefined) throw new UsageError(`--scope: ${JSON.stringify(bad)} is not a scope token`)
      const audiences = words(values.audience)
      if (audiences.some((audience) => !isAudience(audience))) throw new UsageError('--audience: an audience may not contain spaces or control characters')
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
      const authMethods = values['auth-method'] ?? [AUTH_METHOD.secretBasic, AUTH_METHOD.secretPost]
      if (authMethods.some((method) => !Object.values<string>(AUTH_METHOD).includes(method))) {
        throw new UsageError(`--auth-method must be one of ${Object.values(AUTH_METHOD).join(', ')}`)
      }
      const grantTypes = values.grant ?? [GRANT.clientCredentials]
      if (grantTypes.some((grant) => !Object.values<string>(GRANT).includes(grant))) {
        throw new UsageError(`--grant must be one of ${Object.values(GRANT).join(', ')}`)
      }
      const secret = generateClientSecret()
      const client = validateClient({
        id: clientId, secretHash: hashClientSecret(secret, runtime.clientSecretKey), authMethods: authMethods as AuthMethod[],
        grantTypes: grantTypes as GrantType[], scopes, audiences, ...(values.alg ? { alg: values.alg } : {}),
        ...(ttl === undefined ? {} : { accessTokenTtl: ttl }), createdAt: new Date().toISOString(),
      })
      await clients.create(client)
      return out(
        { ...summary(client), client_secret: secret },
        `client ${clientId} created.\nclient_secret: ${secret}\nThis secret is shown once and is not stored; keep it in your secret manager now.`,
      )
    }
    case 'list': {
      const list = (await clients.list()).sort((a, b) => a.id.localeCompare(b.id))
      return out(list.map(summary), table(['ID', 'GRANTS', 'SCOPES', 'AUDIENCES', 'ALG', 'STATUS'], list.map((client) => [
        client.id, client.grantTypes.join(','), client.scopes.join(' ') || '-', client.audiences.join(' ') || `(default ${config.defaultAudience})`,
        client.alg ?? config.defaultAlg, client.disabled ? 'disabled' : 'enabled',
      ])))
    }
    case 'show': {
      const client = await existing(needId())
      return out(summary(client), JSON.stringify(summary(client), null, 2))
    }
    case 'rotate-secret': {
      const client = await existing(needId())
      const secret = generateClientSecret()
      await clients.update({ ...client, secretHash: hashClientSecret(secret, runtime.clientSecretKey) })
      return out({ id: client.id, client_secret: secret }, `new client_secret for ${client.id}: ${secret}\nThe old secret no longer works. This one is shown once.`)
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
      throw new UsageError(`unknown command ${JSON.stringify(command ?? '')}\n${USAGE}`)
  }
})
