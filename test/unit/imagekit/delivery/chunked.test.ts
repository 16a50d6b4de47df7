/** The chunked transfer coding, decoded from bytes split anywhere. */
import { describe, expect, it } from 'vitest'
import { ChunkedDecoder } from '../../../../src/imagekit/delivery/chunked.js'
import { HeadParseError } from '../../../../src/imagekit/delivery/head.js'

function decode(wire: Buffer, split: number): { data: Buffer; consumed: number; done: boolean } {
  const decoder = new ChunkedDecoder()
  const pieces: Buffer[] = []
  let consumed = 0
  for (let at = 0; at < wire.length && !decoder.done; at += split) {
    const end = Math.min(wire.length, at + split)
    consumed += decoder.feed(wire, at, end, (piece) => pieces.push(Buffer.from(piece)))
  }
  return { data: Buffer.concat(pieces), consumed, done: decoder.done }
}

describe('ChunkedDecoder', () => {
  const body = Buffer.from('hello, chunked world: 0123456789abcdef')
  const wire = Buffer.concat([
    Buffer.from('5;ext=1\r\n'), body.subarray(0, 5), Buffer.from('\r\n'),
    Buffer.from('1F\r\n'), body.subarray(5, 36), Buffer.from('\r\n'),
    Buffer.from(`${(body.length - 36).toString(16)}\r\n`), body.subarray(36), Buffer.from('\r\n'),
    Buffer.from('0\r\nTrailer: x\r\n\r\n'),
  ])

  it('decodes the same body whatever the split, extensions and trailers dropped', () => {
    for (const split of [1, 2, 3, 7, 16, wire.length]) {
      const got = decode(Buffer.concat([wire, Buffer.from('NEXT')]), split)
      expect(got.data.toString(), `split ${split}`).toBe(body.toString())
      expect(got.done).toBe(true)
      expect(got.consumed, `split ${split}`).toBe(wire.length) // bytes after the body are not eaten
    }
  })

  it('refuses a bad size or a chunk longer than its size', () => {
    expect(() => decode(Buffer.from('zz\r\n'), 100)).toThrow(HeadParseError)
    expect(() => decode(Buffer.from('2\r\nabc\r\n0\r\n\r\n'), 100)).toThrow(HeadParseError)
  })
})
