/**
 * Memory of full-size blocks, reused: a block evicted from the cache becomes the next block the network
 * writes into, instead of a fresh 1 MiB allocation. Fresh memory is what reading costs most here: the
 * kernel faults in and zeroes every page on first touch, and V8 collects often under the external
 * memory churn (measured: ~0.5 s of CPU per GiB, more than receiving the bytes).
 *
 * A block may be reused only when no view of it can be alive outside the reader:
 * - `escape(block)`: the block was handed out as a view (FileReader.read returns subarrays, which the
 *   caller may keep): it is never reused, the GC frees it.
 * - `pin(block)`: a reader still serves from it outside the cache (FileReader's last completed block).
 * - Released blocks wait in quarantine until the event loop's check phase, so a read whose wait for a
 *   block has been answered (its continuation queued as a microtask) copies its bytes out before the
 *   memory is handed to the network again.
 */

/** Idle reusable blocks kept at most (16 MiB of 1 MiB blocks); more are left to the GC. */
export const MAX_POOLED_BLOCKS = 16

export class BlockPool {
  readonly #free: Buffer[] = []
  readonly #quarantine: Buffer[] = []
  readonly #escaped = new WeakSet<ArrayBufferLike>()
  readonly #pinned = new WeakSet<ArrayBufferLike>()
  #flush: NodeJS.Immediate | undefined
  /** Blocks served from reused memory (for tests and status). */
  reused = 0

  constructor(readonly blockBytes: number) {}

  /** Memory for a block of `length` bytes: a reused block when one is free and the size is full. */
  take(length: number): Buffer {
    if (length === this.blockBytes) {
      const block = this.#free.pop()
      if (block) {
        this.reused++
        return block
      }
    }
    return Buffer.allocUnsafe(length)
  }

  /** A block left the cache: reuse its memory unless a view of it may still be alive. */
  release(block: Buffer): void {
    const memory = block.buffer
    if (
      block.length !== this.blockBytes || block.byteOffset !== 0 || memory.byteLength !== this.blockBytes ||
      this.#escaped.has(memory) || this.#pinned.has(memory)
    ) return
    this.#quarantine.push(block)
    this.#flush ??= setImmediate(() => this.#endQuarantine())
  }

  /** Views of `block` were handed out: never reuse it. */
  escape(block: Uint8Array): void {
    this.#escaped.add(block.buffer)
  }

  pin(block: Buffer): void {
    this.#pinned.add(block.buffer)
  }

  unpin(block: Buffer): void {
    this.#pinned.delete(block.buffer)
  }

  get freeBlocks(): number {
    return this.#free.length
  }

  close(): void {
    if (this.#flush) clearImmediate(this.#flush)
    this.#flush = undefined
    this.#free.length = 0
    this.#quarantine.length = 0
  }

  #endQuarantine(): void {
    this.#flush = undefined
    for (const block of this.#quarantine.splice(0)) {
      // Escaped or pinned meanwhile (a read of the block between its eviction and now)?
      if (this.#escaped.has(block.buffer) || this.#pinned.has(block.buffer)) continue
      if (this.#free.length < MAX_POOLED_BLOCKS) this.#free.push(block)
    }
  }
}
