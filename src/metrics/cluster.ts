import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { AggregatorRegistry, type Registry } from 'prom-client'

/**
 * KEYTURN_WORKERS > 1: a scrape of /metrics reaches one worker, but Prometheus must see the whole process group.
 * The worker that got the scrape asks the primary (`REQUEST`); the primary asks every listening worker for its
 * registry as JSON (`COLLECT`/`COLLECTED`), merges them with prom-client's `AggregatorRegistry.aggregate` (counters
 * and histograms summed, each gauge by its `aggregator`) and answers (`RESPONSE`). If any worker fails to answer in
 * time the scrape fails (503) rather than serve a partial sum, which Prometheus would take for a counter reset.
 */
const REQUEST = 'keyturn:metrics-request'
const COLLECT = 'keyturn:metrics-collect'
const COLLECTED = 'keyturn:metrics-collected'
const RESPONSE = 'keyturn:metrics-response'

/** How long the primary waits for every worker's registry. */
export const COLLECT_TIMEOUT_MS = 2000
/** How long a worker waits for the primary's answer: the collection, plus slack for a busy primary. */
const ANSWER_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 1000

type Message = { type?: unknown; id?: unknown; text?: unknown; error?: unknown; metrics?: unknown }

const isMessage = (message: unknown, type: string): message is Message & { id: number } =>
  typeof message === 'object' && message !== null && (message as Message).type === type && typeof (message as Message).id === 'number'

/** A send whose failure (the other side gone, e.g. shutting down) is dropped: without a callback it is an 'error' event. */
const ignore = (): void => {}
function sendToPrimary(message: object): void {
  if (process.connected) process.send?.(message, undefined, undefined, ignore)
}
function sendToWorker(worker: Worker | undefined, message: object): void {
  if (worker?.isConnected()) worker.send(message, undefined, ignore)
}

/** In a worker: hands this registry to the primary whenever it collects. Call before the worker listens. */
export function answerMetricsCollection(registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (!isMessage(message, COLLECT)) return
    registry.getMetricsAsJSON().then(
      (metrics) => sendToPrimary({ type: COLLECTED, id: message.id, metrics }),
      (error: Error) => sendToPrimary({ type: COLLECTED, id: message.id, error: error.message }),
    )
  })
}

/** In a worker: a `scrape` for `createMetrics` that returns every worker's metrics, merged by the primary. */
export function askPrimaryForMetrics(timeoutMs = ANSWER_TIMEOUT_MS): () => Promise<string> {
  let nextId = 0
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>()
  process.on('message', (message: unknown) => {
    if (!isMessage(message, RESPONSE)) return
    const request = pending.get(message.id)
    if (!request) return
    pending.delete(message.id)
    if (typeof message.text === 'string') request.resolve(message.text)
    else request.reject(new Error(`the primary could not collect metrics: ${String(message.error)}`))
  })
  return () => new Promise<string>((resolve, reject) => {
    const id = nextId++
    const timer = setTimeout(() => {
      pending.delete(id)
      reject(new Error(`no metrics from the primary within ${timeoutMs} ms`))
    }, timeoutMs)
    pending.set(id, {
      resolve: (text) => (clearTimeout(timer), resolve(text)),
      reject: (error) => (clearTimeout(timer), reject(error)),
    })
    sendToPrimary({ type: REQUEST, id })
  })
}

interface Collection {
  readonly expected: ReadonlySet<number>
  /** Each worker's `getMetricsAsJSON()`. */
  readonly results: object[][]
  readonly answered: Set<number>
  readonly finish: (error: Error | undefined) => void
}

/**
 * In the primary: answers workers' `REQUEST`s. Only workers that have started listening are asked (a worker being
 * forked or restarted has no registry yet); a worker that exits mid-collection fails that scrape by timeout.
 */
export function serveClusterMetrics(log: Logger, timeoutMs = COLLECT_TIMEOUT_MS): void {
  const listening = new Set<number>()
  const collections = new Map<number, Collection>()
  let nextId = 0
  cluster.on('listening', (worker) => listening.add(worker.id))
  cluster.on('exit', (worker) => listening.delete(worker.id))

  cluster.on('message', (worker: Worker, message: unknown) => {
    if (isMessage(message, REQUEST)) return collect(worker, message.id)
    if (!isMessage(message, COLLECTED)) return
    const collection = collections.get(message.id)
    if (!collection || !collection.expected.has(worker.id) || collection.answered.has(worker.id)) return
    if (!Array.isArray(message.metrics)) return collection.finish(new Error(`worker ${worker.id}: ${String(message.error)}`))
    collection.answered.add(worker.id)
    collection.results.push(message.metrics as object[])
    if (collection.answered.size === collection.expected.size) collection.finish(undefined)
  })

  function collect(requester: Worker, requestId: number): void {
    const id = nextId++
    const expected = new Set([...listening].filter((workerId) => cluster.workers?.[workerId]?.isConnected()))
    const answer = (reply: { text: string } | { error: string }): void => {
      sendToWorker(requester, { type: RESPONSE, id: requestId, ...reply })
    }
    const timer = setTimeout(() => collection.finish(new Error(`${expected.size - collection.answered.size} of ${expected.size} workers did not answer within ${timeoutMs} ms`)), timeoutMs)
    const collection: Collection = {
      expected, results: [], answered: new Set(),
      finish(error) {
        if (!collections.delete(id)) return
        clearTimeout(timer)
        if (error) {
          log.warn({ err: error }, 'metrics collection failed')
          return answer({ error: error.message })
        }
        void merge(collection.results).then(answer)
      },
    }
    collections.set(id, collection)
    for (const workerId of expected) sendToWorker(cluster.workers?.[workerId], { type: COLLECT, id })
    if (expected.size === 0) collection.finish(undefined)
  }
}

async function merge(results: object[][]): Promise<{ text: string } | { error: string }> {
  try {
    return { text: await AggregatorRegistry.aggregate(results).metrics() }
  } catch (error) {
    return { error: (error as Error).message }
  }
}
