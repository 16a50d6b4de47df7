/**
 * Keeps a spool file that is read once as it is written (a streamed upload's body) out of the page cache
 * behind its reader: every TRIM_STEP_BYTES, what was read so far is synced to disk and its cached pages are
 * dropped (posix_fadvise DONTNEED through the page-cache addon; dirty pages cannot be dropped, hence the sync).
 *
 * Why: without it, copying a 10 GiB file into the mount leaves 10 GiB of spool pages in memory, and filling
 * that much page cache costs more than the copy itself on machines that hand idle memory back to their host
 * (README, Performance). With it, the spool cycles through one step's worth of pages. The sync only moves
 * the disk write earlier; nothing waits for it but the next trim, and a sync that fails turns trimming off
 * for this file (the failure shows again where the spool is synced for real, at close).
 */
import type { FileHandle } from 'node:fs/promises'

/** Forgets the clean cached pages of a byte range of an open file; throws on failure. */
export type DropCachedPages = (fd: number, offset: number, length: number) => void

/**
 * Pages read and not dropped yet stay below this (plus one step being synced). Measured on a 1 GiB `cp`:
 * steps of 16, 32, 64 and 256 MiB all ran well ahead of no trimming, and the noise did not tell them apart;
 * smaller ones sync more often, larger ones touch more fresh memory.
 */
export const TRIM_STEP_BYTES = 64 * 1024 * 1024

/** How a reader of the spool trims behind itself; no `dropCachedPages` (the addon is not built): it does not. */
export interface PageTrimOptions {
  dropCachedPages?: DropCachedPages | undefined
  /** Default TRIM_STEP_BYTES. */
  trimStepBytes?: number | undefined
}

export class ReadPagesTrimmer {
  #read = 0
  #dropped = 0
  #trimming: Promise<void> | undefined
  #off = false

  constructor(readonly fh: FileHandle, readonly drop: DropCachedPages, readonly stepBytes = TRIM_STEP_BYTES) {}

  /** The bytes below `offset` have been read and will not be read again through this file's cache. */
  readTo(offset: number): void {
    this.#read = Math.max(this.#read, offset)
    this.#next()
  }

  /** Resolves once no trim is in progress nor due (never rejects). */
  async settled(): Promise<void> {
    while (this.#trimming) await this.#trimming
  }

  get busy(): boolean {
    return this.#trimming !== undefined
  }

  /** One trim at a time; a reader that got a step or more ahead meanwhile is caught up with right after. */
  #next(): void {
    if (this.#off || this.#trimming || this.#read - this.#dropped < this.stepBytes) return
    this.#trimming = this.#trim(this.#read)
  }

  async #trim(upTo: number): Promise<void> {
    try {
      await this.fh.datasync()
      this.drop(this.fh.fd, this.#dropped, upTo - this.#dropped)
      this.#dropped = upTo
    } catch {
      this.#off = true
    } finally {
      this.#trimming = undefined
      this.#next()
    }
  }
}
