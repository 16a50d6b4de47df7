/**
 * A streaming multipart/form-data parser over any async byte source (an IncomingMessage, chunked or not).
 * Each part's body is handed to a sink as it arrives, with backpressure (the next chunk is read only after
 * the sink's write resolved); nothing but a delimiter-length tail is held in memory.
 */
import { decodeComponent } from './names.js'

export class MultipartError extends Error {}

export interface PartHeaders {
  name: string
  filename?: string
  contentType?: string
}

export interface PartSink {
  write(chunk: Buffer): void | Promise<void>
  end(): void | Promise<void>
}

/** Part headers larger than this are not form data. */
const MAX_PART_HEADER_BYTES = 16 * 1024

export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\b/i.test(contentType)) return undefined
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType)
  return m?.[1] ?? m?.[2]
}

function parseHeaders(block: string): PartHeaders {
  let name: string | undefined
  let filename: string | undefined
  let contentType: string | undefined
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const key = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (key === 'content-type') contentType = value
    if (key !== 'content-disposition') continue
    const params = /;\s*([A-Za-z*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g
    for (let m = params.exec(value); m; m = params.exec(value)) {
      const k = (m[1] as string).toLowerCase()
      const v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '').trim()
      if (k === 'name') name = v
      else if (k === 'filename' && filename === undefined) filename = v
      else if (k === 'filename*') {
        const ext = /^UTF-8''(.*)$/i.exec(v)
        if (ext?.[1] !== undefined) filename = decodeComponent(ext[1]) ?? filename // malformed: the plain filename stands
      }
    }
  }
  if (name === undefined) throw new MultipartError('a part has no name')
  return { name, ...(filename !== undefined ? { filename } : {}), ...(contentType !== undefined ? { contentType } : {}) }
}

export async function parseMultipart(
  source: AsyncIterable<Buffer>,
  boundary: string,
  onPart: (headers: PartHeaders) => PartSink | Promise<PartSink>,
): Promise<void> {
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1')
  /** The first delimiter, at the very start of a body without a preamble, has no CRLF before it. */
  const firstDelimiter = delimiter.subarray(2)
  const keep = delimiter.length - 1
  let buf: Buffer = Buffer.alloc(0)
  type State = 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'done'
  let state = 'preamble' as State
  const isDone = (): boolean => state === 'done'
  let sink: PartSink | undefined
  /** Nothing of the preamble was dropped yet: a delimiter may start at its first byte. */
  let atStart = true

  const step = async (final: boolean): Promise<void> => {
    for (;;) {
      if (state === 'preamble') {
        if (atStart) {
          // Looked for on its own, not by putting a CRLF in front of the body: that copied every first chunk.
          if (!final && buf.length < firstDelimiter.length && firstDelimiter.subarray(0, buf.length).equals(buf)) return
          atStart = false
          if (buf.subarray(0, firstDelimiter.length).equals(firstDelimiter)) {
            buf = buf.subarray(firstDelimiter.length)
            state = 'afterDelimiter'
            continue
          }
        }
        const at = buf.indexOf(delimiter)
        if (at < 0) { buf = buf.subarray(Math.max(0, buf.length - keep)); return }
        buf = buf.subarray(at + delimiter.length)
        state = 'afterDelimiter'
      } else if (state === 'afterDelimiter') {
        // After a delimiter: "--" ends the body, otherwise optional whitespace then CRLF.
        if (buf.length < 2) return
        if (buf[0] === 0x2d && buf[1] === 0x2d) { state = 'done'; return }
        const eol = buf.indexOf('\r\n')
        if (eol < 0) { if (buf.length > 256) throw new MultipartError('bad delimiter line'); return }
        if (buf.subarray(0, eol).toString('latin1').trim() !== '') throw new MultipartError('bad delimiter line')
        buf = buf.subarray(eol + 2)
        state = 'headers'
      } else if (state === 'headers') {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) {
          if (buf.length > MAX_PART_HEADER_BYTES) throw new MultipartError('part headers too large')
          return
        }
        const headers = parseHeaders(buf.subarray(0, end).toString('utf8'))
        buf = buf.subarray(end + 4)
        sink = await onPart(headers)
        state = 'body'
      } else if (state === 'body') {
        const at = buf.indexOf(delimiter)
        const current = sink as PartSink
        if (at >= 0) {
          if (at > 0) await current.write(buf.subarray(0, at))
          await current.end()
          sink = undefined
          buf = buf.subarray(at + delimiter.length)
          state = 'afterDelimiter'
          continue
        }
        const safe = final ? buf.length : buf.length - keep
        if (safe > 0) {
          await current.write(buf.subarray(0, safe))
          buf = buf.subarray(safe)
        }
        return
      } else {
        return
      }
    }
  }

  for await (const chunk of source) {
    if (isDone()) continue
    if (state === 'body' && buf.length > 0 && buf.length < delimiter.length && chunk.length >= delimiter.length) {
      // What a body step leaves behind is shorter than a delimiter: unless one starts in it, it is body data
      // to pass on, and the chunk needs no copy behind it (that was a GiB of copies per GiB uploaded).
      const at = Buffer.concat([buf, chunk.subarray(0, delimiter.length)]).indexOf(delimiter)
      if (at < 0 || at >= buf.length) {
        await (sink as PartSink).write(buf)
        buf = chunk
        await step(false)
        continue
      }
    }
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    await step(false)
  }
  if (!isDone()) {
    await step(true)
    if (!isDone()) throw new MultipartError('the multipart body ended early')
  }
}
