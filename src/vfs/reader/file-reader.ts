/**
 * FileReader: the bytes of one version of one file, shared (refcounted, reader-pool.ts) by every
 * handle open on that version.
 *
 * Design (after mountpoint-s3's prefetch.rs):
 * - The file is cut into fixed blocks of BLOCK_BYTES (the last one may be short). Completed blocks go
 *   to the shared BlockCache (LRU by bytes, keyed by fileId+versionId+index), so two readers of one
 *   file, or a re-read, never fetch a block twice while it is cached.
 * - Bytes come from RangeStreams (range-stream.ts): one open-ended ranged GET (`bytes=start-`) that
 *   the network writes straight into successive blocks. A read of block i: cached → served from it;
 *   being filled → wait for just the bytes it needs (time to first byte does not wait for the whole
 *   block); covered by a stream that will reach it within FORWARD_SKIP_BLOCKS → wait for that stream;
 *   else start a new stream at i.
 * - Read-ahead: a stream runs ahead of the highest block demanded from it by a window that doubles
 *   while demands are sequential (1 → 64 blocks = 64 MiB, at most a quarter of the block cache) and
 *   pauses beyond it (TCP backpressure). So a sequential read of a whole file uses ONE request.
 * - At most MAX_STREAMS_PER_FILE streams per file: a new stream (a seek) retires the least recently
 *   used one; a retiring stream fills the blocks readers wait on (to the end of their reads), then stops.
 * - Fairness at the connection cap: a read keeps waiting on the stream it chose while that stream will still
 *   reach its block, so it keeps its place in the queue for a connection instead of starting over behind
 *   everyone who came later (with 64 random readers and 2 connections one read waited 20 s).
 * - Memory: partially filled blocks are reserved in the global ByteBudget (budget.ts) before they get
 *   memory; completed blocks are bounded by the block cache. Block memory comes from a BlockPool: a
 *   block the cache evicts becomes a later block's memory, unless read() handed out a view of it.
 *   readInto() copies into the caller's memory and hands out nothing, so its blocks are always reused.
 * - Integrity: a response whose total size differs from the listing's, or whose ETag differs from the
 *   version's earlier ranges, is never served (StaleContentError, handled by read-handle.ts: a version
 *   replaced elsewhere is read on from its own URL, relocate()); a body that fails mid-way is resumed from
 *   the next missing byte with a new range. Zero-length files and reads at/after EOF make no request.
 * Every await re-checks state; the maps are only changed in synchronous stretches.
 */
import type { ImageKitApi, RangeResponse } from '../../imagekit/api.js'
import type { ByteBudget } from '../budget.js'
import { VfsError } from '../errors.js'
import type { Counters } from '../stats.js'
import type { ReadCancel, ReadDestination } from '../types.js'
import { BlockCache } from './block-cache.js'
import type { BlockPool } from './block-pool.js'
import { PartialBlock } from './partial-block.js'
import { StaleContentError } from './read-errors.js'
import { MAX_READAHEAD_BLOCKS, RangeStream, type StreamHost } from './range-stream.js'

/** 1 MiB: eight kernel reads of 128 KiB per block; small enough that a random read fetches little extra. */
export const BLOCK_BYTES = 1024 * 1024
/** Two streams let two sequential readers of one file at different offsets proceed without ping-pong. */
export const MAX_STREAMS_PER_FILE = 2

/**
 * Read-ahead per stream for a block cache of `cacheBytes`: at most a quarter of the cache (read-ahead the
 * cache cannot keep is fetched twice), at most MAX_READAHEAD_BLOCKS; none without a cache.
 */
export function readAheadBlocks(cacheBytes: number, blockBytes = BLOCK_BYTES): number {
  return Math.min(MAX_READAHEAD_BLOCKS, Math.floor(cacheBytes / blockBytes / 4))
}

/**
 * After the last handle of a version closes, a stream this many blocks or fewer short of the blocks readers
 * asked for finishes them into the block cache instead of being aborted (see settle()).
 */
export const FINISH_AFTER_RELEASE_BLOCKS = 2

/** Where a version is fetched from: its path and URL now (a rename moves both, not the bytes). */
export interface ReaderSource {
  filePath: string
  url: string
  isPrivateFile: boolean
}

/** What is read: a file or version as listed. */
export interface ReaderTarget extends ReaderSource {
  fileId: string
  versionId: string
  size: number
}

/** Copies of versions on local disk: the spool's of files just uploaded (spool/recent-copies.ts). */
export interface LocalCopies {
  has(fileId: string, versionId: string, size: number): boolean
  /** True when `dest` holds that version's bytes at `position`; false: read them elsewhere. */
  readAt(fileId: string, versionId: string, size: number, dest: Buffer, position: number): Promise<boolean>
}

export interface FileReaderDeps {
  api: ImageKitApi
  cache: BlockCache
  /** Read-ahead per stream, in blocks (readAheadBlocks() of the cache size). */
  maxWindowBlocks: number
  /** Memory for blocks; the cache gives evicted blocks back to it. Its blockBytes is the block size. */
  pool: BlockPool
  budget: ByteBudget
  counters: Counters
  /** Where a version's bytes may be read without a request (a file just uploaded), before the CDN. */
  localCopies?: LocalCopies
}

export class FileReader implements StreamHost {
  readonly size: number
  readonly budget: ByteBudget
  readonly counters: Counters
  readonly maxWindowBlocks: number
  readonly #blockBytes: number
  readonly #partials = new Map<number, PartialBlock>()
  readonly #streams = new Set<RangeStream>()
  #source: ReaderSource
  /**
   * Set once the version was found replaced (stored over elsewhere) and is read from its own URL (relocate()):
   * listings made before that still show the path's URL, which delivers the new version, so moveTo() is ignored.
   */
  #replaced = false
  /** Counts relocate() calls: a read that failed before the latest one retries against it (ReadHandle). */
  #relocations = 0
  /** The ETag of this version's ranges so far: a range with another one holds other bytes (a same-size overwrite). */
  #etag: string | undefined
  /**
   * The last completed block a reader asked for, so the reader finds the rest of it even when the cache
   * is tiny or disabled (read-ahead never displaces it, or a reader could lose its block forever).
   */
  #recent: PartialBlock | undefined
  #seq = 0
  #closed = false
  /** False once the local copy failed a read (it went meanwhile): the CDN serves the rest. */
  #localUsable = true
  /** Set by settle() while no handle is open and streams finish: called once the last one has ended. */
  #onSettled: (() => void) | undefined

  constructor(readonly target: ReaderTarget, readonly deps: FileReaderDeps) {
    this.size = target.size
    this.budget = deps.budget
    this.counters = deps.counters
    this.maxWindowBlocks = deps.maxWindowBlocks
    this.#blockBytes = deps.pool.blockBytes
    this.#source = { filePath: target.filePath, url: target.url, isPrivateFile: target.isPrivateFile }
  }

  /** The path ranges are fetched from now (error messages name it). */
  get filePath(): string {
    return this.#source.filePath
  }

  /**
   * The same version is now delivered from `source`: the file was renamed or moved (its folder too), or its
   * URL changed without a new version (a details update). Ranges from now on go there, also those of streams
   * that resume, so an open descriptor reads on after a rename, as on a local disk, once the CDN forgets the
   * old name's URL. The ETag to compare ranges with stays: it is the version's, not the URL's (a CDN that
   * gives the same bytes another one there costs a re-check, forgetEtag()).
   */
  moveTo(source: ReaderSource): void {
    if (this.#replaced) return
    const { filePath, url, isPrivateFile } = source
    this.#source = { filePath, url, isPrivateFile }
  }

  /**
   * Where the version is now, by the library's own answer after a read it could not serve (vfs.ts): followed
   * always. `replaced`: another version is the file's current one (stored over elsewhere) and ImageKit keeps
   * this one as an older version at its own URL (`ik-obj-version`), where the bytes opened are read on; the
   * ETag to compare with stays (the version's bytes, not the URL's), so a range of other content there is
   * still refused. Not replaced: the same version is current at `source` (see moveTo); its ETag is asked anew
   * by the caller when the CDN may have given it another one (forgetEtag()).
   */
  relocate(source: ReaderSource, replaced: boolean): void {
    const { filePath, url, isPrivateFile } = source
    this.#source = { filePath, url, isPrivateFile }
    this.#replaced = replaced
    this.#relocations++
  }

  /** Times relocate() was called: a read compares it before and after its failure (ReadHandle). */
  get relocations(): number {
    return this.#relocations
  }

  /** The ETag of this version's earlier ranges (this reader's, or those its cached blocks came with), if any. */
  get knownEtag(): string | undefined {
    return this.#etag ?? this.deps.cache.etagOf(this.target.fileId, this.target.versionId)
  }

  /** The version is read from its own URL, another one being the file's current one (relocate()). */
  get replaced(): boolean {
    return this.#replaced
  }

  /** The CDN gave the same version another ETag (its details say the file is unchanged): the next range sets it. */
  forgetEtag(): void {
    this.#etag = undefined
    this.deps.cache.forgetEtag(this.target.fileId, this.target.versionId)
  }

  get streamCount(): number {
    return this.#streams.size
  }

  /**
   * Up to `length` bytes at `position`; shorter at EOF, empty at or after it. A read within one block is
   * a view of it (no copy), and that block's memory is then never reused (BlockPool.escape); a read
   * across blocks is copied into new memory.
   */
  async read(position: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, position + length)
    const B = this.#blockBytes
    if (position < end && Math.floor(position / B) === Math.floor((end - 1) / B)) {
      let view: Buffer | undefined
      await this.#eachPart(position, length, (v) => (view = v))
      this.deps.pool.escape(view!)
      return view!
    }
    const out = Buffer.allocUnsafe(Math.max(0, end - position))
    return out.subarray(0, await this.readInto(position, out))
  }

  /**
   * Copies up to `dest.length` bytes at `position` into `dest` (the caller's memory, e.g. the kernel
   * request's); returns how many (fewer at EOF, 0 at or after it). Blocks never leave the reader this way,
   * so their memory is reused for later blocks. Once `signal` is aborted, `dest` is not written again
   * (the caller may have given the memory back) and the read fails with EINTR.
   */
  async readInto(position: number, dest: ReadDestination, signal?: ReadCancel): Promise<number> {
    let written = 0
    await this.#eachPart(position, dest.length, (view) => {
      if (signal?.aborted) throw new VfsError('EINTR', `read ${this.filePath}: the caller gave up`, { level: 'debug' })
      dest.set(view, written)
      written += view.length
    })
    return written
  }

  /**
   * Hands `use` the bytes of [position, position + length) block by block, as views of block memory.
   * `use` must be done with a view when it returns: the view is not kept across the next await.
   */
  async #eachPart(position: number, length: number, use: (view: Buffer) => void): Promise<void> {
    if (this.#closed) throw new VfsError('EBADF', `read ${this.filePath}: reader closed`)
    const end = Math.min(this.size, position + length)
    if (position >= end) return
    const B = this.#blockBytes
    const first = Math.floor(position / B)
    const last = Math.floor((end - 1) / B)
    for (let b = first; b <= last; b++) {
      const from = b === first ? position - b * B : 0
      const to = b === last ? end - b * B : this.blockLength(b)
      use(await this.#bytes(b, from, to, last))
    }
  }

  /** Bytes [from, to) of `block`, for a read that goes on to block `last`. */
  async #bytes(block: number, from: number, to: number, last: number): Promise<Buffer> {
    const key = this.#key(block)
    let counted = false
    // The stream this read waits on: it keeps waiting on it while it still comes (its place in the queue).
    let waitingOn: RangeStream | undefined
    for (;;) {
      if (this.#closed) throw new VfsError('EBADF', `read ${this.filePath}: reader closed`)
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
        if (stream) this.#demand(stream, block, last)
        const bytes = await partial.waitFor(from, to)
        if (bytes) return bytes
        continue
      }
      if (this.#hasLocalCopy()) {
        await this.#fillFromLocalCopy(block)
        continue
      }
      const stream = (waitingOn?.willReach(block) ? waitingOn : undefined) ??
        [...this.#streams].find((s) => s.covers(block)) ?? this.#streamBehindAtCap(block) ?? this.#startStream(block)
      this.#demand(stream, block, last)
      waitingOn = stream
      await stream.progress()
    }
  }

  /**
   * The stream is to fill `block` for a read that goes on to `last`: demanding both keeps a retired stream
   * going to the end of the read, so the read's next block does not wait for a new range in its turn.
   */
  #demand(stream: RangeStream, block: number, last: number): void {
    const seq = ++this.#seq
    stream.demand(block, seq)
    if (last > block) stream.demand(last, seq)
  }

  #hasLocalCopy(): boolean {
    const { fileId, versionId, size } = this.target
    return this.#localUsable && this.deps.localCopies?.has(fileId, versionId, size) === true
  }

  /**
   * Reads `block` from the local copy of this version into the block cache, as a stream would from the CDN
   * (readers of the block meanwhile wait on its partial). A copy that fails (it went meanwhile) is not asked
   * again: the block's readers ask again and go to the CDN.
   */
  async #fillFromLocalCopy(block: number): Promise<void> {
    const length = this.blockLength(block)
    await this.budget.reserve(length, () => true)
    if (this.#closed || this.#partials.has(block) || this.isCached(block)) {
      this.budget.release(length)
      return
    }
    const partial = new PartialBlock(block, this.deps.pool.take(length))
    this.#partials.set(block, partial)
    const { fileId, versionId, size } = this.target
    const read = await this.deps.localCopies!.readAt(fileId, versionId, size, partial.buf, this.blockStart(block)).catch(() => false)
    if (!read) this.#localUsable = false
    if (!read || this.#closed || this.#partials.get(block) !== partial) return this.dropBlock(partial)
    partial.advance(length)
    this.completeBlock(partial, true)
  }

  /**
   * With every stream slot taken, a read ahead of a running stream (within its longest read-ahead) waits for
   * the nearest one behind it instead of retiring one: kernel readahead keeps many reads in flight, and
   * retiring the stream that the reads behind them wait on made each start a stream of its own, over and
   * over, without end (16 reads of 1 MiB in flight never finished).
   */
  #streamBehindAtCap(block: number): RangeStream | undefined {
    const live = [...this.#streams].filter((s) => s.stopAfter === Number.POSITIVE_INFINITY && !s.ended)
    if (live.length < MAX_STREAMS_PER_FILE) return undefined
    const behind = live.filter((s) => s.nextBlock <= block && block - s.nextBlock <= MAX_READAHEAD_BLOCKS)
    return behind.reduce<RangeStream | undefined>((best, s) => (!best || s.nextBlock > best.nextBlock ? s : best), undefined)
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
    if (this.#closed || this.size === 0 || this.#streams.size > 0 || this.#partials.has(0) || this.isCached(0) || this.#hasLocalCopy()) return
    this.#startStream(0).demand(0, ++this.#seq)
  }

  /**
   * The last handle closed. Streams short of the blocks readers asked for by at most
   * FINISH_AFTER_RELEASE_BLOCKS finish them into the block cache; the others are aborted (a long stream of a
   * big file). Programs that open a file, read a little (or nothing: the page cache has it) and close it,
   * again and again (git, file managers, `file`), close before the prefetch at open has its bytes: aborting
   * it made every open fetch the file again. True while streams finish: `onSettled` is called once they
   * have, unless the reader was acquired again meanwhile (reacquired()).
   */
  settle(onSettled: () => void): boolean {
    if (this.#recent) this.deps.pool.unpin(this.#recent.buf)
    this.#recent = undefined
    for (const s of this.#streams) {
      const left = s.demandedBlocksLeft
      if (left > 0 && left <= FINISH_AFTER_RELEASE_BLOCKS) s.finishDemanded()
      else s.abort()
    }
    this.#onSettled = this.#streams.size > 0 ? onSettled : undefined
    return this.#onSettled !== undefined
  }

  /** A handle opened the version while settle()'s streams still finish: the reader serves it. */
  reacquired(): void {
    this.#onSettled = undefined
  }

  /** Aborts streams (cached blocks stay). */
  close(): void {
    this.#onSettled = undefined
    this.#closed = true
    if (this.#recent) this.deps.pool.unpin(this.#recent.buf)
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
  async openRange(start: number, signal: AbortSignal): Promise<RangeResponse> {
    const url = this.deps.api.deliveryUrl({ ...this.#source, versionId: this.target.versionId })
    this.counters.rangeRequests++
    const response = await this.deps.api.readRange(url, start, undefined, { signal })
    if (response.totalSize !== this.size) {
      // Refused before its ETag is taken as the version's: it is another version's (a file stored over elsewhere,
      // which its own URL then delivers with the ETag of the earlier ranges).
      response.close()
      this.counters.staleResponses++
      throw new StaleContentError(this.size, response.totalSize)
    }
    const etag = response.etag?.replace(/^W\//, '')
    if (etag !== undefined) {
      // Earlier ranges of this version: this reader's, or those its cached blocks came from (an earlier reader's).
      const known = this.#etag ?? this.deps.cache.etagOf(this.target.fileId, this.target.versionId)
      if (known !== undefined && etag !== known) {
        response.close()
        this.counters.staleResponses++
        throw new StaleContentError(this.size, response.totalSize, 'delivery served a range of other content (its ETag changed) than the earlier ranges of this version')
      }
      this.#etag = etag
    }
    return response
  }
  startBlock(_stream: RangeStream, block: number): PartialBlock {
    const partial = new PartialBlock(block, this.deps.pool.take(this.blockLength(block)))
    this.#partials.set(block, partial)
    return partial
  }
  completeBlock(partial: PartialBlock, demanded: boolean): void {
    this.#partials.delete(partial.index)
    if (demanded) {
      // Pinned before it enters the cache: a tiny cache may drop it at once, and its reader still reads it.
      this.deps.pool.pin(partial.buf)
      if (this.#recent) this.deps.pool.unpin(this.#recent.buf)
      this.#recent = partial
    }
    this.deps.cache.set(this.#key(partial.index), partial.buf, this.#etag)
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
    if (this.#streams.size > 0 || !this.#onSettled) return
    const settled = this.#onSettled
    this.#onSettled = undefined
    settled()
  }

  #key(block: number): string {
    return BlockCache.key(this.target.fileId, this.target.versionId, block)
  }
}
