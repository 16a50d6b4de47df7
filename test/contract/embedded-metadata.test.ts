/**
 * Embedded metadata through the official SDK (§2.4, §4.15, §4.18 responseFields): the metadata endpoints and
 * the upload answer report what a JPEG's or PNG's bytes hold (EXIF in the documented group and tag names, an
 * ICC profile, the resolution), as the service does, instead of an empty `exif`.
 */
import { describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { cameraExif, jpegWith, pngWith } from '../unit/emulator/exif-fixtures.js'
import { expectFileObject, expectMetadata } from './shapes.js'
import { uploadBytes, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

describe('embedded metadata', () => {
  it('metadata by fileId and by URL: EXIF groups, colour profile and density of a camera JPEG', async () => {
    const photo = jpegWith({ exif: cameraExif(), icc: true, dpi: 240 }, 40, 30)
    const up = await uploadBytes(env.ik, '/embedded', 'camera.jpg', photo)
    const byId = await env.ik.files.metadata.get(up.fileId!)
    expectMetadata(byId, { width: 40, height: 30, size: photo.length, format: 'jpg', hasColorProfile: true, density: 240 })
    expect(byId.exif).toMatchObject({
      image: { Make: 'Canon', Model: 'Canon EOS 40D', Orientation: 6 },
      exif: { ISO: 100, ExifVersion: '0221', DateTimeOriginal: '2008:05:30 15:56:01' },
      gps: { GPSVersionID: [2, 2, 0, 0] },
      interoperability: { InteropIndex: 'R98' },
      makernote: {},
    })
    const byUrl = await env.ik.files.metadata.getFromURL({ url: `${env.t.urlEndpoint}/embedded/camera.jpg` })
    expect(byUrl).toEqual(byId)
  })

  it('an old version is read from its own bytes', async () => {
    const first = await uploadBytes(env.ik, '/embedded', 'versions.png', pngWith({ exif: cameraExif(false), dpi: 96 }))
    await uploadBytes(env.ik, '/embedded', 'versions.png', makePng(24, 16))
    const versions = await env.ik.files.versions.list(first.fileId!)
    const old = versions.find((v) => v.type === 'file-version')!
    expect((await env.ik.files.metadata.getFromURL({ url: old.url! })).exif).toMatchObject({ image: { Make: 'Canon' } })
    expect(await env.ik.files.metadata.get(first.fileId!)).toMatchObject({ exif: {}, density: 72, hasColorProfile: false })
  })

  it('file details, a version\'s details, an update\'s and a restore\'s answers carry embeddedMetadata (the SDK\'s File type); lists do not', async () => {
    const first = await uploadBytes(env.ik, '/embedded', 'details.jpg', jpegWith({ exif: cameraExif() }, 8, 6))
    const id = first.fileId!
    const details = await env.ik.files.get(id)
    expectFileObject(details)
    expect(details.embeddedMetadata).toMatchObject({ Make: 'Canon', ISO: 100 })
    expect(details.embeddedMetadata).not.toHaveProperty('ExifOffset')
    await uploadBytes(env.ik, '/embedded', 'details.jpg', makePng(3, 3))
    expect((await env.ik.files.get(id)).embeddedMetadata).toEqual({})
    const old = await env.ik.files.versions.get(first.versionInfo!.id!, { fileId: id })
    expect(old.embeddedMetadata).toMatchObject({ Make: 'Canon' })
    expect((await env.ik.files.update(id, { tags: ['t'] })).embeddedMetadata).toEqual({})
    expect((await env.ik.files.versions.restore(first.versionInfo!.id!, { fileId: id })).embeddedMetadata).toMatchObject({ Make: 'Canon' })
    const text = await uploadBytes(env.ik, '/embedded', 'notes.txt', Buffer.from('no pixels'))
    expect((await env.ik.files.get(text.fileId!)).embeddedMetadata).toEqual({})
    const listed = await env.ik.assets.list({ path: '/embedded' })
    expect(listed.length).toBeGreaterThan(0)
    for (const item of listed) expect(item).not.toHaveProperty('embeddedMetadata')
  })

  it('upload responseFields metadata and embeddedMetadata', async () => {
    const r = await uploadBytes(env.ik, '/embedded', 'answered.png', pngWith({ exif: cameraExif(), icc: true, dpi: 96 }), {
      responseFields: ['metadata', 'embeddedMetadata'],
    })
    expectMetadata(r.metadata!, { format: 'png', hasColorProfile: true, density: 96 })
    expect(r.metadata!.exif).toMatchObject({ image: { Make: 'Canon' } })
    expect(r.embeddedMetadata).toMatchObject({ Make: 'Canon', ISO: 100, XResolution: 300 })
    expect(r.embeddedMetadata).not.toHaveProperty('ExifOffset')
  })
})
