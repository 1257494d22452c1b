/**
 * Summarises a V8 CPU profile (from `npm run bench -- --cpu-prof`, or `node --cpu-prof`): the functions with the
 * most self time, and the packages and files the time goes to.
 * With --inclusive, also the total time spent inside the named functions, packages or keyturn files (their callees
 * included), e.g. `--inclusive sign,@fastify/cors,src/http/rate-limits.js`.
 * Usage: node dist/bench/profile.js <file.cpuprofile> [--top 30] [--inclusive name,name] [--requests N]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: readonly number[]
}

interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

const { values, positionals } = parseArgs({
  allowPositionals: true, options: { top: { type: 'string', default: '30' }, inclusive: { type: 'string' }, requests: { type: 'string' } },
})
/** With --requests N (the requests the process served, e.g. from a --warmup 0 run's JSON), shares become µs per request too. */
const requests = values.requests === undefined ? undefined : Number(values.requests)
const file = positionals[0]
if (!file) {
  process.stderr.write('usage: node dist/bench/profile.js <file.cpuprofile> [--top 30] [--inclusive name,name] [--requests N]\n')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const self = new Map<number, number>()
profile.samples.forEach((id, index) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)))
const total = [...self.values()].reduce((sum, us) => sum + us, 0)

/** Where a frame's code lives: a package name, a keyturn file, node internals, or V8 (GC, idle, program). */
function place(url: string, name: string): string {
  if (!url) return `(${name || 'anonymous'})`
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg) return pkg[1]!
  if (url.startsWith('node:')) return url
  const own = /\/dist\/(.*)$/.exec(url)
  return own ? own[1]! : url
}

const functions = new Map<string, number>()
const places = new Map<string, number>()
for (const [id, us] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame
  const where = place(url, functionName)
  const key = `${functionName || '(anonymous)'}  ${where}${url ? `:${lineNumber + 1}` : ''}`
  functions.set(key, (functions.get(key) ?? 0) + us)
  places.set(where, (places.get(where) ?? 0) + us)
}
// `| head` closing the pipe early is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})
const top = Number(values.top)
const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((sum, [, us]) => sum + us, 0)
// A server's profile spans its whole life, idle stretches included (start-up, other targets' runs): shares are of
// the busy time. V8 samples the main thread only, by wall clock: signing and hashing on the libuv pool do not show.
const busy = total - idle
const show = (title: string, map: Map<string, number>): void => {
  process.stdout.write(`\n${title} (share of busy time)\n`)
  for (const [key, us] of [...map].filter(([key]) => !/^\(+idle\)/.test(key)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((us / busy) * 100).toFixed(1).padStart(5)} %  ${perRequest(us)}${key}\n`)
  }
}
const perRequest = (us: number): string => (requests ? `${(us / requests).toFixed(1).padStart(6)} µs/req  ` : '')
process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy${requests ? `, ${perRequest(busy).trim()} busy` : ''}\n`)
show('self time by function', functions)
show('self time by package or file', places)

if (values.inclusive) {
  // Inclusive time of a function: every sample whose stack contains it (counted once per sample, so recursion is fine).
  const names = new Set(values.inclusive.split(','))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const inclusive = new Map<string, number>()
  for (const [id, us] of self) {
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url } = byId.get(at)!.callFrame
      // A name is a function's, or a place's (a package or a keyturn file: '@fastify/cors', 'src/http/cors.js').
      for (const name of [functionName, place(url, functionName)]) {
        if (names.has(name) && !seen.has(name)) {
          seen.add(name)
          inclusive.set(name, (inclusive.get(name) ?? 0) + us)
        }
      }
    }
  }
  process.stdout.write('\ninclusive time (share of busy time)\n')
  for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1])) {
    process.stdout.write(`${((us / busy) * 100).toFixed(1).padStart(5)} %  ${perRequest(us)}${name}\n`)
  }
}
