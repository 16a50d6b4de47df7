// W17: a save that renames the original aside, creates the file anew and deletes the backup (vim's
// backupcopy=auto, mogrify) puts the original back with the new bytes as its new version; what does not fit
// deletes the backup as before; a crash (the first Vfs abandoned, never closed) leaves the next one to finish it.
import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { PUT_BACK_WINDOW_MS } from '../../../src/vfs/moved-aside.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, waitFor, type Harness } from './helpers.js'

const CREATE = constants.O_CREAT | constants.O_WRONLY
const NEW_BYTES = Buffer.from('second draft, saved\n')

function rw(api: FakeImageKit, cacheDir: string, overrides: Partial<VfsOptions> = {}): Harness {
  return makeVfs(api, { readOnly: false, cacheDir, libraryId: 'https://ik.example.test/demo', bootId: 'b1', ...overrides })
}

function library(): { api: FakeImageKit; fileId: string } {
  const api = new FakeImageKit()
  const { fileId } = api.addFile('/doc.txt', Buffer.from('first draft\n'), { tags: ['red'], customCoordinates: '1,2,3,4' })
  return { api, fileId }
}

/** library(), with a Vfs of a fresh cache dir over it. */
function libraryWithVfs(options: Partial<VfsOptions> = {}): { api: FakeImageKit; fileId: string; h: Harness } {
  const { api, fileId } = library()
  return { api, fileId, h: rw(api, join(scratchDir('put-back'), 'cache'), options) }
}

/** rename(f, f~); create f; write; [fsync]; close; [wait]; unlink(f~). */
/** `lateRelease`: the kernel's release of the close comes after the unlink (close(2) returns at the flush). */
async function save(h: Harness, opts: { fsync?: boolean; lateRelease?: boolean; beforeUnlink?: () => void | Promise<void> } = {}): Promise<void> {
  await h.vfs.rename('/doc.txt', '/doc.txt~')
  const fh = await h.vfs.create('/doc.txt', 0o644, CREATE)
  await h.vfs.write('/doc.txt', fh, NEW_BYTES, 0)
  if (opts.fsync) await h.vfs.fsync('/doc.txt', fh, false)
  await h.vfs.flush('/doc.txt', fh)
  if (!opts.lateRelease) await h.vfs.release('/doc.txt', fh)
  await opts.beforeUnlink?.()
  await h.vfs.unlink('/doc.txt~')
  if (opts.lateRelease) await h.vfs.release('/doc.txt', fh)
}

async function readAll(h: Harness, path: string): Promise<string> {
  const fh = await h.vfs.open(path, constants.O_RDONLY)
  try {
    return (await h.vfs.read(path, fh, 1024, 0)).toString()
  } finally {
    await h.vfs.release(path, fh)
  }
}

function expectPutBack(api: FakeImageKit, fileId: string): void {
  const stored = api.fileAt('/doc.txt')!
  expect(stored.obj.fileId).toBe(fileId)
  expect(stored.bytes.equals(NEW_BYTES)).toBe(true)
  expect(stored.versions).toBe(2)
  expect(stored.obj.tags).toEqual(['red'])
  expect(stored.obj.customCoordinates).toBe('1,2,3,4')
  expect(api.fileAt('/doc.txt~')).toBeUndefined()
}

describe('W17: put-back of a save that moved the original aside', () => {
  it.each([
    ['uploaded at close', {}, false],
    ['--write-back, fsync before close', { writeBackDelayMs: 60_000 }, true],
    ['--write-back, still in the spool', { writeBackDelayMs: 60_000 }, false],
  ] as const)('the original takes the new bytes as its new version (%s)', async (_, options: Partial<VfsOptions>, fsync) => {
    const { api, fileId, h } = libraryWithVfs(options)
    let before = { details: 0, deletes: 0, renames: 0 }
    const calls = () => ({ details: api.calls.getFileDetails, deletes: api.writeCalls.deleteFile, renames: api.writeCalls.renameFile })
    await save(h, { fsync, beforeUnlink: () => void (before = calls()) })
    // What the put-back costs: one details call (is the original unchanged, still aside?), the delete of the new
    // file's own upload when it has one, the rename back (and the upload).
    expect(calls()).toEqual({ details: before.details + 1, deletes: before.deletes + (fsync || !options.writeBackDelayMs ? 1 : 0), renames: before.renames + 1 })
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toEqual(['doc.txt'])
    expect(await readAll(h, '/doc.txt')).toBe(NEW_BYTES.toString())
    expect((await h.vfs.getattr('/doc.txt')).size).toBe(NEW_BYTES.length)
    h.clock.advance(60_000)
    await waitFor(() => api.fileAt('/doc.txt')?.versions === 2)
    expectPutBack(api, fileId)
  })

  it.each([
    ['uploaded at close', {}],
    ['--write-back', { writeBackDelayMs: 60_000 }],
  ] as const)('also when the release of the close comes after the unlink (%s)', async (_, options: Partial<VfsOptions>) => {
    const { api, fileId, h } = libraryWithVfs(options)
    await save(h, { lateRelease: true })
    if (!options.writeBackDelayMs) expectPutBack(api, fileId) // stored when the unlink returned
    expect(await readAll(h, '/doc.txt')).toBe(NEW_BYTES.toString())
    h.clock.advance(60_000)
    await waitFor(() => api.fileAt('/doc.txt')?.versions === 2)
    expectPutBack(api, fileId)
    expect(api.writeCalls.uploadFile).toBe(options.writeBackDelayMs ? 1 : 2) // the new file's, then the version
  })

  it('also when that release comes while the original is being put back', async () => {
    const { api, fileId, h } = libraryWithVfs()
    await h.vfs.rename('/doc.txt', '/doc.txt~')
    const fh = await h.vfs.create('/doc.txt', 0o644, CREATE)
    await h.vfs.write('/doc.txt', fh, NEW_BYTES, 0)
    await h.vfs.flush('/doc.txt', fh) // stored: only the kernel's release of this close keeps it open
    // The kernel's release, as the put-back asks whether the original is still as it was renamed.
    const details = api.getFileDetails.bind(api)
    api.getFileDetails = async (id) => {
      api.getFileDetails = details
      await h.vfs.release('/doc.txt', fh)
      return details(id)
    }
    await h.vfs.unlink('/doc.txt~')
    expect(await readAll(h, '/doc.txt')).toBe(NEW_BYTES.toString())
    expectPutBack(api, fileId)
    expect(h.records.filter((r) => (r.level as number) >= 40)).toEqual([])
  })

  it.each([false, true])('a new file stored twice (a version of its own) lets the backup go as before (release after the unlink: %s)', async (lateRelease) => {
    const { api, fileId, h } = libraryWithVfs()
    await h.vfs.rename('/doc.txt', '/doc.txt~')
    const fh = await h.vfs.create('/doc.txt', 0o644, CREATE)
    await h.vfs.write('/doc.txt', fh, Buffer.from('half'), 0)
    await h.vfs.fsync('/doc.txt', fh, false)
    await h.vfs.write('/doc.txt', fh, NEW_BYTES, 0)
    await h.vfs.flush('/doc.txt', fh)
    if (!lateRelease) await h.vfs.release('/doc.txt', fh)
    await h.vfs.unlink('/doc.txt~')
    if (lateRelease) await h.vfs.release('/doc.txt', fh)
    expect(api.fileAt('/doc.txt')!.obj.fileId).not.toBe(fileId)
    expect(api.fileAt('/doc.txt')!.versions).toBe(2)
    expect(api.fileAt('/doc.txt~')).toBeUndefined()
  })

  it('an unlink after the window, or of a backup read meanwhile, deletes it as before', async () => {
    const { api, fileId, h } = libraryWithVfs()
    await save(h, { beforeUnlink: () => h.clock.advance(PUT_BACK_WINDOW_MS + 1) })
    expect(api.fileAt('/doc.txt')!.obj.fileId).not.toBe(fileId)
    expect(api.fileAt('/doc.txt')!.versions).toBe(1)

    const again = library()
    const h2 = rw(again.api, join(scratchDir('put-back'), 'cache'))
    let reader: number | undefined
    await save(h2, { beforeUnlink: async () => { reader = await h2.vfs.open('/doc.txt~', constants.O_RDONLY) } })
    await h2.vfs.release('/doc.txt~', reader!)
    expect(again.api.fileAt('/doc.txt')!.obj.fileId).not.toBe(again.fileId)
  })

  it.each([
    ['uploaded at close', {}],
    ['--write-back, still in the spool', { writeBackDelayMs: 60_000 }],
  ] as const)('an unlink of the backup the library does not answer fails, and its repeat puts the original back (%s)', async (_, options: Partial<VfsOptions>) => {
    const { api, fileId, h } = libraryWithVfs(options)
    const down = new ImageKitError('IK_SERVER', 'getFileDetails: 503', { status: 503 })
    await expectCode(save(h, { beforeUnlink: () => void api.failAlways.set('getFileDetails', down) }), 'EIO')
    expect(api.fileAt('/doc.txt~')!.obj.fileId).toBe(fileId) // not deleted with its versions
    api.failAlways.delete('getFileDetails')
    h.clock.advance(PUT_BACK_WINDOW_MS - 1) // a failed unlink starts the window again
    await h.vfs.unlink('/doc.txt~')
    h.clock.advance(60_000)
    await waitFor(() => api.fileAt('/doc.txt')?.versions === 2)
    expectPutBack(api, fileId)
  })

  it('an unlink of the backup that failed, then a rename of the file made in its place: its repeat deletes it as before', async () => {
    const { api, fileId, h } = libraryWithVfs()
    await expectCode(save(h, { beforeUnlink: () => void api.failAlways.set('getFileDetails', new ImageKitError('IK_SERVER', 'getFileDetails: 503', { status: 503 })) }), 'EIO')
    api.failAlways.delete('getFileDetails')
    await h.vfs.rename('/doc.txt', '/other.txt')
    await h.vfs.unlink('/doc.txt~')
    expect(api.fileAt('/doc.txt~')).toBeUndefined()
    expect(api.fileAt('/other.txt')!.obj.fileId).not.toBe(fileId)
    expect(api.calls.getFileDetails).toBeGreaterThan(0)
    expect(h.lines.join('\n')).not.toContain('a save moved the original aside and deleted it')
  })

  it.each([
    ['uploaded at close', {}, false],
    ['uploaded at close, its release after the unlink', {}, true],
    ['--write-back, still in the spool', { writeBackDelayMs: 60_000 }, false],
  ] as const)('tags set on the new file before the backup\'s unlink are the original\'s after the put-back, as a save\'s over a file are (W9) (%s)', async (_, options: Partial<VfsOptions>, lateRelease) => {
    const { api, fileId, h } = libraryWithVfs(options)
    await save(h, { lateRelease, beforeUnlink: () => h.vfs.setxattr('/doc.txt', 'user.imagekit.tags', Buffer.from('blue,saved'), 0) })
    h.clock.advance(60_000)
    await waitFor(() => api.fileAt('/doc.txt')?.versions === 2 && api.fileAt('/doc.txt')!.obj.tags?.includes('blue') === true)
    const stored = api.fileAt('/doc.txt')!
    expect(stored.obj.fileId).toBe(fileId)
    expect(stored.bytes.equals(NEW_BYTES)).toBe(true)
    expect(stored.obj.tags).toEqual(['blue', 'saved'])
    expect(stored.obj.customCoordinates).toBe('1,2,3,4') // not set on the new file: the original's stays
  })

  it('an original deleted elsewhere while it is being put back: the new bytes are stored as a file of their own', async () => {
    const { api, fileId, h } = libraryWithVfs({ writeBackDelayMs: 60_000 })
    await save(h, {
      beforeUnlink: () => {
        api.renameGate = async () => {
          api.renameGate = undefined
          api.removeFile('/doc.txt~') // another machine's delete, as the rename back is sent
        }
      },
    })
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toEqual(['doc.txt'])
    h.clock.advance(60_000)
    await waitFor(() => api.fileAt('/doc.txt') !== undefined)
    expect(api.fileAt('/doc.txt')!.obj.fileId).not.toBe(fileId)
    expect(api.fileAt('/doc.txt')!.bytes.equals(NEW_BYTES)).toBe(true)
    expect(h.lines.join('\n')).toContain('could not be put back')
    expect(h.lines.join('\n')).not.toContain('cannot put the original back yet') // no retry: the library said where it is
  })

  it('a version stored at the place while the put-back waits for the library is not deleted by it', async () => {
    const { api, fileId, h } = libraryWithVfs()
    const refused = new ImageKitError('IK_SERVER', 'deleteFile: 503', { status: 503 })
    // The delete of the new file's own upload fails: the put-back waits for the library, in the background.
    await save(h, { beforeUnlink: () => void api.failAlways.set('deleteFile', refused) })
    const own = api.fileAt('/doc.txt')!.obj.fileId
    // An rm of the file meanwhile fails too: the file stays, and its upload is queued again; it goes before the
    // put-back's next try (1 s later), onto the new file's own upload.
    await expectCode(h.vfs.unlink('/doc.txt'), 'EIO')
    h.clock.advance(10)
    await waitFor(() => api.fileAt('/doc.txt')?.versions === 2)
    api.failAlways.delete('deleteFile')
    h.clock.advance(60_000)
    await waitFor(() => h.lines.some((l) => l.includes('put-back of a file saved by moving its original aside is settled')))
    // The saved bytes stay at the file's name (they were deleted with that upload, the original's old bytes put
    // back over them); the original stays at the backup's name.
    expect(api.fileAt('/doc.txt')!.obj.fileId).toBe(own)
    expect(api.fileAt('/doc.txt')!.bytes.equals(NEW_BYTES)).toBe(true)
    expect(api.fileAt('/doc.txt~')!.obj.fileId).toBe(fileId)
    expect(await readAll(h, '/doc.txt')).toBe(NEW_BYTES.toString())
  })

  it('an rm of the file while its put-back waits for the library deletes it, the new file\'s own upload too', async () => {
    const { api, h } = libraryWithVfs()
    // The delete of the new file's own upload fails: the put-back waits for the library, in the background.
    await save(h, { beforeUnlink: () => void api.failAlways.set('deleteFile', new ImageKitError('IK_SERVER', 'deleteFile: 503', { status: 503 })) })
    await waitFor(() => h.lines.filter((l) => l.includes('cannot put a file saved by moving its original aside back yet')).length === 1)
    api.failAlways.delete('deleteFile')
    await h.vfs.unlink('/doc.txt')
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toEqual([])
    h.clock.advance(60_000)
    await waitFor(() => h.lines.some((l) => l.includes('put-back of a file saved by moving its original aside is settled')))
    expect(api.fileAt('/doc.txt')).toBeUndefined()
    expect(api.fileAt('/doc.txt~')).toBeUndefined()
  })

  it.each([
    ['uploaded at close, the rename back refused', {}, 'renameFile'],
    ['uploaded at close, its delete refused', {}, 'deleteFile'],
    ['--write-back, still in the spool, the rename back refused', { writeBackDelayMs: 60_000 }, 'renameFile'],
  ] as const)('a crash before the original is back: the next start finishes it (%s)', async (_, options, refused) => {
    const { api, fileId } = library()
    const cache = join(scratchDir('put-back'), 'cache')
    const h = rw(api, cache, options)
    await save(h, { beforeUnlink: () => void api.failAlways.set(refused, new ImageKitError('IK_SERVER', `${refused}: 503`, { status: 503 })) })
    // Locally done: the backup is gone, the file shows the new bytes; remotely the original is still aside.
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toEqual(['doc.txt'])
    expect(await readAll(h, '/doc.txt')).toBe(NEW_BYTES.toString())
    expect(api.fileAt('/doc.txt~')!.obj.fileId).toBe(fileId)
    // kill -9 here: the first Vfs is never closed; the library answers again.
    api.failAlways.delete(refused)
    const h2 = rw(api, cache, options)
    expect(await readAll(h2, '/doc.txt')).toBe(NEW_BYTES.toString())
    h2.clock.advance(60_000)
    await waitFor(() => api.fileAt('/doc.txt')?.versions === 2)
    expectPutBack(api, fileId)
  })
})
