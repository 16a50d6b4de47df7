/** Images with embedded metadata for the metadata tests: a TIFF/EXIF block writer and JPEG/PNG wrappers. */
import { makeJpeg, makePng, pngChunk } from '../../../src/emulator/seed/images.js'

type Value = string | number[] | { ifd: string }
/** [tag, TIFF type (1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL as numerator/denominator pairs, 7 UNDEFINED), value] */
export type Entry = [number, number, Value]
export interface Ifd { entries: Entry[]; next?: string }

const SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1 }

function valueBytes(type: number, value: Value, le: boolean, offsets: Record<string, number>): Buffer {
  if (typeof value === 'string') return Buffer.from(type === 2 ? value + '\0' : value, 'latin1')
  const numbers = 'ifd' in value ? [offsets[value.ifd] as number] : value
  const size = type === 5 ? 4 : (SIZES[type] as number)
  const out = Buffer.alloc(numbers.length * size)
  numbers.forEach((n, i) => {
    if (size === 1) out.writeUInt8(n, i)
    else if (size === 2) le ? out.writeUInt16LE(n, i * 2) : out.writeUInt16BE(n, i * 2)
    else le ? out.writeUInt32LE(n, i * 4) : out.writeUInt32BE(n, i * 4)
  })
  return out
}

/** A TIFF structure holding `ifds` (the first is IFD0), each IFD followed by its values that do not fit in 4 bytes. */
export function buildTiff(ifds: Record<string, Ifd>, le = true): Buffer {
  const names = Object.keys(ifds)
  const offsets: Record<string, number> = {}
  let at = 8
  const dummy = Object.fromEntries(names.map((n) => [n, 0]))
  for (const name of names) {
    offsets[name] = at
    const entries = (ifds[name] as Ifd).entries
    at += 2 + entries.length * 12 + 4
    for (const [, type, value] of entries) {
      const length = valueBytes(type, value, le, dummy).length
      if (length > 4) at += length
    }
  }
  const out = Buffer.alloc(at)
  out.write(le ? 'II' : 'MM', 0, 'latin1')
  le ? out.writeUInt16LE(42, 2) : out.writeUInt16BE(42, 2)
  le ? out.writeUInt32LE(8, 4) : out.writeUInt32BE(8, 4)
  const u16 = (v: number, o: number) => (le ? out.writeUInt16LE(v, o) : out.writeUInt16BE(v, o))
  const u32 = (v: number, o: number) => (le ? out.writeUInt32LE(v, o) : out.writeUInt32BE(v, o))
  for (const name of names) {
    const ifd = ifds[name] as Ifd
    const start = offsets[name] as number
    let overflow = start + 2 + ifd.entries.length * 12 + 4
    u16(ifd.entries.length, start)
    ifd.entries.forEach(([tag, type, value], i) => {
      const e = start + 2 + i * 12
      const bytes = valueBytes(type, value, le, offsets)
      u16(tag, e)
      u16(type, e + 2)
      u32(type === 5 ? bytes.length / 8 : bytes.length / (SIZES[type] as number), e + 4)
      if (bytes.length <= 4) bytes.copy(out, e + 8)
      else {
        u32(overflow, e + 8)
        bytes.copy(out, overflow)
        overflow += bytes.length
      }
    })
    u32(ifd.next ? (offsets[ifd.next] as number) : 0, start + 2 + ifd.entries.length * 12)
  }
  return out
}

/** A camera-like EXIF block: IFD0 (Make, Model, Orientation, resolution, date), a thumbnail IFD, Exif, GPS and Interop IFDs. */
export function cameraExif(le = true): Buffer {
  return buildTiff({
    ifd0: {
      entries: [
        [0x010f, 2, 'Canon'], [0x0110, 2, 'Canon EOS 40D'], [0x0112, 3, [6]], [0x011a, 5, [300, 1]], [0x011b, 5, [300, 1]],
        [0x0128, 3, [2]], [0x0132, 2, '2008:07:31 10:38:11'], [0x8769, 4, { ifd: 'exif' }], [0x8825, 4, { ifd: 'gps' }],
        [0x9999, 3, [1]], // not in the tag table: left out
      ],
      next: 'ifd1',
    },
    ifd1: { entries: [[0x0103, 3, [6]], [0x011a, 5, [72, 1]]] },
    exif: {
      entries: [
        [0x829a, 5, [1, 160]], [0x829d, 5, [71, 10]], [0x8827, 3, [100]], [0x9000, 7, '0221'],
        [0x9003, 2, '2008:05:30 15:56:01'], [0xa005, 4, { ifd: 'interop' }],
      ],
    },
    gps: { entries: [[0x0000, 1, [2, 2, 0, 0]], [0x0001, 2, 'N'], [0x0002, 5, [48, 1, 51, 1, 30, 1]]] },
    interop: { entries: [[0x0001, 2, 'R98'], [0x0002, 7, '0100']] },
  }, le)
}

function segment(marker: number, data: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0])
  head.writeUInt16BE(data.length + 2, 2)
  return Buffer.concat([head, data])
}

/** A baseline JPEG with APP1 (EXIF) and APP2 (ICC) segments inserted after its JFIF APP0; `dpi` sets that APP0's density in dots per inch. */
export function jpegWith(opts: { exif?: Buffer; icc?: boolean; dpi?: number }, width = 24, height = 16): Buffer {
  const plain = makeJpeg(width, height)
  const app0Length = plain.readUInt16BE(4)
  const app0 = Buffer.from(plain.subarray(2, 4 + app0Length))
  if (opts.dpi !== undefined) {
    app0.writeUInt8(1, 4 + 7) // units: dots per inch
    app0.writeUInt16BE(opts.dpi, 4 + 8)
    app0.writeUInt16BE(opts.dpi, 4 + 10)
  }
  const extra: Buffer[] = []
  if (opts.exif) extra.push(segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), opts.exif])))
  if (opts.icc) extra.push(segment(0xe2, Buffer.concat([Buffer.from('ICC_PROFILE\0', 'latin1'), Buffer.from([1, 1]), Buffer.alloc(128)])))
  return Buffer.concat([plain.subarray(0, 2), app0, ...extra, plain.subarray(4 + app0Length)])
}

/** A PNG with chunks inserted after IHDR: pHYs in dots per inch, an iCCP profile, an eXIf block. */
export function pngWith(opts: { exif?: Buffer; icc?: boolean; dpi?: number }, width = 24, height = 16): Buffer {
  const plain = makePng(width, height)
  const afterIhdr = 8 + 12 + plain.readUInt32BE(8)
  const extra: Buffer[] = []
  if (opts.dpi !== undefined) {
    const phys = Buffer.alloc(9)
    const perMeter = Math.round(opts.dpi / 0.0254)
    phys.writeUInt32BE(perMeter, 0)
    phys.writeUInt32BE(perMeter, 4)
    phys[8] = 1
    extra.push(pngChunk('pHYs', phys))
  }
  if (opts.icc) extra.push(pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), Buffer.alloc(16)])))
  if (opts.exif) extra.push(pngChunk('eXIf', opts.exif))
  return Buffer.concat([plain.subarray(0, afterIhdr), ...extra, plain.subarray(afterIhdr)])
}
