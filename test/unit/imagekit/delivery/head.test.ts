/** Response heads: status, headers, body framing and connection reuse, from bytes (RFC 9112). */
import { describe, expect, it } from 'vitest'
import { HeadParseError, headEnd, parseResponseHead } from '../../../../src/imagekit/delivery/head.js'

const head = (...lines: string[]) => parseResponseHead(lines.join('\r\n'))

describe('headEnd', () => {
  it('finds the blank line, or -1 while the head is incomplete', () => {
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\na: b\r\n\r\nBODY')
    expect(headEnd(bytes, bytes.length)).toBe(bytes.indexOf('BODY'))
    expect(headEnd(bytes, bytes.indexOf('BODY') - 1)).toBe(-1)
  })
})

describe('parseResponseHead', () => {
  it('reads the status and headers (lower-case names, repeated ones as arrays)', () => {
    const h = head('HTTP/1.1 206 Partial Content', 'Content-Range: bytes 0-9/100', 'Content-Length:  10 ', 'ETag: "v1"', 'X-A: 1', 'x-a: 2')
    expect(h.statusCode).toBe(206)
    expect(h.headers).toMatchObject({ 'content-range': 'bytes 0-9/100', 'content-length': '10', etag: '"v1"', 'x-a': ['1', '2'] })
    expect(h.framing).toEqual({ kind: 'length', length: 10 })
    expect(h.keepAlive).toBe(true)
  })

  it('frames bodies: chunked overrides a length, other codings and no length run until close, none for 204/304/1xx', () => {
    expect(head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Content-Length: 5').framing).toEqual({ kind: 'chunked' })
    expect(head('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip').framing).toEqual({ kind: 'close' })
    const open = head('HTTP/1.1 200 OK')
    expect(open.framing).toEqual({ kind: 'close' })
    expect(open.keepAlive).toBe(false)
    expect(head('HTTP/1.1 204 No Content').framing).toEqual({ kind: 'none' })
    expect(head('HTTP/1.1 304 Not Modified', 'Content-Length: 50').framing).toEqual({ kind: 'none' })
    expect(head('HTTP/1.1 103 Early Hints').framing).toEqual({ kind: 'none' })
    expect(head('HTTP/1.1 200 OK', 'Content-Length: 7, 7').framing).toEqual({ kind: 'length', length: 7 })
  })

  it('keeps the connection per version and Connection header, and reads the keep-alive hint', () => {
    expect(head('HTTP/1.1 200 OK', 'Content-Length: 0', 'Connection: close').keepAlive).toBe(false)
    expect(head('HTTP/1.0 200 OK', 'Content-Length: 0').keepAlive).toBe(false)
    expect(head('HTTP/1.0 200 OK', 'Content-Length: 0', 'Connection: Keep-Alive').keepAlive).toBe(true)
    expect(head('HTTP/1.1 200 OK', 'Content-Length: 0', 'Keep-Alive: timeout=5, max=100').keepAliveTimeoutMs).toBe(5000)
  })

  it('refuses what cannot be trusted: not HTTP/1.x, a bad or conflicting length, a malformed or folded line', () => {
    expect(() => head('HTTP/2 200')).toThrow(HeadParseError)
    expect(() => head('<html>')).toThrow(HeadParseError)
    expect(() => head('HTTP/1.1 200 OK', 'Content-Length: 5, 6')).toThrow(HeadParseError)
    expect(() => head('HTTP/1.1 200 OK', 'Content-Length: -1')).toThrow(HeadParseError)
    expect(() => head('HTTP/1.1 200 OK', 'no colon here')).toThrow(HeadParseError)
    expect(() => head('HTTP/1.1 200 OK', 'A: b', ' folded')).toThrow(HeadParseError)
  })
})
