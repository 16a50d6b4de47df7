/**
 * What the emulator learns from a file's name and first bytes: mime, image-ness, dimensions, embedded EXIF, and
 * a video's or audio file's duration, bit rate and codecs (video-info.ts; of a movie whose `moov` box lies past
 * the first bytes, read from the file box by box).
 */
import { open, type FileHandle } from 'node:fs/promises'
import { readEmbeddedFacts, toEmbeddedMetadata } from './embedded-metadata.js'
import { IMAGE_HEADER_BYTES, readImageInfo, type ImageInfo } from './image-info.js'
import { extensionOf, mimeFromName } from './mime.js'
import type { MediaFacts } from './records.js'
import { readVideoInfo, readVideoInfoFrom, type VideoInfo } from './video-info.js'

export type ProbeResult = MediaFacts

/** Only names whose type can be an image, a video or audio have their header read (keeps adoption of 100k text files cheap). */
function mayBeMedia(name: string): boolean {
  const mime = mimeFromName(name)
  return /^(image|video|audio)\//.test(mime) || mime === 'application/octet-stream'
}

export async function probeFile(bytesPath: string, name: string, size: number): Promise<ProbeResult> {
  const head = mayBeMedia(name) && size > 0 ? await readHead(bytesPath, Math.min(size, IMAGE_HEADER_BYTES)) : Buffer.alloc(0)
  return probeWithFile(head, bytesPath, name, size)
}

/** The first `length` bytes of a file (fewer if it is shorter). */
export async function readHead(bytesPath: string, length = IMAGE_HEADER_BYTES): Promise<Buffer> {
  const fh = await open(bytesPath, 'r')
  try {
    const buf = Buffer.alloc(length)
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

/**
 * The same answer as probeFile, from the file's first IMAGE_HEADER_BYTES bytes already in memory: the file at
 * `bytesPath` is read only for a movie whose `moov` box lies past them.
 */
export async function probeBytes(head: Buffer, bytesPath: string, name: string, size: number): Promise<ProbeResult> {
  return probeWithFile(mayBeMedia(name) ? head.subarray(0, IMAGE_HEADER_BYTES) : Buffer.alloc(0), bytesPath, name, size)
}

async function probeWithFile(head: Buffer, bytesPath: string, name: string, size: number): Promise<ProbeResult> {
  const image = readImageInfo(head)
  // Only bytes that are not an image can be a movie (an HEIC/AVIF's boxes are an image's: image-info.ts).
  if (image || head.length === 0 || head.length >= size) return facts(head, name, size, image, readVideoInfo(head, size))
  return facts(head, name, size, undefined, await readVideoInfoOfFile(bytesPath, head, size))
}

/** A movie's facts, reading past `head` from the file (opened only if the walk gets there, and closed again). */
async function readVideoInfoOfFile(bytesPath: string, head: Buffer, size: number): Promise<VideoInfo | undefined> {
  let fh: FileHandle | undefined
  try {
    return await readVideoInfoFrom(head, size, async (at, length) => {
      fh ??= await open(bytesPath, 'r')
      const buf = Buffer.alloc(length)
      const { bytesRead } = await fh.read(buf, 0, length, at)
      return buf.subarray(0, bytesRead)
    })
  } finally {
    await fh?.close()
  }
}

/** Every key always there (undefined when unknown), so that re-probing a changed file (adopt.ts) drops the old ones. */
function videoFacts(v: VideoInfo | undefined): Pick<MediaFacts, 'duration' | 'bitRate' | 'videoCodec' | 'audioCodec'> {
  return { duration: v?.duration, bitRate: v?.bitRate, videoCodec: v?.videoCodec, audioCodec: v?.audioCodec }
}

/** From `head` alone (a movie whose `moov` box lies past it tells nothing). */
export function probeHead(head: Buffer, name: string, size = head.length): ProbeResult {
  const image = readImageInfo(head)
  return facts(head, name, size, image, image ? undefined : readVideoInfo(head, size))
}

function facts(head: Buffer, name: string, size: number, info: ImageInfo | undefined, video: VideoInfo | undefined): ProbeResult {
  const nameMime = mimeFromName(name)
  if (info) {
    const mime = nameMime.startsWith('image/') ? nameMime : info.format === 'jpg' ? 'image/jpeg' : info.format === 'svg' ? 'image/svg+xml' : `image/${info.format}`
    const embedded = toEmbeddedMetadata(readEmbeddedFacts(head))
    return {
      mime, fileType: 'image', format: info.format, width: info.width, height: info.height, hasAlpha: info.hasAlpha,
      // Always the key, so that re-probing a changed file (adopt.ts) drops what the old bytes held.
      embeddedMetadata: Object.keys(embedded).length > 0 ? embedded : undefined,
      ...videoFacts(undefined),
    }
  }
  const ext = extensionOf(name)
  return {
    mime: nameMime,
    fileType: nameMime.startsWith('image/') ? 'image' : 'non-image',
    format: ext === 'jpeg' ? 'jpg' : ext,
    width: video?.width,
    height: video?.height,
    hasAlpha: false,
    embeddedMetadata: undefined,
    ...videoFacts(video),
  }
}
