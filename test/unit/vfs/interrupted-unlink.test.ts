/**
 * An unlink the daemon stopped in (write/interrupted-unlink.ts), finished by the next mount, while the library
 * fails that delete for a while: the file stays gone from listings, and a new file written at its name is
 * stored after the delete (an upload before it would be a version of the file the delete takes: a silent loss).
 */
import { constants, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit } from './fake-api.js'
import { makeVfs, waitFor, type Harness } from './helpers.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function rw(api: FakeImageKit, cacheDir?: string, overrides: Partial<VfsOptions> = {}): Harness & { cacheDir: string } {
  let dir = cacheDir
  if (dir === undefined) {
    const d = mkdtempSync(join(tmpdir(), 'ikfs-unlink-'))
    dirs.push(d)
    dir = join(d, 'cache')
  }
  return { ...makeVfs(api, { readOnly: false, cacheDir: dir, libraryId: 'https://ik.example.test/demo', ...overrides }), cacheDir: dir }
}

async function writeAt(h: Harness, path: string, data: string, flags: number): Promise<void> {
  const fh = await h.vfs.open(path, flags)
  await h.vfs.write(path, fh, Buffer.from(data), 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

/**
 * /a.txt (v1 stored) written anew, waiting in the spool (write-back), then unlinked: the daemon dies during
 * that unlink's delete (never answered), leaving the record of an unlink to finish to the next mount.
 */
async function unlinkedAsTheDaemonDies() {
  const api = new FakeImageKit()
  const old = api.addFile('/a.txt', Buffer.from('v1'))
  const h = rw(api, undefined, { writeBackDelayMs: 60_000, bootId: 'boot-1' })
  await writeAt(h, '/a.txt', 'v2', constants.O_RDWR | constants.O_TRUNC)
  api.renameGate = () => {
    api.renameGate = undefined
    return new Promise(() => undefined)
  }
  void h.vfs.unlink('/a.txt')
  await waitFor(() => api.writeCalls.deleteFile === 1) // noted as being unlinked
  return { api, old, h }
}

describe('finishing an unlink the daemon stopped in, while the library fails the delete', () => {
  it('hides the file meanwhile, and a new file written at its name is stored after the delete, not taken by it', async () => {
    const { api, old, h } = await unlinkedAsTheDaemonDies()

    api.failAlways.set('deleteFile', new ImageKitError('IK_SERVER', 'DELETE /v1/files/{id}: 500', { status: 500, retriable: true }))
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-1' })
    await waitFor(() => api.writeCalls.deleteFile >= 2) // the next mount's delete fails
    expect((await h2.vfs.readdir('/')).map((e) => e.name)).not.toContain('a.txt') // was listed again
    await writeAt(h2, '/a.txt', 'new', constants.O_CREAT | constants.O_RDWR | constants.O_TRUNC)
    for (let i = 0; i < 3; i++) {
      h2.clock.advance(60_000) // retries of the delete (and whatever the upload waits for)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    api.failAlways.delete('deleteFile')
    await waitFor(() => {
      h2.clock.advance(60_000)
      return api.fileAt('/a.txt')?.bytes.toString() === 'new'
    })
    expect(api.fileAt('/a.txt')!.obj.fileId).not.toBe(old.fileId)
    expect(api.filePaths()).toEqual(['/a.txt'])
    await h2.vfs.close()
  })

  it('leaves the file when another machine uploaded to its path before the next mount (a new version of it), which the delete by id would take', async () => {
    const { api, old, h } = await unlinkedAsTheDaemonDies()
    // Meanwhile another machine stores a file at the name: ImageKit makes it a new version of the same file.
    const theirs = api.overwrite('/a.txt', Buffer.from('theirs'), new Date(Date.now() + 1000).toISOString())
    expect(theirs.fileId).toBe(old.fileId)

    const h2 = rw(api, h.cacheDir, { bootId: 'boot-1' })
    // The next mount finishes the unlink: it asks which version is current (before: deleted the file, theirs too).
    await waitFor(() => api.calls.getFileDetails >= 1 || api.writeCalls.deleteFile >= 2)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(api.fileAt('/a.txt')?.bytes.toString()).toBe('theirs')
    let shown = false
    for (let i = 0; i < 1000 && !shown; i++) {
      shown = (await h2.vfs.readdir('/')).some((e) => e.name === 'a.txt') // shown again once left
      if (!shown) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(shown).toBe(true)
    expect(api.writeCalls.deleteFile).toBe(1) // only the dead mount's, which never reached the library
    expect(api.fileAt('/a.txt')?.versions).toBe(2)
    await h2.vfs.close()
  })

  it('still deletes the file when the version it unlinked is the current one', async () => {
    const { api, h } = await unlinkedAsTheDaemonDies()
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-1' })
    await waitFor(() => api.fileAt('/a.txt') === undefined)
    expect(api.filePaths()).toEqual([])
    await h2.vfs.close()
  })

  it('a record from before the version was noted deletes the file as before', async () => {
    const { api, h } = await unlinkedAsTheDaemonDies()
    // The record as an ikfs before unlinkedVersionId wrote it.
    let noted = 0
    for (const file of readdirSync(h.cacheDir, { recursive: true, encoding: 'utf8' })) {
      const path = join(h.cacheDir, file)
      if (!statSync(path).isFile()) continue
      const text = readFileSync(path, 'utf8')
      const older = text.replace(/,"unlinkedVersionId":"[^"]*"/g, '')
      if (older !== text) {
        noted++
        writeFileSync(path, older)
      }
    }
    expect(noted).toBeGreaterThan(0)
    api.overwrite('/a.txt', Buffer.from('theirs'), new Date(Date.now() + 1000).toISOString())
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-1' })
    await waitFor(() => api.fileAt('/a.txt') === undefined)
    expect(api.calls.getFileDetails).toBe(0)
    await h2.vfs.close()
  })
})
