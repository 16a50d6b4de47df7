/**
 * A read-only open of one file version. Reads go through the shared FileReader; failures become
 * VfsErrors here. A stale response (size or ETag differs from the listing's) is never served, and a 404 for a
 * listed file may only mean it moved (renamed, or its folder, here or elsewhere: the CDN forgets the old
 * name's URL): either way the handle asks `onStale` once (which re-checks the file and may point the reader
 * at where the SAME version is now: its new path, or its own URL once another version was stored over it
 * elsewhere) and retries once; after a stale retry the handle is broken and every later read is EIO.
 * A read that failed on a source the reader has since left (another read's check re-pointed it) retries
 * without asking again.
 */
import { hasImageKitCode, isImageKitError } from '../../imagekit/errors.js'
import { isVfsError, VfsError } from '../errors.js'
import { fromImageKitError } from '../from-imagekit-error.js'
import type { FileInode } from '../inode.js'
import type { FileReader } from '../reader/file-reader.js'
import { StaleContentError } from '../reader/read-errors.js'
import type { ReadCancel, ReadDestination } from '../types.js'

/** How a CDN may refuse a file it does not deliver. */
const REFUSALS: ReadonlySet<string> = new Set(['IK_NOT_FOUND', 'IK_FORBIDDEN', 'IK_UNAUTHORIZED'])

/** Why a read was not served: other bytes than listed ('stale'), or a 404 for the listed file ('gone'). */
export type Unserved = 'stale' | 'gone'

/**
 * Decides what an unserved read means: 'retry' (the reader was re-pointed), the error to report, or (for
 * 'gone') undefined when the check found nothing to add to the 404 itself (the file is gone).
 */
export type StaleHandler = (node: FileInode, reader: FileReader, why: Unserved, relocationsBefore: number) => Promise<'retry' | VfsError | undefined>

export class ReadHandle {
  readonly kind = 'read' as const
  #broken: VfsError | undefined
  /**
   * The local path the kernel names it by (at open, and at each read; a rename or unlink through the mount
   * moves or clears it at once, vfs.ts): the kernel keeps one page cache per named file, shared by the handles
   * open there. Undefined once the file has no name left (unlinked or renamed over while open). Written only
   * by ReadersByName (readers-by-name.ts), which finds the handles of a name by it.
   */
  localPath: string | undefined
  /**
   * A modification time set through a handle on the same file once it had no name left (futimens,
   * Vfs.utimensOpen, which sets it on each of them): it lives with its open handles only, for fstat, as on the
   * unnamed inode of a local disk.
   */
  mtimeMs: number | undefined
  /** Opened while a handle on another version was open at its path: its reads bypass the page cache (R5). */
  bypassesPageCache = false
  /** Another version was opened at its path since: its reads (through the shared page cache) are refused (R5). */
  outdated = false
  /**
   * The file was truncated through this mount since it opened (by its name, or through a descriptor open for
   * writing at its name): the kernel cut its page cache (and the reads through it) at the new size, as a local
   * disk's inode would; its name no longer shows this handle's longer version (R5's held size is for versions
   * stored elsewhere).
   */
  truncatedHere = false

  constructor(
    readonly fh: number,
    readonly node: FileInode,
    readonly reader: FileReader,
    readonly onStale: StaleHandler,
  ) {}

  read(length: number, position: number): Promise<Buffer> {
    return this.#attempt(() => this.reader.read(position, length))
  }

  /** Copies bytes at `position` into `dest`; returns how many (see FileReader.readInto). */
  readInto(dest: ReadDestination, position: number, signal?: ReadCancel): Promise<number> {
    return this.#attempt(() => this.reader.readInto(position, dest, signal))
  }

  async #attempt<T>(read: () => Promise<T>): Promise<T> {
    if (this.#broken) throw this.#broken
    const relocations = this.reader.relocations
    try {
      return await read()
    } catch (e) {
      let why: Unserved
      if (e instanceof StaleContentError) why = 'stale'
      else if (this.#gone(e)) why = 'gone'
      else throw this.#map(e)
      const verdict = await this.onStale(this.node, this.reader, why, relocations)
      if (verdict === undefined) throw (this.#broken = this.#map(e)) // deleted: no later read can find it
      if (verdict !== 'retry') {
        if (why === 'stale') this.#broken = verdict
        throw verdict
      }
    }
    try {
      return await read()
    } catch (e) {
      const err = e instanceof StaleContentError
        ? new VfsError('EIO', `read ${this.reader.filePath}: delivery keeps serving other bytes than listed`, { cause: e })
        : this.#map(e)
      if (e instanceof StaleContentError) this.#broken = err
      throw err
    }
  }

  /** A 404 for a published file: it may have moved (a draft's 404 is a refusal, #map). */
  #gone(e: unknown): boolean {
    return this.node.isPublished && hasImageKitCode(e, 'IK_NOT_FOUND')
  }

  #map(e: unknown): VfsError {
    if (!this.node.isPublished && isImageKitError(e) && REFUSALS.has(e.code)) {
      return new VfsError('EACCES', `read ${this.reader.filePath}: an unpublished (draft) file; ImageKit delivers it only once it is published`, { cause: e })
    }
    if (hasImageKitCode(e, 'IK_NOT_FOUND')) {
      // Not the lookup miss ENOENT usually is (logged at debug): a file the listing showed.
      return new VfsError('ENOENT', `read ${this.reader.filePath}: the URL endpoint answers 404 for a listed file (deleted elsewhere since, or --endpoint is not this library's)`, { cause: e, level: 'warn' })
    }
    if (isImageKitError(e) || isVfsError(e)) {
      return fromImageKitError(e, { op: 'read', target: this.reader.filePath })
    }
    // A body that kept failing after resumes (connection resets): an outside failure, not a bug.
    return new VfsError('EIO', `read ${this.reader.filePath}: transfer failed`, { cause: e })
  }
}
