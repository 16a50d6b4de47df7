/**
 * Spool copies of files whose upload just landed, kept a little while (`kept/<id>`) instead of being
 * deleted at once.
 *
 * Editors and rsync save a file by writing a temporary one, closing it (which uploads it) and renaming it
 * over the original; that rename stores the temporary file's bytes as a new version of the original
 * (namespace.ts, W9). With the copy still here, the new version is uploaded from it instead of downloading
 * the bytes just uploaded back from the CDN; an append right after a close is filled from it too, and a read
 * of the version is served from it (reader/file-reader.ts: git, compilers and thumbnailers read what they saved).
 *
 * A copy is found by file id and version id (the upload's answer), so only the exact bytes of that version
 * are ever reused. Bounded by age (ttlMs), count and bytes, oldest out first; a file larger than maxBytes is
 * not kept at all. Kept copies have no journal record and are not in `data/`: a start-up deletes them.
 * Reads reach further back: the bytes of small files are also kept in memory for a while (recent-bytes.ts),
 * so that reading back many files just written (`git add .`, thumbnails) needs no request either.
 */
import { readdirSync, renameSync, unlinkSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Clock } from '../../clock.js'
import { readFully } from '../../read-fully.js'
import type { DataFiles } from './data-files.js'
import { RecentBytes, type RecentBytesLimits } from './recent-bytes.js'

/** Long enough for a save to rename its temporary file; short enough to hold little disk. */
export const RECENT_COPY_TTL_MS = 30_000
/** A save renames the file it just closed: the last few are enough. */
export const RECENT_COPIES_MAX = 8
export const RECENT_COPIES_MAX_BYTES = 256 * 1024 * 1024

export interface RecentCopy {
  /** The data file's id (`data/<id>` while in use), handed over with its descriptor, if still open. */
  id: string
  fh: FileHandle | undefined
  size: number
}

interface Kept extends RecentCopy {
  key: string
  expiresAtMs: number
}

export interface RecentCopiesLimits {
  ttlMs: number
  maxCopies: number
  maxBytes: number
  /** Of the copies in memory (recent-bytes.ts). */
  memory?: Partial<RecentBytesLimits>
}

export class RecentCopies {
  /** By key, oldest first. */
  readonly #kept = new Map<string, Kept>()
  #bytes = 0
  #timer: NodeJS.Timeout | undefined
  readonly #limits: RecentCopiesLimits
  readonly #memory: RecentBytes
  readonly #sharing: { giveWay(): Promise<boolean> }[] = []

  constructor(
    readonly dataFiles: DataFiles,
    readonly keptDir: string,
    readonly clock: Clock,
    limits: Partial<RecentCopiesLimits> = {},
  ) {
    this.#limits = { ttlMs: RECENT_COPY_TTL_MS, maxCopies: RECENT_COPIES_MAX, maxBytes: RECENT_COPIES_MAX_BYTES, ...limits }
    this.#memory = new RecentBytes(clock, limits.memory)
    for (const name of readdirSync(keptDir)) unlinkSync(join(keptDir, name))
  }

  /**
   * Keeps the data file of a version just stored; removes it instead when it cannot stay. `bytes`: its bytes,
   * when the caller has them in memory (its upload read them whole): they are kept in memory from there.
   */
  async keep(fileId: string, versionId: string, copy: RecentCopy, bytes?: Buffer): Promise<void> {
    // Without a descriptor, the file is opened for the copy in memory and keeps it: a close would cost (recent-bytes.ts).
    this.#memory.keep(fileId, versionId, copy.size, bytes ?? copy.fh)
    const { ttlMs, maxCopies, maxBytes } = this.#limits
    if (copy.size > maxBytes || ttlMs <= 0 || maxCopies <= 0) {
      if (!copy.fh && !bytes && this.#memory.fits(copy.size)) {
        copy = { ...copy, fh: await open(this.dataFiles.path(copy.id), 'r+').catch(() => undefined) }
        this.#memory.keep(fileId, versionId, copy.size, copy.fh)
      }
      return this.dataFiles.remove(copy.id, copy.fh) // emptied for reuse: it opens the file anyway
    }
    const key = keyOf(fileId, versionId)
    const older = this.#kept.get(key)
    if (older) await this.#remove(older)
    try {
      renameSync(this.dataFiles.path(copy.id), join(this.keptDir, copy.id))
    } catch {
      return this.dataFiles.remove(copy.id, copy.fh)
    }
    const kept: Kept = { ...copy, key, expiresAtMs: this.clock.now() + ttlMs }
    this.#kept.set(key, kept)
    this.#bytes += copy.size
    if (!kept.fh && !bytes && this.#memory.fits(kept.size)) await this.#keepInMemory(fileId, versionId, kept)
    await this.#evict()
    this.#schedule()
  }

  /**
   * Opens a copy kept without a descriptor (the descriptor stays with it) and copies it into memory, unless it
   * was taken or removed meanwhile, or a newer version of the file landed.
   */
  async #keepInMemory(fileId: string, versionId: string, kept: Kept): Promise<void> {
    const fh = await open(join(this.keptDir, kept.id), 'r+').catch(() => undefined)
    if (!fh) return
    if (this.#kept.get(kept.key) !== kept || kept.fh) return void (await fh.close().catch(() => undefined)) // the taker's now
    kept.fh = fh
    if (!this.#memory.holds(fileId)) this.#memory.keep(fileId, versionId, kept.size, fh) // else a newer version landed meanwhile
  }

  /** The kept copy of that version, back in `data/` and now the caller's, if there is one. */
  take(fileId: string, versionId: string, size: number): RecentCopy | undefined {
    const kept = this.#live(fileId, versionId, size)
    if (!kept) return undefined
    this.#forget(kept)
    try {
      renameSync(join(this.keptDir, kept.id), this.dataFiles.path(kept.id))
      this.dataFiles.placed()
    } catch {
      void kept.fh?.close().catch(() => undefined)
      return undefined
    }
    return { id: kept.id, fh: kept.fh, size: kept.size }
  }

  /** Whether a copy of that version is kept (readAt may still answer false: it may go meanwhile). */
  has(fileId: string, versionId: string, size: number): boolean {
    return this.#memory.get(fileId, versionId, size) !== undefined || this.#live(fileId, versionId, size) !== undefined
  }

  /**
   * Fills `dest` with the bytes at `position` of the kept copy of that version (a read of a file just
   * uploaded, R4): the one in memory when there is one (its bytes never change), else the one on disk. True
   * only when the copy on disk stayed kept from before the read until after it: a copy taken back (it is the
   * taker's then, and may be written) or removed meanwhile answers false, so the bytes of no other content
   * are ever handed out (R5); the caller reads the version elsewhere then.
   */
  async readAt(fileId: string, versionId: string, size: number, dest: Buffer, position: number): Promise<boolean> {
    if (position + dest.length > size) return false
    const inMemory = this.#memory.get(fileId, versionId, size)
    if (inMemory) {
      inMemory.copy(dest, 0, position, position + dest.length)
      return true
    }
    const kept = this.#live(fileId, versionId, size)
    if (!kept) return false
    const stillKept = () => this.#kept.get(kept.key) === kept
    let own: FileHandle | undefined
    try {
      const fh = kept.fh ?? (own = await open(join(this.keptDir, kept.id), 'r'))
      if (!stillKept()) return false
      return (await readFully(fh, dest, 0, dest.length, position)) === dest.length && stillKept()
    } catch {
      return false
    } finally {
      await own?.close().catch(() => undefined)
    }
  }

  /** Removes the copies of every version of a file (it was deleted). */
  async drop(fileId: string): Promise<void> {
    this.#memory.drop(fileId)
    const prefix = keyOf(fileId, '')
    for (const kept of [...this.#kept.values()]) if (kept.key.startsWith(prefix)) await this.#remove(kept)
  }

  get bytes(): number {
    return this.#bytes
  }

  get count(): number {
    return this.#kept.size
  }

  /** The copies in memory: how many, how many bytes. */
  get inMemory(): { count: number; bytes: number } {
    return { count: this.#memory.count, bytes: this.#memory.bytes }
  }

  /**
   * The spool's disk is full: every kept copy goes, so that files being written get the room, and so do those of
   * `sharing` (shareDisk). False when there was none.
   */
  async giveWay(): Promise<boolean> {
    let gave = this.#kept.size > 0
    for (const kept of [...this.#kept.values()]) await this.#remove(kept)
    for (const other of this.#sharing) gave = (await other.giveWay()) || gave
    return gave
  }

  /** Copies kept beside these, as best effort (reader/unlinked-copies.ts), give way with them on a full disk. */
  shareDisk(other: { giveWay(): Promise<boolean> }): void {
    this.#sharing.push(other)
  }

  /** Removes every kept copy (unmount). */
  async close(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#memory.close()
    for (const kept of [...this.#kept.values()]) await this.#remove(kept)
  }

  async #evict(): Promise<void> {
    const now = this.clock.now()
    for (const kept of [...this.#kept.values()]) {
      if (kept.expiresAtMs > now && this.#bytes <= this.#limits.maxBytes && this.#kept.size <= this.#limits.maxCopies) break
      await this.#remove(kept)
    }
  }

  #live(fileId: string, versionId: string, size: number): Kept | undefined {
    const kept = this.#kept.get(keyOf(fileId, versionId))
    return kept && kept.size === size && kept.expiresAtMs > this.clock.now() ? kept : undefined
  }

  #forget(kept: Kept): void {
    this.#kept.delete(kept.key)
    this.#bytes -= kept.size
  }

  /**
   * Removed as any data file: emptied and kept for reuse, or deleted. The loops that call this await each
   * removal, so a copy may have been taken back (take) meanwhile: it is the taker's then, and left alone.
   */
  async #remove(kept: Kept): Promise<void> {
    if (this.#kept.get(kept.key) !== kept) return
    this.#forget(kept)
    // Ours alone now (out of the map, so neither take nor a read can reach it): emptied in kept/ for reuse, no rename.
    await this.dataFiles.remove(kept.id, kept.fh, join(this.keptDir, kept.id), true)
  }

  /** One timer for the oldest copy, so an idle mount gives its disk back too. */
  #schedule(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const oldest = this.#kept.values().next().value
    if (!oldest) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#evict().finally(() => this.#schedule())
    }, Math.max(0, oldest.expiresAtMs - this.clock.now()) + 1)
    this.#timer.unref()
  }
}

function keyOf(fileId: string, versionId: string): string {
  return `${fileId}\0${versionId}`
}
