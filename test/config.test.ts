import t from 'tap'
import { loadConfig } from '../src/config.js'
import { describeDuration, parseDuration } from '../src/duration.js'

t.test('defaults are good for a first run', async (t) => {
  const config = loadConfig({}, '/srv')
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.issuer, 'http://localhost:3000')
  t.equal(config.keysDir, '/srv/keys')
  t.equal(config.dataDir, '/srv/data')
  t.equal(config.clientsFile, undefined)
  t.same(config.signingAlgs, ['RS256', 'ES256'])
  t.equal(config.defaultAlg, 'RS256')
  t.equal(config.rotationIntervalMs, 86_400_000)
  t.equal(config.propagationMs, 3_600_000)
  t.equal(config.jwksMaxAgeMs, 600_000)
  t.equal(config.accessTokenTtlMs, 900_000)
  t.equal(config.rotationCheck, '* * * * *')
  t.equal(config.defaultAudience, 'http://localhost:3000')
  t.ok(Object.isFrozen(config))
})

t.test('a bad value fails naming the variable', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ KEYTURN_PORT: 'eighty' }, 'KEYTURN_PORT'],
    [{ KEYTURN_PORT: '70000' }, 'KEYTURN_PORT'],
    [{ KEYTURN_ISSUER: 'not a url' }, 'KEYTURN_ISSUER'],
    [{ KEYTURN_ISSUER: 'https://id.example/?x=1' }, 'KEYTURN_ISSUER'],
    [{ KEYTURN_ISSUER: 'ftp://id.example' }, 'KEYTURN_ISSUER'],
    [{ KEYTURN_SIGNING_ALGS: 'RS256,HS256' }, 'KEYTURN_SIGNING_ALGS'],
    [{ KEYTURN_SIGNING_ALGS: 'ES256,ES256' }, 'KEYTURN_SIGNING_ALGS'],
    [{ KEYTURN_SIGNING_ALGS: ' , ' }, 'KEYTURN_SIGNING_ALGS'],
    [{ KEYTURN_SIGNING_ALGS: 'ES256', KEYTURN_DEFAULT_ALG: 'RS256' }, 'KEYTURN_DEFAULT_ALG'],
    [{ KEYTURN_ROTATION_INTERVAL: '24' }, 'KEYTURN_ROTATION_INTERVAL'],
    [{ KEYTURN_ROTATION_INTERVAL: '1 day' }, 'KEYTURN_ROTATION_INTERVAL'],
    [{ KEYTURN_KEY_PROPAGATION: '5m' }, 'KEYTURN_KEY_PROPAGATION'],
    [{ KEYTURN_KEY_PROPAGATION: '10m', KEYTURN_JWKS_MAX_AGE: '10m' }, 'KEYTURN_KEY_PROPAGATION'],
    [{ KEYTURN_ACCESS_TOKEN_TTL: '2d' }, 'KEYTURN_ACCESS_TOKEN_TTL'],
    [{ KEYTURN_CLOCK_SKEW: '1h' }, 'KEYTURN_CLOCK_SKEW'],
    [{ KEYTURN_ROTATION_CHECK: 'every minute' }, 'KEYTURN_ROTATION_CHECK'],
    [{ KEYTURN_KEY_ENCRYPTION_SECRET: 'short' }, 'KEYTURN_KEY_ENCRYPTION_SECRET'],
    [{ NODE_ENV: 'production' }, 'KEYTURN_KEY_ENCRYPTION_SECRET'],
    [{ NODE_ENV: 'production', KEYTURN_KEY_ENCRYPTION_SECRET: 'x'.repeat(40), KEYTURN_ISSUER: 'http://id.example' }, 'KEYTURN_ISSUER'],
    [{ KEYTURN_LOG_LEVEL: 'loud' }, 'KEYTURN_LOG_LEVEL'],
    [{ KEYTURN_TRUST_PROXY: 'maybe' }, 'KEYTURN_TRUST_PROXY'],
    [{ KEYTURN_HOST: '' }, 'KEYTURN_HOST'],
  ]
  for (const [env, variable] of cases) {
    t.throws(() => loadConfig(env), { code: 'ERR_CONFIG', variable }, `${JSON.stringify(env)} → ${variable}`)
  }
})

t.test('issuer normalisation and production rules', async (t) => {
  t.equal(loadConfig({ KEYTURN_ISSUER: 'https://id.example/' }).issuer, 'https://id.example')
  t.equal(loadConfig({ KEYTURN_ISSUER: 'https://id.example/tenant' }).issuer, 'https://id.example/tenant')
  const production = loadConfig({ NODE_ENV: 'production', KEYTURN_KEY_ENCRYPTION_SECRET: 'x'.repeat(40), KEYTURN_ISSUER: 'https://id.example' })
  t.equal(production.production, true)
  t.equal(loadConfig({ KEYTURN_SIGNING_ALGS: 'ES256' }).defaultAlg, 'ES256')
})

t.test('durations', async (t) => {
  t.equal(parseDuration('90s'), 90_000)
  t.equal(parseDuration('15m'), 900_000)
  t.equal(parseDuration('24h'), 86_400_000)
  t.equal(parseDuration('7d'), 604_800_000)
  t.equal(parseDuration('500ms'), 500)
  for (const bad of ['', '90', 's', '1.5h', '-1s', '1w', '99999999999999999999d']) t.equal(parseDuration(bad), undefined, bad)
  t.equal(describeDuration(3_723_000), '1h 2m 3s')
})
