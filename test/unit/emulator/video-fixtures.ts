/** Small ISO BMFF (MP4) files built box by box, for the emulator's video facts (video-info.ts). */

function box(type: string, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + body.length)
  head.write(type, 4, 'latin1')
  return Buffer.concat([head, body])
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length)
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i))
  return b
}

/** mvhd version 0: timescale and duration in its units. */
function mvhd(timescale: number, units: number): Buffer {
  return box('mvhd', u32(0, 0, 0, timescale, units), Buffer.alloc(80))
}

/** tkhd version 0 with a frame size (16.16 fixed point). */
function tkhd(width: number, height: number): Buffer {
  return box('tkhd', u32(0, 0, 0, 1, 0, 0), Buffer.alloc(8 + 8 + 36), u32(width * 65536, height * 65536))
}

function trak(handler: string, sampleEntry: string, frame?: { width: number; height: number }): Buffer {
  const hdlr = box('hdlr', u32(0, 0), Buffer.from(handler, 'latin1'), Buffer.alloc(13))
  const stsd = box('stsd', u32(0, 1), box(sampleEntry, Buffer.alloc(16)))
  const mdia = box('mdia', hdlr, box('minf', box('stbl', stsd)))
  return box('trak', ...(frame ? [tkhd(frame.width, frame.height)] : []), mdia)
}

export interface Mp4Options {
  seconds: number
  width?: number
  height?: number
  /** Sample entry type of the video track (avc1, hvc1 ...); none: no video track. */
  video?: string
  /** Of the audio track (mp4a, Opus ...); none: no audio track. */
  audio?: string
  /** Bytes of media data. */
  mediaBytes?: number
  /** The moov box after the media data (not "fast start"). */
  moovLast?: boolean
  /** The media data box's size in the 64-bit `largesize` field (as for media data past 4 GiB). */
  largeMdat?: boolean
}

export function ftypBox(): Buffer {
  return box('ftyp', Buffer.from('isom', 'latin1'), u32(512), Buffer.from('isomiso2avc1mp41', 'latin1'))
}

export function moovBox(o: Mp4Options): Buffer {
  const tracks = [
    ...(o.video ? [trak('vide', o.video, { width: o.width ?? 0, height: o.height ?? 0 })] : []),
    ...(o.audio ? [trak('soun', o.audio)] : []),
  ]
  return box('moov', mvhd(1000, Math.round(o.seconds * 1000)), ...tracks)
}

/** The header of a media data box of `bytes` bytes of content in the 64-bit form (size 1, then the largesize). */
export function largeMdatHeader(bytes: number): Buffer {
  const h = Buffer.alloc(16)
  h.writeUInt32BE(1)
  h.write('mdat', 4, 'latin1')
  h.writeBigUInt64BE(BigInt(16 + bytes), 8)
  return h
}

export function makeMp4(o: Mp4Options): Buffer {
  const media = Buffer.alloc(o.mediaBytes ?? 1000, 0x11)
  const mdat = o.largeMdat ? Buffer.concat([largeMdatHeader(media.length), media]) : box('mdat', media)
  const ftyp = ftypBox()
  const moov = moovBox(o)
  return Buffer.concat(o.moovLast ? [ftyp, mdat, moov] : [ftyp, moov, mdat])
}
