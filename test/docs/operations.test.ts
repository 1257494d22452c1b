import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Repository root, from this file's compiled place (dist/test/docs/operations.test.js). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const VARIABLE = /\b(?:KEYTURN_[A-Z0-9_]+|DATABASE_URL|NODE_ENV)\b/g

const read = (path: string): Promise<string> => readFile(join(ROOT, path), 'utf8')

/** The variables of the configuration reference: the first cell of its table rows. */
function documented(guide: string): Set<string> {
  const start = guide.indexOf('\n## Configuration reference')
  const end = guide.indexOf('\n## ', start + 1)
  const section = guide.slice(start, end === -1 ? undefined : end)
  return new Set([...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1]!))
}

t.test('docs/operations.md documents every variable src/config.ts reads, and no other', async (t) => {
  const [source, guide] = await Promise.all([read('src/config.ts'), read('docs/operations.md')])
  const inConfig = new Set(source.match(VARIABLE))
  const rows = documented(guide)
  t.ok(inConfig.size >= 25, `found the variables of config.ts (${inConfig.size})`)
  for (const name of [...inConfig].sort()) t.ok(rows.has(name), `${name} has a row in the configuration reference`)
  for (const name of [...rows].sort()) t.ok(inConfig.has(name), `${name} in the reference is read by config.ts`)
})

t.test('the commands the guide tells operators to run exist', async (t) => {
  const [guide, rotateKeys, admin] = await Promise.all([read('docs/operations.md'), read('scripts/rotate-keys.ts'), read('scripts/admin.ts')])
  const rotateCommands = new Set([...rotateKeys.matchAll(/^ {2}([a-z]+) /gm)].map((match) => match[1]))
  for (const [, command] of guide.matchAll(/npm run rotate-keys -- ([a-z]+)/g)) t.ok(rotateCommands.has(command), `rotate-keys ${command}`)
  for (const [, area] of guide.matchAll(/npm run (?:--silent )?admin -- ([a-z]+)/g)) t.match(admin, new RegExp(`area === '${area}'`), `admin ${area}`)
  t.match(guide, /## Rate limits/, 'the place for the rate limits section')
})
