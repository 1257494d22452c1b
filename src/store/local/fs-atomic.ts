import { randomBytes } from 'node:crypto'
import { link, open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { hostname } from 'node:os'

/** A temp file beside `path` (same directory, so rename and link stay on one file system). */
function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
}

async function writeSynced(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** fsync a directory so a rename or link in it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Replaces `path` atomically: readers see the old or the new content, never a torn file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = tempPath(path)
  try {
    await writeSynced(temp, data, mode)
    await rename(temp, path)
  } catch (error) {
    await unlink(temp).catch(() => {})
    throw error
  }
  await syncDir(dirname(path))
}

/**
 * Creates `path` with `data` only if it does not exist yet, atomically: the content is complete and synced before
 * the name appears (link(2) fails with EEXIST if another writer got there first).
 * @returns false if `path` already existed.
 */
export async function createFileExclusive(path: string, data: string | Uint8Array, mode = 0o600): Promise<boolean> {
  const temp = tempPath(path)
  try {
    await writeSynced(temp, data, mode)
    await link(temp, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  } finally {
    await unlink(temp).catch(() => {})
  }
  await syncDir(dirname(path))
  return true
}

interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly token: string
}

/** The lock's owner, or undefined while it is being written (or gone). */
async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockOwner
  } catch {
    return undefined
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL). A lock left by a process that died on this host
 * is broken; one held by a live process is waited for, up to `timeoutMs`.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const owner: LockOwner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') }
  const deadline = Date.now() + timeoutMs
  for (let attempt = 0; ; attempt++) {
    try {
      await writeSynced(lockPath, JSON.stringify(owner), 0o600)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = await readOwner(lockPath)
    if (holder && holder.host === owner.host && !isAlive(holder.pid)) {
      // Move the dead holder's lock aside first: of two processes breaking it, only one rename succeeds.
      const aside = tempPath(lockPath)
      const moved = await rename(lockPath, aside).then(() => true, () => false)
      if (moved) {
        const seen = await readOwner(aside)
        // In the narrow race where another process broke the dead lock and took a fresh one between our read and
        // our rename, we moved its live lock: put it back (link fails if yet another lock appeared meanwhile).
        if (seen?.token !== holder.token) await link(aside, lockPath).catch(() => {})
        await unlink(aside).catch(() => {})
      }
      continue
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${lockPath} (held by pid ${holder?.pid ?? '?'})`)
    await new Promise((resolve) => setTimeout(resolve, Math.min(10 * 2 ** attempt, 200)))
  }
  try {
    return await fn()
  } finally {
    await unlink(lockPath).catch(() => {})
  }
}
