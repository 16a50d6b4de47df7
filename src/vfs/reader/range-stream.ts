/**
 * One open-ended ranged response (`bytes=start-`) that fills successive blocks of one file.
 * See the design note in file-reader.ts. A stream:
 * - is the BodySink of its response: the network writes straight into the unfilled rest of the block
 *   being filled (PartialBlock.region()), with no copy in between;
 * - starts at a demanded block and fills blocks in order, each after reserving its bytes in the
 *   global budget (a demanded block goes first); when the reservation needs no waiting, the next block
 *   starts inside the same read callback, so the socket does not pause between blocks;
 * - runs ahead of the highest demanded block by a window that doubles while demands are sequential
 *   (INITIAL_READAHEAD_BLOCKS … host.maxWindowBlocks), and otherwise pauses between blocks: it gives
 *   the response no memory to write to, so TCP backpressure holds the server;
 * - reads past blocks that are already cached;
 * - resumes from the next missing byte with a new range when the body fails mid-way (bounded
 *   attempts without progress), so a dropped connection never yields wrong or missing bytes; a paused
 *   response whose connection the client took back for another request (IK_RECLAIMED) is no failure: the
 *   stream reads on once its reader wants more, and that never counts toward giving up;
 * - never serves bytes of a response whose total size differs from the listing (StaleContentError).
 */
import type { BodySink, RangeResponse } from '../../imagekit/api.js'
import { hasImageKitCode } from '../../imagekit/errors.js'
import type { ByteBudget } from '../budget.js'
import type { Counters } from '../stats.js'
import type { PartialBlock } from './partial-block.js'
import { BadRangeError, PrematureEndError, StaleContentError } from './read-errors.js'

/** Kernel reads are 128 KiB: one block ahead covers the next eight reads while the window grows. */
export const INITIAL_READAHEAD_BLOCKS = 1
/** 64 MiB of 1 MiB blocks: enough to keep one connection busy at high bandwidth-delay products. */
export const MAX_READAHEAD_BLOCKS = 64
/**
 * A read up to this many blocks past the stream's position waits for it instead of opening a new range:
 * kernel readahead keeps several 1 MiB reads in flight ahead of the stream, and 8 MiB of a running
 * stream arrive about as soon as a new request's first byte from a CDN (~100 ms at 100 MB/s).
 */
export const FORWARD_SKIP_BLOCKS = 8
/** Consecutive body failures without progress before the stream gives up (the client already retried each request). */
export const MAX_RESUME_ATTEMPTS = 3
/** Memory that bytes read past (cached blocks, the head of a range-ignoring response) are dropped into. */
const DISCARD_BYTES = 64 * 1024

/** What a stream needs from its FileReader. */
export interface StreamHost {
  readonly size: number
  /** Read-ahead is capped here (fewer than MAX_READAHEAD_BLOCKS when the block cache could not keep them). */
  readonly maxWindowBlocks: number
  readonly budget: ByteBudget
  readonly counters: Counters
  blockLength(block: number): number
  blockStart(block: number): number
  isCached(block: number): boolean
  openRange(start: number, signal: AbortSignal): Promise<RangeResponse>
  startBlock(stream: RangeStream, block: number): PartialBlock
  /** `demanded`: a reader asked for this block (it is not only read-ahead). */
  completeBlock(partial: PartialBlock, demanded: boolean): void
  dropBlock(partial: PartialBlock, error?: unknown): void
  streamEnded(stream: RangeStream): void
}

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (e: unknown) => void
}

export class RangeStream implements BodySink {
  /** The block being filled, or the next one to fill. */
  nextBlock: number
  /** Highest block a reader asked this stream for. */
  demandUpTo: number
  windowBlocks: number
  /** Last block this stream may fill (lowered when another stream takes over). */
  stopAfter = Number.POSITIVE_INFINITY
  /** Recency of the last demand, to pick which stream to retire. */
  lastDemandSeq: number
  #partial: PartialBlock | undefined
  /** The response delivering into this stream now. */
  #response: RangeResponse | undefined
  /** Bytes to read past before the next block's bytes start. */
  #skip = 0
  #discard: Buffer | undefined
  /** A wait for the window or the budget under way (the response is paused meanwhile); never rejects. */
  #preparing: Promise<void> | undefined
  readonly #abort = new AbortController()
  #ended = false
  /** finishDemanded(): no reader waits on this stream's blocks. */
  #unattended = false
  #error: unknown
  #progress: Deferred | undefined
  #wake: (() => void) | undefined

  constructor(readonly host: StreamHost, startBlock: number, seq: number) {
    this.nextBlock = startBlock
    this.demandUpTo = startBlock
    this.lastDemandSeq = seq
    this.windowBlocks = Math.min(INITIAL_READAHEAD_BLOCKS, host.maxWindowBlocks)
  }

  start(): void {
    void this.#run()
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Will this stream still fill `block`, however far ahead (a reader that waits on it keeps waiting)? */
  willReach(block: number): boolean {
    return !this.#ended && !this.#abort.signal.aborted && block >= this.nextBlock && block <= this.stopAfter
  }

  /** Will this stream deliver `block` soon (without a new request)? */
  covers(block: number): boolean {
    return (
      !this.#ended && !this.#abort.signal.aborted && block >= this.nextBlock &&
      block <= this.nextBlock + FORWARD_SKIP_BLOCKS && block <= this.stopAfter
    )
  }

  demand(block: number, seq: number): void {
    this.#unattended = false
    if (block > this.demandUpTo) {
      if (block <= this.demandUpTo + 1) this.windowBlocks = Math.min(Math.max(1, this.windowBlocks * 2), this.host.maxWindowBlocks)
      this.demandUpTo = block
    }
    this.lastDemandSeq = seq
    this.#wakeUp()
    this.host.budget.poke()
  }

  /**
   * Finish the blocks readers wait on, then end; end now if nobody waits. A reader waits on the block being
   * filled, or on progress() for a demanded block further on: the one the stream starts at (before its
   * response arrives: a slow origin, connections all taken), or one ahead of it (file-reader.ts: a read
   * ahead of a running stream waits for it). Ending that stream would wake its reader to start another
   * one, retiring the next reader's stream in turn, in a loop of microtasks that never lets a response in;
   * or, with many readers, send the reader to the back of the queue for a connection again and again.
   */
  retire(): void {
    const waitedOn = this.#progress !== undefined && this.demandUpTo >= this.nextBlock
    if (waitedOn) {
      this.stopAfter = this.demandUpTo
      this.#wakeUp()
    } else if (this.#partial?.hasWaiters) {
      this.stopAfter = this.nextBlock
      this.#wakeUp()
    } else {
      this.abort()
    }
  }

  /** Blocks from here to the last one readers asked for: what finishDemanded() would still fetch. */
  get demandedBlocksLeft(): number {
    return Math.max(0, Math.min(this.demandUpTo, this.stopAfter) - this.nextBlock + 1)
  }

  /**
   * Nobody reads through this stream any more: it fills the blocks readers asked for (into the block cache),
   * then ends. Its blocks no longer go before read-ahead for the budget: nobody waits on them.
   */
  finishDemanded(): void {
    this.#unattended = true
    this.stopAfter = Math.min(this.stopAfter, this.demandUpTo)
    this.#wakeUp()
  }

  /** Stops now: the block being filled is dropped (its budget released) before this returns. */
  abort(): void {
    this.#abort.abort(new Error('stream aborted'))
    this.#wakeUp()
    this.#end(undefined)
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
          response.close()
          if (this.#aborted) break
          if (e instanceof StaleContentError || e instanceof BadRangeError) throw e // not resumable
          const reclaimed = hasImageKitCode(e, 'IK_RECLAIMED')
          if (this.#bytePos() > pos) attempts = reclaimed ? 0 : 1
          else if (!reclaimed) attempts++
          if (attempts > MAX_RESUME_ATTEMPTS) throw e
          this.host.counters.streamResumes++
          // A response paused for the window or the budget failed (or was taken back): the next one starts
          // once that wait is over, never beside it (a second waiter would replace the first one's wake-up).
          await this.#preparing
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
    if (this.#aborted) return response.close() // aborted while the response was on its way
    this.#skip = pos - response.start // a 200 that ignored the range starts at 0
    this.#response = response
    try {
      await response.deliver(this)
    } finally {
      this.#response = undefined
      this.#skip = 0
    }
    if (this.#bytePos() < this.host.size && !this.#aborted && this.nextBlock <= this.stopAfter) {
      throw new PrematureEndError(`body ended at ${this.#bytePos()} of ${this.host.size}`)
    }
  }

  // ---- BodySink (called by the response, inside its read callbacks) ----

  nextRegion(): Uint8Array | undefined {
    if (this.#ended) return undefined
    for (;;) {
      if (this.#skip > 0) {
        this.#discard ??= Buffer.allocUnsafe(DISCARD_BYTES)
        return this.#discard.subarray(0, Math.min(DISCARD_BYTES, this.#skip))
      }
      if (this.#partial) return this.#partial.region()
      const next = this.#startBlockNow()
      if (next === 'skip') continue
      if (next === 'started') return this.#partial!.region()
      if (next === 'stop') {
        const response = this.#response
        queueMicrotask(() => response?.close()) // not from inside the response's own callback
      } else {
        this.#prepareLater()
      }
      return undefined
    }
  }

  wrote(n: number): void {
    if (this.#ended) return // bytes that landed after an abort, in a block already dropped
    if (this.#skip > 0) {
      this.#skip -= n
      return
    }
    const partial = this.#partial!
    partial.advance(n)
    this.host.counters.bytesReadFromNetwork += n
    if (!partial.complete) return
    this.#partial = undefined
    this.nextBlock++
    this.host.completeBlock(partial, partial.index <= this.demandUpTo)
    this.#emit()
  }

  /** Starts the next block if that needs no waiting; 'skip' when it is cached (its bytes are read past). */
  #startBlockNow(): 'started' | 'skip' | 'wait' | 'stop' {
    if (this.#aborted || this.nextBlock > this.stopAfter || this.host.blockStart(this.nextBlock) >= this.host.size) return 'stop'
    if (this.nextBlock > this.demandUpTo + this.windowBlocks) return 'wait'
    const block = this.nextBlock
    if (this.host.isCached(block)) {
      this.#skip = this.host.blockLength(block)
      this.nextBlock++
      this.#emit()
      return 'skip'
    }
    if (!this.host.budget.tryReserve(this.host.blockLength(block))) return 'wait'
    this.#partial = this.host.startBlock(this, block)
    this.#emit()
    return 'started'
  }

  /** Waits (the response paused) for the window and the budget to allow the next block, then resumes. */
  #prepareLater(): void {
    if (this.#preparing) return
    this.#preparing = this.#prepare().then(
      () => {
        this.#preparing = undefined
        this.#response?.resume()
      },
      () => {
        this.#preparing = undefined // aborted: the abort closes the response
      },
    )
  }

  async #prepare(): Promise<void> {
    if (!(await this.#waitForWindow())) {
      this.#response?.close()
      return
    }
    const block = this.nextBlock
    if (this.#partial || this.host.isCached(block)) return // nextRegion() takes it from here
    const bytes = this.host.blockLength(block)
    await this.host.budget.reserve(bytes, () => !this.#unattended && this.demandUpTo >= block, this.#abort.signal)
    if (this.#aborted || this.#partial || this.nextBlock !== block) {
      this.host.budget.release(bytes)
      return
    }
    this.#partial = this.host.startBlock(this, block)
    this.#emit()
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
