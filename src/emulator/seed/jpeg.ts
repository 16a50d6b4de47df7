/**
 * A minimal baseline JPEG encoder (JFIF, YCbCr 4:4:4, 8x8 DCT, the standard quantisation and Huffman
 * tables of ITU T.81 Annex K). Small and slow on purpose: it makes a few demo images, nothing more.
 */
import type { PixelFn } from './images.js'

export interface JpegOptions {
  /** 1..100, scaled the way libjpeg scales the Annex K tables. */
  quality?: number
  pixel?: PixelFn
}

const DEFAULT_QUALITY = 85

/** Coefficient order in the stream: index i of the stream holds the coefficient at ZIGZAG[i]. */
const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
  54, 47, 55, 62, 63,
]

// Annex K.1 quantisation tables, in natural (row-major) order.
const LUMA_QUANT = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
  87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
  72, 92, 95, 98, 112, 100, 103, 99,
]
const CHROMA_QUANT = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99,
  99, 99, 99, ...new Array<number>(32).fill(99),
]

interface HuffmanSpec {
  /** Number of codes of each length 1..16. */
  bits: number[]
  values: number[]
}

// Annex K.3 Huffman tables.
const LUMA_DC: HuffmanSpec = {
  bits: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
  values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
}
const CHROMA_DC: HuffmanSpec = {
  bits: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
  values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
}
const LUMA_AC: HuffmanSpec = {
  bits: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  values: hexBytes(
    '01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738' +
      '393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4' +
      'a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa',
  ),
}
const CHROMA_AC: HuffmanSpec = {
  bits: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  values: hexBytes(
    '000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a3536' +
      '3738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a92939495969798999a' +
      'a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa',
  ),
}

function hexBytes(hex: string): number[] {
  return [...Buffer.from(hex, 'hex')]
}

interface Code {
  code: number
  length: number
}

/** Canonical Huffman codes (T.81 Annex C) indexed by symbol. */
function buildCodes(spec: HuffmanSpec): Code[] {
  const codes: Code[] = []
  let code = 0
  let k = 0
  for (let length = 1; length <= 16; length++) {
    for (let i = 0; i < (spec.bits[length - 1] as number); i++) codes[spec.values[k++] as number] = { code: code++, length }
    code <<= 1
  }
  return codes
}

function scaledQuant(table: number[], quality: number): number[] {
  const q = Math.max(1, Math.min(100, Math.round(quality)))
  const scale = q < 50 ? 5000 / q : 200 - 2 * q
  return table.map((v) => Math.max(1, Math.min(255, Math.floor((v * scale + 50) / 100))))
}

/** Bits to bytes, with the 0x00 stuffed after every 0xFF the entropy-coded segment needs. */
class BitWriter {
  readonly bytes: number[] = []
  #buffer = 0
  #count = 0
  write(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.#buffer = (this.#buffer << 1) | ((value >>> i) & 1)
      if (++this.#count === 8) this.#flushByte()
    }
  }
  /** Pads the last byte with 1 bits, as T.81 F.1.2.3 asks. */
  finish(): void {
    while (this.#count !== 0) this.write(1, 1)
  }
  #flushByte(): void {
    this.bytes.push(this.#buffer)
    if (this.#buffer === 0xff) this.bytes.push(0x00)
    this.#buffer = 0
    this.#count = 0
  }
}

const COS = Array.from({ length: 64 }, (_, i) => Math.cos(((2 * (i >> 3) + 1) * (i & 7) * Math.PI) / 16))
const C0 = Math.SQRT1_2

/** Forward 8x8 DCT-II (separable, straight from the definition), then quantisation. */
function dctQuantise(block: Float64Array, quant: number[]): Int32Array {
  const rows = new Float64Array(64)
  for (let y = 0; y < 8; y++)
    for (let u = 0; u < 8; u++) {
      let sum = 0
      for (let x = 0; x < 8; x++) sum += (block[y * 8 + x] as number) * (COS[x * 8 + u] as number)
      rows[y * 8 + u] = sum * (u === 0 ? C0 : 1) / 2
    }
  const out = new Int32Array(64)
  for (let u = 0; u < 8; u++)
    for (let v = 0; v < 8; v++) {
      let sum = 0
      for (let y = 0; y < 8; y++) sum += (rows[y * 8 + u] as number) * (COS[y * 8 + v] as number)
      const coefficient = (sum * (v === 0 ? C0 : 1)) / 2
      out[v * 8 + u] = Math.round(coefficient / (quant[v * 8 + u] as number))
    }
  return out
}

/** Size category of a coefficient and its extra bits (T.81 F.1.2.1). */
function category(value: number): { size: number; bits: number } {
  const magnitude = Math.abs(value)
  const size = magnitude === 0 ? 0 : 32 - Math.clz32(magnitude)
  return { size, bits: value < 0 ? value + (1 << size) - 1 : value }
}

function encodeBlock(out: BitWriter, q: Int32Array, previousDc: number, dc: Code[], ac: Code[]): void {
  const diff = category((q[0] as number) - previousDc)
  const dcCode = dc[diff.size] as Code
  out.write(dcCode.code, dcCode.length)
  out.write(diff.bits, diff.size)
  let run = 0
  for (let i = 1; i < 64; i++) {
    const value = q[ZIGZAG[i] as number] as number
    if (value === 0) {
      run++
      continue
    }
    for (; run > 15; run -= 16) {
      const zrl = ac[0xf0] as Code
      out.write(zrl.code, zrl.length)
    }
    const c = category(value)
    const code = ac[(run << 4) | c.size] as Code
    out.write(code.code, code.length)
    out.write(c.bits, c.size)
    run = 0
  }
  if (run > 0) {
    const eob = ac[0x00] as Code
    out.write(eob.code, eob.length)
  }
}

function segment(marker: number, payload: number[]): number[] {
  const length = payload.length + 2
  return [0xff, marker, length >> 8, length & 0xff, ...payload]
}

const u16 = (n: number): number[] => [n >> 8, n & 0xff]

/** Warm sky-like gradient: horizon orange fading up to blue; looks like a photo at thumbnail size. */
const sky: PixelFn = (x, y, width, height) => {
  const t = y / Math.max(1, height - 1)
  const sun = Math.max(0, 1 - Math.hypot(x / width - 0.7, y / height - 0.75) * 3)
  return {
    r: Math.min(255, Math.round(40 + 200 * t + 60 * sun)),
    g: Math.min(255, Math.round(90 + 60 * t + 50 * sun)),
    b: Math.min(255, Math.round(200 - 150 * t + 10 * sun)),
    a: 255,
  }
}

export function makeJpeg(width: number, height: number, opts: JpegOptions = {}): Buffer {
  if (width < 1 || height < 1 || width > 0xffff || height > 0xffff) throw new RangeError('JPEG size out of range')
  const quality = opts.quality ?? DEFAULT_QUALITY
  const pixel = opts.pixel ?? sky
  const lumaQ = scaledQuant(LUMA_QUANT, quality)
  const chromaQ = scaledQuant(CHROMA_QUANT, quality)
  const codes = [buildCodes(LUMA_DC), buildCodes(LUMA_AC), buildCodes(CHROMA_DC), buildCodes(CHROMA_AC)] as const

  // Colour conversion once per pixel (JFIF full-range YCbCr), level-shifted by 128.
  const planes = [new Float64Array(width * height), new Float64Array(width * height), new Float64Array(width * height)]
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y, width, height)
      const at = y * width + x
      ;(planes[0] as Float64Array)[at] = 0.299 * p.r + 0.587 * p.g + 0.114 * p.b - 128
      ;(planes[1] as Float64Array)[at] = -0.168736 * p.r - 0.331264 * p.g + 0.5 * p.b
      ;(planes[2] as Float64Array)[at] = 0.5 * p.r - 0.418688 * p.g - 0.081312 * p.b
    }

  const out = new BitWriter()
  const previousDc = [0, 0, 0]
  const block = new Float64Array(64)
  for (let by = 0; by < height; by += 8)
    for (let bx = 0; bx < width; bx += 8)
      for (let c = 0; c < 3; c++) {
        const plane = planes[c] as Float64Array
        // Partial edge blocks repeat the last row/column, which keeps the edge free of ringing.
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++)
            block[y * 8 + x] = plane[Math.min(by + y, height - 1) * width + Math.min(bx + x, width - 1)] as number
        const q = dctQuantise(block, c === 0 ? lumaQ : chromaQ)
        encodeBlock(out, q, previousDc[c] as number, c === 0 ? codes[0] : codes[2], c === 0 ? codes[1] : codes[3])
        previousDc[c] = q[0] as number
      }
  out.finish()

  const zigzagged = (table: number[]): number[] => ZIGZAG.map((i) => table[i] as number)
  const huffman = (classAndId: number, spec: HuffmanSpec): number[] => [classAndId, ...spec.bits, ...spec.values]
  const components = [1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1] // id, 1x1 sampling, quant table
  return Buffer.from([
    0xff, 0xd8,
    ...segment(0xe0, [...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    ...segment(0xdb, [0x00, ...zigzagged(lumaQ), 0x01, ...zigzagged(chromaQ)]),
    ...segment(0xc0, [8, ...u16(height), ...u16(width), 3, ...components]),
    ...segment(0xc4, [
      ...huffman(0x00, LUMA_DC), ...huffman(0x10, LUMA_AC), ...huffman(0x01, CHROMA_DC), ...huffman(0x11, CHROMA_AC),
    ]),
    ...segment(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]),
    ...out.bytes,
    0xff, 0xd9,
  ])
}
