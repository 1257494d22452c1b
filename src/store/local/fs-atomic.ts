import { randomBytes } from 'node:crypto'
import { link, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

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
