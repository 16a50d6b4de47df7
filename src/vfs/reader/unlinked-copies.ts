/**
 * Copies of stored files unlinked while a program has them open for reading (W8): ImageKit's delete takes
 * every version with it, so the bytes are fetched into a local file before the delete, and the readers read on
 * from there (they look for a local copy before the CDN, file-reader.ts) until the last of them is released.
 * The files live beside the spool's kept copies (`kept/unlinked-*`), which a start-up deletes.
 *
 * A version the spool still holds (a file just written: recent-copies.ts) is copied from there instead, within
 * the cache dir's disk: no download of the bytes just uploaded.
 *
 * Only files up to maxBytes are fetched: `rm` of a film a player has open would otherwise wait for the whole
 * film to download (and fill the cache dir's disk with it). Readers of a larger one, or of one whose fetch
 * failed, read on what the block cache holds and then get errors, as before copies were kept.
 */
import { open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { ImageKitApi } from '../../imagekit/api.js'
import type { Logger } from '../../log.js'
import type { FileInode } from '../inode.js'
import { fillFromRemote } from '../remote-fill.js'
import type { LocalCopies } from './file-reader.js'

interface Copy {
  path: string
  fh: FileHandle
  size: number
}

/** As much as the spool keeps of files just uploaded (recent-copies.ts); a minute or so of a CDN's bandwidth. */
export const UNLINKED_COPY_MAX_BYTES = 256 * 1024 * 1024
/** A local copy is made in reads of this size. */
const LOCAL_CHUNK_BYTES = 1024 * 1024

export class UnlinkedCopies implements LocalCopies {
  readonly #copies = new Map<string, Copy>()

  constructor(readonly dir: string, readonly api: ImageKitApi, readonly log: Logger, readonly maxBytes = UNLINKED_COPY_MAX_BYTES) {}

  /**
   * Fetches `node`'s bytes into a local copy (once per version), unless it is larger than maxBytes (false);
   * from `local` when that holds the version whole, else from the CDN. A failure leaves none and rejects.
   */
  async keep(node: FileInode, local?: LocalCopies): Promise<boolean> {
    if (node.size > this.maxBytes) return false
    const key = keyOf(node.fileId, node.versionId)
    if (this.#copies.has(key)) return true
    const path = join(this.dir, `unlinked-${node.fileId}-${node.versionId}`)
    const fh = await open(path, 'w+')
    try {
      if (!(local && (await copyLocal(local, node, fh)))) {
        await fillFromRemote(this.api, this.log, node, async (chunk, position) => {
          await fh.write(chunk, 0, chunk.length, position)
        })
      }
    } catch (e) {
      await fh.close()
      await rm(path, { force: true })
      throw e
    }
    this.#copies.set(key, { path, fh, size: node.size })
    return true
  }

  has(fileId: string, versionId: string, size: number): boolean {
    return this.#copies.get(keyOf(fileId, versionId))?.size === size
  }

  async readAt(fileId: string, versionId: string, size: number, dest: Buffer, position: number): Promise<boolean> {
    const copy = this.#copies.get(keyOf(fileId, versionId))
    if (copy?.size !== size || position + dest.length > size) return false
    for (let done = 0; done < dest.length;) {
      const { bytesRead } = await copy.fh.read(dest, done, dest.length - done, position + done)
      if (bytesRead === 0) return false
      done += bytesRead
    }
    return true
  }

  /** The last reader of that version was released: its copy goes. */
  async drop(fileId: string, versionId: string): Promise<void> {
    const key = keyOf(fileId, versionId)
    const copy = this.#copies.get(key)
    if (!copy) return
    this.#copies.delete(key)
    await copy.fh.close()
    await rm(copy.path, { force: true })
  }

  /** Unmount: every copy goes, also those of readers still open (a detached mount sends no more releases). */
  async close(): Promise<void> {
    const copies = [...this.#copies.values()]
    this.#copies.clear()
    for (const copy of copies) {
      await copy.fh.close().catch(() => undefined)
      await rm(copy.path, { force: true })
    }
  }
}

const keyOf = (fileId: string, versionId: string) => `${fileId}\u0000${versionId}`

/** `node`'s bytes from `local` into `fh`; false when it does not hold them all (the copy went meanwhile). */
async function copyLocal(local: LocalCopies, node: FileInode, fh: FileHandle): Promise<boolean> {
  const { fileId, versionId, size } = node
  if (!local.has(fileId, versionId, size)) return false
  const chunk = Buffer.allocUnsafe(Math.min(size, LOCAL_CHUNK_BYTES))
  for (let position = 0; position < size; position += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - position))
    if (!(await local.readAt(fileId, versionId, size, part, position))) return false
    for (let done = 0; done < part.length;) done += (await fh.write(part, done, part.length - done, position + done)).bytesWritten
  }
  return true
}

/** The first of `sources` that holds a version's bytes. */
export function eitherCopy(...sources: (LocalCopies | undefined)[]): LocalCopies {
  const present = sources.filter((s): s is LocalCopies => s !== undefined)
  return {
    has: (fileId, versionId, size) => present.some((s) => s.has(fileId, versionId, size)),
    readAt: async (fileId, versionId, size, dest, position) => {
      for (const s of present) if (s.has(fileId, versionId, size) && await s.readAt(fileId, versionId, size, dest, position)) return true
      return false
    },
  }
}
