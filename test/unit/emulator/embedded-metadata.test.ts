/** EXIF, colour profile and density read from a JPEG's or PNG's first bytes, for the metadata endpoints (§2.4). */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedFactsCache } from '../../../src/emulator/embedded-cache.js'
import { readEmbeddedFacts, toEmbeddedMetadata } from '../../../src/emulator/embedded-metadata.js'
import { readExif } from '../../../src/emulator/exif.js'
import { makeGif, makeJpeg, makePng } from '../../../src/emulator/seed/images.js'
import type { VersionRecord } from '../../../src/emulator/records.js'
import { tempDir } from '../../helpers/temp-dirs.js'
import { buildTiff, cameraExif, jpegWith, pngWith } from './exif-fixtures.js'
import { startTestEmulator, type TestEmulator } from './helpers.js'

const CAMERA = {
  image: {
    Make: 'Canon', Model: 'Canon EOS 40D', Orientation: 6, XResolution: 300, YResolution: 300, ResolutionUnit: 2,
    ModifyDate: '2008:07:31 10:38:11', ExifOffset: expect.any(Number), GPSInfo: expect.any(Number),
  },
  thumbnail: { Compression: 6, XResolution: 72 },
  exif: {
    ExposureTime: 1 / 160, FNumber: 7.1, ISO: 100, ExifVersion: '0221', DateTimeOriginal: '2008:05:30 15:56:01',
    InteropOffset: expect.any(Number),
  },
  gps: { GPSVersionID: [2, 2, 0, 0], GPSLatitudeRef: 'N', GPSLatitude: [48, 51, 30] },
  interoperability: { InteropIndex: 'R98', InteropVersion: '0100' },
  makernote: {},
}

describe('readExif', () => {
  it.each([['little-endian', true], ['big-endian', false]])('reads every group of a %s block, in the documented names', (_, le) => {
    expect(readExif(cameraExif(le))).toEqual(CAMERA)
  })

  it('gives what it can of a block cut short, and nothing for a block that is not TIFF', () => {
    const block = cameraExif()
    for (let cut = 0; cut < block.length; cut += 7) expect(() => readExif(block.subarray(0, cut))).not.toThrow()
    const entriesOnly = readExif(block.subarray(0, 8 + 2 + 10 * 12 + 4)) // IFD0's entries, none of the values stored after them
    expect(entriesOnly?.image).toMatchObject({ Orientation: 6, ResolutionUnit: 2 })
    expect(entriesOnly?.image).not.toHaveProperty('Make')
    expect(readExif(Buffer.from('not a tiff block at all'))).toBeUndefined()
  })

  it('does not loop on an IFD that points at itself', () => {
    const looped = buildTiff({ ifd0: { entries: [[0x010f, 2, 'Loop'], [0x8769, 4, { ifd: 'ifd0' }]], next: 'ifd0' } })
    expect(readExif(looped)?.image.Make).toBe('Loop')
  })
})

describe('readEmbeddedFacts', () => {
  it('a plain JPEG (JFIF without units) or PNG: no profile, 72 dpi, no EXIF', () => {
    for (const image of [makeJpeg(8, 8), makePng(8, 8), makeGif(8, 8), Buffer.from('text')]) {
      expect(readEmbeddedFacts(image)).toEqual({ hasColorProfile: false, density: 72, exif: undefined })
    }
  })

  it('a JPEG: EXIF from APP1, an ICC profile from APP2, the JFIF density', () => {
    expect(readEmbeddedFacts(jpegWith({ exif: cameraExif(), icc: true, dpi: 150 }))).toEqual({ hasColorProfile: true, density: 150, exif: CAMERA })
  })

  it('a JPEG whose JFIF names no unit takes the EXIF resolution', () => {
    expect(readEmbeddedFacts(jpegWith({ exif: cameraExif(false) })).density).toBe(300)
  })

  it('a PNG: EXIF from eXIf, a profile from iCCP, the pHYs density', () => {
    expect(readEmbeddedFacts(pngWith({ exif: cameraExif(), icc: true, dpi: 96 }))).toEqual({ hasColorProfile: true, density: 96, exif: CAMERA })
  })

  it('embeddedMetadata: the image, exif and gps tags in one flat object, without the block\'s pointers', () => {
    const flat = toEmbeddedMetadata(readEmbeddedFacts(jpegWith({ exif: cameraExif() })))
    expect(flat).toMatchObject({ Make: 'Canon', ISO: 100, GPSLatitudeRef: 'N', DateTimeOriginal: '2008:05:30 15:56:01' })
    for (const pointer of ['ExifOffset', 'GPSInfo', 'InteropOffset']) expect(flat).not.toHaveProperty(pointer)
    expect(toEmbeddedMetadata(readEmbeddedFacts(makeJpeg(8, 8)))).toEqual({})
  })
})

describe('EmbeddedFactsCache: a version\'s first bytes are read once', () => {
  const version = (id: string, diskMtimeMs?: number): VersionRecord => ({ id, size: 10, diskMtimeMs }) as VersionRecord
  let t: TestEmulator | undefined
  afterEach(async () => {
    await t?.stop()
    t = undefined
  })

  it('answers a second call for the same version from memory; another version, or bytes adoption saw change, are read', async () => {
    const path = join(await tempDir('ikemu-embedded-'), 'camera.jpg')
    await writeFile(path, jpegWith({ exif: cameraExif() }))
    const cache = new EmbeddedFactsCache()
    const first = await cache.get(version('v1'), path)
    expect(first.exif?.image.Make).toBe('Canon')
    await writeFile(path, makeJpeg(8, 8))
    expect(await cache.get(version('v1'), path)).toBe(first)
    expect(cache.reads).toBe(1)
    expect((await cache.get(version('v1', 5), path)).exif).toBeUndefined()
    expect((await cache.get(version('v2'), path)).exif).toBeUndefined()
    expect(cache.reads).toBe(3)
  })

  it('keeps at most maxEntries, dropping the least recently used', async () => {
    const path = join(await tempDir('ikemu-embedded-'), 'plain.jpg')
    await writeFile(path, makeJpeg(8, 8))
    const cache = new EmbeddedFactsCache(2)
    await cache.get(version('a'), path)
    await cache.get(version('b'), path)
    await cache.get(version('a'), path) // a is now the most recent
    await cache.get(version('c'), path) // drops b
    await cache.get(version('a'), path)
    expect(cache.reads).toBe(3)
    await cache.get(version('b'), path)
    expect(cache.reads).toBe(4)
  })

  it('file details read the bytes once per version: a repeat call does not see a hand edit, a new version is read', async () => {
    t = await startTestEmulator()
    const { fileId } = (await t.put('/cam/photo.jpg', jpegWith({ exif: cameraExif() }))) as { fileId: string }
    const details = async () => ((await (await t!.api('GET', `/v1/files/${fileId}/details`)).json()) as { embeddedMetadata: Record<string, unknown> }).embeddedMetadata
    expect((await details()).Make).toBe('Canon')
    // Bytes changed under the running emulator (it notices hand edits only when it starts): not read again.
    await writeFile(join(t.dataDir, 'files', 'cam', 'photo.jpg'), makeJpeg(8, 8))
    expect((await details()).Make).toBe('Canon')
    const metadata = (await (await t.api('GET', `/v1/files/${fileId}/metadata`)).json()) as { exif: { image: Record<string, unknown> } }
    expect(metadata.exif.image.Make).toBe('Canon')
    await t.put('/cam/photo.jpg', makeJpeg(8, 8))
    expect(await details()).toEqual({})
  })
})
