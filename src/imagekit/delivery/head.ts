/**
 * HTTP/1.1 response heads (RFC 9112 §4-6) parsed from bytes: the status, the headers, how the body is
 * framed and whether the connection may carry another request. Pure functions; connection.ts feeds them.
 */

/** How the body after a head ends. */
export type BodyFraming =
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Until the server closes the connection (no length given). */
  | { kind: 'close' }
  /** No body at all (1xx, 204, 304). */
  | { kind: 'none' }

export interface ResponseHead {
  statusCode: number
  /** Lower-case names; a repeated header is an array, as node:http and undici give them. */
  headers: Record<string, string | string[]>
  framing: BodyFraming
  /** The connection may carry another request once this body has been read to its end. */
  keepAlive: boolean
  /** The server's `Keep-Alive: timeout=N`, in ms, when it sent one. */
  keepAliveTimeoutMs?: number
}

/** A head that is not HTTP/1.x or contradicts itself: the response cannot be trusted. */
export class HeadParseError extends Error {
  override name = 'HeadParseError'
}

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: |$)/
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/

/** Offset just past the blank line ending a head in `buf[0, end)`, or -1 while it is incomplete. */
export function headEnd(buf: Uint8Array, end: number): number {
  for (let i = 3; i < end; i++) {
    if (buf[i] === 0x0a && buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) return i + 1
  }
  return -1
}

/** Parses a complete head (status line to the blank line, as latin1 text). */
export function parseResponseHead(text: string): ResponseHead {
  const lines = text.split('\r\n')
  const status = STATUS_LINE.exec(lines[0] ?? '')
  if (!status) throw new HeadParseError('response does not start with an HTTP/1.x status line')
  const http10 = status[1] === '0'
  const statusCode = Number(status[2])
  const headers: Record<string, string | string[]> = {}
  for (const line of lines.slice(1)) {
    if (line === '') continue
    // Obsolete line folding (a line starting with a space) may be rejected (RFC 9112 §5.2).
    const match = HEADER_LINE.exec(line)
    if (!match) throw new HeadParseError('malformed header line')
    const name = match[1]!.toLowerCase()
    const value = match[2]!
    const prior = headers[name]
    headers[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value]
  }
  const framing = framingOf(statusCode, headers)
  const connection = tokens(headers.connection)
  const keepAlive = framing.kind !== 'close' && (http10 ? connection.includes('keep-alive') : !connection.includes('close'))
  const timeout = /(?:^|[,;\s])timeout=(\d+)/i.exec(joined(headers['keep-alive']))
  return {
    statusCode,
    headers,
    framing,
    keepAlive,
    ...(timeout ? { keepAliveTimeoutMs: Number(timeout[1]) * 1000 } : {}),
  }
}

function framingOf(statusCode: number, headers: Record<string, string | string[]>): BodyFraming {
  if ((statusCode >= 100 && statusCode < 200) || statusCode === 204 || statusCode === 304) return { kind: 'none' }
  const codings = tokens(headers['transfer-encoding'])
  // A transfer coding overrides any Content-Length; anything but a final "chunked" runs until close (§6.3).
  if (codings.length > 0) return codings.at(-1) === 'chunked' ? { kind: 'chunked' } : { kind: 'close' }
  const lengths = joined(headers['content-length']).split(',').map((v) => v.trim()).filter((v) => v !== '')
  if (lengths.length === 0) return { kind: 'close' }
  if (!lengths.every((v) => /^\d{1,15}$/.test(v) && v === lengths[0])) throw new HeadParseError('invalid Content-Length')
  return { kind: 'length', length: Number(lengths[0]) }
}

function joined(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '')
}

function tokens(value: string | string[] | undefined): string[] {
  return joined(value).split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '')
}
