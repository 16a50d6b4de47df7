/**
 * Duration, bit rate, codecs and frame size read from an MP4 / MOV / M4A's boxes (ISO BMFF): the `duration`,
 * `bitRate`, `videoCodec`, `audioCodec` (and `width`/`height`) that the service gives a video or audio file in
 * its file object, its upload answer and its metadata (§2.1, §2.3, §2.4; the SDK's File, FileUploadResponse and
 * Metadata types). The `moov` box is found wherever it is: first ("fast start") or after the media data, the
 * default of many encoders. The walk reads only box headers and the few small boxes it needs (mvhd, tkhd, hdlr,
 * stsd), skipping the media data and the sample tables by their sizes (64-bit `largesize` included), so a long
 * movie is never read whole. A file of another container, or whose boxes tell nothing, has the fields left out.
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

/**
 * Boxes looked at side by side in one parent (or at the top level) before giving up: real files have a handful,
 * and a file of millions of tiny boxes must not cost millions of reads.
 */
const MAX_SIBLINGS = 1024

/** Bytes read at once from the file when a box lies past the head already in memory (a whole small moov). */
const READ_AHEAD = 64 * 1024

/** A read the walk needs: `length` bytes at `at` in the file (fewer when the file ends first). */
interface Want {
  at: number
  length: number
}

/** The walk, as a generator asking for bytes, so that one parser serves bytes in memory and a file on disk. */
type Walk<T> = Generator<Want, T, Buffer>

interface Box {
  type: string
  /** Where its content starts and ends in the file (end clipped to its parent). */
  start: number
  end: number
}

function* bytes(at: number, length: number): Walk<Buffer> {
  return yield { at, length }
}

/** The box whose header is at `at` inside a parent ending at `to`; undefined when none fits there. */
function* boxAt(at: number, to: number): Walk<(Box & { next: number }) | undefined> {
  if (at + 8 > to) return undefined
  const h = yield* bytes(at, Math.min(16, to - at))
  if (h.length < 8) return undefined
  let size = h.readUInt32BE(0)
  let header = 8
  if (size === 1) { // 64-bit largesize (a media data box past 4 GiB)
    if (h.length < 16) return undefined
    size = Number(h.readBigUInt64BE(8))
    header = 16
  } else if (size === 0) { // extends to the end of its parent (the file)
    size = to - at
  }
  if (size < header) return undefined
  return { type: h.toString('latin1', 4, 8), start: at + header, end: Math.min(at + size, to), next: at + size }
}

/** The boxes directly inside [from, to) of the given types, in order; stops at one that does not fit its header. */
function* children(from: number, to: number, types: readonly string[], firstOnly = false): Walk<Box[]> {
  const found: Box[] = []
  let at = from
  for (let n = 0; n < MAX_SIBLINGS; n++) {
    const box = yield* boxAt(at, to)
    if (!box) break
    if (types.includes(box.type)) {
      found.push(box)
      if (firstOnly) break
    }
    at = box.next
  }
  return found
}

function* child(parent: Box | undefined, type: string): Walk<Box | undefined> {
  return parent && (yield* children(parent.start, parent.end, [type], true))[0]
}

function* path(parent: Box | undefined, types: string[]): Walk<Box | undefined> {
  let box = parent
  for (const type of types) box = yield* child(box, type)
  return box
}

/** Up to `length` bytes of a box's content. */
function* content(box: Box, length: number): Walk<Buffer> {
  return yield* bytes(box.start, Math.min(length, box.end - box.start))
}

function* walk(size: number): Walk<VideoInfo | undefined> {
  const ftyp = yield* boxAt(0, size)
  if (ftyp?.type !== 'ftyp') return undefined
  const [moov] = yield* children(0, size, ['moov'], true)
  const inMoov = moov ? yield* children(moov.start, moov.end, ['mvhd', 'trak']) : []
  const mvhd = inMoov.find((b) => b.type === 'mvhd')
  if (!mvhd) return undefined
  const m = yield* content(mvhd, 32)
  if (m.length < 32) return undefined
  const v1 = m[0] === 1
  const timescale = m.readUInt32BE(v1 ? 20 : 12)
  const units = v1 ? Number(m.readBigUInt64BE(24)) : m.readUInt32BE(16)
  if (!(timescale > 0) || !(units > 0)) return undefined
  const duration = Math.round((units / timescale) * 1000) / 1000
  const info: VideoInfo = { duration, bitRate: Math.round((size * 8) / duration / 1000) }
  for (const trak of inMoov) {
    if (trak.type !== 'trak') continue
    const mdia = yield* child(trak, 'mdia')
    const hdlr = yield* child(mdia, 'hdlr')
    const h = hdlr ? yield* content(hdlr, 12) : Buffer.alloc(0)
    const handler = h.length >= 12 ? h.toString('latin1', 8, 12) : ''
    if (handler !== 'vide' && handler !== 'soun') continue
    if (handler === 'vide' ? info.videoCodec !== undefined : info.audioCodec !== undefined) continue
    const stsd = yield* path(mdia, ['minf', 'stbl', 'stsd'])
    const s = stsd ? yield* content(stsd, 16) : Buffer.alloc(0)
    const entry = s.length >= 16 ? s.toString('latin1', 12, 16) : ''
    const codec = CODECS[entry] ?? entry.trim()
    if (handler === 'vide') {
      if (codec) info.videoCodec = codec
      const tkhd = yield* child(trak, 'tkhd')
      const t = tkhd ? yield* content(tkhd, 96) : Buffer.alloc(0)
      const sizeAt = t.length > 0 ? (t[0] === 1 ? 88 : 76) : Infinity
      if (sizeAt + 8 <= t.length) {
        info.width = t.readUInt32BE(sizeAt) >>> 16 // 16.16 fixed point
        info.height = t.readUInt32BE(sizeAt + 4) >>> 16
      }
    } else if (codec) {
      info.audioCodec = codec
    }
  }
  return info
}

/**
 * `bytes`: the file's first bytes (all of them, or a head); `size`: its whole size (for the bit rate). Undefined
 * when not an ISO BMFF movie, or when what tells it lies past `bytes` (readVideoInfoFrom reads on).
 */
export function readVideoInfo(bytes: Buffer, size: number): VideoInfo | undefined {
  const w = walk(size)
  let step = w.next()
  while (!step.done) step = w.next(bytes.subarray(step.value.at, step.value.at + step.value.length))
  return step.value
}

/**
 * The same, reading what lies past `head` with `readAt` (at most `length` bytes at `at`; fewer at the end of the
 * file), a little at a time: only box headers and the boxes that tell something, never the media data.
 */
export async function readVideoInfoFrom(
  head: Buffer, size: number, readAt: (at: number, length: number) => Promise<Buffer>,
): Promise<VideoInfo | undefined> {
  const w = walk(size)
  let block: { at: number; bytes: Buffer } = { at: 0, bytes: Buffer.alloc(0) }
  let step = w.next()
  while (!step.done) {
    const { at, length } = step.value
    const end = Math.min(at + length, size)
    let from: { at: number; bytes: Buffer }
    if (end <= head.length) from = { at: 0, bytes: head }
    else {
      if (!(at >= block.at && end <= block.at + block.bytes.length)) {
        block = { at, bytes: await readAt(at, Math.max(length, Math.min(READ_AHEAD, size - at))) }
      }
      from = block
    }
    step = w.next(from.bytes.subarray(at - from.at, at - from.at + length))
  }
  return step.value
}
