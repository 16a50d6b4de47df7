/**
 * FileReader: the bytes of one version of one file, shared (refcounted, reader-pool.ts) by every
 * handle open on that version.
 *
 * Design (after mountpoint-s3's prefetch.rs):
 * - The file is cut into fixed blocks of BLOCK_BYTES (the last one may be short). Completed blocks go
 *   to the shared BlockCache (LRU by bytes, keyed by fileId+versionId+index), so two readers of one
 *   file, or a re-read, never fetch a block twice while it is cached.
 * - Bytes come from RangeStreams (range-stream.ts): one open-ended ranged GET (`bytes=start-`) that
 *   fills successive blocks. A read of block i: cached → copy out; being filled → wait for just the
 *   bytes it needs (time to first byte does not wait for the whole block); covered by a stream that
 *   will reach it within FORWARD_SKIP_BLOCKS → wait for that stream; else start a new stream at i.
 * - Read-ahead: a stream runs ahead of the highest block demanded from it by a window that doubles
 *   while demands are sequential (1 → 64 blocks = 64 MiB) and pauses beyond it (TCP backpressure).
 *   So a sequential read of a whole file uses ONE request.
 * - At most MAX_STREAMS_PER_FILE streams per file: a new stream (a seek) retires the least recently
 *   used one; a retiring stream finishes the block a reader is waiting on, then stops.
 * - Memory: partially filled blocks are the only buffers; each is reserved in the global ByteBudget
 *   (budget.ts) before it is allocated. Completed blocks are bounded by the block cache.
 * - Integrity: a response whose total size differs from the listing's is never served
 *   (StaleContentError, handled by read-handle.ts); a body that fails mid-way is resumed from the next
 *   missing byte with a new range. Zero-length files and reads at/after EOF make no request.
 * Every await re-checks state; the maps are only changed in synchronous stretches.
 */
import type { ImageKitApi, RangeResponse } from '../../imagekit/api.js'
import type { ByteBudget } from '../budget.js'
import { VfsError } from '../errors.js'
import type { Counters } from '../stats.js'
import { BlockCache } from './block-cache.js'
import { PartialBlock } from './partial-block.js'
import { RangeStream, type StreamHost } from './range-stream.js'

/** 1 MiB: eight kernel reads of 128 KiB per block; small enough that a random read fetches little extra. */
export const BLOCK_BYTES = 1024 * 1024
/** Two streams let two sequential readers of one file at different offsets proceed without ping-pong. */
export const MAX_STREAMS_PER_FILE = 2

/** What is read: a file or version as listed. */
export interface ReaderTarget {
  fileId: string
  versionId: string
  size: number
  filePath: string
  url: string
  isPrivateFile: boolean
}

export interface FileReaderDeps {
  api: ImageKitApi
  cache: BlockCache
  budget: ByteBudget
  counters: Counters
  blockBytes?: number
}

export class FileReader implements StreamHost {
  readonly size: number
  readonly budget: ByteBudget
  readonly counters: Counters
  readonly #blockBytes: number
  readonly #partials = new Map<number, PartialBlock>()
  readonly #streams = new Set<RangeStream>()
  #url: string
  /** The last completed block, so its waiters find it even when the cache is tiny or disabled. */
  #recent: PartialBlock | undefined
  #seq = 0
  #closed = false

  constructor(readonly target: ReaderTarget, readonly deps: FileReaderDeps) {
    this.size = target.size
    this.budget = deps.budget
    this.counters = deps.counters
    this.#blockBytes = deps.blockBytes ?? BLOCK_BYTES
    this.#url = target.url
  }

  /** The listing's URL changed without a new version (details update): read through the new one. */
  updateUrl(url: string): void {
    this.#url = url
  }

  get streamCount(): number {
    return this.#streams.size
  }

  /** Up to `length` bytes at `position`; shorter at EOF, empty at or after it. */
  async read(position: number, length: number): Promise<Buffer> {
    if (this.#closed) throw new VfsError('EBADF', `read ${this.target.filePath}: reader closed`)
    const end = Math.min(this.size, position + length)
    if (position >= end) return Buffer.alloc(0)
    const B = this.#blockBytes
    const first = Math.floor(position / B)
    const last = Math.floor((end - 1) / B)
    const parts: Buffer[] = []
    for (let b = first; b <= last; b++) {
      const from = b === first ? position - b * B : 0
      const to = b === last ? end - b * B : this.blockLength(b)
      parts.push(await this.#bytes(b, from, to))
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
  }

  async #bytes(block: number, from: number, to: number): Promise<Buffer> {
    const key = this.#key(block)
    let counted = false
    for (;;) {
      if (this.#closed) throw new VfsError('EBADF', `read ${this.target.filePath}: reader closed`)
      const cached = this.deps.cache.get(key) ?? (this.#recent?.index === block ? this.#recent.buf : undefined)
      if (cached) {
        if (!counted) this.counters.blockCacheHits++
        return cached.subarray(from, to)
      }
      if (!counted) {
        this.counters.blockCacheMisses++
        counted = true
      }
      const partial = this.#partials.get(block)
      if (partial) {
        const stream = [...this.#streams].find((s) => s.nextBlock === block && !s.ended)
        stream?.demand(block, ++this.#seq)
        const bytes = await partial.waitFor(from, to)
        if (bytes) return bytes
        continue
      }
      let stream = [...this.#streams].find((s) => s.covers(block))
      stream ??= this.#startStream(block)
      stream.demand(block, ++this.#seq)
      await stream.progress()
    }
  }

  #startStream(block: number): RangeStream {
    const live = [...this.#streams].filter((s) => s.stopAfter === Number.POSITIVE_INFINITY)
    if (live.length >= MAX_STREAMS_PER_FILE) {
      const victim = live.reduce((a, b) => (a.lastDemandSeq <= b.lastDemandSeq ? a : b))
      victim.retire()
    }
    const stream = new RangeStream(this, block, ++this.#seq)
    this.#streams.add(stream)
    stream.start()
    return stream
  }

  /**
   * Starts fetching the first block at open: the kernel's first read arrives one FUSE round trip later,
   * and by then the request is already on its way (time to first byte).
   */
  prefetchStart(): void {
    if (this.#closed || this.size === 0 || this.#streams.size > 0 || this.#partials.has(0) || this.isCached(0)) return
    this.#startStream(0).demand(0, ++this.#seq)
  }

  /** Aborts streams (cached blocks stay). */
  close(): void {
    this.#closed = true
    this.#recent = undefined
    for (const s of this.#streams) s.abort()
  }

  // ---- StreamHost ----

  blockLength(block: number): number {
    return Math.max(0, Math.min(this.#blockBytes, this.size - block * this.#blockBytes))
  }
  blockStart(block: number): number {
    return block * this.#blockBytes
  }
  isCached(block: number): boolean {
    return this.deps.cache.has(this.#key(block)) || this.#recent?.index === block
  }
  openRange(start: number, signal: AbortSignal): Promise<RangeResponse> {
    const t = this.target
    const url = this.deps.api.deliveryUrl({ filePath: t.filePath, url: this.#url, isPrivateFile: t.isPrivateFile, versionId: t.versionId })
    this.counters.rangeRequests++
    return this.deps.api.readRange(url, start, undefined, { signal })
  }
  startBlock(_stream: RangeStream, block: number): PartialBlock {
    const partial = new PartialBlock(block, this.blockLength(block))
    this.#partials.set(block, partial)
    return partial
  }
  completeBlock(partial: PartialBlock): void {
    this.#partials.delete(partial.index)
    this.deps.cache.set(this.#key(partial.index), partial.buf)
    this.#recent = partial
    this.budget.release(partial.buf.length)
    // Waiters were answered by append() as their bytes arrived.
  }
  dropBlock(partial: PartialBlock, error?: unknown): void {
    if (this.#partials.get(partial.index) === partial) this.#partials.delete(partial.index)
    this.budget.release(partial.buf.length)
    partial.drop(error)
  }
  streamEnded(stream: RangeStream): void {
    this.#streams.delete(stream)
  }

  #key(block: number): string {
    return BlockCache.key(this.target.fileId, this.target.versionId, block)
  }
}
