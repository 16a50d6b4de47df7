/**
 * The bytes of a spool file that is still being written, as an async iterable that follows it: it yields
 * what has been written so far, waits while the writer is ahead of nothing, and ends at the size given to
 * `end()`. It reads the file itself (its own descriptor), one chunk at a time and only when the consumer
 * asks for more: memory stays at one chunk whatever the file's size, and a network slower than the writer
 * just leaves the rest on disk.
 *
 * Only bytes reported by `grew()` are read: the writer calls it once a write has completed, and bytes
 * below that size never change while the upload lives (any other write aborts it first).
 *
 * Chunks are lent, not given: a yielded buffer is reused RING_CHUNKS - 1 chunks later, so that a 1 GiB
 * upload does not allocate a GiB of buffers (their garbage collection cost more CPU than sending them).
 * The consumer must be done with a chunk once it has asked for two more: undici, which sends it, asks for
 * the next chunk only after the socket took the previous one (its iterable-body writer waits for 'drain'
 * whenever a write was not flushed at once), so at most one chunk is still in flight when a new one is read.
 *
 * With `dropCachedPages`, what was read is dropped from the page cache behind the reader (spool/page-trim.ts).
 */
import { open } from 'node:fs/promises'
import { readFully } from '../../read-fully.js'
import { ReadPagesTrimmer, type PageTrimOptions } from '../spool/page-trim.js'

/** Disk reads and body chunks of this size: few per MiB, and nothing waits long for a full one. */
export const STREAM_CHUNK_BYTES = 1024 * 1024
/** Buffers a reader cycles through: one being read into, one in flight, two spare. */
export const RING_CHUNKS = 4

export class GrowingFile implements AsyncIterable<Buffer> {
  #available = 0
  #final: number | undefined
  #error: Error | undefined
  #wake: (() => void) | undefined

  readonly chunkBytes: number
  readonly #trim: PageTrimOptions
  readonly #closingLater: ((closed: Promise<void>) => void) | undefined

  /**
   * `closingLater` hears of a descriptor closed after its iteration ended (behind a trim's sync, which the body
   * does not wait for), so that an unmount can wait for it.
   */
  constructor(
    readonly path: string,
    options: PageTrimOptions & { chunkBytes?: number; closingLater?: (closed: Promise<void>) => void } = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? STREAM_CHUNK_BYTES
    this.#trim = options
    this.#closingLater = options.closingLater
  }

  /** The first `size` bytes are written. */
  grew(size: number): void {
    this.#available = Math.max(this.#available, size)
    this.#poke()
  }

  /** The file is complete at `size` bytes: the iteration ends there. */
  end(size: number): void {
    this.#final = size
    this.#available = size
    this.#poke()
  }

  /** Stops the iteration with `error` (an abort, or the request failed and nobody reads any more). */
  fail(error: Error): void {
    this.#error ??= error
    this.#poke()
  }

  #poke(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const fh = await open(this.path, 'r')
    const { dropCachedPages, trimStepBytes } = this.#trim
    const trimmer = dropCachedPages && new ReadPagesTrimmer(fh, dropCachedPages, trimStepBytes)
    const ring: Buffer[] = []
    let chunks = 0
    try {
      let position = 0
      for (;;) {
        if (this.#error) throw this.#error
        const limit = this.#final ?? this.#available
        const ready = limit - position
        if (this.#final !== undefined && ready <= 0) return
        // Wait for a full chunk while the file grows (fewer, larger writes to the socket).
        if (ready <= 0 || (this.#final === undefined && ready < this.chunkBytes)) {
          await new Promise<void>((resolve) => (this.#wake = resolve))
          continue
        }
        const slot = (ring[chunks++ % RING_CHUNKS] ??= Buffer.allocUnsafeSlow(this.chunkBytes))
        const chunk = slot.subarray(0, Math.min(this.chunkBytes, ready))
        if ((await readFully(fh, chunk, 0, chunk.length, position)) < chunk.length) {
          throw new Error(`${this.path} is shorter than the ${position + chunk.length} bytes written to it`)
        }
        position += chunk.length
        trimmer?.readTo(position)
        yield chunk
      }
    } finally {
      // A sync in progress is not waited for here: the body (and the upload's answer) need not wait for it.
      // Made first: an optional call would skip its argument, and with it the close, when nobody listens.
      if (trimmer?.busy) {
        const closed = trimmer.settled().then(() => fh.close()).catch(() => undefined)
        this.#closingLater?.(closed)
      } else await fh.close()
    }
  }
}
