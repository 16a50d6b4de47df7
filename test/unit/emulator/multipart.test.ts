/** The streaming multipart parser: delimiters split across chunks, headers, binary bodies, truncation. */
import { describe, expect, it } from 'vitest'
import { boundaryOf, MultipartError, parseMultipart, type PartHeaders } from '../../../src/emulator/multipart.js'
import { multipartBody } from './helpers.js'

async function parseInChunks(body: Buffer, boundary: string, chunkSize: number) {
  const parts: { headers: PartHeaders; data: Buffer }[] = []
  async function* source() {
    for (let i = 0; i < body.length; i += chunkSize) yield body.subarray(i, i + chunkSize)
  }
  await parseMultipart(source(), boundary, (headers) => {
    const chunks: Buffer[] = []
    return { write: (c) => { chunks.push(Buffer.from(c)) }, end: () => { parts.push({ headers, data: Buffer.concat(chunks) }) } }
  })
  return parts
}

describe('parseMultipart', () => {
  const binary = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256))
  // A body that contains CRLF and dashes, as binary data does.
  const tricky = Buffer.concat([Buffer.from('\r\n--not-the-boundary\r\n'), binary])
  const { body, contentType } = multipartBody({ fileName: 'a b.txt', file: { data: tricky, filename: 'x.bin' }, tags: '' })
  const boundary = boundaryOf(contentType) as string

  // Sizes around the delimiter's length put it across chunk boundaries at every offset.
  it.each([1, 2, 7, 30, 33, 34, 35, 36, 37, 38, 41, 50, 63, 64, 65, 67, 71, 100, 129, 1000, 100_000])('yields the same parts for %i-byte chunks', async (size) => {
    const parts = await parseInChunks(body, boundary, size)
    expect(parts.map((p) => p.headers)).toEqual([
      { name: 'fileName' },
      { name: 'file', filename: 'x.bin', contentType: 'application/octet-stream' },
      { name: 'tags' },
    ])
    expect(parts[0]!.data.toString()).toBe('a b.txt')
    expect(parts[1]!.data).toEqual(tricky)
    expect(parts[2]!.data.length).toBe(0)
  })

  it.each([1, 3, 40, 100_000])('skips a preamble before the first delimiter (%i-byte chunks)', async (size) => {
    const withPreamble = Buffer.concat([Buffer.from(`-- a note, not --${boundary.slice(0, 5)}\r\n`), body])
    const parts = await parseInChunks(withPreamble, boundary, size)
    expect(parts.map((p) => p.headers.name)).toEqual(['fileName', 'file', 'tags'])
    expect(parts[1]!.data).toEqual(tricky)
  })

  it('reads boundaries from Content-Type, quoted or not', () => {
    expect(boundaryOf('multipart/form-data; boundary=abc')).toBe('abc')
    expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe('a b')
    expect(boundaryOf('application/json')).toBeUndefined()
  })

  it('reads an RFC 5987 filename*, and keeps the plain filename when its escapes are malformed (it threw: the upload got a 500)', async () => {
    const part = (disposition: string) => Buffer.from(`--XX\r\nContent-Disposition: form-data; name="file"; ${disposition}\r\n\r\nhi\r\n--XX--\r\n`)
    expect((await parseInChunks(part(`filename="plain.txt"; filename*=UTF-8''caf%C3%A9.txt`), 'XX', 1000))[0]!.headers.filename).toBe('café.txt')
    expect((await parseInChunks(part(`filename="plain.txt"; filename*=UTF-8''%ZZ.txt`), 'XX', 1000))[0]!.headers.filename).toBe('plain.txt')
  })

  it('fails on a truncated body', async () => {
    await expect(parseInChunks(body.subarray(0, body.length - 20), boundary, 50)).rejects.toThrow(MultipartError)
  })
})
