import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { KeyturnError } from '../../errors.js'
import { EMPTY_KEY_SET, type KeySet } from '../../keys/key-set.js'
import { parseKeySet } from '../../keys/key-set-codec.js'
import type { KeySetStore } from '../types.js'
import { createFileExclusive } from './fs-atomic.js'

const FILE = /^keyset\.(\d{12})\.json$/
const KEEP_VERSIONS = 5
const fileName = (version: number): string => `keyset.${String(version).padStart(12, '0')}.json`

/**
 * Key sets as versioned files in `keys/`: `keyset.000000000042.json` is version 42.
 *
 * A write creates the next version's file with link(2), which fails if the file exists: the file system itself is
 * the compare-and-swap, so two racing writers produce exactly one new version with no lock to go stale, and a
 * process killed at any point leaves the previous version intact (the new file appears complete or not at all).
 * Readers take the highest version and never fall back to an older one, which could resurrect a revoked key.
 */
export function createKeySetFiles(dir: string): KeySetStore {
  async function versions(): Promise<number[]> {
    let names: string[]
    try {
      names = await readdir(dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    return names.flatMap((name) => {
      const match = FILE.exec(name)
      return match ? [Number(match[1])] : []
    }).sort((a, b) => b - a)
  }

  async function read(version: number): Promise<KeySet> {
    const text = await readFile(join(dir, fileName(version)), 'utf8')
    const set = parseKeySet(text)
    if (set.version !== version) throw new KeyturnError('ERR_KEYSET_CORRUPT', `${fileName(version)} holds version ${set.version}`)
    return set
  }

  async function cleanup(latest: number): Promise<void> {
    const names = await readdir(dir)
    const now = Date.now()
    for (const name of names) {
      const match = FILE.exec(name)
      if (match && Number(match[1]) <= latest - KEEP_VERSIONS) await unlink(join(dir, name)).catch(() => {})
      // Temp files of writers that were killed between write and link.
      if (name.startsWith('.keyset.') && name.includes('.tmp-')) {
        const info = await stat(join(dir, name)).catch(() => undefined)
        if (info && now - info.mtimeMs > 60_000) await unlink(join(dir, name)).catch(() => {})
      }
    }
  }

  return {
    async load() {
      for (let attempt = 0; ; attempt++) {
        const [latest] = await versions()
        if (latest === undefined) return EMPTY_KEY_SET
        try {
          return await read(latest)
        } catch (error) {
          // Pruned between readdir and open (only possible after KEEP_VERSIONS newer writes): list again.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) continue
          throw error
        }
      }
    },
    async version() {
      return (await versions())[0] ?? 0
    },
    async compareAndSwap(next) {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const [latest = 0] = await versions()
      if (latest !== next.version - 1) return false
      const created = await createFileExclusive(join(dir, fileName(next.version)), `${JSON.stringify(next, null, 2)}\n`, 0o600)
      if (created) await cleanup(next.version).catch(() => {})
      return created
    },
  }
}
