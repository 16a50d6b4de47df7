/**
 * Moving stored bytes around without ever reading them into memory.
 * Metadata-only calls (mkdir, rename, link, stat) run synchronously: they take microseconds, while a
 * thread-pool round trip each, inside the store's exclusive section, serialised every upload (~300/s at
 * any concurrency). Copies of real bytes stay asynchronous.
 */
import { linkSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { copyFile, mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Renames `from` to `to` (atomic replace), creating `to`'s directory when it is missing: tried first, as
 * uploads mostly land in folders that hold files already (a recursive mkdir of an existing folder is a
 * failed mkdir and more, on every upload).
 */
export async function moveBytes(from: string, to: string): Promise<void> {
  try {
    renameSync(from, to)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    mkdirSync(dirname(to), { recursive: true })
    renameSync(from, to)
  }
}

/** Makes `to` hold the same bytes as `from`, keeping `from`: a hard link when possible (cheap, 5 GiB-safe), else a copy. */
export async function keepCopy(from: string, to: string): Promise<void> {
  mkdirSync(dirname(to), { recursive: true })
  rmSync(to, { force: true })
  try {
    linkSync(from, to)
  } catch {
    await copyFile(from, to)
  }
}

/** A real copy (the destination is written later, so it must not share the inode). */
export async function copyBytes(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true })
  await copyFile(from, to)
}

export async function removeBytes(path: string): Promise<void> {
  await rm(path, { force: true, recursive: true })
}

export async function mtimeOf(path: string): Promise<number> {
  return statSync(path).mtimeMs
}
