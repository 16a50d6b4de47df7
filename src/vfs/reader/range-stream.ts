/**
 * One open-ended ranged response (`bytes=start-`) that fills successive blocks of one file.
 * See the design note in file-reader.ts. A stream:
 * - starts at a demanded block and fills blocks in order, each after reserving its bytes in the
 *   global budget (a demanded block goes first);
 * - runs ahead of the highest demanded block by a window that doubles while demands are sequential
 *   (INITIAL_READAHEAD_BLOCKS … MAX_READAHEAD_BLOCKS), and otherwise pauses between blocks: it stops
 *   pulling the body, so TCP backpressure holds the server;
 * - skips blocks that are already cached;
 * - resumes from the next missing byte with a new range when the body fails mid-way (bounded
 *   attempts without progress), so a dropped connection never yields wrong or missing bytes;
 * - never serves bytes of a response whose total size differs from the listing (StaleContentError).
 */
import type { RangeResponse } from '../../imagekit/api.js'
import type { ByteBudget } from '../budget.js'
import type { Counters } from '../stats.js'
import type { PartialBlock } from './partial-block.js'
import { BadRangeError, PrematureEndError, StaleContentError } from './read-errors.js'

/** Kernel reads are 128 KiB: one block ahead covers the next eight reads while the window grows. */
export const INITIAL_READAHEAD_BLOCKS = 1
/** 64 MiB of 1 MiB blocks: enough to keep one connection busy at high bandwidth-delay products. */
export const MAX_READAHEAD_BLOCKS = 64
/** A read this many blocks past the stream's position waits for it instead of opening a new range. */
export const FORWARD_SKIP_BLOCKS = 2
/** Consecutive body failures without progress before the stream gives up (the client already retried each request). */
export const MAX_RESUME_ATTEMPTS = 3

/** What a stream needs from its FileReader. */
export interface StreamHost {
  readonly size: number
  readonly budget: ByteBudget
  readonly counters: Counters
  blockLength(block: number): number
  blockStart(block: number): number
  isCached(block: number): boolean
  openRange(start: number, signal: AbortSignal): Promise<RangeResponse>
  startBlock(stream: RangeStream, block: number): PartialBlock
  completeBlock(partial: PartialBlock): void
  dropBlock(partial: PartialBlock, error?: unknown): void
  streamEnded(stream: RangeStream): void
}

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (e: unknown) => void
}

export class RangeStream {
  /** The block being filled, or the next one to fill. */
  nextBlock: number
  /** Highest block a reader asked this stream for. */
  demandUpTo: number
  windowBlocks = INITIAL_READAHEAD_BLOCKS
  /** Last block this stream may fill (lowered when another stream takes over). */
  stopAfter = Number.POSITIVE_INFINITY
  /** Recency of the last demand, to pick which stream to retire. */
  lastDemandSeq: number
  #partial: PartialBlock | undefined
  readonly #abort = new AbortController()
  #ended = false
  #error: unknown
  #progress: Deferred | undefined
  #wake: (() => void) | undefined

  constructor(readonly host: StreamHost, startBlock: number, seq: number) {
    this.nextBlock = startBlock
    this.demandUpTo = startBlock
    this.lastDemandSeq = seq
  }

  start(): void {
    void this.#run()
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Will this stream deliver `block` soon (without a new request)? */
  covers(block: number): boolean {
    return (
      !this.#ended && !this.#abort.signal.aborted && block >= this.nextBlock &&
      block <= this.nextBlock + FORWARD_SKIP_BLOCKS && block <= this.stopAfter
    )
  }

  demand(block: number, seq: number): void {
    if (block > this.demandUpTo) {
      if (block <= this.demandUpTo + 1) this.windowBlocks = Math.min(this.windowBlocks * 2, MAX_READAHEAD_BLOCKS)
      this.demandUpTo = block
    }
    this.lastDemandSeq = seq
    this.#wakeUp()
    this.host.budget.poke()
  }

  /** Finish the block a reader waits on, then end; end now if nobody waits. */
  retire(): void {
    if (this.#partial?.hasWaiters) {
      this.stopAfter = this.nextBlock
      this.#wakeUp()
    } else {
      this.abort()
    }
  }

  abort(): void {
    this.#abort.abort(new Error('stream aborted'))
    this.#wakeUp()
  }

  /** Resolves at the next block started/completed or at the end; rejects if the stream failed. */
  progress(): Promise<void> {
    if (this.#ended) return this.#error === undefined ? Promise.resolve() : Promise.reject(this.#error)
    if (!this.#progress) {
      let resolve!: () => void
      let reject!: (e: unknown) => void
      const promise = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      this.#progress = { promise, resolve, reject }
    }
    return this.#progress.promise
  }

  #emit(): void {
    const p = this.#progress
    this.#progress = undefined
    p?.resolve()
  }

  #wakeUp(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  get #aborted(): boolean {
    return this.#abort.signal.aborted
  }

  #bytePos(): number {
    return this.host.blockStart(this.nextBlock) + (this.#partial?.filled ?? 0)
  }

  /** False when the stream has nothing left to do. Waits while too far ahead of demand. */
  async #waitForWindow(): Promise<boolean> {
    while (
      !this.#aborted && this.nextBlock <= this.stopAfter &&
      this.nextBlock > this.demandUpTo + this.windowBlocks
    ) {
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
    return !this.#aborted && this.nextBlock <= this.stopAfter && this.host.blockStart(this.nextBlock) < this.host.size
  }

  async #run(): Promise<void> {
    let attempts = 0
    try {
      for (;;) {
        if (!this.#partial && !(await this.#waitForWindow())) break
        const pos = this.#bytePos()
        let response: RangeResponse
        try {
          response = await this.host.openRange(pos, this.#abort.signal)
        } catch (e) {
          if (this.#aborted) break
          throw e // the client has retried already
        }
        try {
          await this.#consume(response, pos)
          break
        } catch (e) {
          response.body.destroy()
          if (this.#aborted) break
          if (e instanceof StaleContentError || e instanceof BadRangeError) throw e // not resumable
          attempts = this.#bytePos() > pos ? 1 : attempts + 1
          if (attempts > MAX_RESUME_ATTEMPTS) throw e
          this.host.counters.streamResumes++
        }
      }
      this.#end(undefined)
    } catch (e) {
      this.#end(e)
    }
  }

  /** Fills blocks from one response; returns when done or stopped, throws when the body fails. */
  async #consume(response: RangeResponse, pos: number): Promise<void> {
    if (response.totalSize !== this.host.size) {
      this.host.counters.staleResponses++
      throw new StaleContentError(this.host.size, response.totalSize)
    }
    if (response.start > pos) throw new BadRangeError(`response starts at ${response.start}, asked ${pos}`)
    let skip = pos - response.start // a 200 that ignored the range starts at 0
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      let off = 0
      while (off < chunk.length) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - off)
          skip -= n
          off += n
          continue
        }
        if (!this.#partial) {
          if (!(await this.#waitForWindow())) return
          const block = this.nextBlock
          if (this.host.isCached(block)) {
            skip = this.host.blockLength(block)
            this.nextBlock++
            this.#emit()
            continue
          }
          await this.host.budget.reserve(
            this.host.blockLength(block),
            () => this.demandUpTo >= block,
            this.#abort.signal,
          )
          if (this.#aborted) {
            this.host.budget.release(this.host.blockLength(block))
            return
          }
          this.#partial = this.host.startBlock(this, block)
          this.#emit()
        }
        const partial = this.#partial
        const n = Math.min(chunk.length - off, partial.remaining)
        partial.append(chunk, off, n)
        this.host.counters.bytesReadFromNetwork += n
        off += n
        if (partial.complete) {
          this.#partial = undefined
          this.nextBlock++
          this.host.completeBlock(partial)
          this.#emit()
          if (this.host.blockStart(this.nextBlock) >= this.host.size) return
        }
      }
    }
    if (this.#bytePos() < this.host.size && !this.#aborted && this.nextBlock <= this.stopAfter) {
      throw new PrematureEndError(`body ended at ${this.#bytePos()} of ${this.host.size}`)
    }
  }

  #end(error: unknown): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = error
    if (!this.#abort.signal.aborted) this.#abort.abort(new Error('stream ended'))
    const partial = this.#partial
    this.#partial = undefined
    if (partial) this.host.dropBlock(partial, error)
    this.host.streamEnded(this)
    const p = this.#progress
    this.#progress = undefined
    if (error === undefined) p?.resolve()
    else p?.reject(error)
  }
}
