/**
 * A block being filled by a stream: the network writes straight into its unfilled rest (region()).
 * Readers wait for just the bytes they need (a 128 KiB first read returns when those bytes arrive, not
 * when the whole block has). Owned by its FileReader's map while filling; the buffer becomes the cached
 * block when complete, and is never written again.
 */

interface Waiter {
  from: number
  to: number
  resolve: (bytes: Buffer | undefined) => void
  reject: (e: unknown) => void
}

export class PartialBlock {
  filled = 0
  #waiters: Waiter[] = []

  /** `buf` is the block's memory (fresh or reused: its old bytes are overwritten before anyone reads them). */
  constructor(readonly index: number, readonly buf: Buffer) {}

  get complete(): boolean {
    return this.filled === this.buf.length
  }
  get remaining(): number {
    return this.buf.length - this.filled
  }
  get hasWaiters(): boolean {
    return this.#waiters.length > 0
  }

  /** Bytes [from, to) of the block once filled; undefined when the block was dropped (ask again). */
  waitFor(from: number, to: number): Promise<Buffer | undefined> {
    if (this.filled >= to) return Promise.resolve(this.buf.subarray(from, to))
    return new Promise((resolve, reject) => this.#waiters.push({ from, to, resolve, reject }))
  }

  /** The unfilled rest of the block: where the next bytes from the network are written. */
  region(): Buffer {
    return this.buf.subarray(this.filled)
  }

  /** `length` more bytes were written at the start of region(); answers the waiters they complete. */
  advance(length: number): void {
    this.filled += length
    if (this.#waiters.length === 0) return
    const ready = this.#waiters.filter((w) => w.to <= this.filled)
    if (ready.length === 0) return
    this.#waiters = this.#waiters.filter((w) => w.to > this.filled)
    for (const w of ready) w.resolve(this.buf.subarray(w.from, w.to))
  }

  /** The stream gave up on this block: waiters fail with `error`, or retry when there is none. */
  drop(error?: unknown): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) {
      if (error === undefined) w.resolve(undefined)
      else w.reject(error)
    }
  }
}
