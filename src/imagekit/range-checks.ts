/**
 * The checks a ranged GET's response head must pass before any of its body is handed out as file content,
 * shared by both delivery readers (the socket reader and undici's):
 * - 206: `Content-Range` must start at the requested offset; its total is the file size. A `Content-Length`
 *   must be that span's length; a body without one (chunked) is cut at the span's end. Bytes beyond the
 *   span are never handed out as the file's.
 * - 200 (the server ignored the range): the first `start` bytes are to be skipped and the total is
 *   `Content-Length`; a bounded range is cut at its end.
 * - anything else is an ImageKitError (401/403 on delivery → IK_FORBIDDEN); an error page is never content.
 *   Its message quotes the CDN's `ik-error` header (`ENOENT - …`), scrubbed like any text from outside: the
 *   CDN's body is a generic page, and the header is the one place it says what was wrong.
 * - a compressed body is refused: byte offsets must refer to the stored bytes.
 */
import { ImageKitError } from './errors.js'
import { errorFromStatus, requestIdOf } from './http.js'
import { contentLengthOf, type HeadFields } from './response-head.js'

export interface RangeAsk {
  /** The URL's path only (never its query, which may hold a signature): for messages and logs. */
  route: string
  start: number
  endInclusive: number | undefined
  /** Takes secrets out of text that came from the server: the request's query (a signature) and the key. */
  scrub: (text: string) => string
}

/** How to turn an accepted body into the asked bytes. */
export interface RangePlan {
  /** Body bytes to drop before the range starts (a 200 that ignored the range). */
  skip: number
  /** Bytes to hand out when the body holds more than asked; undefined: all of it (after `skip`). */
  take: number | undefined
  /** The file's size as the server reports it. */
  totalSize: number
  etag: string | undefined
  requestId: string | undefined
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/

/** Accepts the head (a plan for its body) or throws the ImageKitError it stands for. */
export function checkRangeHead(ask: RangeAsk, status: number, headers: HeadFields): RangePlan {
  const requestId = requestIdOf(headers)
  const fail = (message: string, code: 'IK_BAD_RESPONSE' | 'IK_RANGE_NOT_SATISFIABLE' = 'IK_BAD_RESPONSE'): never => {
    const suffix = requestId ? ` (requestId ${requestId})` : ''
    throw new ImageKitError(code, `GET ${ask.route}: ${message}${suffix}`, {
      status, method: 'GET', route: ask.route, requestId,
    })
  }
  const { start, endInclusive } = ask
  const wanted = endInclusive === undefined ? undefined : endInclusive - start + 1
  const accept = (skip: number, bodyBytes: number, totalSize: number, cutAt?: number): RangePlan => ({
    skip,
    take: wanted !== undefined && bodyBytes > wanted ? wanted : cutAt,
    totalSize,
    etag: single(headers.etag),
    requestId,
  })
  if (status === 206 || status === 200) {
    const coding = single(headers['content-encoding'])?.trim().toLowerCase()
    if (coding && coding !== 'identity') return fail(`body is encoded (${coding}), not the stored bytes`)
  }
  if (status === 206) {
    const match = CONTENT_RANGE.exec(single(headers['content-range']) ?? '')
    if (!match) return fail(`206 without a usable Content-Range`)
    const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])]
    if (first !== start) return fail(`206 starts at ${first}, asked for ${start}`)
    if (last < first || last >= total) return fail(`206 with an impossible Content-Range ${first}-${last}/${total}`)
    const span = last - first + 1
    if (headers['content-length'] === undefined) return accept(0, span, total, span)
    const length = contentLengthOf(headers['content-length'])
    if (length !== span) {
      return fail(`206 whose Content-Length (${length ?? 'unusable'}) is not the length of its Content-Range ${first}-${last} (${span} bytes)`)
    }
    return accept(0, span, total)
  }
  if (status === 200) {
    const lengthText = single(headers['content-length'])?.trim() ?? ''
    const length = /^\d+$/.test(lengthText) ? Number(lengthText) : Number.NaN
    if (!Number.isSafeInteger(length)) return fail('200 without Content-Length')
    if (start > 0 && start >= length) return fail(`range starts at ${start}, file has ${length} bytes`, 'IK_RANGE_NOT_SATISFIABLE')
    return accept(start, length - start, length)
  }
  const ikError = single(headers['ik-error']) ?? ''
  throw errorFromStatus({ host: 'delivery', method: 'GET', route: ask.route, status, headers, bodyText: ikError, scrub: ask.scrub })
}

export function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
