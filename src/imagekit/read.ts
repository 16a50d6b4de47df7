/**
 * Ranged GET of a delivery URL, checked before any byte is handed out:
 * - 206: `Content-Range` must start at the requested offset; its total is the file size.
 * - 200 (the server ignored the range): the first `start` bytes are skipped here and the total is
 *   `Content-Length`; a bounded range is cut at its end.
 * - anything else: the body is drained and dropped (an error page is never returned as file content) and
 *   the status becomes an ImageKitError (401/403 on delivery → IK_FORBIDDEN).
 * - a compressed body is refused: byte offsets must refer to the stored bytes.
 * Failures before the body starts retry like API calls. Once the body is handed out, a failure mid-way
 * rejects `deliver` (or errors `body`) with an ImageKitError; the caller resumes with a new range.
 * Requests go over the delivery connections of delivery/pool.ts (bytes straight into the caller's memory),
 * not through undici. No Authorization header is ever sent to a delivery host.
 */
import type { RangeResponse, RequestOptions } from './api.js'
import type { DeliveryConnection } from './delivery/connection.js'
import { HeadParseError, type ResponseHead } from './delivery/head.js'
import type { DeliveryPool } from './delivery/pool.js'
import { DeliveryRange } from './delivery/range.js'
import { ImageKitError } from './errors.js'
import { MAX_ERROR_BODY_BYTES, errorCodeOf, errorFromException, errorFromStatus, requestIdOf, type HttpTransport } from './http.js'
import { withRetry } from './retry.js'
import { pathOfUrl } from './url.js'

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/
/** How a kept-alive connection that the server closed while idle fails when used again. */
const STALE_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])

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
  const target = new URL(url)
  let exchange: Exchange
  try {
    exchange = await send(http.delivery, target, requestHead(target, headers), http.settings.requestTimeoutMs, signal)
  } catch (error) {
    if (error instanceof HeadParseError) {
      throw new ImageKitError('IK_BAD_RESPONSE', `GET ${route}: ${error.message}`, { method: 'GET', route, cause: error })
    }
    throw errorFromException(error, { method: 'GET', route, signal, retriable: true })
  }
  const { connection, id, head } = exchange
  const requestId = requestIdOf(head.headers)
  // The route is the URL's path only: no query, so no signature reaches the log.
  http.settings.log.debug({ operation: `GET ${route}`, status: head.statusCode, requestId, range: headers.range }, 'delivery response')
  const etag = single(head.headers.etag)
  const fail = (message: string, code: 'IK_BAD_RESPONSE' | 'IK_RANGE_NOT_SATISFIABLE' = 'IK_BAD_RESPONSE'): never => {
    connection.discard(id, MAX_ERROR_BODY_BYTES)
    const suffix = requestId ? ` (requestId ${requestId})` : ''
    throw new ImageKitError(code, `GET ${route}: ${message}${suffix}`, { status: head.statusCode, method: 'GET', route, requestId })
  }
  const wanted = endInclusive === undefined ? undefined : endInclusive - start + 1
  const mapError = (error: unknown) => {
    if (error instanceof HeadParseError) return new ImageKitError('IK_BAD_RESPONSE', `GET ${route}: ${error.message}`, { method: 'GET', route, requestId, cause: error })
    return errorFromException(error, { method: 'GET', route, signal, retriable: true, requestId })
  }
  const range = (skip: number, bodyBytes: number | undefined, totalSize: number) => new DeliveryRange(connection, id, {
    start, totalSize, etag, requestId, skip, mapError, signal,
    ...(wanted !== undefined && (bodyBytes === undefined || bodyBytes > wanted) ? { take: wanted } : {}),
  })

  if (head.statusCode === 206 || head.statusCode === 200) {
    const coding = single(head.headers['content-encoding'])?.trim().toLowerCase()
    if (coding && coding !== 'identity') return fail(`body is encoded (${coding}), not the stored bytes`)
  }
  if (head.statusCode === 206) {
    const match = CONTENT_RANGE.exec(single(head.headers['content-range']) ?? '')
    if (!match) return fail(`206 without a usable Content-Range`)
    const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])]
    if (first !== start) return fail(`206 starts at ${first}, asked for ${start}`)
    if (last < first || last >= total) return fail(`206 with an impossible Content-Range ${first}-${last}/${total}`)
    return range(0, last - first + 1, total)
  }
  if (head.statusCode === 200) {
    const length = head.framing.kind === 'length' ? head.framing.length : Number.NaN
    if (!Number.isSafeInteger(length) || length < 0) return fail('200 without Content-Length')
    if (start > 0 && start >= length) return fail(`range starts at ${start}, file has ${length} bytes`, 'IK_RANGE_NOT_SATISFIABLE')
    return range(start, length - start, length)
  }
  // An error page: drop it, never hand it out as content.
  connection.discard(id, MAX_ERROR_BODY_BYTES)
  throw errorFromStatus({
    host: 'delivery',
    method: 'GET',
    route,
    status: head.statusCode,
    headers: head.headers,
    bodyText: '',
    scrub: (text) => http.scrub(text),
  })
}

interface Exchange {
  connection: DeliveryConnection
  id: number
  head: ResponseHead
}

/** Sends `head` on a pooled connection and waits for the response head. */
async function send(pool: DeliveryPool, url: URL, head: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<Exchange> {
  for (;;) {
    const { connection, reused } = await pool.acquire(url, signal)
    const onAbort = () => connection.destroy()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const request = connection.request(head, timeoutMs)
      return { connection, id: request.id, head: await request.head }
    } catch (error) {
      // A kept-alive connection the server closed while it sat idle: once more on another connection,
      // without counting it as a retry (nothing reached the server).
      if (reused && connection.received === 0 && STALE_CONNECTION_CODES.has(errorCodeOf(error) ?? '') && !signal?.aborted) continue
      throw error
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }
}

/** The request line and headers; the path and query go out exactly as the URL holds them (signatures cover them). */
function requestHead(url: URL, headers: Record<string, string>): string {
  let text = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(value)) throw new TypeError(`header ${name} holds a line break`)
    text += `${name}: ${value}\r\n`
  }
  return `${text}\r\n`
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
