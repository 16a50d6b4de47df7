/**
 * A folder's time set through the mount is kept by its path (spool/mtimes.ts), with when it was set: a folder
 * deleted and made again at that path by another client, or through the API, created after that, is another
 * folder and shows its own time. It once showed the old folder's time, for as long as the cache dir lived.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { FolderObject } from '../../../src/imagekit/types.js'
import { FakeImageKit, makeFolderObject } from './fake-api.js'
import { makeVfs, scratchDir, type Harness } from './helpers.js'

const T2001 = Date.parse('2001-02-03T04:05:06Z')
const HOUR_MS = 3_600_000

/** When the fake library's folders were created. */
const CREATED_MS = Date.parse(makeFolderObject('/any').createdAt)

/** A mount writing to `api`, its clock an hour after the fake library's folders were created. */
function rw(api: FakeImageKit, cacheDir = join(scratchDir('folder-mtime'), 'cache')): Harness {
  const h = makeVfs(api, { readOnly: false, cacheDir, libraryId: 'https://ik.example.test/demo' })
  h.clock.advance(CREATED_MS + HOUR_MS - h.clock.now())
  return h
}

/** Another client deletes the folder and makes it again, `laterMs` after the mount's clock. */
async function madeAgainElsewhere(api: FakeImageKit, h: Harness, folderPath: string, laterMs: number): Promise<void> {
  await api.deleteFolder(folderPath)
  const again = api.addFolder(folderPath) as { -readonly [K in keyof FolderObject]: FolderObject[K] }
  again.createdAt = again.updatedAt = new Date(h.clock.now() + laterMs).toISOString()
}

describe('a folder time set through the mount', () => {
  it('stays with the folder across a re-list and a remount', async () => {
    const api = new FakeImageKit()
    api.addFolder('/kept')
    const cacheDir = join(scratchDir('folder-mtime'), 'cache')
    const h = rw(api, cacheDir)
    await h.vfs.utimens('/kept', T2001, T2001)
    h.vfs.forget()
    expect((await h.vfs.getattr('/kept')).mtimeMs).toBe(T2001)
    await h.vfs.mkdir('/made', 0o755)
    await h.vfs.utimens('/made', T2001, T2001)
    await h.vfs.close()
    const again = rw(api, cacheDir)
    expect((await again.vfs.getattr('/kept')).mtimeMs).toBe(T2001)
    expect((await again.vfs.getattr('/made')).mtimeMs).toBe(T2001)
  })

  it('is not shown on a folder deleted and made again at its path by another client', async () => {
    const api = new FakeImageKit()
    api.addFolder('/fold')
    const h = rw(api)
    await h.vfs.utimens('/fold', T2001, T2001)
    await madeAgainElsewhere(api, h, '/fold', HOUR_MS)
    h.vfs.forget()
    const attr = await h.vfs.getattr('/fold')
    expect(attr.mtimeMs).not.toBe(T2001)
    expect(attr.mtimeMs).toBe(h.clock.now() + HOUR_MS)
  })

  it('goes with a folder renamed through the mount, also where the API re-creates it at the new path', async () => {
    const api = new FakeImageKit()
    api.addFolder('/old')
    const h = rw(api)
    await h.vfs.utimens('/old', T2001, T2001)
    h.clock.advance(HOUR_MS)
    await h.vfs.rename('/old', '/new')
    // ImageKit moves a folder by a bulk job: the folder at the new path may be a new one, created then.
    const moved = api.addFolder('/new') as { -readonly [K in keyof FolderObject]: FolderObject[K] }
    moved.createdAt = new Date(h.clock.now()).toISOString()
    h.vfs.forget()
    expect((await h.vfs.getattr('/new')).mtimeMs).toBe(T2001)
  })
})
