import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import {
  alphaDisc, crc32, gradient, lzwEncode, makeBmp, makeGif, makeJpeg, makePng, makeSvg,
} from '../../../src/emulator/seed/images.js'
import type { PixelFn } from '../../../src/emulator/seed/images.js'
import { decodeBaselineJpeg, lzwDecode } from './decoders.js'

interface PngChunk {
  type: string
  data: Buffer
  crc: number
}

function pngChunks(png: Buffer): PngChunk[] {
  const chunks: PngChunk[] = []
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at)
    chunks.push({
      type: png.toString('latin1', at + 4, at + 8),
      data: png.subarray(at + 8, at + 8 + length),
      crc: png.readUInt32BE(at + 8 + length),
    })
    at += 12 + length
  }
  return chunks
}

const fileCommand = (() => {
  try {
    execFileSync('file', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** What `file(1)` says about these bytes; only used when the command exists. */
function describeWithFile(bytes: Buffer, extension: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ikfs-seed-'))
  try {
    const path = join(dir, `image.${extension}`)
    writeFileSync(path, bytes)
    return execFileSync('file', ['-b', path], { encoding: 'utf8' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('crc32', () => {
  it('matches the standard check value and zlib where available', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
    const sample = Buffer.from('ikfs seed sample bytes')
    const zlibCrc = (zlib as { crc32?: (data: Uint8Array) => number }).crc32
    if (zlibCrc) expect(crc32(sample)).toBe(zlibCrc(sample))
  })
})

describe('makePng', () => {
  it('writes an RGB PNG whose chunks, CRCs and scanlines are valid', () => {
    const png = makePng(640, 480)
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    const chunks = pngChunks(png)
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND'])
    for (const c of chunks) expect(c.crc).toBe(crc32(Buffer.concat([Buffer.from(c.type, 'latin1'), c.data])))
    const ihdr = chunks[0]!.data
    expect(ihdr.readUInt32BE(0)).toBe(640)
    expect(ihdr.readUInt32BE(4)).toBe(480)
    expect([...ihdr.subarray(8)]).toEqual([8, 2, 0, 0, 0])
    const raw = zlib.inflateSync(chunks[1]!.data)
    expect(raw.length).toBe(480 * (1 + 640 * 3))
    // Row 10, pixel 20: filter byte then RGB, equal to the generator's colour.
    const at = 10 * (1 + 640 * 3)
    expect(raw[at]).toBe(0)
    const p = gradient(20, 10, 640, 480)
    expect([...raw.subarray(at + 1 + 20 * 3, at + 1 + 21 * 3)]).toEqual([p.r, p.g, p.b])
  })

  it('writes RGBA with a real alpha channel', () => {
    const png = makePng(64, 64, { alpha: true, pixel: alphaDisc })
    const [ihdr, idat] = pngChunks(png)
    expect(ihdr!.data[9]).toBe(6)
    const raw = zlib.inflateSync(idat!.data)
    expect(raw.length).toBe(64 * (1 + 64 * 4))
    const alphaAt = (x: number, y: number): number => raw[y * (1 + 64 * 4) + 1 + x * 4 + 3]!
    expect(alphaAt(0, 0)).toBe(0)
    expect(alphaAt(32, 32)).toBeGreaterThan(240)
  })

  it.skipIf(!fileCommand)('is recognised by file(1)', () => {
    expect(describeWithFile(makePng(64, 48, { alpha: true }), 'png')).toMatch(/PNG image data, 64 x 48, 8-bit\/color RGBA/)
  })
})

describe('makeGif', () => {
  it('writes a GIF89a whose LZW stream decodes back to the picture', () => {
    const gif = makeGif(120, 80)
    expect(gif.toString('latin1', 0, 6)).toBe('GIF89a')
    expect(gif.readUInt16LE(6)).toBe(120)
    expect(gif.readUInt16LE(8)).toBe(80)
    const packed = gif[10]!
    expect(packed & 0x80).toBe(0x80)
    const tableBytes = 3 * (1 << ((packed & 7) + 1))
    const descriptor = 13 + tableBytes
    expect(gif[descriptor]).toBe(0x2c)
    expect(gif.readUInt16LE(descriptor + 5)).toBe(120)
    expect(gif.readUInt16LE(descriptor + 7)).toBe(80)
    const minCodeSize = gif[descriptor + 10]!
    const parts: Buffer[] = []
    let at = descriptor + 11
    for (let size = gif[at]!; size !== 0; size = gif[at]!) {
      expect(size).toBeLessThanOrEqual(255)
      parts.push(gif.subarray(at + 1, at + 1 + size))
      at += 1 + size
    }
    expect(gif[at + 1]).toBe(0x3b)
    expect(at + 2).toBe(gif.length)
    const indices = lzwDecode(Buffer.concat(parts), minCodeSize, 120 * 80)
    const expected = (x: number, y: number): number => (Math.floor((x + y) / 6) % 7) + 1
    expect(indices[0]).toBe(expected(0, 0))
    expect(indices[79 * 120 + 119]).toBe(expected(119, 79))
    expect([...indices].every((v, i) => v === expected(i % 120, Math.floor(i / 120)))).toBe(true)
  })

  it('survives a dictionary reset (more than 4096 codes)', () => {
    // A pseudo-random index stream fills the 12-bit table several times over.
    let seed = 12345
    const indices = Uint8Array.from({ length: 40_000 }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return (seed >>> 16) % 16
    })
    const encoded = lzwEncode(indices, 4)
    expect(lzwDecode(encoded, 4, indices.length)).toEqual(indices)
  })

  it.skipIf(!fileCommand)('is recognised by file(1)', () => {
    expect(describeWithFile(makeGif(33, 17), 'gif')).toMatch(/GIF image data, version 89a, 33 x 17/)
  })
})

describe('makeBmp', () => {
  it('writes a bottom-up 24-bit BMP with padded rows', () => {
    const width = 33 // 99 bytes of pixels: rows padded to 100
    const bmp = makeBmp(width, 20)
    expect(bmp.toString('latin1', 0, 2)).toBe('BM')
    expect(bmp.readUInt32LE(2)).toBe(bmp.length)
    expect(bmp.readUInt32LE(10)).toBe(54)
    expect(bmp.readInt32LE(18)).toBe(width)
    expect(bmp.readInt32LE(22)).toBe(20)
    expect(bmp.readUInt16LE(28)).toBe(24)
    expect(bmp.length).toBe(54 + 100 * 20)
    // The first stored row is the bottom one; pixels are BGR.
    const p = gradient(0, 19, width, 20)
    expect([...bmp.subarray(54, 57)]).toEqual([p.b, p.g, p.r])
    const top = gradient(5, 0, width, 20)
    expect([...bmp.subarray(54 + 19 * 100 + 15, 54 + 19 * 100 + 18)]).toEqual([top.b, top.g, top.r])
  })

  it.skipIf(!fileCommand)('is recognised by file(1)', () => {
    expect(describeWithFile(makeBmp(40, 30), 'bmp')).toMatch(/PC bitmap.*40 x 30 x 24/)
  })
})

describe('makeSvg', () => {
  it('writes well-formed SVG with its size and escaped text', () => {
    const svg = makeSvg(128, 64, 'a < b & "c"').toString('utf8')
    expect(svg).toMatch(/^<\?xml/)
    expect(svg).toContain('width="128" height="64"')
    expect(svg).toContain('a &#60; b &#38; &#34;c&#34;')
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
  })
})

describe('makeJpeg', () => {
  const checker: PixelFn = (x, y) => (((x >> 3) + (y >> 3)) % 2 ? { r: 200, g: 40, b: 40, a: 255 } : { r: 20, g: 60, b: 220, a: 255 })

  function meanAbsoluteError(width: number, height: number, pixel: PixelFn, quality: number): number {
    const decoded = decodeBaselineJpeg(makeJpeg(width, height, { pixel, quality }))
    expect(decoded.width).toBe(width)
    expect(decoded.height).toBe(height)
    let error = 0
    decoded.pixels.forEach((got, i) => {
      const want = pixel(i % width, Math.floor(i / width), width, height)
      error += Math.abs(got.r - want.r) + Math.abs(got.g - want.g) + Math.abs(got.b - want.b)
    })
    return error / (width * height * 3)
  }

  it('writes a baseline JFIF with the expected markers and size', () => {
    const jpeg = makeJpeg(50, 30)
    const decoded = decodeBaselineJpeg(jpeg)
    // SOI is checked by the decoder; then APP0, DQT, SOF0, DHT, SOS, EOI.
    expect(decoded.markers).toEqual([0xe0, 0xdb, 0xc0, 0xc4, 0xda, 0xd9])
    expect(jpeg.toString('latin1', 6, 11)).toBe('JFIF\0')
    expect([...jpeg.subarray(-2)]).toEqual([0xff, 0xd9])
    expect(decoded.width).toBe(50)
    expect(decoded.height).toBe(30)
  })

  it('decodes back close to the source pixels, edge blocks included', () => {
    expect(meanAbsoluteError(50, 30, gradient, 90)).toBeLessThan(4)
    expect(meanAbsoluteError(24, 16, checker, 95)).toBeLessThan(8)
  })

  it('gets smaller and less exact as quality drops', () => {
    const high = makeJpeg(64, 64, { pixel: checker, quality: 95 })
    const low = makeJpeg(64, 64, { pixel: checker, quality: 20 })
    expect(low.length).toBeLessThan(high.length)
    expect(meanAbsoluteError(64, 64, checker, 20)).toBeGreaterThan(meanAbsoluteError(64, 64, checker, 95))
  })

  it.skipIf(!fileCommand)('is recognised by file(1)', () => {
    expect(describeWithFile(makeJpeg(48, 32), 'jpg')).toMatch(/JPEG image data, JFIF standard 1\.01.*baseline.*48x32/)
  })
})
