/**
 * --written-cache-size (VfsOptions.writtenCacheBytes): the memory that keeps the bytes of small files just
 * uploaded (spool/recent-bytes.ts), shown by `ikfs status`; 0 keeps none.
 */
import { constants, readdirSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { libraryKeyOf, spoolDirOf } from '../../../src/vfs/spool/spool.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { makeVfs, scratchDir, type Harness } from './helpers.js'

const LIBRARY = 'https://ik.example.test/demo'

function rw(writtenCacheBytes?: number, api = new FakeImageKit(), cacheDir = join(scratchDir('written-cache'), 'cache')): Harness {
  return makeVfs(api, {
    readOnly: false, cacheDir, libraryId: LIBRARY,
    ...(writtenCacheBytes === undefined ? {} : { writtenCacheBytes }),
  })
}

/** Writes three small files as `cp` does; each is stored when its release returns. */
async function writeThree(h: Harness): Promise<void> {
  for (const [i, name] of ['/a.jpg', '/b.jpg', '/c.jpg'].entries()) {
    const fh = await h.vfs.create(name, 0o644, constants.O_CREAT | constants.O_RDWR | constants.O_EXCL)
    await h.vfs.write(name, fh, patternBytes(1000, i), 0)
    await h.vfs.flush(name, fh)
    await h.vfs.release(name, fh)
  }
}

describe('written cache', () => {
  it('keeps the files just uploaded in memory by default, and says how many and how much in the stats', async () => {
    const h = rw()
    await writeThree(h)
    expect(h.vfs.stats()).toMatchObject({ writtenCacheFiles: 3, writtenCacheBytes: 3000 })
  })

  it('keeps no more than its size', async () => {
    const h = rw(2500)
    await writeThree(h)
    expect(h.vfs.stats()).toMatchObject({ writtenCacheFiles: 2, writtenCacheBytes: 2000 })
  })

  it('keeps none at 0', async () => {
    const h = rw(0)
    await writeThree(h)
    expect(h.vfs.stats()).toMatchObject({ writtenCacheFiles: 0, writtenCacheBytes: 0 })
  })

  it('keeps the bytes the upload read (a small file is read whole to be sent), not a second read of the spool copy', async () => {
    const api = new FakeImageKit()
    const cacheDir = join(scratchDir('written-cache'), 'cache')
    const h = rw(undefined, api, cacheDir)
    const data = join(spoolDirOf(cacheDir, libraryKeyOf(LIBRARY)), 'data')
    // Once the body was read, the spool copy is emptied behind the daemon's back: a second read of it would
    // find nothing to keep, so what is kept can only be what the upload read.
    api.answerGate = async () => {
      for (const name of readdirSync(data)) truncateSync(join(data, name), 0)
    }
    const bytes = patternBytes(1000, 7)
    const fh = await h.vfs.create('/a.jpg', 0o644, constants.O_CREAT | constants.O_RDWR | constants.O_EXCL)
    await h.vfs.write('/a.jpg', fh, bytes, 0)
    await h.vfs.flush('/a.jpg', fh)
    await h.vfs.release('/a.jpg', fh)
    api.answerGate = undefined
    expect(h.vfs.stats()).toMatchObject({ writtenCacheFiles: 1, writtenCacheBytes: 1000 })
    expect(api.fileAt('/a.jpg')?.bytes.equals(bytes)).toBe(true)
  })

  it('R5: a file written again after an upload read it keeps the bytes of its last upload, read back as they are now', async () => {
    const api = new FakeImageKit()
    const h = rw(undefined, api)
    const fh = await h.vfs.create('/b.jpg', 0o644, constants.O_CREAT | constants.O_RDWR | constants.O_EXCL)
    await h.vfs.write('/b.jpg', fh, patternBytes(1000, 1), 0)
    await h.vfs.fsync('/b.jpg', fh, false) // uploaded: its bytes read whole
    const now = patternBytes(1000, 2)
    await h.vfs.write('/b.jpg', fh, now, 0) // as many bytes, other ones
    await h.vfs.flush('/b.jpg', fh)
    await h.vfs.release('/b.jpg', fh)
    expect(h.vfs.stats()).toMatchObject({ writtenCacheFiles: 1, writtenCacheBytes: 1000 })
    const read = await h.vfs.open('/b.jpg', constants.O_RDONLY)
    expect((await h.vfs.read('/b.jpg', read, 1000, 0)).equals(now)).toBe(true)
    await h.vfs.release('/b.jpg', read)
  })
})
