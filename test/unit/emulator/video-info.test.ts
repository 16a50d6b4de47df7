import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IMAGE_HEADER_BYTES } from '../../../src/emulator/image-info.js'
import { probeBytes, probeFile } from '../../../src/emulator/probe.js'
import { readVideoInfo, readVideoInfoFrom } from '../../../src/emulator/video-info.js'
import { tempDir } from '../../helpers/temp-dirs.js'
import { ftypBox, largeMdatHeader, makeMp4, moovBox } from './video-fixtures.js'

describe('readVideoInfo', () => {
  it('reads the duration, bit rate, codecs and frame size of a fast-start MP4', () => {
    const mp4 = makeMp4({ seconds: 2.5, width: 640, height: 360, video: 'avc1', audio: 'mp4a', mediaBytes: 250_000 })
    expect(readVideoInfo(mp4, mp4.length)).toEqual({
      duration: 2.5, bitRate: Math.round((mp4.length * 8) / 2.5 / 1000), videoCodec: 'h264', audioCodec: 'aac', width: 640, height: 360,
    })
  })

  it('an audio-only file has no video codec nor frame size; other codecs keep their names', () => {
    const m4a = makeMp4({ seconds: 10, audio: 'Opus' })
    expect(readVideoInfo(m4a, m4a.length)).toEqual({ duration: 10, bitRate: expect.any(Number), audioCodec: 'opus' })
    const hevc = makeMp4({ seconds: 1, video: 'hvc1', width: 8, height: 6 })
    expect(readVideoInfo(hevc, hevc.length)).toMatchObject({ videoCodec: 'hevc', width: 8, height: 6 })
    expect(readVideoInfo(hevc, hevc.length)).not.toHaveProperty('audioCodec')
  })

  it('from bytes in memory, tells nothing of a movie whose moov comes after them, nor of other bytes', () => {
    const late = makeMp4({ seconds: 3, video: 'avc1', mediaBytes: 2000, moovLast: true })
    expect(readVideoInfo(late.subarray(0, 1500), late.length)).toBeUndefined()
    expect(readVideoInfo(Buffer.from('just some text, not a movie'), 27)).toBeUndefined()
    expect(readVideoInfo(makeMp4({ seconds: 0, video: 'avc1' }), 2000)).toBeUndefined()
  })

  it('a probed .mp4 is a non-image with the video\'s facts; a re-probe of other bytes has every key, undefined', async () => {
    const mp4 = makeMp4({ seconds: 4, width: 320, height: 240, video: 'avc1', audio: 'mp4a' })
    expect(await probeBytes(mp4, '/nonexistent', 'clip.mp4', mp4.length)).toMatchObject({
      mime: 'video/mp4', fileType: 'non-image', format: 'mp4', width: 320, height: 240, duration: 4, videoCodec: 'h264', audioCodec: 'aac',
    })
    const text = await probeBytes(Buffer.from('hello'), '/nonexistent', 'clip.mp4', 5)
    for (const key of ['duration', 'bitRate', 'videoCodec', 'audioCodec', 'width', 'height']) {
      expect(text).toHaveProperty(key)
      expect(text[key as keyof typeof text]).toBeUndefined()
    }
  })

  const late = { seconds: 7.5, width: 1920, height: 1080, video: 'avc1', audio: 'mp4a', moovLast: true }
  const lateFacts = { duration: 7.5, videoCodec: 'h264', audioCodec: 'aac', width: 1920, height: 1080 }

  /** A file of `size` bytes made of `parts` at their offsets (zeros elsewhere), read as the probe reads it. */
  function sparseFile(size: number, parts: Array<[number, Buffer]>) {
    const reads: Array<{ at: number; length: number }> = []
    const readAt = async (at: number, length: number): Promise<Buffer> => {
      reads.push({ at, length })
      const out = Buffer.alloc(Math.max(0, Math.min(length, size - at)))
      for (const [offset, bytes] of parts) {
        const from = Math.max(at, offset)
        const to = Math.min(at + out.length, offset + bytes.length)
        if (from < to) bytes.copy(out, from - at, from - offset, to - offset)
      }
      return out
    }
    return { readAt, reads }
  }

  it('finds a moov after the media data past the head, reading box headers and the moov only', async () => {
    const mp4 = makeMp4({ ...late, mediaBytes: 3 * 1024 * 1024 })
    const head = mp4.subarray(0, IMAGE_HEADER_BYTES)
    expect(readVideoInfo(mp4, mp4.length)).toMatchObject(lateFacts) // all of it in memory
    const file = sparseFile(mp4.length, [[0, mp4]])
    expect(await readVideoInfoFrom(head, mp4.length, file.readAt)).toEqual({
      ...lateFacts, bitRate: Math.round((mp4.length * 8) / 7.5 / 1000),
    })
    const moovAt = mp4.length - moovBox(late).length
    expect(file.reads.length).toBeGreaterThan(0)
    for (const r of file.reads) expect(r.at).toBeGreaterThanOrEqual(moovAt) // never the media data
  })

  it('skips a media data box of more than 4 GiB by its 64-bit largesize', async () => {
    const ftyp = ftypBox()
    const media = 5 * 1024 ** 3
    const mdat = largeMdatHeader(media)
    const moov = moovBox(late)
    const moovAt = ftyp.length + mdat.length + media
    const size = moovAt + moov.length
    const file = sparseFile(size, [[0, ftyp], [ftyp.length, mdat], [moovAt, moov]])
    const head = Buffer.concat([ftyp, mdat, Buffer.alloc(1000)])
    expect(await readVideoInfoFrom(head, size, file.readAt)).toMatchObject(lateFacts)
    for (const r of file.reads) expect(r.at).toBeGreaterThanOrEqual(moovAt)
    // Also in a small file whose media data box has the long form.
    const small = makeMp4({ ...late, largeMdat: true, mediaBytes: 5000 })
    expect(readVideoInfo(small, small.length)).toMatchObject(lateFacts)
  })

  it('a movie without a moov, or whose boxes stop fitting, tells nothing and is not read past its box headers', async () => {
    const ftyp = ftypBox()
    const noMoov = Buffer.concat([ftyp, largeMdatHeader(2 * 1024 * 1024)])
    const size = noMoov.length + 2 * 1024 * 1024
    const file = sparseFile(size, [[0, noMoov]])
    expect(await readVideoInfoFrom(noMoov, size, file.readAt)).toBeUndefined()
    expect(file.reads).toEqual([])
    // A box claiming more than the file holds: the walk ends there.
    const mp4 = makeMp4({ ...late, mediaBytes: 600 * 1024 })
    const lying = Buffer.from(mp4)
    lying.writeUInt32BE(mp4.length * 2, ftyp.length) // the mdat's size
    const lyingFile = sparseFile(lying.length, [[0, lying]])
    expect(await readVideoInfoFrom(lying.subarray(0, IMAGE_HEADER_BYTES), lying.length, lyingFile.readAt)).toBeUndefined()
  })

  it('a probed file on disk (an upload, an adopted file) whose moov follows its media data has the video\'s facts', async () => {
    const mp4 = makeMp4({ ...late, mediaBytes: 600 * 1024 })
    const path = join(await tempDir('ikfs-video-'), 'late.mp4')
    await writeFile(path, mp4)
    expect(await probeFile(path, 'late.mp4', mp4.length)).toMatchObject({ mime: 'video/mp4', fileType: 'non-image', ...lateFacts })
    expect(await probeBytes(mp4.subarray(0, IMAGE_HEADER_BYTES), path, 'late.mp4', mp4.length)).toMatchObject(lateFacts)
  })
})
