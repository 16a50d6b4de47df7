/**
 * What the emulator learns from a file's name and first bytes: mime, image-ness, dimensions, embedded EXIF, and
 * a video's or audio file's duration, bit rate and codecs (video-info.ts).
 */
import { open } from 'node:fs/promises'
import { readEmbeddedFacts, toEmbeddedMetadata } from './embedded-metadata.js'
import { IMAGE_HEADER_BYTES, readImageInfo } from './image-info.js'
import { extensionOf, mimeFromName } from './mime.js'
import type { MediaFacts } from './records.js'
import { readVideoInfo, type VideoInfo } from './video-info.js'

export type ProbeResult = MediaFacts

/** Only names whose type can be an image, a video or audio have their header read (keeps adoption of 100k text files cheap). */
function mayBeMedia(name: string): boolean {
  const mime = mimeFromName(name)
  return /^(image|video|audio)\//.test(mime) || mime === 'application/octet-stream'
}

export async function probeFile(bytesPath: string, name: string, size: number): Promise<ProbeResult> {
  return probeHead(mayBeMedia(name) && size > 0 ? await readHead(bytesPath, Math.min(size, IMAGE_HEADER_BYTES)) : Buffer.alloc(0), name, size)
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

/** The same answer as probeFile, from the file's first IMAGE_HEADER_BYTES bytes already in memory. */
export function probeBytes(head: Buffer, name: string, size: number): ProbeResult {
  return probeHead(mayBeMedia(name) ? head.subarray(0, IMAGE_HEADER_BYTES) : Buffer.alloc(0), name, size)
}

/** Every key always there (undefined when unknown), so that re-probing a changed file (adopt.ts) drops the old ones. */
function videoFacts(v: VideoInfo | undefined): Pick<MediaFacts, 'duration' | 'bitRate' | 'videoCodec' | 'audioCodec'> {
  return { duration: v?.duration, bitRate: v?.bitRate, videoCodec: v?.videoCodec, audioCodec: v?.audioCodec }
}

export function probeHead(head: Buffer, name: string, size = head.length): ProbeResult {
  const nameMime = mimeFromName(name)
  const info = readImageInfo(head)
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
  const video = readVideoInfo(head, size)
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
