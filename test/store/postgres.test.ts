import t from 'tap'
import pg from 'pg'
import { createStore } from '../../src/store/index.js'
import { migratePostgres, PG_MIGRATIONS } from '../../src/store/postgres/migrations.js'
import { storeConformance } from './conformance.js'
import { freshDatabase, SKIP_REASON, TEST_DATABASE_URL } from './pg-helper.js'

if (!TEST_DATABASE_URL) {
  t.comment(SKIP_REASON)
  t.pass('skipped: no PostgreSQL server', { skip: SKIP_REASON })
} else {
  storeConformance(t, 'postgres', async (t) => {
    const databaseUrl = await freshDatabase(t)
    const store = await createStore({ keysDir: '/nonexistent', dataDir: '/nonexistent', clientsFile: undefined, databaseUrl, databasePoolSize: 10 })
    t.teardown(() => store.close())
    return store
  })

  t.test('postgres: replicas starting together migrate exactly once', async (t) => {
    const databaseUrl = await freshDatabase(t)
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: databaseUrl, max: 2 }))
    t.teardown(() => Promise.all(pools.map((pool) => pool.end())))
    const applied = await Promise.all(pools.map((pool) => migratePostgres(pool, 1)))
    t.same(applied.filter((versions) => versions.length > 0), [PG_MIGRATIONS.map((m) => m.version)], 'one replica applied every migration, the others none')
    const { rows } = await pools[0]!.query('SELECT version FROM schema_migrations ORDER BY version')
    t.same(rows.map((row) => Number(row.version)), PG_MIGRATIONS.map((m) => m.version))
  })

  t.test('postgres: an unreachable database is ERR_STORE_UNAVAILABLE, and the store recovers', async (t) => {
    const databaseUrl = await freshDatabase(t)
    const store = await createStore({ keysDir: '/x', dataDir: '/x', clientsFile: undefined, databaseUrl, databasePoolSize: 2 })
    t.teardown(() => store.close())
    await store.ping()
    // Kill every connection of this database from outside, as a restart of the server would.
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await admin.connect()
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [new URL(databaseUrl).pathname.slice(1)])
    await admin.end()
    // The pool notices and reconnects on the next queries.
    let recovered = false
    for (let attempt = 0; attempt < 5 && !recovered; attempt++) {
      recovered = await store.ping().then(() => true, (error: { code?: string }) => {
        t.equal(error.code, 'ERR_STORE_UNAVAILABLE', 'a dropped connection is reported as unavailable')
        return false
      })
    }
    t.ok(recovered, 'queries work again without a restart')
  })

  t.test('postgres: a wrong server address is ERR_STORE_UNAVAILABLE at start-up', async (t) => {
    await t.rejects(createStore({ keysDir: '/x', dataDir: '/x', clientsFile: undefined, databaseUrl: 'postgres://nobody@127.0.0.1:1/none', databasePoolSize: 1 }), { code: 'ERR_STORE_UNAVAILABLE' })
  })
}
