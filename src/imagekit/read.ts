/**
 * Ranged GET of a delivery URL, checked before any byte is handed out:
 * - 206: `Content-Range` must start at the requested offset; its total is the file size.
 * - 200 (the server ignored the range): the first `start` bytes are skipped here and the total is
 *   `Content-Length`; a bounded range is cut at its end.
 * - anything else: the body is drained and dropped (an error page is never returned as file content) and
 *   the status becomes an ImageKitError (401/403 on delivery → IK_FORBIDDEN).
 * Failures before the body starts retry like API calls. Once the body is handed out, a failure mid-stream
 * errors the returned Readable with an ImageKitError; the caller resumes with a new range.
 * No Authorization header is ever sent to a delivery host.
 */
import { Readable } from 'node:stream'
import { request, type Dispatcher } from 'undici'
import type { RangeResponse, RequestOptions } from './api.js'
import { ImageKitError } from './errors.js'
import { MAX_ERROR_BODY_BYTES, errorFromException, errorFromStatus, requestIdOf, type HttpTransport } from './http.js'
import { withRetry } from './retry.js'
import { pathOfUrl } from './url.js'

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/

export async function readRange(
  http: HttpTransport,
  url: string,
  start: number,
  endInclusive: number | undefined,
  options: RequestOptions = {},
): Promise<RangeResponse> {
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`readRange: bad start ${start}`)
  if (endInclusive !== undefined && (!Number.isSafeInteger(endInclusive) || endInclusive < start)) {
    throw new RangeError(`readRange: bad end ${endInclusive} for start ${start}`)
  }
  // Only the path goes into messages and logs: the query may hold a signature.
  const route = pathOfUrl(url)
  const attempt = () => readOnce(http, url, route, start, endInclusive, options.signal)
  return withRetry(attempt, http.retryContext(`GET ${route}`, options.signal))
}

async function readOnce(
  http: HttpTransport,
  url: string,
  route: string,
  start: number,
  endInclusive: number | undefined,
  signal: AbortSignal | undefined,
): Promise<RangeResponse> {
  const headers = http.baseHeaders(false)
  headers.range = `bytes=${start}-${endInclusive ?? ''}`
  // Byte offsets must refer to the stored bytes, not a compressed encoding of them.
  headers['accept-encoding'] = 'identity'
  const { requestTimeoutMs } = http.settings
  let response: Dispatcher.ResponseData
  try {
    response = await request(url, {
      dispatcher: http.agent,
      method: 'GET',
      headers,
      signal,
      headersTimeout: requestTimeoutMs,
      bodyTimeout: requestTimeoutMs,
    })
  } catch (error) {
    throw errorFromException(error, { method: 'GET', route, signal, retriable: true })
  }
  const requestId = requestIdOf(response.headers)
  // The route is the URL's path only: no query, so no signature reaches the log.
  http.settings.log.debug({ operation: `GET ${route}`, status: response.statusCode, requestId, range: headers.range }, 'delivery response')
  const etag = single(response.headers.etag)
  const fail = (message: string, code: 'IK_BAD_RESPONSE' | 'IK_RANGE_NOT_SATISFIABLE' = 'IK_BAD_RESPONSE'): never => {
    discard(response.body)
    const suffix = requestId ? ` (requestId ${requestId})` : ''
    throw new ImageKitError(code, `GET ${route}: ${message}${suffix}`, { status: response.statusCode, method: 'GET', route, requestId })
  }
  const wanted = endInclusive === undefined ? undefined : endInclusive - start + 1
  const mapStreamError = (error: unknown) => errorFromException(error, { method: 'GET', route, signal, retriable: true, requestId })

  if (response.statusCode === 206) {
    const match = CONTENT_RANGE.exec(single(response.headers['content-range']) ?? '')
    if (!match) return fail(`206 without a usable Content-Range`)
    const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])]
    if (first !== start) return fail(`206 starts at ${first}, asked for ${start}`)
    if (last < first || last >= total) return fail(`206 with an impossible Content-Range ${first}-${last}/${total}`)
    const body = byteWindow(response.body, 0, wanted, mapStreamError)
    return { start, totalSize: total, body, etag, requestId }
  }
  if (response.statusCode === 200) {
    const length = Number(single(response.headers['content-length']) ?? Number.NaN)
    if (!Number.isSafeInteger(length) || length < 0) return fail('200 without Content-Length')
    if (start > 0 && start >= length) return fail(`range starts at ${start}, file has ${length} bytes`, 'IK_RANGE_NOT_SATISFIABLE')
    const body = byteWindow(response.body, start, wanted, mapStreamError)
    return { start, totalSize: length, body, etag, requestId }
  }
  // An error page: drop it, never hand it out as content.
  discard(response.body)
  throw errorFromStatus({
    host: 'delivery',
    method: 'GET',
    route,
    status: response.statusCode,
    headers: response.headers,
    bodyText: '',
    scrub: (text) => http.scrub(text),
  })
}

/** Drops a body we will not use: small ones are read so the connection can be reused, big ones cut. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.dump({ limit: MAX_ERROR_BODY_BYTES }).catch(() => undefined)
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * The bytes of `source` after skipping `skip`, at most `take` of them; stops the download once `take`
 * bytes are out. Source errors reach the returned stream as `mapError(error)`. Backpressure is kept:
 * the source pauses while the consumer is not reading.
 */
function byteWindow(source: Readable, skip: number, take: number | undefined, mapError: (error: unknown) => Error): Readable {
  let toSkip = skip
  let remaining = take ?? Number.POSITIVE_INFINITY
  let finished = false
  const out = new Readable({
    read() {
      source.resume()
    },
    destroy(error, callback) {
      finished = true
      source.destroy()
      callback(error)
    },
  })
  const finish = () => {
    finished = true
    out.push(null)
    source.destroy()
  }
  source.on('data', (chunk: Buffer) => {
    if (finished) return
    let part = chunk
    if (toSkip > 0) {
      const dropped = Math.min(toSkip, part.length)
      toSkip -= dropped
      part = part.subarray(dropped)
    }
    if (part.length > remaining) part = part.subarray(0, remaining)
    remaining -= part.length
    const wantsMore = part.length === 0 || out.push(part)
    if (remaining === 0) finish()
    else if (!wantsMore) source.pause()
  })
  source.on('end', () => {
    if (!finished) {
      finished = true
      out.push(null)
    }
  })
  source.on('error', (error) => {
    if (!finished) out.destroy(mapError(error))
  })
  return out
}
