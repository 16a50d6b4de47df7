/**
 * One HTTP request through an undici dispatcher, its response body collected into memory: for API and upload
 * calls, whose JSON answers are read whole anyway. undici's request() wraps every response in a Readable
 * stream and an AsyncResource that the caller then reads to its end; on a small upload (one per file a `cp -r`
 * copies in) that machinery cost more of the daemon's time than the rest of the HTTP exchange. Here the
 * body's chunks go straight into an array.
 *
 * Failures are undici's own errors, as request() gives them: the promise rejects when no response head came
 * (connection refused, headers timeout, the signal aborted), and body() when the connection failed before the
 * body's end (a 2xx cut short).
 */
import type { Dispatcher } from 'undici'

export interface BufferedRequest {
  dispatcher: Dispatcher
  url: URL
  method: Dispatcher.HttpMethod
  headers: Record<string, string>
  body?: Dispatcher.DispatchOptions['body']
  signal?: AbortSignal | undefined
  headersTimeout: number
  bodyTimeout: number
  /** A response that is not 2xx keeps at most this many body bytes (an error page); the rest is dropped. */
  errorBodyLimit: number
}

export interface BufferedResponse {
  statusCode: number
  /** Lower-case names; a header sent more than once has all its values. */
  headers: Record<string, string | string[]>
  /** The whole body (of an error answer: its first errorBodyLimit bytes). */
  body(): Promise<Buffer>
}

export function requestBuffered(request: BufferedRequest): Promise<BufferedResponse> {
  return new Promise((resolve, reject) => {
    const handler = new BufferingHandler(request, resolve, reject)
    request.dispatcher.dispatch(
      {
        origin: request.url.origin,
        path: request.url.pathname + request.url.search,
        method: request.method,
        headers: request.headers,
        body: request.body,
        headersTimeout: request.headersTimeout,
        bodyTimeout: request.bodyTimeout,
      },
      handler,
    )
  })
}

/** undici's handler interface (onRequestStart … onResponseEnd), as undici-range.ts uses it. */
class BufferingHandler implements Dispatcher.DispatchHandler {
  readonly #request: BufferedRequest
  readonly #resolve: (response: BufferedResponse) => void
  readonly #reject: (error: unknown) => void
  #controller: Dispatcher.DispatchController | undefined
  #removeAbortListener: (() => void) | undefined
  #headersSeen = false
  readonly #chunks: Buffer[] = []
  #kept = 0
  #limit = Number.POSITIVE_INFINITY
  #ended: { error?: unknown } | undefined
  #waiting: { resolve: (body: Buffer) => void; reject: (error: unknown) => void } | undefined
  #body: Promise<Buffer> | undefined

  constructor(request: BufferedRequest, resolve: (response: BufferedResponse) => void, reject: (error: unknown) => void) {
    this.#request = request
    this.#resolve = resolve
    this.#reject = reject
    const signal = request.signal
    if (signal && !signal.aborted) {
      const onAbort = (): void => this.#controller?.abort(abortReason(signal))
      signal.addEventListener('abort', onAbort, { once: true })
      this.#removeAbortListener = () => signal.removeEventListener('abort', onAbort)
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    const signal = this.#request.signal
    if (signal?.aborted) return controller.abort(abortReason(signal))
    this.#controller = controller
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return // 1xx: the answer is still to come
    this.#headersSeen = true
    if (statusCode >= 300) this.#limit = this.#request.errorBodyLimit
    this.#resolve({ statusCode, headers: definedHeaders(headers), body: () => (this.#body ??= this.#whenEnded()) })
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#kept < this.#limit) {
      const part = this.#kept + chunk.length > this.#limit ? chunk.subarray(0, this.#limit - this.#kept) : chunk
      this.#chunks.push(part)
      this.#kept += part.length
    }
  }

  onResponseEnd(): void {
    this.#end({})
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.#headersSeen) this.#reject(error)
    this.#end({ error })
    // As request() does: a stream body still being sent is stopped with the request. Its 'error' event needs a
    // listener: undici drops its own when the request ends, and one never sent (a refused connection) has no
    // other, so the event would be an uncaught exception that ends the daemon.
    const body = this.#request.body as { destroy?: (error?: Error) => void; on?: (event: 'error', listener: () => void) => void } | null | undefined
    if (body && typeof body === 'object' && typeof body.destroy === 'function' && !Buffer.isBuffer(body)) {
      body.on?.('error', ignoreError)
      body.destroy(error)
    }
  }

  #end(ended: { error?: unknown }): void {
    if (this.#ended) return
    this.#ended = ended
    this.#removeAbortListener?.()
    this.#removeAbortListener = undefined
    const waiting = this.#waiting
    this.#waiting = undefined
    if (!waiting) return
    if ('error' in ended) waiting.reject(ended.error)
    else waiting.resolve(this.#whole())
  }

  #whenEnded(): Promise<Buffer> {
    const ended = this.#ended
    if (ended) return 'error' in ended ? Promise.reject(ended.error) : Promise.resolve(this.#whole())
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject }
    })
  }

  #whole(): Buffer {
    return this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#kept)
  }
}

function ignoreError(): void {}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('The request was aborted')
}

/** undici names headers in lower case, a repeated one with all its values. */
function definedHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  for (const name of Object.keys(headers)) if (headers[name] === undefined) delete headers[name]
  return headers as Record<string, string | string[]>
}
