/**
 * A small EXIF reader (a TIFF structure: IFD0, its next IFD (the thumbnail's), and the Exif, GPS and
 * Interoperability IFDs they point to), for the metadata endpoints' `exif` object (§2.4). Groups and tag
 * names follow the service's documented example (`image`, `thumbnail`, `exif`, `gps`, `interoperability`,
 * `makernote`; `ModifyDate`, `ExifOffset`, `ISO` ...), which are those of the `exif` npm package. Tags not
 * in the table, and maker notes, are left out. Every offset is bounds-checked: a broken block gives less,
 * never an exception.
 */

export interface ExifGroups {
  image: Record<string, ExifValue>
  thumbnail: Record<string, ExifValue>
  exif: Record<string, ExifValue>
  gps: Record<string, ExifValue>
  interoperability: Record<string, ExifValue>
  makernote: Record<string, never>
}
export type ExifValue = string | number | number[]

const IFD_TAGS: Record<number, string> = {
  0x0100: 'ImageWidth', 0x0101: 'ImageHeight', 0x0102: 'BitsPerSample', 0x0103: 'Compression',
  0x0106: 'PhotometricInterpretation', 0x010e: 'ImageDescription', 0x010f: 'Make', 0x0110: 'Model',
  0x0112: 'Orientation', 0x0115: 'SamplesPerPixel', 0x011a: 'XResolution', 0x011b: 'YResolution',
  0x011c: 'PlanarConfiguration', 0x0128: 'ResolutionUnit', 0x0131: 'Software', 0x0132: 'ModifyDate', 0x013b: 'Artist',
  0x0201: 'ThumbnailOffset', 0x0202: 'ThumbnailLength', 0x0213: 'YCbCrPositioning', 0x8298: 'Copyright',
  0x8769: 'ExifOffset', 0x8825: 'GPSInfo',
}
const EXIF_TAGS: Record<number, string> = {
  0x829a: 'ExposureTime', 0x829d: 'FNumber', 0x8822: 'ExposureProgram', 0x8827: 'ISO', 0x9000: 'ExifVersion',
  0x9003: 'DateTimeOriginal', 0x9004: 'CreateDate', 0x9201: 'ShutterSpeedValue', 0x9202: 'ApertureValue',
  0x9203: 'BrightnessValue', 0x9204: 'ExposureCompensation', 0x9205: 'MaxApertureValue', 0x9206: 'SubjectDistance',
  0x9207: 'MeteringMode', 0x9208: 'LightSource', 0x9209: 'Flash', 0x920a: 'FocalLength', 0x9290: 'SubSecTime',
  0x9291: 'SubSecTimeOriginal', 0x9292: 'SubSecTimeDigitized', 0xa000: 'FlashpixVersion', 0xa001: 'ColorSpace',
  0xa002: 'ExifImageWidth', 0xa003: 'ExifImageHeight', 0xa005: 'InteropOffset', 0xa20e: 'FocalPlaneXResolution',
  0xa20f: 'FocalPlaneYResolution', 0xa210: 'FocalPlaneResolutionUnit', 0xa217: 'SensingMethod', 0xa401: 'CustomRendered',
  0xa402: 'ExposureMode', 0xa403: 'WhiteBalance', 0xa404: 'DigitalZoomRatio', 0xa405: 'FocalLengthIn35mmFormat',
  0xa406: 'SceneCaptureType', 0xa408: 'Contrast', 0xa409: 'Saturation', 0xa40a: 'Sharpness', 0xa420: 'ImageUniqueID',
  0xa431: 'SerialNumber', 0xa433: 'LensMake', 0xa434: 'LensModel',
}
const GPS_TAGS: Record<number, string> = {
  0x00: 'GPSVersionID', 0x01: 'GPSLatitudeRef', 0x02: 'GPSLatitude', 0x03: 'GPSLongitudeRef', 0x04: 'GPSLongitude',
  0x05: 'GPSAltitudeRef', 0x06: 'GPSAltitude', 0x07: 'GPSTimeStamp', 0x12: 'GPSMapDatum', 0x1d: 'GPSDateStamp',
}
const INTEROP_TAGS: Record<number, string> = { 0x01: 'InteropIndex', 0x02: 'InteropVersion' }

/** Bytes per value of each TIFF field type (1 BYTE ... 12 DOUBLE). */
const TYPE_SIZES = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8]
/** More entries than any real IFD has: a corrupt count is not looped over. */
const MAX_ENTRIES = 512

/** The groups of a TIFF-structured EXIF block (what follows `Exif\0\0` in a JPEG APP1, or a PNG eXIf chunk). */
export function readExif(tiff: Buffer): ExifGroups | undefined {
  if (tiff.length < 8) return undefined
  const order = tiff.toString('latin1', 0, 2)
  if (order !== 'II' && order !== 'MM') return undefined
  const le = order === 'II'
  const u16 = (at: number) => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at))
  const u32 = (at: number) => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at))
  if (u16(2) !== 42) return undefined

  /** The tags of the IFD at `at` named in `names`, and the offset of the next IFD (0 if none). */
  const ifd = (at: number, names: Record<number, string>): { tags: Record<string, ExifValue>; next: number } => {
    const tags: Record<string, ExifValue> = {}
    if (at < 8 || at + 2 > tiff.length) return { tags, next: 0 }
    const count = Math.min(u16(at), MAX_ENTRIES)
    for (let i = 0; i < count; i++) {
      const entry = at + 2 + i * 12
      if (entry + 12 > tiff.length) return { tags, next: 0 }
      const name = names[u16(entry)]
      const value = name === undefined ? undefined : readValue(tiff, entry, le)
      if (name !== undefined && value !== undefined) tags[name] = value
    }
    const nextAt = at + 2 + count * 12
    return { tags, next: nextAt + 4 <= tiff.length ? u32(nextAt) : 0 }
  }
  const pointer = (tags: Record<string, ExifValue>, name: string): number => (typeof tags[name] === 'number' ? (tags[name] as number) : 0)

  const ifd0 = ifd(u32(4), IFD_TAGS)
  const ifd1 = ifd0.next !== 0 ? ifd(ifd0.next, IFD_TAGS).tags : {}
  const exif = ifd(pointer(ifd0.tags, 'ExifOffset'), EXIF_TAGS).tags
  const gps = ifd(pointer(ifd0.tags, 'GPSInfo'), GPS_TAGS).tags
  const interoperability = ifd(pointer(exif, 'InteropOffset'), INTEROP_TAGS).tags
  return { image: ifd0.tags, thumbnail: ifd1, exif, gps, interoperability, makernote: {} }
}

function readValue(tiff: Buffer, entry: number, le: boolean): ExifValue | undefined {
  const type = le ? tiff.readUInt16LE(entry + 2) : tiff.readUInt16BE(entry + 2)
  const count = le ? tiff.readUInt32LE(entry + 4) : tiff.readUInt32BE(entry + 4)
  const size = TYPE_SIZES[type] ?? 0
  if (size === 0 || count === 0) return undefined
  const bytes = size * count
  const start = bytes <= 4 ? entry + 8 : le ? tiff.readUInt32LE(entry + 8) : tiff.readUInt32BE(entry + 8)
  if (start + bytes > tiff.length) return undefined
  if (type === 2) return tiff.toString('latin1', start, start + bytes).replace(/\0+$/, '')
  if (type === 7) {
    const raw = tiff.subarray(start, start + bytes)
    return raw.every((b) => b >= 0x20 && b < 0x7f) ? raw.toString('latin1') : [...raw]
  }
  const values: number[] = []
  for (let i = 0; i < count; i++) {
    const at = start + i * size
    const n = (f: 'UInt8' | 'Int8') => tiff[`read${f}`](at)
    const m = (f: 'UInt16' | 'Int16' | 'UInt32' | 'Int32' | 'Float' | 'Double', off = 0) =>
      tiff[`read${f}${le ? 'LE' : 'BE'}`](at + off)
    switch (type) {
      case 1: values.push(n('UInt8')); break
      case 6: values.push(n('Int8')); break
      case 3: values.push(m('UInt16')); break
      case 8: values.push(m('Int16')); break
      case 4: values.push(m('UInt32')); break
      case 9: values.push(m('Int32')); break
      case 5: values.push(ratio(m('UInt32'), m('UInt32', 4))); break
      case 10: values.push(ratio(m('Int32'), m('Int32', 4))); break
      case 11: values.push(m('Float')); break
      case 12: values.push(m('Double')); break
    }
  }
  return values.length === 1 ? (values[0] as number) : values
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator
}
