/**
 * copy_file_range (W15): a whole stored file copied to a new file of the same name in another folder is
 * copied by ImageKit's copy API; every other copy answers ENOTSUP, and the kernel then copies by reads and
 * writes (which these tests stand in for by checking that the target is still an untouched new file).
 */
import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, waitFor, type Harness } from './helpers.js'

function rw(api: FakeImageKit, overrides: Partial<VfsOptions> = {}): Harness {
  const d = scratchDir('copy')
  return makeVfs(api, { readOnly: false, cacheDir: join(d, 'cache'), libraryId: 'https://ik.example.test/demo', ...overrides })
}

const CREATE = constants.O_CREAT | constants.O_WRONLY | constants.O_TRUNC
const BIG = 2 ** 40
const source = patternBytes(300_000, 7)

function library(): FakeImageKit {
  const api = new FakeImageKit()
  api.addFolder('/a')
  api.addFolder('/b')
  api.addFile('/a/photo.jpg', source)
  return api
}

/** cp's sequence: open the source, create the target, copy_file_range, close both. */
async function copy(h: Harness, from: string, to: string, { offIn = 0, length = BIG, keepOpen = false } = {}) {
  const fhIn = await h.vfs.open(from, constants.O_RDONLY)
  const fhOut = await h.vfs.create(to, 0o644, CREATE)
  let result: number | string
  try {
    result = await h.vfs.copyFileRange(fhIn, offIn, fhOut, 0, length)
  } catch (e) {
    result = (e as { code: string }).code
  }
  await h.vfs.release(from, fhIn)
  if (!keepOpen) {
    await h.vfs.flush(to, fhOut)
    await h.vfs.release(to, fhOut)
  }
  return { result, fhOut }
}

async function readAll(h: Harness, path: string): Promise<Buffer> {
  const fh = await h.vfs.open(path, constants.O_RDONLY)
  try {
    return Buffer.from(await h.vfs.read(path, fh, 1 << 20, 0))
  } finally {
    await h.vfs.release(path, fh)
  }
}

describe('server-side copies (W15)', () => {
  it('a whole stored file to the same name in another folder: copied by the API, nothing uploaded, listed at once', async () => {
    const api = library()
    const h = rw(api)
    expect((await copy(h, '/a/photo.jpg', '/b/photo.jpg')).result).toBe(source.length)
    expect(api.writeCalls.copyFile).toBe(1)
    expect(api.writeCalls.uploadFile + api.writeCalls.uploadFileStream).toBe(0)
    expect(api.fileAt('/b/photo.jpg')?.bytes.equals(source)).toBe(true)
    expect((await h.vfs.getattr('/b/photo.jpg')).size).toBe(source.length)
    expect((await readAll(h, '/b/photo.jpg')).equals(source)).toBe(true)
    expect(api.writeCalls.uploadFile).toBe(0)
    await h.vfs.close()
  })

  it('W8: to a name whose file was unlinked while a program reads it (its delete under way): the copy waits for that delete, and is not taken by it', async () => {
    const api = library()
    api.addFile('/b/photo.jpg', patternBytes(1000, 8))
    const oldId = api.fileAt('/b/photo.jpg')!.obj.fileId
    const h = rw(api)
    const viewer = await h.vfs.open('/b/photo.jpg', constants.O_RDONLY)
    let deliver!: () => void
    const held = new Promise<void>((resolve) => (deliver = resolve))
    api.gate = () => held // the CDN holds back the bytes fetched for the viewer: the delete waits for them
    await h.vfs.unlink('/b/photo.jpg')
    const copied = copy(h, '/a/photo.jpg', '/b/photo.jpg')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(api.writeCalls.copyFile, 'stored at the path before the delete, the copy would be a version of the file it deletes').toBe(0)
    deliver()
    expect((await copied).result).toBe(source.length)
    await waitFor(() => api.writeCalls.deleteFile === 1)
    expect(api.fileAt('/b/photo.jpg')?.obj.fileId).not.toBe(oldId)
    expect(api.fileAt('/b/photo.jpg')?.bytes.equals(source)).toBe(true)
    await h.vfs.release('/b/photo.jpg', viewer)
    await h.vfs.close()
  })

  it('read and changed through the still-open target: its remote bytes come first, the change is a new version of the copy', async () => {
    const api = library()
    const h = rw(api)
    const { result, fhOut } = await copy(h, '/a/photo.jpg', '/b/photo.jpg', { keepOpen: true })
    expect(result).toBe(source.length)
    // The target was created write-only by cp; a second open reads it (the same spool file).
    const reader = await h.vfs.open('/b/photo.jpg', constants.O_RDONLY)
    expect(Buffer.from(await h.vfs.read('/b/photo.jpg', reader, 100, 1000)).equals(source.subarray(1000, 1100))).toBe(true)
    await h.vfs.release('/b/photo.jpg', reader)
    await h.vfs.write('/b/photo.jpg', fhOut, Buffer.from('HELLO'), 10)
    await h.vfs.flush('/b/photo.jpg', fhOut)
    await h.vfs.release('/b/photo.jpg', fhOut)
    const expected = Buffer.from(source)
    expected.write('HELLO', 10)
    expect(api.fileAt('/b/photo.jpg')?.bytes.equals(expected)).toBe(true)
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.fileAt('/a/photo.jpg')?.bytes.equals(source)).toBe(true)
    await h.vfs.close()
  })

  it('renamed while still open (the kernel\'s release comes late): over another file it brings the copy\'s bytes, to a free name it still reads', async () => {
    const api = library()
    api.addFile('/b/old.jpg', Buffer.from('old content'))
    const h = rw(api)
    const over = await copy(h, '/a/photo.jpg', '/b/photo.jpg', { keepOpen: true })
    await h.vfs.flush('/b/photo.jpg', over.fhOut) // cp's close(2); its release comes after the rename
    await h.vfs.rename('/b/photo.jpg', '/b/old.jpg')
    await h.vfs.release('/b/old.jpg', over.fhOut)
    expect(api.fileAt('/b/old.jpg')?.bytes.equals(source)).toBe(true)
    expect(api.fileAt('/b/photo.jpg')).toBeUndefined()

    const moved = await copy(h, '/a/photo.jpg', '/b/photo.jpg', { keepOpen: true })
    await h.vfs.rename('/b/photo.jpg', '/b/new.jpg')
    expect(Buffer.from(await h.vfs.read('/b/new.jpg', moved.fhOut, 100, 1000)).equals(source.subarray(1000, 1100))).toBe(true)
    await h.vfs.flush('/b/new.jpg', moved.fhOut)
    await h.vfs.release('/b/new.jpg', moved.fhOut)
    expect(api.fileAt('/b/new.jpg')?.bytes.equals(source)).toBe(true)
    await waitFor(() => h.vfs.status().uploads.length === 0)
    await h.vfs.close()
  })

  it('anything else is ENOTSUP and leaves the target an untouched new file: another name, an existing target, a part, upload_tags', async () => {
    const api = library()
    api.addFile('/b/taken.jpg', 10)
    api.addFile('/a/taken.jpg', 20)
    const h = rw(api)
    expect((await copy(h, '/a/photo.jpg', '/a/other.jpg')).result).toBe('ENOTSUP')
    expect((await copy(h, '/a/taken.jpg', '/b/taken.jpg')).result).toBe('ENOTSUP')
    expect((await copy(h, '/a/photo.jpg', '/b/photo.jpg', { offIn: 1 })).result).toBe('ENOTSUP')
    expect((await copy(h, '/a/photo.jpg', '/b/photo.jpg', { length: 1000 })).result).toBe('ENOTSUP')
    expect(api.writeCalls.copyFile).toBe(0)
    await h.vfs.close()
    const tagged = rw(api, { uploadTags: ['from-ikfs'] })
    expect((await copy(tagged, '/a/photo.jpg', '/b/photo.jpg')).result).toBe('ENOTSUP')
    expect(api.writeCalls.copyFile).toBe(0)
    await tagged.vfs.close()
  })

  it('a refused copy call falls back: the bytes the kernel then writes are uploaded as usual', async () => {
    const api = library()
    api.failNext.set('copyFile', new ImageKitError('IK_SERVER', 'POST /v1/files/copy: 500', { status: 500 }))
    const h = rw(api)
    const fhIn = await h.vfs.open('/a/photo.jpg', constants.O_RDONLY)
    const fhOut = await h.vfs.create('/b/photo.jpg', 0o644, CREATE)
    await expectCode(h.vfs.copyFileRange(fhIn, 0, fhOut, 0, BIG), 'ENOTSUP')
    await h.vfs.write('/b/photo.jpg', fhOut, source, 0)
    await h.vfs.flush('/b/photo.jpg', fhOut)
    await h.vfs.release('/b/photo.jpg', fhOut)
    await h.vfs.release('/a/photo.jpg', fhIn)
    await waitFor(() => api.fileAt('/b/photo.jpg') !== undefined)
    expect(api.fileAt('/b/photo.jpg')?.bytes.equals(source)).toBe(true)
    expect(api.writeCalls.uploadFile).toBe(1)
    await h.vfs.close()
  })
})
