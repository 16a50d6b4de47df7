/**
 * The head of an HTTP/1.x response, parsed from the bytes the delivery socket received: the status line and
 * the header fields (names lower-cased, repeated fields as arrays, as undici and node:http hand them out),
 * and how the body is framed. Only what a ranged GET needs; anything it cannot frame safely is reported as
 * such, so the caller can hand the request to a full HTTP client.
 */

export type HeadFields = Record<string, string | string[] | undefined>

export interface ResponseHead {
  status: number
  headers: HeadFields
  /** Body length from Content-Length; undefined when the body is framed otherwise (chunked, or until close). */
  contentLength: number | undefined
  /** Transfer-Encoding was present (chunked): the body is not a plain run of bytes. */
  chunked: boolean
  /** The connection may carry another request once the body has been read (HTTP/1.1 without `close`). */
  keepAlive: boolean
  /** Bytes the head took, CRLFCRLF included. */
  headBytes: number
}

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/

export class HeadParseError extends Error {
  readonly code = 'IK_BAD_HEAD'
}

/**
 * Parses the first response head in `bytes[0, length)`. Returns undefined when the head is not complete yet
 * (no empty line so far); throws HeadParseError when it is malformed. `searchFrom` skips bytes already known
 * not to hold the end of the head.
 */
export function parseResponseHead(bytes: Uint8Array, length: number, searchFrom = 0): ResponseHead | undefined {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, length)
  const end = buffer.indexOf('\r\n\r\n', Math.max(0, searchFrom - 3), 'latin1')
  if (end < 0) return undefined
  const lines = buffer.toString('latin1', 0, end).split('\r\n')
  const statusMatch = STATUS_LINE.exec(lines[0] ?? '')
  if (!statusMatch) throw new HeadParseError(`not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`)
  const minor = statusMatch[1]
  const status = Number(statusMatch[2])
  const headers: HeadFields = {}
  for (let i = 1; i < lines.length; i++) {
    const match = FIELD.exec(lines[i]!)
    if (!match) throw new HeadParseError(`malformed header line ${i}`)
    const name = match[1]!.toLowerCase()
    const value = match[2]!
    const seen = headers[name]
    if (seen === undefined) headers[name] = value
    else if (Array.isArray(seen)) seen.push(value)
    else headers[name] = [seen, value]
  }
  const connection = headerTokens(headers.connection)
  const keepAlive = minor === '1' ? !connection.includes('close') : connection.includes('keep-alive')
  const chunked = headers['transfer-encoding'] !== undefined
  return { status, headers, contentLength: contentLengthOf(headers['content-length']), chunked, keepAlive, headBytes: end + 4 }
}

/** The comma-separated tokens of a header (all its fields), lower-cased: `Connection: close, TE`. */
export function headerTokens(value: string | string[] | undefined): string[] {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '')
  return joined.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token.length > 0)
}

/** Content-Length, when present once (or repeated with one value) and a plain decimal number. */
export function contentLengthOf(value: string | string[] | undefined): number | undefined {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value]
  const distinct = new Set(values.flatMap((v) => v.split(',')).map((v) => v.trim()))
  if (distinct.size !== 1) return undefined
  const [text] = distinct
  if (!/^\d{1,16}$/.test(text!)) return undefined
  const length = Number(text)
  return Number.isSafeInteger(length) ? length : undefined
}
