/**
 * Width, height and format read from an image's first bytes (PNG, JPEG, GIF, WebP, BMP, SVG): enough for the
 * `width`/`height`/`hasAlpha` fields and the metadata endpoints. Never decodes pixels.
 */

export interface ImageInfo {
  format: 'png' | 'jpg' | 'gif' | 'webp' | 'bmp' | 'svg'
  width: number
  height: number
  hasAlpha: boolean
}

/** JPEG headers can sit behind large EXIF blocks; this much of the file is read to find the frame header. */
export const IMAGE_HEADER_BYTES = 512 * 1024

export function readImageInfo(head: Buffer): ImageInfo | undefined {
  return png(head) ?? gif(head) ?? bmp(head) ?? webp(head) ?? jpeg(head) ?? svg(head)
}

function png(b: Buffer): ImageInfo | undefined {
  if (b.length < 26 || b.readUInt32BE(0) !== 0x89504e47 || b.toString('latin1', 12, 16) !== 'IHDR') return undefined
  const colorType = b[25] ?? 0
  return { format: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20), hasAlpha: colorType === 4 || colorType === 6 || b.includes('tRNS', 33, 'latin1') }
}

function gif(b: Buffer): ImageInfo | undefined {
  const sig = b.toString('latin1', 0, 6)
  if (b.length < 10 || (sig !== 'GIF87a' && sig !== 'GIF89a')) return undefined
  return { format: 'gif', width: b.readUInt16LE(6), height: b.readUInt16LE(8), hasAlpha: false }
}

function bmp(b: Buffer): ImageInfo | undefined {
  if (b.length < 26 || b.toString('latin1', 0, 2) !== 'BM') return undefined
  return { format: 'bmp', width: Math.abs(b.readInt32LE(18)), height: Math.abs(b.readInt32LE(22)), hasAlpha: false }
}

function webp(b: Buffer): ImageInfo | undefined {
  if (b.length < 30 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WEBP') return undefined
  const chunk = b.toString('latin1', 12, 16)
  if (chunk === 'VP8 ') return { format: 'webp', width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff, hasAlpha: false }
  if (chunk === 'VP8L') {
    const b1 = b[22] ?? 0, b2 = b[23] ?? 0, b3 = b[24] ?? 0, b0 = b[21] ?? 0
    return {
      format: 'webp',
      width: 1 + (((b1 & 0x3f) << 8) | b0),
      height: 1 + (((b3 & 0x0f) << 10) | (b2 << 2) | ((b1 & 0xc0) >> 6)),
      hasAlpha: ((b3 >> 4) & 1) === 1,
    }
  }
  if (chunk === 'VP8X') {
    return { format: 'webp', width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3), hasAlpha: ((b[20] ?? 0) & 0x10) !== 0 }
  }
  return undefined
}

function jpeg(b: Buffer): ImageInfo | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined
  let i = 2
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined
    const marker = b[i + 1] ?? 0
    if (marker === 0xff) { i += 1; continue }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue }
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc
    if (isFrame) return { format: 'jpg', height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7), hasAlpha: false }
    i += 2 + b.readUInt16BE(i + 2)
  }
  return undefined
}

/** An SVG file starts with markup (`<svg`, `<?xml`, a comment or doctype), after an optional BOM and whitespace. */
function startsWithMarkup(b: Buffer): boolean {
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0
  while (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d) i++
  return b[i] === 0x3c
}

function svg(b: Buffer): ImageInfo | undefined {
  // Most uploads are not SVG: they are told apart by their first byte, not by decoding 4 KiB and a regex.
  if (!startsWithMarkup(b)) return undefined
  const text = b.toString('utf8', 0, Math.min(b.length, 4096))
  const tag = /<svg\b[^>]*>/i.exec(text)?.[0]
  if (!tag) return undefined
  const attr = (name: string) => Number.parseFloat(new RegExp(`\\s${name}\\s*=\\s*["']([0-9.]+)`, 'i').exec(tag)?.[1] ?? '')
  let width = attr('width'), height = attr('height')
  const viewBox = /viewBox\s*=\s*["']\s*[-0-9.]+[\s,]+[-0-9.]+[\s,]+([0-9.]+)[\s,]+([0-9.]+)/i.exec(tag)
  if (!(width > 0) && viewBox) width = Number(viewBox[1])
  if (!(height > 0) && viewBox) height = Number(viewBox[2])
  return { format: 'svg', width: Math.round(width > 0 ? width : 0), height: Math.round(height > 0 ? height : 0), hasAlpha: true }
}
