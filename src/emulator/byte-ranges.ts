/**
 * The URL endpoint's `Range` and conditional request headers (§6.3), as CloudFront, the CDN in front of
 * ImageKit, treats them: it "generally follows the RFC" (RFC 9110 §14, §13), and answers a Range header with
 * several ranges as a multipart/byteranges 206 when they are in ascending order and do not overlap; a header
 * that breaks those rules, or is malformed, gets the whole object (200).
 */

export interface ByteRange {
  start: number
  /** Inclusive. */
  end: number
}

export type RangeRequest = { kind: 'none' } | { kind: 'ranges'; ranges: ByteRange[] } | { kind: 'unsatisfiable' }

/** One `a-b`, `a-` or `-n` spec against `size` bytes: a range, `unsatisfiable`, or undefined when malformed. */
function parseSpec(spec: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  const m = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(spec)
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(m[1])
  if (m[2] !== '' && Number(m[2]) < start) return undefined
  if (start >= size) return 'unsatisfiable'
  return { start, end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) }
}

/**
 * `Range: bytes=...` against `size` bytes. Unsatisfiable specs among satisfiable ones are dropped (RFC 9110
 * §14.1.1); all unsatisfiable: 416. Malformed, out of order or overlapping: `none` (the whole body, 200).
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'none' }
  const m = /^\s*bytes\s*=(.*)$/i.exec(header)
  if (!m) return { kind: 'none' }
  const ranges: ByteRange[] = []
  let unsatisfiable = false
  for (const spec of (m[1] as string).split(',')) {
    const range = parseSpec(spec, size)
    if (range === undefined) return { kind: 'none' }
    if (range === 'unsatisfiable') unsatisfiable = true
    else ranges.push(range)
  }
  if (ranges.length === 0) return unsatisfiable ? { kind: 'unsatisfiable' } : { kind: 'none' }
  for (let i = 1; i < ranges.length; i++) if ((ranges[i] as ByteRange).start <= (ranges[i - 1] as ByteRange).end) return { kind: 'none' }
  return { kind: 'ranges', ranges }
}

/** Whole seconds, as an HTTP date carries them. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000)
}

/**
 * RFC 9110 §13.1.2-3: the cached copy the client names is still good, so the answer is 304. If-None-Match
 * (weak comparison, `*` matches) decides when present; else If-Modified-Since against `lastModifiedMs`.
 */
export function isNotModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, etag: string, lastModifiedMs: number): boolean {
  if (ifNoneMatch !== undefined) {
    const opaque = (tag: string) => tag.trim().replace(/^W\//, '')
    return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => opaque(tag) === etag)
  }
  if (ifModifiedSince === undefined) return false
  const since = Date.parse(ifModifiedSince)
  return !Number.isNaN(since) && seconds(lastModifiedMs) <= seconds(since)
}

/**
 * RFC 9110 §13.1.5: a Range applies only while the representation is the one If-Range names: an entity tag
 * by strong comparison (a weak one never matches), or a date equal to Last-Modified.
 */
export function rangeStillApplies(ifRange: string | undefined, etag: string, lastModifiedMs: number): boolean {
  if (ifRange === undefined) return true
  const value = ifRange.trim()
  if (value.startsWith('"') || value.startsWith('W/')) return value === etag
  const date = Date.parse(value)
  return !Number.isNaN(date) && seconds(date) === seconds(lastModifiedMs)
}
