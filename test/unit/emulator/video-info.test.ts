import { describe, expect, it } from 'vitest'
import { probeBytes } from '../../../src/emulator/probe.js'
import { readVideoInfo } from '../../../src/emulator/video-info.js'
import { makeMp4 } from './video-fixtures.js'

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

  it('tells nothing of a movie whose moov comes after the head read, nor of other bytes', () => {
    const late = makeMp4({ seconds: 3, video: 'avc1', mediaBytes: 2000, moovLast: true })
    expect(readVideoInfo(late.subarray(0, 1500), late.length)).toBeUndefined()
    expect(readVideoInfo(Buffer.from('just some text, not a movie'), 27)).toBeUndefined()
    expect(readVideoInfo(makeMp4({ seconds: 0, video: 'avc1' }), 2000)).toBeUndefined()
  })

  it('a probed .mp4 is a non-image with the video\'s facts; a re-probe of other bytes has every key, undefined', () => {
    const mp4 = makeMp4({ seconds: 4, width: 320, height: 240, video: 'avc1', audio: 'mp4a' })
    expect(probeBytes(mp4, 'clip.mp4', mp4.length)).toMatchObject({
      mime: 'video/mp4', fileType: 'non-image', format: 'mp4', width: 320, height: 240, duration: 4, videoCodec: 'h264', audioCodec: 'aac',
    })
    const text = probeBytes(Buffer.from('hello'), 'clip.mp4', 5)
    for (const key of ['duration', 'bitRate', 'videoCodec', 'audioCodec', 'width', 'height']) {
      expect(text).toHaveProperty(key)
      expect(text[key as keyof typeof text]).toBeUndefined()
    }
  })
})
