/** W7: a create in a folder deleted elsewhere is ENOENT, at the cost of at most one API call per folder per CONFIRM_MS. */
import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { CONFIRM_MS } from '../../../src/vfs/folder-presence.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, type Harness } from './helpers.js'

const CREATE = constants.O_CREAT | constants.O_RDWR

function rw(api: FakeImageKit, overrides: Partial<VfsOptions> = {}): Harness {
  return makeVfs(api, { readOnly: false, cacheDir: join(scratchDir('folders'), 'cache'), libraryId: 'https://ik.example.test/demo', ...overrides })
}

/** A library holding `folder` with a file a.txt in it, and a read-write Vfs on it. */
function folderWithFile(folder: string): { api: FakeImageKit; h: Harness } {
  const api = new FakeImageKit()
  api.addFolder(folder)
  api.addFile(`${folder}/a.txt`, 3)
  return { api, h: rw(api) }
}

const folderQueries = (api: FakeImageKit): number => api.listQueries.filter((q) => q.type === 'folder').length

describe('creating in a folder deleted elsewhere', () => {
  it('is ENOENT (file and folder), drops the folder from its parent, and creates nothing remotely', async () => {
    const { api, h } = folderWithFile('/shared')
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toContain('shared')
    expect((await h.vfs.readdir('/shared')).map((e) => e.name)).toContain('a.txt')
    await api.deleteFolder('/shared')
    h.clock.advance(CONFIRM_MS)
    await expectCode(h.vfs.create('/shared/new.txt', 0o644, CREATE), 'ENOENT')
    await expectCode(h.vfs.mkdir('/shared/sub', 0o755), 'ENOENT')
    expect((await h.vfs.readdir('/')).map((e) => e.name)).not.toContain('shared')
    expect(api.writeCalls.createFolder).toBe(0)
  })

  it('asks once per folder per CONFIRM_MS, not within CONFIRM_MS of a listing of its parent or of its mkdir', async () => {
    const { api, h } = folderWithFile('/kept')
    await h.vfs.readdir('/')
    await h.vfs.release('/kept/1', await h.vfs.create('/kept/1', 0o644, CREATE))
    expect(folderQueries(api)).toBe(0) // the root's listing just showed it
    h.clock.advance(CONFIRM_MS)
    await h.vfs.release('/kept/2', await h.vfs.create('/kept/2', 0o644, CREATE))
    await h.vfs.release('/kept/3', await h.vfs.create('/kept/3', 0o644, CREATE))
    expect(folderQueries(api)).toBe(1)
    await h.vfs.mkdir('/kept/made', 0o755)
    h.clock.advance(CONFIRM_MS - 1)
    await h.vfs.release('/kept/made/x', await h.vfs.create('/kept/made/x', 0o644, CREATE))
    expect(folderQueries(api)).toBe(1)
  })

  it('goes on when the API cannot say (an outage): the file waits in the spool as before', async () => {
    const { api, h } = folderWithFile('/out')
    await h.vfs.readdir('/out')
    h.clock.advance(CONFIRM_MS)
    api.failAlways.set('listFiles', new ImageKitError('IK_NETWORK', 'network down'))
    // O_TRUNC (`>`, cp): a create that keeps content needs the library's answer first (unlisted-file.ts).
    const fh = await h.vfs.create('/out/new.txt', 0o644, CREATE | constants.O_TRUNC)
    api.failAlways.delete('listFiles')
    await h.vfs.release('/out/new.txt', fh)
  })

  it('a rename into it is ENOENT too, leaves the source where it was, and costs one call per CONFIRM_MS', async () => {
    const api = new FakeImageKit()
    api.addFolder('/gone')
    api.addFile('/gone/a.txt', 3)
    api.addFile('/stored.txt', 3)
    api.addFolder('/dir')
    const h = rw(api, { writeBackDelayMs: 60_000 })
    await h.vfs.readdir('/')
    await h.vfs.readdir('/gone')
    await h.vfs.release('/waiting.txt', await h.vfs.create('/waiting.txt', 0o644, CREATE)) // only in the spool: its upload would make the folder
    await api.deleteFolder('/gone')
    h.clock.advance(CONFIRM_MS)
    const asked = folderQueries(api)
    await expectCode(h.vfs.rename('/stored.txt', '/gone/stored.txt'), 'ENOENT')
    expect(folderQueries(api)).toBe(asked + 1)
    await expectCode(h.vfs.rename('/waiting.txt', '/gone/waiting.txt'), 'ENOENT')
    await expectCode(h.vfs.rename('/dir', '/gone/dir'), 'ENOENT')
    expect((await h.vfs.readdir('/')).map((e) => e.name).sort()).toEqual(['dir', 'stored.txt', 'waiting.txt'])
    expect(api.writeCalls).toMatchObject({ moveFile: 0, renameFile: 0, moveFolder: 0, renameFolder: 0, createFolder: 0 })
  })

  it('a rename into a folder that is there asks once per CONFIRM_MS, and a rename within a folder asks nothing', async () => {
    const api = new FakeImageKit()
    api.addFolder('/kept')
    api.addFolder('/src')
    api.addFile('/src/a.txt', 3)
    api.addFile('/src/b.txt', 3)
    const h = rw(api)
    await h.vfs.readdir('/')
    await h.vfs.readdir('/src')
    h.clock.advance(CONFIRM_MS)
    await h.vfs.rename('/src/a.txt', '/src/a2.txt')
    expect(folderQueries(api)).toBe(0)
    await h.vfs.rename('/src/a2.txt', '/kept/a.txt')
    await h.vfs.rename('/src/b.txt', '/kept/b.txt')
    expect(folderQueries(api)).toBe(1)
    expect(api.writeCalls.moveFile).toBe(2)
  })

  it('a file open when its folder was deleted elsewhere is stored at its close, and the log says it brings the folder back', async () => {
    const { api, h } = folderWithFile('/edit')
    await h.vfs.readdir('/edit')
    const fh = await h.vfs.create('/edit/saved.txt', 0o644, CREATE)
    await api.deleteFolder('/edit')
    h.clock.advance(CONFIRM_MS)
    await h.vfs.write('/edit/saved.txt', fh, Buffer.from('kept\n'), 0)
    await h.vfs.flush('/edit/saved.txt', fh)
    await h.vfs.release('/edit/saved.txt', fh)
    expect(api.uploads.map((u) => u.filePath)).toEqual(['/edit/saved.txt'])
    const said = h.records.filter((r) => r.level === 40 && String(r.msg).includes('brings the folder back'))
    expect(said).toMatchObject([{ path: '/edit/saved.txt', folder: '/edit' }])
  })

  it('an upload into a folder that is there says nothing and asks at most once per CONFIRM_MS', async () => {
    const { api, h } = folderWithFile('/kept')
    await h.vfs.readdir('/kept')
    const fh = await h.vfs.create('/kept/b.txt', 0o644, CREATE)
    h.clock.advance(CONFIRM_MS)
    await h.vfs.write('/kept/b.txt', fh, Buffer.from('b\n'), 0)
    await h.vfs.flush('/kept/b.txt', fh)
    await h.vfs.release('/kept/b.txt', fh)
    await h.vfs.release('/kept/c.txt', await h.vfs.create('/kept/c.txt', 0o644, CREATE))
    expect(folderQueries(api)).toBe(1)
    expect(h.records.filter((r) => String(r.msg).includes('brings the folder back'))).toEqual([])
  })
})
