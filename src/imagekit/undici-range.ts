/**
 * The delivery reader over undici: one ranged GET through undici's low-level `dispatch` on the transport's
 * delivery Agent (keep-alive pools per host, the connection cap, head and body timeouts), checked by
 * range-checks.ts before any byte is handed out. Each body chunk undici parsed out of the socket is copied
 * once, straight into the sink's memory (the block being filled): no Readable, no queue of chunks in between.
 * When the sink has no room, the response is paused (`controller.pause()`), which stops undici reading the
 * socket, so TCP flow control holds the server back until `resume()`.
 *
 * Except on a connection the server closes after the response (`Connection: close`): undici 7 throws an
 * uncatchable assertion when such a socket ends while its parser is paused (nodejs/undici#5360, fixed only in
 * undici 8, which needs Node 22). Those responses are never paused: their chunks queue up to
 * MAX_QUEUED_BYTES, beyond which the response is given up with a retriable error (the reader reads on from
 * there with a new range).
 *
 * The socket reader (socket-range.ts) is the default; this one serves `--delivery-client undici` and the
 * responses the socket reader does not frame itself (chunked bodies).
 *
 * undici's own timeouts start once a request is on a connection; the wait for one is bounded here (the
 * request timeout), and a request that waits takes a connection back from a paused response (reclaim.ts).
 */
import type { Dispatcher } from 'undici'
import type { BodySink, RangeResponse } from './api.js'
import { ImageKitError } from './errors.js'
import { MAX_ERROR_BODY_BYTES, errorFromException, requestIdOf, type HttpTransport } from './http.js'
import { makeRangeResponse } from './range-body.js'
import { checkRangeHead, single } from './range-checks.js'
import type { DeliveryRequest } from './read.js'
import { CONNECTION_RECLAIMED, NO_FREE_CONNECTION, type OriginConnectionUse, type Reclaimable } from './reclaim.js'
import { headerTokens } from './response-head.js'
import { abortedError } from './retry.js'

type Controller = Dispatcher.DispatchController

/** Body bytes held for a sink without room when the response cannot be paused. */
export const MAX_QUEUED_BYTES = 8 * 1024 * 1024
type Headers = Record<string, string | string[] | undefined>

/** One attempt of a ranged GET through undici. */
export function readRangeWithUndici(http: HttpTransport, request: DeliveryRequest): Promise<RangeResponse> {
  const { ask, signal, target } = request
  if (signal?.aborted) return Promise.reject(abortedError(`GET ${ask.route}`, signal.reason))
  const exchange = new DeliveryExchange(http, request)
  http.deliveryDispatcher(target).dispatch(
    {
      origin: target.origin,
      // The path and query go out exactly as the URL holds them (signatures cover them).
      path: `${target.pathname}${target.search}`,
      method: 'GET',
      headers: request.headers,
      headersTimeout: http.settings.requestTimeoutMs,
      bodyTimeout: http.settings.requestTimeoutMs,
    },
    exchange,
  )
  exchange.dispatched()
  return exchange.head
}

/** An error with a `code`, as errorFromException maps them. */
function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code })
}

type Phase = 'head' | 'body' | 'discard' | 'done'

/**
 * One request: the undici handler, and (once the head passed its checks) the RangeResponse handed out.
 * The response is paused from its head until `deliver` names a sink.
 */
class DeliveryExchange implements Dispatcher.DispatchHandler, Reclaimable {
  readonly head: Promise<RangeResponse>
  #resolveHead!: (range: RangeResponse) => void
  #rejectHead!: (error: unknown) => void
  #phase: Phase = 'head'
  #controller: Controller | undefined
  /** Set once the caller gave up (close, abort): the connection is dropped unless the body had ended. */
  #closed = false
  /** Body bytes to drop before the range starts (a 200 that ignored the range). */
  #skip = 0
  /** Bytes still to deliver when the body holds more than asked. */
  #take: number | undefined
  #requestId: string | undefined
  #sink: BodySink | undefined
  #delivered: { resolve: () => void; reject: (error: unknown) => void } | undefined
  /** The rest of a chunk that arrived when the sink had no room (the response is paused meanwhile). */
  #pending: Buffer | undefined
  /** The server closes the connection after this response: never paused (see above). */
  #closing = false
  /** Chunks that arrived while the sink had no room, on a response that cannot be paused. */
  readonly #queued: Buffer[] = []
  #queuedBytes = 0
  /** undici reported the end of the body (there may still be #pending bytes to hand out). */
  #ended = false
  #error: ImageKitError | undefined
  /** #feed is running (the sink's callbacks may call back into resume/close). */
  #feeding = false
  /** Error-body bytes drained so far. */
  #drained = 0
  /** Why the head was refused (rejected once its body is drained). */
  #refused: unknown
  readonly #onAbort = () => this.#abortBySignal()
  /** This request's origin, as far as connections go (shared by the reader's requests to it). */
  readonly #use: OriginConnectionUse<Reclaimable>
  /** Where this request stands in #use: waiting for a connection, on one, or neither any more. */
  #slot: 'waiting' | 'holding' | 'none' = 'waiting'
  #waitTimer: NodeJS.Timeout | undefined

  readonly route: string
  readonly signal: AbortSignal | undefined

  constructor(
    readonly http: HttpTransport,
    readonly request: DeliveryRequest,
  ) {
    this.route = request.ask.route
    this.signal = request.signal
    this.head = new Promise<RangeResponse>((resolve, reject) => {
      this.#resolveHead = resolve
      this.#rejectHead = reject
    })
    this.signal?.addEventListener('abort', this.#onAbort, { once: true })
    this.#use = http.deliveryConnectionUse(request.target.origin)
    this.#use.waiting++
  }

  /** After dispatch: unless already on a connection, waits for one, at most the request timeout. */
  dispatched(): void {
    if (this.#slot !== 'waiting') return
    this.#waitTimer = setTimeout(() => this.#noFreeConnection(), this.http.settings.requestTimeoutMs)
    this.#use.reclaimForWaiting()
  }

  /** Gives the connection up for a waiting request: `deliver` rejects with IK_RECLAIMED. */
  reclaim(): void {
    if (this.#phase !== 'body' || this.#closed) return
    this.http.settings.log.debug({ operation: `GET ${this.route}`, requestId: this.#requestId }, 'paused response gives its connection to a waiting request')
    this.#failDelivery(errorFromException(codedError('connection taken back', CONNECTION_RECLAIMED), {
      method: 'GET', route: this.route, retriable: true, requestId: this.#requestId,
    }))
  }

  // ---- undici handler ----

  onRequestStart(controller: Controller): void {
    this.#controller = controller
    if (this.#slot === 'waiting') {
      this.#slot = 'holding'
      this.#use.waiting--
      this.#use.holding++
      clearTimeout(this.#waitTimer)
    }
    if (this.#closed) controller.abort(new Error('delivery request given up'))
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Headers): void {
    this.#controller = controller
    if (this.#phase !== 'head') return
    const requestId = requestIdOf(headers)
    this.#requestId = requestId
    // The route is the URL's path only: no query, so no signature reaches the log.
    this.http.settings.log.debug({ operation: `GET ${this.route}`, status: statusCode, requestId, range: this.request.headers.range }, 'delivery response')
    let range: RangeResponse
    try {
      range = this.#check(statusCode, headers)
    } catch (error) {
      this.#discard(headers, error)
      return
    }
    this.#phase = 'body'
    this.#closing = headerTokens(headers.connection).includes('close')
    if (!this.#closing) controller.pause() // until deliver() names the memory the body goes to
    this.#resolveHead(range)
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#phase === 'discard') {
      this.#drained += chunk.length
      if (this.#drained > MAX_ERROR_BODY_BYTES) this.#refuse(controller)
      return
    }
    if (this.#phase !== 'body' || this.#closed) return
    if (this.#closing && (this.#pending || this.#queued.length > 0 || !this.#sink)) return this.#enqueue(chunk)
    this.#feed(chunk)
  }

  onResponseEnd(): void {
    this.#ended = true
    if (this.#phase === 'discard') {
      // Drained: the connection is back in the pool before the error is seen (a retry may reuse it).
      this.#phase = 'done'
      this.#detach()
      const error = this.#refused
      afterConnectionFree(() => this.#rejectHead(error))
    } else if (this.#phase === 'body' && !this.#pending && this.#queued.length === 0) {
      this.#finish()
    } else {
      this.#leaveConnection() // the body is all here: undici has the connection back
    }
  }

  onResponseError(_controller: Controller, error: Error): void {
    if (this.#phase === 'discard') {
      this.#phase = 'done'
      this.#detach()
      this.#rejectHead(this.#refused)
      return
    }
    if (this.#phase === 'head') {
      this.#phase = 'done'
      this.#detach()
      this.#rejectHead(errorFromException(error, { method: 'GET', route: this.route, signal: this.signal, retriable: true }))
      return
    }
    if (this.#phase !== 'body' || this.#closed) {
      this.#phase = 'done'
      this.#detach()
      return
    }
    this.#phase = 'done'
    this.#pending = undefined
    this.#detach()
    this.#error = errorFromException(error, {
      method: 'GET', route: this.route, signal: this.signal, retriable: true, requestId: this.#requestId,
    })
    const delivered = this.#delivered
    this.#delivered = undefined
    delivered?.reject(this.#error)
  }

  #check(status: number, headers: Headers): RangeResponse {
    const plan = checkRangeHead(this.request.ask, status, headers)
    this.#skip = plan.skip
    this.#take = plan.take
    return makeRangeResponse(this.request.ask.start, plan, {
      deliver: (sink) => this.#deliver(sink),
      resume: () => this.#resume(),
      close: () => this.#close(),
    })
  }

  /**
   * Reads and drops a refused body when it is small (the connection stays in the pool), then rejects the
   * head with `error`; closes the connection and rejects at once when the body is large.
   */
  #discard(headers: Headers, error: unknown): void {
    this.#phase = 'discard'
    this.#refused = error
    const length = Number(single(headers['content-length']) ?? 0)
    if (!(length <= MAX_ERROR_BODY_BYTES)) this.#refuse(this.#controller)
  }

  #refuse(controller: Controller | undefined): void {
    this.#phase = 'done'
    this.#detach()
    this.#drop(controller)
    this.#rejectHead(this.#refused)
  }

  // ---- delivery into the sink ----

  #deliver(sink: BodySink): Promise<void> {
    if (this.#error) return Promise.reject(this.#error)
    if (this.#phase !== 'body' || this.#closed) return Promise.resolve()
    this.#sink = sink
    const promise = new Promise<void>((resolve, reject) => (this.#delivered = { resolve, reject }))
    this.#resume()
    return promise
  }

  #resume(): void {
    // A resume from inside the sink's own callbacks: the running #feed asks the sink for room again anyway
    // (resuming undici here would hand out later bytes before the rest of the current chunk).
    if (this.#feeding) return
    if (this.#phase !== 'body' || this.#closed || !this.#sink) return
    this.#use.paused.resumed(this)
    const pending = this.#pending
    if (pending) {
      this.#pending = undefined
      this.#feed(pending)
      if (this.#pending || this.#phase !== 'body' || this.#closed) return
    }
    while (this.#queued.length > 0) {
      const chunk = this.#queued.shift()!
      this.#queuedBytes -= chunk.length
      this.#feed(chunk)
      if (this.#pending || this.#phase !== 'body' || this.#closed) return
    }
    if (this.#ended) return this.#finish()
    if (!this.#closing) this.#controller?.resume()
  }

  /** Holds a chunk of a response that cannot be paused; gives the response up when too much is held. */
  #enqueue(chunk: Buffer): void {
    this.#queued.push(chunk)
    this.#queuedBytes += chunk.length
    if (this.#queuedBytes + (this.#pending?.length ?? 0) <= MAX_QUEUED_BYTES) return
    this.#failDelivery(new ImageKitError('IK_NETWORK', `GET ${this.route}: response given up while the reader had no room (the server closes the connection after it, so it could not wait)`, {
      method: 'GET', route: this.route, requestId: this.#requestId, retriable: true,
    }))
  }

  /** Drops the response mid-body: `deliver` rejects with `error` (the reader reads on with a new range). */
  #failDelivery(error: ImageKitError): void {
    this.#phase = 'done'
    this.#pending = undefined
    this.#queued.length = 0
    this.#detach()
    this.#drop(this.#controller)
    this.#error = error
    const delivered = this.#delivered
    this.#delivered = undefined
    delivered?.reject(this.#error)
  }

  /** The wait for a connection outlived the request timeout: a retriable IK_TIMEOUT (undici drops the request once it starts). */
  #noFreeConnection(): void {
    if (this.#slot !== 'waiting' || this.#phase !== 'head') return
    this.#closed = true
    this.#phase = 'done'
    this.#detach()
    this.#rejectHead(errorFromException(codedError('no connection became free in time', NO_FREE_CONNECTION), {
      method: 'GET', route: this.route, signal: this.signal, retriable: true,
    }))
  }

  /** Copies `chunk` into the sink's regions: skip, take, and a pause when the sink has no room. */
  #feed(chunk: Buffer): void {
    this.#feeding = true
    try {
      this.#copy(chunk)
    } finally {
      this.#feeding = false
    }
  }

  #copy(chunk: Buffer): void {
    let at = 0
    if (this.#skip > 0) {
      at = Math.min(this.#skip, chunk.length)
      this.#skip -= at
    }
    const sink = this.#sink
    while (at < chunk.length && !this.#closed) {
      const region = sink?.nextRegion()
      if (!region || this.#closed) {
        if (this.#closed) return
        this.#pending = chunk.subarray(at)
        if (!this.#closing) {
          this.#controller?.pause()
          this.#use.paused.paused(this)
          this.#use.reclaimForWaiting()
        }
        return
      }
      let n = Math.min(region.length, chunk.length - at)
      if (this.#take !== undefined) n = Math.min(n, this.#take)
      region.set(chunk.subarray(at, at + n))
      at += n
      if (this.#take !== undefined) this.#take -= n
      sink!.wrote(n)
      if (this.#take === 0) {
        // Every asked byte is out (the server sent more than asked): stop the download.
        this.#close()
        return
      }
    }
  }

  #finish(): void {
    this.#phase = 'done'
    this.#detach()
    const delivered = this.#delivered
    this.#delivered = undefined
    if (delivered) afterConnectionFree(delivered.resolve)
  }

  #close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#pending = undefined
    this.#queued.length = 0
    this.#detach()
    if (this.#phase === 'body' && !this.#ended) this.#drop(this.#controller)
    const delivered = this.#delivered
    this.#delivered = undefined
    delivered?.resolve()
  }

  #abortBySignal(): void {
    if (this.#phase === 'head' || this.#phase === 'discard') {
      this.#closed = true
      this.#phase = 'done'
      this.#detach()
      this.#drop(this.#controller)
      this.#rejectHead(abortedError(`GET ${this.route}`, this.signal?.reason))
      return
    }
    this.#close()
  }

  /**
   * Gives up the connection (it is not reused): paused now, aborted in a microtask so that undici is never
   * aborted from inside one of its own callbacks.
   */
  #drop(controller: Controller | undefined): void {
    if (!controller) return // not connected yet: onRequestStart aborts it
    controller.pause()
    queueMicrotask(() => {
      if (!controller.aborted) controller.abort(new Error('delivery response given up'))
    })
  }

  /** Done with the signal and the connection. */
  #detach(): void {
    this.signal?.removeEventListener('abort', this.#onAbort)
    this.#leaveConnection()
  }

  /** Done with the connection (or the wait for one) as far as #use counts. */
  #leaveConnection(): void {
    clearTimeout(this.#waitTimer)
    this.#use.paused.resumed(this)
    if (this.#slot === 'waiting') this.#use.waiting--
    else if (this.#slot === 'holding') this.#use.holding--
    this.#slot = 'none'
  }
}

/**
 * Runs `fn` once undici has put the connection of a finished response back in its pool: with pipelining 1
 * it waits one turn of the event loop (setImmediate) after the body's end before the connection takes
 * another request. Settling after that lets the caller's next request reuse the kept-alive connection
 * instead of opening another one.
 */
function afterConnectionFree(fn: () => void): void {
  setImmediate(() => setImmediate(fn))
}
