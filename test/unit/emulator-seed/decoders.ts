/**
 * Test-only decoders for the seed's GIF LZW stream and baseline JPEGs. They read the tables from the file
 * itself (DQT/DHT/SOF/SOS), so a wrong table, marker or bit in the encoder shows up as a decode failure or as
 * pixels far from the source. Only what the seed writes is supported (8-bit, 1x1 sampling, one scan).
 */
import type { Rgba } from '../../../src/emulator/seed/images.js'

/** GIF LZW decoding (variable width codes, LSB-first), including the KwKwK case. */
export function lzwDecode(data: Uint8Array, minCodeSize: number, expectedLength: number): Uint8Array {
  const clearCode = 1 << minCodeSize
  const endCode = clearCode + 1
  const out: number[] = []
  let dict: number[][] = []
  const reset = (): void => {
    dict = []
    for (let i = 0; i < clearCode; i++) dict.push([i])
    dict.push([], [])
  }
  reset()
  let codeSize = minCodeSize + 1
  let bitPos = 0
  let previous: number[] | undefined
  const read = (): number => {
    let code = 0
    for (let i = 0; i < codeSize; i++, bitPos++) {
      const byte = data[bitPos >> 3]
      if (byte === undefined) throw new Error('LZW stream ended without an end code')
      code |= ((byte >> (bitPos & 7)) & 1) << i
    }
    return code
  }
  for (;;) {
    const code = read()
    if (code === clearCode) {
      reset()
      codeSize = minCodeSize + 1
      previous = undefined
      continue
    }
    if (code === endCode) break
    let entry: number[]
    if (code < dict.length) entry = dict[code] as number[]
    else if (code === dict.length && previous) entry = [...previous, previous[0] as number]
    else throw new Error(`bad LZW code ${code} with table size ${dict.length}`)
    out.push(...entry)
    if (previous && dict.length < 4096) dict.push([...previous, entry[0] as number])
    if (dict.length === 1 << codeSize && codeSize < 12) codeSize++
    previous = entry
  }
  if (out.length !== expectedLength) throw new Error(`LZW gave ${out.length} indices, expected ${expectedLength}`)
  return Uint8Array.from(out)
}

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
  54, 47, 55, 62, 63,
]

export interface DecodedJpeg {
  width: number
  height: number
  pixels: Rgba[]
  markers: number[]
}

/** Decodes a baseline, 3-component, 1x1-sampled JPEG to RGB. */
export function decodeBaselineJpeg(file: Buffer): DecodedJpeg {
  if (file[0] !== 0xff || file[1] !== 0xd8) throw new Error('no SOI')
  const quant = new Map<number, number[]>()
  const huffman = new Map<number, Map<string, number>>()
  const markers: number[] = []
  let width = 0
  let height = 0
  let components: { id: number; q: number; dc: number; ac: number }[] = []
  let at = 2
  let scan: number[] | undefined
  while (at < file.length) {
    if (file[at] !== 0xff) throw new Error(`expected a marker at ${at}`)
    const marker = file[at + 1] as number
    markers.push(marker)
    if (marker === 0xd9) break
    const length = file.readUInt16BE(at + 2)
    const body = file.subarray(at + 4, at + 2 + length)
    if (marker === 0xdb) {
      for (let p = 0; p < body.length; p += 65) {
        const table = new Array<number>(64)
        for (let i = 0; i < 64; i++) table[ZIGZAG[i] as number] = body[p + 1 + i] as number
        quant.set((body[p] as number) & 0x0f, table)
      }
    } else if (marker === 0xc0) {
      height = body.readUInt16BE(1)
      width = body.readUInt16BE(3)
      for (let c = 0; c < (body[5] as number); c++) {
        if (body[7 + c * 3] !== 0x11) throw new Error('only 1x1 sampling is supported')
        components.push({ id: body[6 + c * 3] as number, q: body[8 + c * 3] as number, dc: 0, ac: 0 })
      }
    } else if (marker === 0xc4) {
      for (let p = 0; p < body.length; ) {
        const classAndId = body[p] as number
        const counts = [...body.subarray(p + 1, p + 17)]
        const table = new Map<string, number>()
        let code = 0
        let k = p + 17
        counts.forEach((count, i) => {
          for (let n = 0; n < count; n++) table.set(`${i + 1}:${code++}`, body[k++] as number)
          code <<= 1
        })
        huffman.set(classAndId, table)
        p = k
      }
    } else if (marker === 0xda) {
      components = components.map((c) => {
        const i = [...body.subarray(1, 1 + 2 * (body[0] as number))].findIndex((v, j) => j % 2 === 0 && v === c.id)
        const selectors = body[1 + i + 1] as number
        return { ...c, dc: selectors >> 4, ac: selectors & 0x0f }
      })
      // Entropy-coded data runs to the next non-stuffing, non-restart marker.
      scan = []
      let p = at + 2 + length
      for (; p < file.length; p++) {
        const byte = file[p] as number
        if (byte === 0xff) {
          const next = file[p + 1] as number
          if (next === 0x00) {
            scan.push(0xff)
            p++
            continue
          }
          break
        }
        scan.push(byte)
      }
      at = p
      continue
    }
    at += 2 + length
  }
  if (!scan) throw new Error('no scan')
  const data = scan
  let bitPos = 0
  const bit = (): number => {
    const byte = data[bitPos >> 3]
    if (byte === undefined) throw new Error('entropy data ran out')
    return (byte >> (7 - (bitPos++ & 7))) & 1
  }
  const bits = (n: number): number => {
    let v = 0
    for (let i = 0; i < n; i++) v = (v << 1) | bit()
    return v
  }
  const symbol = (table: Map<string, number>): number => {
    let code = 0
    for (let length = 1; length <= 16; length++) {
      code = (code << 1) | bit()
      const value = table.get(`${length}:${code}`)
      if (value !== undefined) return value
    }
    throw new Error('invalid Huffman code')
  }
  const extend = (v: number, size: number): number => (size === 0 ? 0 : v < 1 << (size - 1) ? v - (1 << size) + 1 : v)

  const planes = components.map(() => new Float64Array(Math.ceil(width / 8) * 8 * Math.ceil(height / 8) * 8))
  const paddedWidth = Math.ceil(width / 8) * 8
  const previousDc = components.map(() => 0)
  for (let by = 0; by < height; by += 8)
    for (let bx = 0; bx < width; bx += 8)
      components.forEach((c, ci) => {
        const q = quant.get(c.q) as number[]
        const coefficients = new Float64Array(64)
        const dcSize = symbol(huffman.get(c.dc) as Map<string, number>)
        previousDc[ci] = (previousDc[ci] as number) + extend(bits(dcSize), dcSize)
        coefficients[0] = (previousDc[ci] as number) * (q[0] as number)
        for (let k = 1; k < 64; ) {
          const rs = symbol(huffman.get(0x10 | c.ac) as Map<string, number>)
          const run = rs >> 4
          const size = rs & 0x0f
          if (size === 0) {
            if (run === 15) {
              k += 16
              continue
            }
            break
          }
          k += run
          const index = ZIGZAG[k] as number
          coefficients[index] = extend(bits(size), size) * (q[index] as number)
          k++
        }
        const plane = planes[ci] as Float64Array
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++) {
            let sum = 0
            for (let v = 0; v < 8; v++)
              for (let u = 0; u < 8; u++) {
                const cu = u === 0 ? Math.SQRT1_2 : 1
                const cv = v === 0 ? Math.SQRT1_2 : 1
                sum +=
                  cu * cv * (coefficients[v * 8 + u] as number) *
                  Math.cos(((2 * x + 1) * u * Math.PI) / 16) * Math.cos(((2 * y + 1) * v * Math.PI) / 16)
              }
            plane[(by + y) * paddedWidth + bx + x] = sum / 4
          }
      })
  const clamp = (v: number): number => Math.max(0, Math.min(255, Math.round(v)))
  const pixels: Rgba[] = []
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = y * paddedWidth + x
      const yy = (planes[0]?.[i] ?? 0) + 128
      const cb = planes[1]?.[i] ?? 0
      const cr = planes[2]?.[i] ?? 0
      pixels.push({
        r: clamp(yy + 1.402 * cr),
        g: clamp(yy - 0.344136 * cb - 0.714136 * cr),
        b: clamp(yy + 1.772 * cb),
        a: 255,
      })
    }
  return { width, height, pixels, markers }
}
