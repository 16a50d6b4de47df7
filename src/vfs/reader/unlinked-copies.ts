/**
 * Copies of stored files unlinked while a program has them open for reading (W8): ImageKit's delete takes
 * every version with it, so the bytes are fetched into a local file before the delete, and the readers read on
 * from there (they look for a local copy before the CDN, file-reader.ts) until the last of them is released.
 * The files live beside the spool's kept copies (`kept/unlinked-*`), which a start-up deletes.
 *
 * A version the spool still holds (a file just written: recent-copies.ts) is copied from there instead, within
 * the cache dir's disk: no download of the bytes just uploaded.
 *
 * Best effort, and bounded: all the copies held at once (and those being fetched) take at most maxBytes, and at
 * most freeShare of the cache dir's free space (counting the copies' own bytes as free), whichever is less, so
 * `rm` of many files readers hold, or of a film a player has open, neither waits for all of them to download
 * (with the folder locked) nor fills the disk the spool needs for written files. And they give way to those
 * (W3 first): when a write into the spool finds the disk full, every copy goes and the fetches under way stop
 * (giveWay, called through the spool's recent-copies.ts). Readers of a file not copied, or whose copy went,
 * read on what the block cache holds and then get errors, as before copies were kept.
 */
import { open, rm, statfs, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { ImageKitApi } from '../../imagekit/api.js'
import type { Logger } from '../../log.js'
import { readFully } from '../../read-fully.js'
import { VfsError, type VfsCode } from '../errors.js'
import type { FileInode } from '../inode.js'
import { fillFromRemote } from '../remote-fill.js'
import type { LocalCopies } from './file-reader.js'

interface Copy {
  path: string
  fh: FileHandle
  size: number
}

/**
 * A copy being made, from its keep() on (also while it looks at the free space and opens its file, before any
 * byte comes): giveWay and close stop it, with the error its keep() then rejects with.
 */
interface Fetch {
  fh?: FileHandle
  stopped: { code: VfsCode; why: string } | undefined
  /** Aborts its download, which may wait on the CDN long before or between bytes. */
  readonly download: AbortController
}

/** As much as the spool keeps of files just uploaded (recent-copies.ts); a minute or so of a CDN's bandwidth. */
export const UNLINKED_COPY_MAX_BYTES = 256 * 1024 * 1024
/** Copies are best effort: most of the free space stays for the files being written (W3). */
export const UNLINKED_COPY_FREE_SHARE = 0.25
/** A local copy is made in reads of this size. */
const LOCAL_CHUNK_BYTES = 1024 * 1024

export interface UnlinkedCopiesLimits {
  /** Of all the copies held and being fetched at once (so also of any one). */
  maxBytes: number
  /** Of the cache dir's free space, the copies' own bytes counted free. */
  freeShare: number
  /** The free bytes of `dir`'s disk (statfs; tests pass their own). */
  freeBytes: (dir: string) => Promise<number>
}

export class UnlinkedCopies implements LocalCopies {
  readonly #copies = new Map<string, Copy>()
  readonly #fetches = new Set<Fetch>()
  /** The keep() under way for a version, by key. */
  readonly #keeping = new Map<string, Promise<boolean>>()
  readonly #limits: UnlinkedCopiesLimits
  /** Of the copies held and being fetched. */
  #bytes = 0
  /** Set by close: a fetch that starts later stops at once. */
  #closed: Fetch['stopped']

  constructor(readonly dir: string, readonly api: ImageKitApi, readonly log: Logger, limits: Partial<UnlinkedCopiesLimits> = {}) {
    this.#limits = { maxBytes: UNLINKED_COPY_MAX_BYTES, freeShare: UNLINKED_COPY_FREE_SHARE, freeBytes: freeBytesOf, ...limits }
  }

  get maxBytes(): number {
    return this.#limits.maxBytes
  }

  /** Of the copies held and being fetched. */
  get bytes(): number {
    return this.#bytes
  }

  /**
   * Fetches `node`'s bytes into a local copy (once per version), unless the copies' bound has no room for it
   * (false: see above); from `local` when that holds the version whole, else from the CDN, whose answer must
   * carry `etag` when given (the ETag its readers' ranges had: the path's URL may deliver a version stored
   * over it elsewhere by then, with as many bytes). A failure (giveWay too) leaves none and rejects.
   */
  async keep(node: FileInode, local?: LocalCopies, etag?: string): Promise<boolean> {
    if (node.size > this.#limits.maxBytes) return false
    const key = keyOf(node.fileId, node.versionId)
    if (this.#copies.has(key)) return true
    // One fetch per version: a second one would count its bytes twice and, kept over the first, leave that
    // one's file open for ever (node closes it when collected, with a DEP0137 warning).
    const under = this.#keeping.get(key)
    if (under) return under
    const keeping = this.#fetch(node, key, local, etag)
    this.#keeping.set(key, keeping)
    try {
      return await keeping
    } finally {
      this.#keeping.delete(key)
    }
  }

  async #fetch(node: FileInode, key: string, local: LocalCopies | undefined, etag: string | undefined): Promise<boolean> {
    // Registered before the first await: a giveWay while this looks at the free space or opens its file stops it
    // too, else the copy would take the room after giveWay returned.
    const fetch: Fetch = { stopped: this.#closed, download: new AbortController() }
    this.#fetches.add(fetch)
    const path = join(this.dir, `unlinked-${node.fileId}-${node.versionId}`)
    let taken = false
    let fh: FileHandle | undefined
    try {
      const free = await this.#limits.freeBytes(this.dir).catch(() => Infinity)
      stopIf(fetch, node)
      // Checked and taken with no await between, so copies fetched at once share the bound.
      if (this.#bytes + node.size > Math.min(this.#limits.maxBytes, (free + this.#bytes) * this.#limits.freeShare)) return false
      this.#bytes += node.size
      taken = true
      fh = fetch.fh = await open(path, 'w+')
      await fill(this.api, this.log, node, local, fetch, fh, etag)
      stopIf(fetch, node) // stopped as its fill returned: not kept (giveWay and close have passed over the copies)
    } catch (e) {
      if (taken) this.#bytes -= node.size
      if (fh) {
        await fh.close()
        await rm(path, { force: true })
      }
      throw e
    } finally {
      this.#fetches.delete(fetch)
    }
    this.#copies.set(key, { path, fh, size: node.size })
    return true
  }

  /**
   * The cache dir's disk is full and a written file needs the room (W3 comes first): every copy goes (its readers
   * get errors once past what the block cache holds) and the fetches under way stop, their bytes freed at once.
   * False when there was none.
   */
  async giveWay(): Promise<boolean> {
    const copies = [...this.#copies.keys()]
    const fetches = [...this.#fetches]
    if (copies.length === 0 && fetches.length === 0) return false
    this.log.warn({ copies: copies.length, fetching: fetches.length, bytes: this.#bytes }, 'the cache dir\'s disk is full: the copies of files unlinked while open for reading go, so that written files get the room; their readers get errors once past what is cached')
    // All stopped before the first wait: one that ended during another's truncate would be kept, its file emptied.
    for (const fetch of fetches) stop(fetch, { code: 'ENOSPC', why: 'its disk is needed for written files' })
    for (const fetch of fetches) {
      await fetch.fh?.truncate(0).catch(() => undefined) // its blocks freed now; keep() removes it at its next step
    }
    for (const key of copies) await this.#remove(key)
    return true
  }

  has(fileId: string, versionId: string, size: number): boolean {
    return this.#copies.get(keyOf(fileId, versionId))?.size === size
  }

  async readAt(fileId: string, versionId: string, size: number, dest: Buffer, position: number): Promise<boolean> {
    const copy = this.#copies.get(keyOf(fileId, versionId))
    if (copy?.size !== size || position + dest.length > size) return false
    return (await readFully(copy.fh, dest, 0, dest.length, position)) === dest.length
  }

  /** The last reader of that version was released: its copy goes. */
  async drop(fileId: string, versionId: string): Promise<void> {
    await this.#remove(keyOf(fileId, versionId))
  }

  /**
   * Unmount: every copy goes, also those of readers still open (a detached mount sends no more releases), and
   * the fetches under way (an unlink still running) stop, so none is kept after this.
   */
  async close(): Promise<void> {
    this.#closed = { code: 'EIO', why: 'the mount is stopping' }
    for (const fetch of this.#fetches) stop(fetch, this.#closed)
    for (const key of [...this.#copies.keys()]) await this.#remove(key).catch(() => undefined)
  }

  async #remove(key: string): Promise<void> {
    const copy = this.#copies.get(key)
    if (!copy) return
    this.#copies.delete(key)
    this.#bytes -= copy.size
    await copy.fh.close().catch(() => undefined)
    await rm(copy.path, { force: true })
  }
}

async function freeBytesOf(dir: string): Promise<number> {
  const stats = await statfs(dir)
  return stats.bavail * stats.bsize
}

const keyOf = (fileId: string, versionId: string) => `${fileId}\u0000${versionId}`

/** `node`'s bytes into `fetch`'s file, from `local` when it holds them, else from the CDN (`etag`: see keep); until giveWay or close stops it. */
async function fill(api: ImageKitApi, log: Logger, node: FileInode, local: LocalCopies | undefined, fetch: Fetch, fh: FileHandle, etag: string | undefined): Promise<void> {
  const write = async (chunk: Uint8Array, position: number): Promise<void> => {
    for (let done = 0; done < chunk.length;) {
      stopIf(fetch, node)
      done += (await fh.write(chunk, done, chunk.length - done, position + done)).bytesWritten
    }
  }
  stopIf(fetch, node)
  try {
    if (!(local && (await copyLocal(local, node, write)))) await fillFromRemote(api, log, node, write, fetch.download.signal, etag)
  } catch (e) {
    stopIf(fetch, node) // the download's abort: the reason it stopped says more
    throw e
  }
  stopIf(fetch, node)
}

function stop(fetch: Fetch, why: NonNullable<Fetch['stopped']>): void {
  fetch.stopped = why
  fetch.download.abort()
}

function stopIf(fetch: Fetch, node: FileInode): void {
  if (fetch.stopped) throw new VfsError(fetch.stopped.code, `copy of unlinked ${node.remotePath}: ${fetch.stopped.why}`)
}

/** `node`'s bytes from `local` through `write`; false when it does not hold them all (the copy went meanwhile). */
async function copyLocal(local: LocalCopies, node: FileInode, write: (chunk: Uint8Array, position: number) => Promise<void>): Promise<boolean> {
  const { fileId, versionId, size } = node
  if (!local.has(fileId, versionId, size)) return false
  const chunk = Buffer.allocUnsafe(Math.min(size, LOCAL_CHUNK_BYTES))
  for (let position = 0; position < size; position += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - position))
    if (!(await local.readAt(fileId, versionId, size, part, position))) return false
    await write(part, position)
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
