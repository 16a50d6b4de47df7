/**
 * The bytes of small files whose upload just landed, in memory, for reads of that version soon after (R4):
 * a file manager making thumbnails of the photos just copied in, `git add .` or `rsync -c` reading back what
 * was written. The spool keeps data files of the last few uploads only (recent-copies.ts): keeping many on
 * disk made every `cp -r` of small files cost more CPU (128 whose descriptors were closed: 30% more, ext4
 * then allocates their blocks and emptying them for reuse frees them; 256 kept open: 7–13% more), while a
 * copy in memory leaves the data file to be reused at once, as before, and costs one read of a file the
 * page cache holds.
 *
 * One version per file (a newer one replaces it), found by file id, version id and size, so only the exact
 * bytes of that version are ever served (R5); a deleted file's go (drop). The copies live in one ring of
 * maxBytes, allocated when the first one comes and given back once none is left (ttlMs: an idle mount gives
 * the memory back): each copy goes at the ring's head, and the oldest ones in its way go first. A buffer per
 * copy made `cp -r` of 1,000 × 64 KiB cost about 10% more daemon CPU, as much with a bound of 16 MiB as of 64
 * (the kernel faults in fresh memory for every one, and V8 collects more often under the churn); the ring's
 * memory is faulted in once (about 4% more on that copy, the faults of 64 MiB, 1% with --write-back). Copies are read synchronously (they are small: maxFileBytes), so none is
 * overwritten while it is read in or out. Bounded by a file's size too, so a few larger files do not push
 * out many small ones.
 */
import type { FileHandle } from 'node:fs/promises'
import type { Clock } from '../../clock.js'
import { readFullySync } from '../../read-fully.js'

/** 64 MiB: 1,000 files of 64 KiB, 250 of 256 KiB (as much as the block cache by default). */
export const RECENT_BYTES_MAX = 64 * 1024 * 1024
/** Larger files are kept on disk only (recent-copies.ts), for a while; these are read without the thread pool. */
export const RECENT_BYTES_FILE_MAX = 1024 * 1024
/** Long enough for a program to read back what it just wrote, all of it (a few minutes of thumbnails). */
export const RECENT_BYTES_TTL_MS = 5 * 60_000

export interface RecentBytesLimits {
  maxBytes: number
  maxFileBytes: number
  ttlMs: number
}

interface Entry {
  versionId: string
  /** Where in the ring. */
  offset: number
  length: number
  expiresAtMs: number
}

export class RecentBytes {
  /** By file id, oldest first: also their order in the ring, going round from the head. */
  readonly #byFile = new Map<string, Entry>()
  #ring: Buffer | undefined
  /** Where the next copy goes. */
  #head = 0
  #bytes = 0
  #timer: NodeJS.Timeout | undefined
  readonly #limits: RecentBytesLimits

  constructor(readonly clock: Clock, limits: Partial<RecentBytesLimits> = {}) {
    this.#limits = { maxBytes: RECENT_BYTES_MAX, maxFileBytes: RECENT_BYTES_FILE_MAX, ttlMs: RECENT_BYTES_TTL_MS, ...limits }
  }

  /** Whether keep() would keep a file of `size` bytes (an empty one is read with no request anyway). */
  fits(size: number): boolean {
    const { maxBytes, maxFileBytes, ttlMs } = this.#limits
    return size > 0 && size <= Math.min(maxBytes, maxFileBytes) && ttlMs > 0
  }

  /**
   * Copies into memory the `size` bytes of a data file (`from`: open, or those bytes already in memory) that
   * hold that version exactly, when they fit. Any other version of the file goes in any case. Never fails: a
   * file that cannot be read is not kept.
   * The caller opens the file, not this: on ext4 the first close of a file after it was emptied (a reused data
   * file) allocates its blocks, and emptying it for the next reuse then costs several times more.
   */
  keep(fileId: string, versionId: string, size: number, from: FileHandle | Buffer | undefined): void {
    this.drop(fileId)
    if (!from || !this.fits(size)) return
    const ring = (this.#ring ??= Buffer.allocUnsafeSlow(this.#limits.maxBytes))
    const wrapped = this.#head + size > ring.length
    const at = wrapped ? 0 : this.#head
    // The oldest copies come first round the ring from the head: those in the way are the oldest ones.
    for (const [id, entry] of this.#byFile) {
      const skipped = wrapped && entry.offset >= this.#head // the end of the ring, left unused by this lap
      if (!skipped && !(entry.offset < at + size && entry.offset + entry.length > at)) break
      this.#forget(id)
    }
    this.#head = at
    if (Buffer.isBuffer(from) ? from.copy(ring, at, 0, size) !== size : !readInto(from, ring, at, size)) return
    this.#head = at + size
    this.#byFile.set(fileId, { versionId, offset: at, length: size, expiresAtMs: this.clock.now() + this.#limits.ttlMs })
    this.#bytes += size
    this.#timer ??= this.#schedule()
  }

  /** The bytes of that version, if kept: a view valid until the next keep() (copy them out at once). */
  get(fileId: string, versionId: string, size: number): Buffer | undefined {
    const entry = this.#byFile.get(fileId)
    if (!entry || entry.versionId !== versionId || entry.length !== size || entry.expiresAtMs <= this.clock.now()) return undefined
    return this.#ring?.subarray(entry.offset, entry.offset + entry.length)
  }

  /** Whether some version of the file is kept. */
  holds(fileId: string): boolean {
    return this.#byFile.has(fileId)
  }

  /** The file was deleted: no version of it stays. */
  drop(fileId: string): void {
    this.#forget(fileId)
  }

  get bytes(): number {
    return this.#bytes
  }

  get count(): number {
    return this.#byFile.size
  }

  /** Unmount. */
  close(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#byFile.clear()
    this.#bytes = 0
    this.#ring = undefined
    this.#head = 0
  }

  #forget(fileId: string): void {
    const entry = this.#byFile.get(fileId)
    if (!entry) return
    this.#byFile.delete(fileId)
    this.#bytes -= entry.length
  }

  /** One timer for the oldest copy at a time (not one per file: thousands land in a `cp -r`). */
  #schedule(): NodeJS.Timeout | undefined {
    const oldest = this.#byFile.values().next().value
    if (!oldest) {
      this.#ring = undefined // none left: the memory goes back
      this.#head = 0
      return undefined
    }
    const timer = setTimeout(() => {
      const now = this.clock.now()
      for (const [id, entry] of this.#byFile) {
        if (entry.expiresAtMs > now) break
        this.#forget(id)
      }
      this.#timer = this.#schedule()
    }, Math.max(0, oldest.expiresAtMs - this.clock.now()) + 1)
    timer.unref()
    return timer
  }
}

/** Reads the first `size` bytes of the file into `ring` at `at`; false when it has fewer or cannot be read. */
function readInto(fh: FileHandle, ring: Buffer, at: number, size: number): boolean {
  try {
    return readFullySync(fh.fd, ring, at, size, 0) === size
  } catch {
    return false
  }
}
