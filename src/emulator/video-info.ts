/**
 * Duration, bit rate, codecs and frame size read from an MP4 / MOV / M4A's boxes (ISO BMFF): the `duration`,
 * `bitRate`, `videoCodec`, `audioCodec` (and `width`/`height`) that the service gives a video or audio file in
 * its file object, its upload answer and its metadata (§2.1, §2.3, §2.4; the SDK's File, FileUploadResponse and
 * Metadata types). Only the first bytes are read (probe.ts), so a file whose `moov` box follows its media data
 * (not "fast start") tells nothing, as a file of another container does: the fields are then left out.
 * Units as the SDK documents them: duration in seconds, bit rate in kbps (of the whole file, as ffprobe's
 * format bit rate). Codec names are ffprobe's (the service's own names are **U**).
 */

export interface VideoInfo {
  /** Seconds. */
  duration: number
  /** kbps, from the file's size over its duration. */
  bitRate: number
  videoCodec?: string
  audioCodec?: string
  width?: number
  height?: number
}

/** Sample entry types (stsd) → ffprobe's codec names. */
const CODECS: Record<string, string> = {
  avc1: 'h264', avc3: 'h264', hvc1: 'hevc', hev1: 'hevc', vp09: 'vp9', av01: 'av1', mp4v: 'mpeg4', 'jpeg': 'mjpeg',
  mp4a: 'aac', Opus: 'opus', '.mp3': 'mp3', 'ac-3': 'ac3', 'ec-3': 'eac3', fLaC: 'flac', alac: 'alac',
}

interface Box {
  type: string
  /** Where its content starts and ends in the buffer (end clipped to the buffer). */
  start: number
  end: number
}

/** The boxes directly inside [from, to); stops at one that does not fit its header. */
function* boxes(b: Buffer, from: number, to: number): Generator<Box> {
  let at = from
  while (at + 8 <= to) {
    let size = b.readUInt32BE(at)
    let header = 8
    if (size === 1) {
      if (at + 16 > to) return
      size = Number(b.readBigUInt64BE(at + 8))
      header = 16
    } else if (size === 0) {
      size = to - at
    }
    if (size < header) return
    yield { type: b.toString('latin1', at + 4, at + 8), start: at + header, end: Math.min(at + size, to) }
    at += size
  }
}

function child(b: Buffer, parent: Box, type: string): Box | undefined {
  for (const box of boxes(b, parent.start, parent.end)) if (box.type === type) return box
  return undefined
}

function path(b: Buffer, parent: Box, types: string[]): Box | undefined {
  let box: Box | undefined = parent
  for (const type of types) box = box && child(b, box, type)
  return box
}

/** `head`: the file's first bytes; `size`: its whole size (for the bit rate). Undefined when not an ISO BMFF movie. */
export function readVideoInfo(head: Buffer, size: number): VideoInfo | undefined {
  if (head.length < 8 || head.toString('latin1', 4, 8) !== 'ftyp') return undefined
  let moov: Box | undefined
  for (const box of boxes(head, 0, head.length)) if (box.type === 'moov') moov = box
  const mvhd = moov && child(head, moov, 'mvhd')
  if (!moov || !mvhd || mvhd.end - mvhd.start < 32) return undefined
  const v1 = head[mvhd.start] === 1
  const timescale = head.readUInt32BE(mvhd.start + (v1 ? 20 : 12))
  const units = v1 ? Number(head.readBigUInt64BE(mvhd.start + 24)) : head.readUInt32BE(mvhd.start + 16)
  if (!(timescale > 0) || !(units > 0)) return undefined
  const duration = Math.round((units / timescale) * 1000) / 1000
  const info: VideoInfo = { duration, bitRate: Math.round((size * 8) / duration / 1000) }
  for (const trak of boxes(head, moov.start, moov.end)) {
    if (trak.type !== 'trak') continue
    const hdlr = path(head, trak, ['mdia', 'hdlr'])
    const handler = hdlr && hdlr.end - hdlr.start >= 12 ? head.toString('latin1', hdlr.start + 8, hdlr.start + 12) : ''
    const stsd = path(head, trak, ['mdia', 'minf', 'stbl', 'stsd'])
    const entry = stsd && stsd.end - stsd.start >= 16 ? head.toString('latin1', stsd.start + 12, stsd.start + 16) : ''
    const codec = CODECS[entry] ?? entry.trim()
    if (handler === 'vide' && info.videoCodec === undefined) {
      if (codec) info.videoCodec = codec
      const tkhd = child(head, trak, 'tkhd')
      const sizeAt = tkhd && tkhd.start + (head[tkhd.start] === 1 ? 88 : 76)
      if (tkhd && sizeAt !== undefined && sizeAt + 8 <= tkhd.end) {
        info.width = head.readUInt32BE(sizeAt) >>> 16 // 16.16 fixed point
        info.height = head.readUInt32BE(sizeAt + 4) >>> 16
      }
    } else if (handler === 'soun' && info.audioCodec === undefined && codec) {
      info.audioCodec = codec
    }
  }
  return info
}
