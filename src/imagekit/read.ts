/**
 * Ranged GET of a delivery URL, checked before any byte is handed out (range-checks.ts): an error page is
 * never returned as file content, a 200 that ignored the range is skipped to the start, a compressed body is
 * refused. Failures before the body starts retry like API calls. Once the body is handed out, a failure
 * mid-way rejects `deliver` (or errors `body`) with an ImageKitError; the caller resumes with a new range.
 * No Authorization header is ever sent to a delivery host.
 *
 * Two readers do the HTTP: the socket reader (socket-range.ts, the default: the body goes from the socket
 * straight into the caller's memory) and undici (undici-range.ts: `--delivery-client undici`, URLs that go
 * through a proxy, and the responses the socket reader leaves to it).
 */
import type { RangeResponse, RequestOptions } from './api.js'
import type { HttpTransport } from './http.js'
import type { RangeAsk } from './range-checks.js'
import { withRetry } from './retry.js'
import { readRangeWithSockets } from './socket-range.js'
import { readRangeWithUndici } from './undici-range.js'
import { pathOfUrl } from './url.js'

export type DeliveryClient = 'sockets' | 'undici'

/** The reader a delivery URL gets: the configured one, but undici through a proxy (the socket reader connects directly). */
export function readerFor(configured: DeliveryClient, proxied: boolean): DeliveryClient {
  return proxied ? 'undici' : configured
}

/** One ranged GET as both readers take it. */
export interface DeliveryRequest {
  target: URL
  ask: RangeAsk
  /** user-agent, range, accept-encoding: identity (never authorization). */
  headers: Record<string, string>
  signal: AbortSignal | undefined
}

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
  const headers = http.baseHeaders(false)
  headers.range = `bytes=${start}-${endInclusive ?? ''}`
  // Byte offsets must refer to the stored bytes, not a compressed encoding of them.
  headers['accept-encoding'] = 'identity'
  const target = new URL(url)
  const request: DeliveryRequest = {
    target,
    // Only the path goes into messages and logs: the query may hold a signature.
    ask: { route: pathOfUrl(url), start, endInclusive, scrub: (text) => http.scrub(withoutQueryOf(target, text)) },
    headers,
    signal: options.signal,
  }
  const attempt = readerFor(http.settings.deliveryClient ?? 'sockets', http.proxied(request.target)) === 'undici'
    ? () => readRangeWithUndici(http, request)
    : () => readRangeWithSockets(http, request)
  return withRetry(attempt, http.retryContext(`GET ${request.ask.route}`, options.signal, undefined, options.giveUp))
}

/** `text` (from the server, which may echo the request) without `target`'s query, raw or decoded, nor its signature. */
function withoutQueryOf(target: URL, text: string): string {
  const query = target.search
  if (query.length <= 1) return text
  let out = text
  for (const form of new Set([query, decodedOrSame(query)])) out = out.split(form).join('?[query]')
  const signature = target.searchParams.get('ik-s')
  return signature ? out.split(signature).join('[REDACTED]') : out
}

function decodedOrSame(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
