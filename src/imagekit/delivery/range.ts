/**
 * RangeResponse over a delivery connection: the checked head's facts, and a body delivered straight into
 * the caller's sink. When the server ignored the range (a 200), the bytes before the asked start are read
 * past here; when it sent more than asked, the download stops once the asked bytes are out.
 */
import type { Readable } from 'node:stream'
import type { BodySink, RangeResponse } from '../api.js'
import type { DeliveryConnection } from './connection.js'
import { rangeReadable } from './readable.js'

/** Bytes before the asked start of a range-ignoring 200 are read into (and dropped from) this much memory. */
const SKIP_BYTES = 64 * 1024

export interface DeliveryRangeInit {
  start: number
  totalSize: number
  etag?: string
  requestId?: string
  /** Body bytes to drop before the range starts. */
  skip: number
  /** Bytes to deliver after the skip, when the body holds more than that. */
  take?: number
  /** Turns a transport failure mid-body into an ImageKitError. */
  mapError: (error: unknown) => Error
  signal?: AbortSignal
}

export class DeliveryRange implements RangeResponse {
  readonly start: number
  readonly totalSize: number
  readonly etag?: string
  readonly requestId?: string
  #skip: number
  #take: number | undefined
  #bin: Buffer | undefined
  #body: Readable | undefined
  readonly #mapError: (error: unknown) => Error
  readonly #signal: AbortSignal | undefined
  readonly #onAbort = () => this.close()

  constructor(readonly connection: DeliveryConnection, readonly id: number, init: DeliveryRangeInit) {
    this.start = init.start
    this.totalSize = init.totalSize
    if (init.etag !== undefined) this.etag = init.etag
    if (init.requestId !== undefined) this.requestId = init.requestId
    this.#skip = init.skip
    this.#take = init.take
    this.#mapError = init.mapError
    this.#signal = init.signal
    if (this.#signal?.aborted) this.close()
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  get body(): Readable {
    this.#body ??= rangeReadable(this)
    return this.#body
  }

  async deliver(sink: BodySink): Promise<void> {
    try {
      await this.connection.deliver(this.id, this.#skip > 0 || this.#take !== undefined ? this.#window(sink) : sink)
    } catch (error) {
      throw this.#mapError(error)
    } finally {
      this.#signal?.removeEventListener('abort', this.#onAbort)
    }
  }

  resume(): void {
    this.connection.resume(this.id)
  }

  close(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.connection.close(this.id)
  }

  /** The sink seen through the skip and take of this range. */
  #window(sink: BodySink): BodySink {
    return {
      nextRegion: () => {
        if (this.#skip > 0) {
          this.#bin ??= Buffer.allocUnsafe(SKIP_BYTES)
          return this.#bin.subarray(0, Math.min(SKIP_BYTES, this.#skip))
        }
        const region = sink.nextRegion()
        return region && this.#take !== undefined && region.length > this.#take ? region.subarray(0, this.#take) : region
      },
      wrote: (n) => {
        if (this.#skip > 0) {
          this.#skip -= n
          return
        }
        if (this.#take !== undefined) this.#take -= n
        sink.wrote(n)
        if (this.#take === 0) this.close() // every asked byte is out: stop the download
      },
    }
  }
}
