/**
 * Reusable buffers for the bytes of FUSE writes. fuse-native's `write` buffer points into libfuse's memory
 * and is detached once `cb` has run, so the adapter copies the bytes before anything async
 * (shared/fuse-native-notes.md). Copying into a pooled buffer instead of a new one per request keeps a
 * large copy (8,192 requests of 128 KiB per GiB) from allocating a GiB of short-lived buffers, whose garbage
 * collection cost more CPU than the copies themselves.
 *
 * A buffer is lent for one VFS write and given back when that write settles, not when `cb` runs: a write
 * answered by the deadline may still be using it.
 */

export interface WriteBufferLease {
  /** The copied bytes (a view of a pooled buffer). */
  readonly data: Buffer
  /** Gives the buffer back; call once, after the write that used it settled. */
  release(): void
}

export class WriteBuffers {
  readonly #free: Buffer[] = []

  /** `bufferBytes`: the largest write request (larger ones get a buffer of their own); `maxKept`: buffers kept idle. */
  constructor(readonly bufferBytes: number, readonly maxKept: number) {}

  /** Copies the first `length` bytes of `source` into a pooled buffer. */
  copy(source: Buffer, length: number): WriteBufferLease {
    const lease = this.take(length)
    source.copy(lease.data, 0, 0, length)
    return lease
  }

  /** A pooled buffer of `length` bytes, for the caller to fill. */
  take(length: number): WriteBufferLease {
    const pooled = length <= this.bufferBytes
    const whole = pooled ? (this.#free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes)) : Buffer.allocUnsafe(length)
    let released = false
    return {
      data: whole.subarray(0, length),
      release: () => {
        if (released) return
        released = true
        if (pooled && this.#free.length < this.maxKept) this.#free.push(whole)
      },
    }
  }

  /** Idle buffers (for tests). */
  get idle(): number {
    return this.#free.length
  }
}
