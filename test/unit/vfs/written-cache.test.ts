/**
 * --written-cache-size (VfsOptions.writtenCacheBytes): the memory that keeps the bytes of small files just
 * uploaded (spool/recent-bytes.ts), shown by `ikfs status`; 0 keeps none.
 */
import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { makeVfs, scratchDir, type Harness } from './helpers.js'

function rw(writtenCacheBytes?: number): Harness {
  return makeVfs(new FakeImageKit(), {
    readOnly: false, cacheDir: join(scratchDir('written-cache'), 'cache'), libraryId: 'https://ik.example.test/demo',
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
})
