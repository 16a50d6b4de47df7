/**
 * The socket reader: one ranged GET over a kept-alive connection of delivery-sockets.ts, HTTP/1.1 spoken
 * here. It exists for the cold-read path's CPU: the body's bytes go from the kernel straight into the
 * sink's memory (the block being filled), where undici reads into a fresh 64 KiB buffer per read, copies it
 * into its WebAssembly parser and out again (measured: 0.2 s of CPU per GiB against 0.7-1.4 s).
 *
 * It frames only what a ranged GET gets from a CDN: a head, then a body of Content-Length bytes. A chunked
 * or unframed body is handed to undici (undici-range.ts) with a new request; an error status's small body
 * is read and dropped so the connection stays in the pool.
 *
 * Reads land in one of two places (DeliveryConnection asks `nextBuffer` before each): the sink's next region,
 * cut to the bytes still due, when delivery runs and nothing waits; else the connection's scratch memory
 * (the head, bytes that came with it, the first read after a pause, a 200's bytes before the range), whose
 * bytes are then copied into the sink like undici's chunks were.
 */
import type { BodySink, RangeResponse } from './api.js'
import type { DeliveryConnection, SocketReceiver } from './delivery-sockets.js'
import { ImageKitError } from './errors.js'
import { MAX_ERROR_BODY_BYTES, errorCodeOf, errorFromException, requestIdOf, type HttpTransport } from './http.js'
import { makeRangeResponse } from './range-body.js'
import { checkRangeHead, type RangePlan } from './range-checks.js'
import type { DeliveryRequest } from './read.js'
import { CONNECTION_RECLAIMED } from './reclaim.js'
import { HeadParseError, parseResponseHead, type ResponseHead } from './response-head.js'
import { abortedError } from './retry.js'
import { readRangeWithUndici } from './undici-range.js'

/** One attempt of a ranged GET over the socket reader. */
export function readRangeWithSockets(http: HttpTransport, request: DeliveryRequest): Promise<RangeResponse> {
  const { signal, ask } = request
  if (signal?.aborted) return Promise.reject(abortedError(`GET ${ask.route}`, signal.reason))
  return new SocketExchange(http, request).head
}

type Phase = 'connecting' | 'head' | 'waiting' | 'body' | 'discard' | 'done'

class SocketExchange implements SocketReceiver {
  readonly head: Promise<RangeResponse>
  #resolveHead!: (range: RangeResponse | Promise<RangeResponse>) => void
  #rejectHead!: (error: unknown) => void
  #phase: Phase = 'connecting'
  #connection: DeliveryConnection | undefined
  /** Head bytes in the connection's scratch so far. */
  #headBytes = 0
  /** Body bytes the server has still to send (the body's Content-Length less what arrived). */
  #due = 0
  /** Body bytes still to drop before the range (a 200 that ignored the range). */
  #skip = 0
  /** Bytes still to hand out when the body holds more than asked. */
  #take: number | undefined
  /** Arrived body bytes not handed out yet (in the scratch, or in spare memory while paused). */
  readonly #pending: Uint8Array[] = []
  /** The sink's region the next read lands in (cut to what is due), else undefined: it goes to spare memory. */
  #region: Uint8Array | undefined
  /** The memory this exchange named for the next read (the region, a spare or the scratch). */
  #given: Uint8Array | undefined
  #sink: BodySink | undefined
  #delivered: { resolve: () => void; reject: (error: unknown) => void } | undefined
  /** Reading stopped: the sink had no room, or delivery has not started. */
  #paused = false
  #closed = false
  #error: ImageKitError | undefined
  /** Inside a sink callback: a resume from there is left to the running drain. */
  #draining = false
  /** The request went out again after a kept-alive connection closed under it. */
  #sentAgain = false
  #requestId: string | undefined
  /** Why the head was refused (rejected once its body is drained). */
  #refused: unknown
  readonly #route: string
  readonly #onAbort = () => this.#abortBySignal()

  constructor(
    readonly http: HttpTransport,
    readonly request: DeliveryRequest,
  ) {
    this.#route = request.ask.route
    this.head = new Promise<RangeResponse>((resolve, reject) => {
      this.#resolveHead = resolve
      this.#rejectHead = reject
    })
    request.signal?.addEventListener('abort', this.#onAbort, { once: true })
    http.deliverySockets.acquire(request.target, request.signal).then(
      (connection) => this.#send(connection),
      (error: unknown) => this.#failHead(error),
    )
  }

  // ---- the request and its head ----

  #send(connection: DeliveryConnection): void {
    if (this.#phase !== 'connecting') {
      // Given up while waiting for a connection: it goes back unused.
      this.http.deliverySockets.release(connection)
      return
    }
    this.#connection = connection
    connection.receiver = this
    this.#phase = 'head'
    this.#headBytes = 0
    const { target, headers } = this.request
    let text = `GET ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\n`
    for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`
    text += 'connection: keep-alive\r\n\r\n'
    connection.resume(this.http.settings.requestTimeoutMs)
    connection.socket.write(text, 'latin1')
  }

  nextBuffer(connection: DeliveryConnection): Uint8Array {
    this.#region = undefined
    if (this.#phase === 'head') return (this.#given = connection.scratch.subarray(this.#headBytes))
    const limit = Math.min(this.#due, this.#take ?? Number.POSITIVE_INFINITY)
    const region = this.#phase === 'body' && !this.#paused && this.#pending.length === 0 && this.#skip === 0 && limit > 0
      ? this.#sink?.nextRegion()
      : undefined
    if (region && region.length > 0) {
      this.#region = region.length > limit ? region.subarray(0, limit) : region
      return (this.#given = this.#region)
    }
    return (this.#given = this.#spare(connection))
  }

  received(n: number, buffer: Uint8Array): boolean {
    // The first read after this exchange took the connection lands where the one before chose (DeliveryConnection
    // asks for the next buffer right after each read): those bytes are copied out before that memory is reused.
    const ours = buffer === this.#given
    this.#given = undefined
    if (!ours) this.#region = undefined
    switch (this.#phase) {
      case 'head': {
        const { scratch } = this.#connection!
        const landed = ours ? n : Math.min(n, scratch.length - this.#headBytes)
        if (!ours) scratch.set(buffer.subarray(0, landed), this.#headBytes)
        this.#headBytes += landed
        return this.#readHead(this.#headBytes - landed)
      }
      case 'discard':
        this.#due -= Math.min(n, this.#due)
        if (this.#due === 0) this.#discarded()
        return true
      case 'waiting':
      case 'body':
        return this.#bodyBytes(n, ours ? buffer : Buffer.from(buffer.subarray(0, n)))
      default:
        return false
    }
  }

  failed(error: Error): void {
    const connection = this.#connection
    this.#connection = undefined
    switch (this.#phase) {
      case 'connecting':
        return this.#failHead(error)
      case 'head':
        if (this.#headBytes === 0 && connection && connection.served > 0 && !this.#sentAgain) {
          // A kept-alive connection the server closed as the request went out: once more on a fresh one.
          this.#sentAgain = true
          this.#phase = 'connecting'
          this.http.deliverySockets.acquire(this.request.target, this.request.signal).then(
            (fresh) => this.#send(fresh),
            (failure: unknown) => this.#failHead(failure),
          )
          return
        }
        return this.#failHead(error)
      case 'discard':
        this.#phase = 'done'
        this.#detach()
        return this.#rejectHead(this.#refused)
      case 'waiting':
      case 'body':
        // A server that closes after the last byte (Connection: close) did not fail anything.
        if (this.#due === 0) return
        if (errorCodeOf(error) === CONNECTION_RECLAIMED) {
          this.http.settings.log.debug({ operation: `GET ${this.#route}`, requestId: this.#requestId }, 'paused response gives its connection to a waiting request')
        }
        return this.#failBody(error)
      default:
    }
  }

  /** Looks for the complete head in the scratch; `searchFrom`: the bytes before it were searched already. */
  #readHead(searchFrom: number): boolean {
    const connection = this.#connection!
    let head: ResponseHead | undefined
    try {
      head = parseResponseHead(connection.scratch, this.#headBytes, searchFrom)
      // 1xx interim answers precede the real one: dropped.
      while (head && head.status >= 100 && head.status < 200) {
        connection.scratch.copyWithin(0, head.headBytes, this.#headBytes)
        this.#headBytes -= head.headBytes
        head = parseResponseHead(connection.scratch, this.#headBytes)
      }
    } catch (error) {
      this.#giveUp(this.#badResponse(error instanceof HeadParseError ? error.message : String(error)))
      return false
    }
    if (!head) {
      if (this.#headBytes < connection.scratch.length) return true
      this.#giveUp(this.#badResponse(`response head larger than ${connection.scratch.length} bytes`))
      return false
    }
    if (!head.keepAlive) connection.reusable = false
    const extra = connection.scratch.subarray(head.headBytes, this.#headBytes)
    this.#requestId = requestIdOf(head.headers)
    this.http.settings.log.debug(
      { operation: `GET ${this.#route}`, status: head.status, requestId: this.#requestId, range: this.request.headers.range },
      'delivery response',
    )
    let plan: RangePlan
    try {
      plan = checkRangeHead(this.request.ask, head.status, head.headers)
    } catch (error) {
      return this.#refuse(head, extra.length, error)
    }
    if (head.chunked || head.contentLength === undefined) {
      // Not a plain run of bytes: undici reads this one (a new request on its own connection).
      this.#handOver()
      return false
    }
    this.#due = head.contentLength
    this.#skip = plan.skip
    this.#take = plan.take
    this.#phase = 'waiting'
    // Stopped until deliver() names the memory the body goes to.
    this.#paused = true
    connection.pause(false)
    if (extra.length > 0) this.#bodyBytes(extra.length, extra)
    this.#resolveHead(this.#response(plan))
    return false
  }

  /** An error status: its body is read and dropped when small (the connection stays), then the head rejects. */
  #refuse(head: ResponseHead, arrived: number, error: unknown): boolean {
    this.#refused = error
    const length = head.chunked ? undefined : head.contentLength
    if (length === undefined || length > MAX_ERROR_BODY_BYTES || !head.keepAlive) {
      this.#phase = 'done'
      this.#detach()
      this.#dropConnection()
      this.#rejectHead(error)
      return false
    }
    this.#phase = 'discard'
    this.#due = length - Math.min(arrived, length)
    if (this.#due === 0) this.#discarded()
    return true
  }

  #discarded(): void {
    this.#phase = 'done'
    this.#detach()
    this.#releaseConnection()
    this.#rejectHead(this.#refused)
  }

  #handOver(): void {
    this.http.settings.log.debug({ operation: `GET ${this.#route}` }, 'delivery response not framed by length: read through undici')
    this.#phase = 'done'
    this.#detach()
    this.#dropConnection()
    this.#resolveHead(readRangeWithUndici(this.http, this.request))
  }

  // ---- the body ----

  #bodyBytes(n: number, buffer: Uint8Array): boolean {
    if (n > this.#due) {
      // More than the body holds: the server broke the framing; what follows can never be trusted.
      this.#connection!.reusable = false
      n = this.#due
    }
    this.#due -= n
    if (buffer === this.#region) {
      this.#region = undefined
      this.#handOut(n)
    } else {
      if (n > 0) this.#pending.push(buffer.subarray(0, n))
      if (this.#phase === 'body') this.#drain()
    }
    if (this.#phase === 'body' && !this.#closed && this.#due === 0 && this.#pending.length === 0) {
      this.#finish()
      return true
    }
    if (this.#paused || this.#closed || this.#phase !== 'body') return false
    return true
  }

  /** Counts `n` bytes that landed in the sink's region. */
  #handOut(n: number): void {
    if (this.#take !== undefined) this.#take -= n
    this.#draining = true
    try {
      this.#sink!.wrote(n)
    } finally {
      this.#draining = false
    }
    if (this.#take === 0) this.#close()
  }

  /** Copies pending bytes into the sink's regions; pauses when the sink has no room. */
  #drain(): void {
    this.#draining = true
    try {
      while (this.#pending.length > 0 && !this.#closed) {
        let piece = this.#pending[0]!
        if (this.#skip > 0) {
          const dropped = Math.min(this.#skip, piece.length)
          this.#skip -= dropped
          piece = piece.subarray(dropped)
        }
        if (piece.length === 0) {
          this.#pending.shift()
          continue
        }
        const region = this.#sink!.nextRegion()
        if (!region || this.#closed) {
          this.#pending[0] = piece
          if (!this.#closed) this.#pauseReading()
          return
        }
        let n = Math.min(region.length, piece.length)
        if (this.#take !== undefined) n = Math.min(n, this.#take)
        region.set(piece.subarray(0, n))
        this.#pending[0] = piece.subarray(n)
        if (this.#take !== undefined) this.#take -= n
        this.#sink!.wrote(n)
        if (this.#take === 0) {
          // Every asked byte is out (the server sent more than asked): stop the download.
          this.#close()
          return
        }
      }
    } finally {
      this.#draining = false
    }
  }

  #deliver(sink: BodySink): Promise<void> {
    if (this.#error) return Promise.reject(this.#error)
    if (this.#phase !== 'waiting' || this.#closed) return Promise.resolve()
    this.#sink = sink
    this.#phase = 'body'
    const promise = new Promise<void>((resolve, reject) => (this.#delivered = { resolve, reject }))
    this.#resume()
    return promise
  }

  #resume(): void {
    if (this.#draining || this.#phase !== 'body' || this.#closed || !this.#sink) return
    this.#paused = false
    this.#drain()
    if (this.#paused || this.#closed) return
    if (this.#due === 0 && this.#pending.length === 0) return this.#finish()
    this.#connection?.resume(this.http.settings.requestTimeoutMs)
  }

  #pauseReading(): void {
    if (this.#paused) return
    this.#paused = true
    this.#connection?.pause(true)
  }

  /** Where a read goes when not into the sink: the scratch after pending bytes in it, else new memory. */
  #spare(connection: DeliveryConnection): Uint8Array {
    const { scratch } = connection
    const last = this.#pending.at(-1)
    let free: Uint8Array = scratch
    if (last) {
      const end = last.buffer === scratch.buffer ? last.byteOffset - scratch.byteOffset + last.length : scratch.length
      const pendingInScratch = this.#pending.some((piece) => piece.buffer === scratch.buffer)
      free = pendingInScratch ? scratch.subarray(end) : scratch
      if (free.length < 4096) free = Buffer.allocUnsafe(scratch.length)
    }
    // Never more than this response still owes (bytes past it would belong to no one); when it owes nothing,
    // whatever arrives is a broken server's, or lands there while the next exchange takes the connection.
    return this.#due > 0 && free.length > this.#due ? free.subarray(0, this.#due) : free
  }

  #finish(): void {
    this.#phase = 'done'
    this.#detach()
    this.#releaseConnection()
    const delivered = this.#delivered
    this.#delivered = undefined
    delivered?.resolve()
  }

  #close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#pending.length = 0
    this.#detach()
    if (this.#phase !== 'done') {
      this.#phase = 'done'
      this.#dropConnection()
    }
    const delivered = this.#delivered
    this.#delivered = undefined
    delivered?.resolve()
  }

  #failBody(error: unknown): void {
    this.#phase = 'done'
    this.#pending.length = 0
    this.#detach()
    if (this.#closed) return
    this.#error = errorFromException(error, {
      method: 'GET', route: this.#route, signal: this.request.signal, retriable: true, requestId: this.#requestId,
    })
    const delivered = this.#delivered
    this.#delivered = undefined
    delivered?.reject(this.#error)
  }

  #failHead(error: unknown): void {
    if (this.#phase === 'done') return
    this.#phase = 'done'
    this.#detach()
    this.#dropConnection()
    this.#rejectHead(errorFromException(error, { method: 'GET', route: this.#route, signal: this.request.signal, retriable: true }))
  }

  #giveUp(error: ImageKitError): void {
    this.#phase = 'done'
    this.#detach()
    this.#dropConnection()
    this.#rejectHead(error)
  }

  #abortBySignal(): void {
    if (this.#phase === 'connecting' || this.#phase === 'head' || this.#phase === 'discard') {
      this.#phase = 'done'
      this.#closed = true
      this.#dropConnection()
      this.#rejectHead(abortedError(`GET ${this.#route}`, this.request.signal?.reason))
      return
    }
    this.#close()
  }

  #response(plan: RangePlan): RangeResponse {
    return makeRangeResponse(this.request.ask.start, plan, {
      deliver: (sink) => this.#deliver(sink),
      resume: () => this.#resume(),
      close: () => this.#close(),
    })
  }

  /** `message` may quote the server's bytes: scrubbed like any text that came from outside. */
  #badResponse(message: string): ImageKitError {
    return new ImageKitError('IK_BAD_RESPONSE', `GET ${this.#route}: ${this.request.ask.scrub(message)}`, { method: 'GET', route: this.#route })
  }

  #releaseConnection(): void {
    const connection = this.#connection
    this.#connection = undefined
    if (connection) this.http.deliverySockets.release(connection)
  }

  #dropConnection(): void {
    const connection = this.#connection
    this.#connection = undefined
    if (connection) this.http.deliverySockets.discard(connection)
  }

  #detach(): void {
    this.request.signal?.removeEventListener('abort', this.#onAbort)
  }
}
