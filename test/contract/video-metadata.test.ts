/**
 * A video's facts through the official SDK (§2.1, §2.3, §2.4; the SDK's File, FileUploadResponse and Metadata
 * types): `duration` (seconds), `bitRate` (kbps), `videoCodec`, `audioCodec` and the frame size, in the upload
 * answer, the file object (list and details) and the metadata endpoints. The emulator answered none of them
 * (and width/height 0 in the metadata), so a client reading a video's length found nothing; later none of a
 * movie whose `moov` box follows its media data past the first bytes (many encoders' default).
 */
import { describe, expect, it } from 'vitest'
import { CHECKS_FAILED_MESSAGE } from '../../src/emulator/upload-checks.js'
import { ftypBox, largeMdatHeader, makeMp4 } from '../unit/emulator/video-fixtures.js'
import { expectFileObject, expectMetadata, expectUploadResponse } from './shapes.js'
import { rejectionOf, uploadBytes, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

describe('video metadata', () => {
  const clip = makeMp4({ seconds: 12.5, width: 1280, height: 720, video: 'avc1', audio: 'mp4a', mediaBytes: 40_000 })
  const facts = { duration: 12.5, bitRate: Math.round((clip.length * 8) / 12.5 / 1000), videoCodec: 'h264', audioCodec: 'aac' }

  it('the upload answer, the file object and the metadata give its duration, bit rate, codecs and frame size', async () => {
    const up = await uploadBytes(env.ik, '/video', 'clip.mp4', clip, { responseFields: ['metadata'] })
    expectUploadResponse(up, { fileType: 'non-image', width: 1280, height: 720, ...facts })
    expect(up.metadata).toMatchObject({ format: 'mp4', width: 1280, height: 720, ...facts })
    const details = await env.ik.files.get(up.fileId!)
    expectFileObject(details, { mime: 'video/mp4', width: 1280, height: 720, ...facts })
    const [listed] = await env.ik.assets.list({ path: '/video', searchQuery: 'name = "clip.mp4"' })
    expect(listed).toMatchObject(facts)
    const byId = await env.ik.files.metadata.get(up.fileId!)
    expectMetadata(byId, { format: 'mp4', width: 1280, height: 720, size: clip.length, ...facts })
    expect(await env.ik.files.metadata.getFromURL({ url: `${env.t.urlEndpoint}/video/clip.mp4` })).toEqual(byId)
    // Search by duration (videoDuration, in seconds or with a unit) finds it.
    expect((await env.ik.assets.list({ path: '/video', searchQuery: 'videoDuration > 12 AND videoDuration < "1m"' })).map((f) => f.name)).toEqual(['clip.mp4'])
  })

  it('a movie whose moov box follows its media data past the first 512 KiB (no "fast start") has its facts too', async () => {
    const late = makeMp4({ seconds: 3, width: 640, height: 480, video: 'avc1', audio: 'mp4a', mediaBytes: 600 * 1024, moovLast: true })
    const lateFacts = { duration: 3, bitRate: Math.round((late.length * 8) / 3 / 1000), videoCodec: 'h264', audioCodec: 'aac' }
    const up = await uploadBytes(env.ik, '/video', 'late.mp4', late, { responseFields: ['metadata'] })
    expectUploadResponse(up, { fileType: 'non-image', width: 640, height: 480, ...lateFacts })
    expectFileObject(await env.ik.files.get(up.fileId!), { mime: 'video/mp4', width: 640, height: 480, ...lateFacts })
    expectMetadata(await env.ik.files.metadata.get(up.fileId!), { format: 'mp4', width: 640, height: 480, size: late.length, ...lateFacts })
  })

  it('an image, a text file and a movie whose boxes tell nothing carry no video fields', async () => {
    const noMoov = Buffer.concat([ftypBox(), largeMdatHeader(600 * 1024), Buffer.alloc(600 * 1024)]) // media data and no moov
    for (const [name, bytes] of [['notes.txt', Buffer.from('text')], ['nomoov.mp4', noMoov]] as const) {
      const up = await uploadBytes(env.ik, '/video', name, bytes, { responseFields: ['metadata'] })
      for (const field of ['duration', 'bitRate', 'videoCodec', 'audioCodec']) {
        expect(up).not.toHaveProperty(field)
        expect(await env.ik.files.get(up.fileId!)).not.toHaveProperty(field)
      }
    }
  })

  it('upload checks on mediaMetadata.duration and the codecs match a video\'s facts', async () => {
    const ok = await uploadBytes(env.ik, '/video', 'short.mp4', clip, { checks: '"mediaMetadata.duration" < 60 AND "mediaMetadata.videoCodec" = "h264" AND "mediaMetadata.audioCodec" : "aa"' })
    expect(ok.duration).toBe(12.5)
    const e = await rejectionOf(() => uploadBytes(env.ik, '/video', 'long.mp4', clip, { checks: '"mediaMetadata.duration" > 60' }))
    expect(e).toMatchObject({ error: { message: CHECKS_FAILED_MESSAGE } })
  })
})
