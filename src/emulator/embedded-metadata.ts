/**
 * What the metadata endpoints (§2.4) report beyond a file's dimensions, read from a JPEG's or PNG's first
 * bytes (segments before the image data; chunks before IDAT): an ICC colour profile (`hasColorProfile`),
 * the resolution (`density`, in dots per inch: JFIF or pHYs, else the EXIF resolution, else 72 as in the
 * service's example) and the EXIF block (exif.ts). Other formats report no profile, 72 and no EXIF.
 */
import { readExif, type ExifGroups } from './exif.js'

export interface EmbeddedFacts {
  hasColorProfile: boolean
  density: number
  exif: ExifGroups | undefined
}

/** What the service's documented example shows for an image that says nothing of its resolution. */
const DEFAULT_DENSITY = 72
const CM_PER_INCH = 2.54
const METERS_PER_INCH = 0.0254

export const NO_EMBEDDED_FACTS: EmbeddedFacts = { hasColorProfile: false, density: DEFAULT_DENSITY, exif: undefined }

export function readEmbeddedFacts(head: Buffer): EmbeddedFacts {
  return jpeg(head) ?? png(head) ?? NO_EMBEDDED_FACTS
}

function jpeg(b: Buffer): EmbeddedFacts | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined
  let hasColorProfile = false
  let jfifDensity: number | undefined
  let exif: ExifGroups | undefined
  let i = 2
  while (i + 4 <= b.length && b[i] === 0xff) {
    const marker = b[i + 1] ?? 0
    if (marker === 0xda || marker === 0xd9) break // image data (or its end): no metadata after it is read
    if (marker === 0xff || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += marker === 0xff ? 1 : 2; continue }
    const length = b.readUInt16BE(i + 2)
    const data = b.subarray(i + 4, Math.min(b.length, i + 2 + length))
    if (marker === 0xe0 && data.length >= 12 && data.toString('latin1', 0, 5) === 'JFIF\0') {
      const units = data[7], x = data.readUInt16BE(8)
      if (units === 1) jfifDensity = x
      else if (units === 2) jfifDensity = Math.round(x * CM_PER_INCH)
    } else if (marker === 0xe1 && data.toString('latin1', 0, 6) === 'Exif\0\0') {
      exif ??= readExif(data.subarray(6))
    } else if (marker === 0xe2 && data.toString('latin1', 0, 12) === 'ICC_PROFILE\0') {
      hasColorProfile = true
    }
    i += 2 + length
  }
  return { hasColorProfile, density: jfifDensity ?? exifDensity(exif) ?? DEFAULT_DENSITY, exif }
}

function png(b: Buffer): EmbeddedFacts | undefined {
  if (b.length < 8 || b.readUInt32BE(0) !== 0x89504e47 || b.readUInt32BE(4) !== 0x0d0a1a0a) return undefined
  let hasColorProfile = false
  let physDensity: number | undefined
  let exif: ExifGroups | undefined
  let i = 8
  while (i + 8 <= b.length) {
    const length = b.readUInt32BE(i)
    const type = b.toString('latin1', i + 4, i + 8)
    if (type === 'IDAT' || type === 'IEND') break
    const data = b.subarray(i + 8, Math.min(b.length, i + 8 + length))
    if (type === 'iCCP') hasColorProfile = true
    else if (type === 'pHYs' && data.length >= 9 && data[8] === 1) physDensity = Math.round(data.readUInt32BE(0) * METERS_PER_INCH)
    else if (type === 'eXIf') exif ??= readExif(data)
    i += 12 + length
  }
  return { hasColorProfile, density: physDensity ?? exifDensity(exif) ?? DEFAULT_DENSITY, exif }
}

/** EXIF `XResolution` in dots per inch (`ResolutionUnit` 2 = inch, the default; 3 = centimetre). */
function exifDensity(exif: ExifGroups | undefined): number | undefined {
  const x = exif?.image.XResolution
  if (typeof x !== 'number' || x <= 0) return undefined
  return Math.round(exif?.image.ResolutionUnit === 3 ? x * CM_PER_INCH : x)
}

/** Pointers inside the EXIF block, not facts about the image. */
const STRUCTURE_TAGS = new Set(['ExifOffset', 'GPSInfo', 'InteropOffset', 'ThumbnailOffset', 'ThumbnailLength'])

/**
 * The flat `embeddedMetadata` object (§2.1: EXIF, IPTC and XMP merged): here the EXIF tags of the image,
 * exif and gps groups (IPTC and XMP are not read). `{}` without EXIF.
 */
export function toEmbeddedMetadata(facts: EmbeddedFacts): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (!facts.exif) return out
  for (const group of [facts.exif.image, facts.exif.exif, facts.exif.gps]) {
    for (const [name, value] of Object.entries(group)) if (!STRUCTURE_TAGS.has(name)) out[name] = value
  }
  return out
}
