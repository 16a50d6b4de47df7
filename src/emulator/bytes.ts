/** Moving stored bytes around without ever reading them into memory. */
import { copyFile, link, mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Renames `from` to `to` (atomic replace), creating `to`'s directory. */
export async function moveBytes(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true })
  await rename(from, to)
}

/** Makes `to` hold the same bytes as `from`, keeping `from`: a hard link when possible (cheap, 5 GiB-safe), else a copy. */
export async function keepCopy(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true })
  await rm(to, { force: true })
  try {
    await link(from, to)
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
  return (await stat(path)).mtimeMs
}
