/**
 * Small, real image encoders for the demo library: PNG, GIF, BMP, SVG and baseline JPEG, generated in code
 * so the seed needs no downloads and no image dependency. Pure functions: pixels in, file bytes out.
 * The JPEG encoder lives in jpeg.ts; this file re-exports it so callers have one import.
 */
import { deflateSync } from 'node:zlib'

/** One pixel as 8-bit channels; `a` is ignored by formats without alpha. */
export interface Rgba {
  r: number
  g: number
  b: number
  a: number
}

/** Colour of the pixel at (x, y) of a width×height image. */
export type PixelFn = (x: number, y: number, width: number, height: number) => Rgba

/** A diagonal red/green/blue gradient: smooth, so it compresses and looks like something. */
export const gradient: PixelFn = (x, y, width, height) => ({
  r: Math.round((255 * x) / Math.max(1, width - 1)),
  g: Math.round((255 * y) / Math.max(1, height - 1)),
  b: Math.round((255 * (width - 1 - x + y)) / Math.max(1, width + height - 2)),
  a: 255,
})

/** A disc fading out to full transparency at the edges; exercises the alpha channel. */
export const alphaDisc: PixelFn = (x, y, width, height) => {
  const dx = (x + 0.5) / width - 0.5
  const dy = (y + 0.5) / height - 0.5
  const distance = Math.sqrt(dx * dx + dy * dy) * 2
  return { r: 30, g: 144, b: 255, a: Math.round(255 * Math.max(0, Math.min(1, 1 - distance))) }
}

// ---------------------------------------------------------------------------------------------- CRC32

const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** CRC-32 (ISO 3309, as PNG uses it), written out so the seed works on any Node 20.x. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

// ------------------------------------------------------------------------------------------------ PNG

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const PNG_COLOR_RGB = 2
const PNG_COLOR_RGBA = 6
const PNG_FILTER_NONE = 0

/** One PNG chunk: length, type, data and CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0)
  return Buffer.concat([head, data, crc])
}

export interface PngOptions {
  /** RGBA (colour type 6) instead of RGB (colour type 2). */
  alpha?: boolean
  pixel?: PixelFn
}

/** An 8-bit, non-interlaced PNG; every scanline uses filter 0 so the IDAT inflates to a known length. */
export function makePng(width: number, height: number, opts: PngOptions = {}): Buffer {
  const pixel = opts.pixel ?? gradient
  const channels = opts.alpha ? 4 : 3
  const stride = 1 + width * channels
  const raw = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    raw[y * stride] = PNG_FILTER_NONE
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y, width, height)
      const at = y * stride + 1 + x * channels
      raw[at] = p.r
      raw[at + 1] = p.g
      raw[at + 2] = p.b
      if (opts.alpha) raw[at + 3] = p.a
    }
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = opts.alpha ? PNG_COLOR_RGBA : PNG_COLOR_RGB
  // bytes 10..12: compression, filter method, interlace: all 0
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

// ------------------------------------------------------------------------------------------------ GIF

/** GIF's LZW dictionary is capped at 12-bit codes. */
const LZW_MAX_CODE = 4096
/** GIF data sub-blocks hold at most 255 bytes each. */
const GIF_SUB_BLOCK_BYTES = 255

/** LZW-compresses palette indices the way GIF wants it (variable code width, LSB-first bit packing). */
export function lzwEncode(indices: Uint8Array, minCodeSize: number): Buffer {
  const clearCode = 1 << minCodeSize
  const endCode = clearCode + 1
  const out: number[] = []
  let bitBuffer = 0
  let bitCount = 0
  let codeSize = minCodeSize + 1
  let nextCode = endCode + 1
  let table = new Map<number, number>()
  const emit = (code: number): void => {
    bitBuffer |= code << bitCount
    bitCount += codeSize
    while (bitCount >= 8) {
      out.push(bitBuffer & 0xff)
      bitBuffer >>>= 8
      bitCount -= 8
    }
  }
  emit(clearCode)
  if (indices.length === 0) {
    emit(endCode)
  } else {
    let prefix = indices[0] as number
    for (let i = 1; i < indices.length; i++) {
      const k = indices[i] as number
      const key = (prefix << 8) | k
      const known = table.get(key)
      if (known !== undefined) {
        prefix = known
        continue
      }
      emit(prefix)
      if (nextCode === LZW_MAX_CODE) {
        emit(clearCode)
        table = new Map()
        nextCode = endCode + 1
        codeSize = minCodeSize + 1
      } else {
        // The decoder widens its codes once its table reaches 2^codeSize; it runs one entry behind us.
        if (nextCode >= 1 << codeSize) codeSize++
        table.set(key, nextCode++)
      }
      prefix = k
    }
    emit(prefix)
    emit(endCode)
  }
  if (bitCount > 0) out.push(bitBuffer & 0xff)
  return Buffer.from(out)
}

export interface GifOptions {
  /** Up to 256 colours; indexed by `pick`. */
  palette?: readonly [number, number, number][]
  /** Palette index of the pixel at (x, y). */
  pick?: (x: number, y: number, width: number, height: number) => number
}

const DEFAULT_GIF_PALETTE: readonly [number, number, number][] = [
  [0, 0, 0], [255, 255, 255], [220, 20, 60], [255, 140, 0],
  [255, 215, 0], [50, 205, 50], [30, 144, 255], [138, 43, 226],
]

/** Diagonal colour bands; repetitive enough that LZW has real work to do. */
const stripes = (x: number, y: number): number => (Math.floor((x + y) / 6) % 7) + 1

/** A single-frame GIF89a with a global colour table. */
export function makeGif(width: number, height: number, opts: GifOptions = {}): Buffer {
  const palette = opts.palette ?? DEFAULT_GIF_PALETTE
  const pick = opts.pick ?? stripes
  if (palette.length < 2 || palette.length > 256) throw new RangeError('GIF palette needs 2..256 colours')
  const tableBits = Math.max(1, Math.ceil(Math.log2(palette.length)))
  const tableSize = 1 << tableBits
  const indices = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) indices[y * width + x] = pick(x, y, width, height)

  const screen = Buffer.alloc(13)
  screen.write('GIF89a', 0, 'latin1')
  screen.writeUInt16LE(width, 6)
  screen.writeUInt16LE(height, 8)
  screen[10] = 0x80 | ((tableBits - 1) << 4) | (tableBits - 1) // global table present, its size
  const colours = Buffer.alloc(3 * tableSize)
  palette.forEach(([r, g, b], i) => colours.set([r, g, b], i * 3))
  const descriptor = Buffer.alloc(10)
  descriptor[0] = 0x2c
  descriptor.writeUInt16LE(width, 5)
  descriptor.writeUInt16LE(height, 7)
  const minCodeSize = Math.max(2, tableBits)
  const data = lzwEncode(indices, minCodeSize)
  const blocks: Buffer[] = [Buffer.from([minCodeSize])]
  for (let at = 0; at < data.length; at += GIF_SUB_BLOCK_BYTES) {
    const part = data.subarray(at, at + GIF_SUB_BLOCK_BYTES)
    blocks.push(Buffer.from([part.length]), part)
  }
  blocks.push(Buffer.from([0x00]))
  return Buffer.concat([screen, colours, descriptor, ...blocks, Buffer.from([0x3b])])
}

// ------------------------------------------------------------------------------------------------ BMP

const BMP_HEADER_BYTES = 14 + 40
/** 72 dpi in pixels per metre, what most writers put there. */
const BMP_PIXELS_PER_METRE = 2835

/** A 24-bit uncompressed bottom-up BMP (BITMAPINFOHEADER). */
export function makeBmp(width: number, height: number, pixel: PixelFn = gradient): Buffer {
  const rowBytes = Math.ceil((width * 3) / 4) * 4
  const imageBytes = rowBytes * height
  const out = Buffer.alloc(BMP_HEADER_BYTES + imageBytes)
  out.write('BM', 0, 'latin1')
  out.writeUInt32LE(out.length, 2)
  out.writeUInt32LE(BMP_HEADER_BYTES, 10)
  out.writeUInt32LE(40, 14)
  out.writeInt32LE(width, 18)
  out.writeInt32LE(height, 22)
  out.writeUInt16LE(1, 26) // planes
  out.writeUInt16LE(24, 28) // bits per pixel
  out.writeUInt32LE(0, 30) // BI_RGB
  out.writeUInt32LE(imageBytes, 34)
  out.writeInt32LE(BMP_PIXELS_PER_METRE, 38)
  out.writeInt32LE(BMP_PIXELS_PER_METRE, 42)
  for (let y = 0; y < height; y++) {
    const row = BMP_HEADER_BYTES + (height - 1 - y) * rowBytes
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y, width, height)
      out.set([p.b, p.g, p.r], row + x * 3)
    }
  }
  return out
}

// ------------------------------------------------------------------------------------------------ SVG

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** A small SVG badge with a gradient background and a line of text. */
export function makeSvg(width: number, height: number, text: string): Buffer {
  const svg = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#1e90ff"/>
      <stop offset="1" stop-color="#8a2be2"/>
    </linearGradient>
  </defs>
  <rect width="${width}" height="${height}" rx="${Math.round(Math.min(width, height) / 8)}" fill="url(#bg)"/>
  <text x="50%" y="50%" dominant-baseline="middle" text-anchor="middle" font-family="sans-serif"
        font-size="${Math.round(height / 4)}" fill="#ffffff">${escapeXml(text)}</text>
</svg>
`
  return Buffer.from(svg, 'utf8')
}

export { makeJpeg } from './jpeg.js'
export type { JpegOptions } from './jpeg.js'
