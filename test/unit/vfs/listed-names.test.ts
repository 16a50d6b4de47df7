// R8: a listed entry is reached by its real remote name, also when the encoding would not give that name back
// (a file stored elsewhere as `a[b].txt` shows as `a[b].txt`, but `a[b].txt` encodes to `a［b］.txt`).
import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit } from './fake-api.js'
import { makeVfs, scratchDir, type Harness } from './helpers.js'

function rw(api: FakeImageKit, overrides: Partial<VfsOptions> = {}): Harness {
  return makeVfs(api, { readOnly: false, cacheDir: join(scratchDir('names'), 'cache'), libraryId: 'https://ik.example.test/demo', ...overrides })
}

const REPLACE = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC

async function writeAt(h: Harness, path: string, data: string, flags = REPLACE): Promise<void> {
  const fh = await h.vfs.create(path, 0o644, flags)
  await h.vfs.write(path, fh, Buffer.from(data), 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

async function readAll(h: Harness, path: string): Promise<string> {
  const fh = await h.vfs.open(path, constants.O_RDONLY)
  const buf = await h.vfs.read(path, fh, 1 << 20, 0)
  await h.vfs.release(path, fh)
  return Buffer.from(buf).toString()
}

describe('R8: names the encoding does not give back reach the listed remote file', () => {
  it('rename moves the listed file; unlink deletes it', async () => {
    const api = new FakeImageKit()
    api.addFolder('/n')
    api.addFile('/n/a|b^[c].txt', Buffer.from('one'))
    api.addFile('/n/h#1.txt', Buffer.from('hash'))
    const h = rw(api)
    expect((await h.vfs.readdir('/n')).map((e) => e.name).sort()).toEqual(['a|b^[c].txt', 'h#1.txt'])
    await h.vfs.rename('/n/a|b^[c].txt', '/n/renamed.txt')
    await h.vfs.rename('/n/h#1.txt', '/other.txt')
    expect(api.filePaths()).toEqual(['/n/renamed.txt', '/other.txt'])
    await h.vfs.unlink('/n/renamed.txt')
    api.addFile('/n/gone[1].txt', Buffer.from('x'))
    h.vfs.forget('/n')
    await h.vfs.unlink('/n/gone[1].txt')
    expect(api.filePaths()).toEqual(['/other.txt'])
  })

  it('an overwrite, a truncate and a rename over it make new versions of the listed file, not a second file at the encoded name', async () => {
    const api = new FakeImageKit()
    api.addFolder('/n')
    const q = api.addFile('/n/q[1].txt', Buffer.from('three'))
    const t = api.addFile('/n/t[2].txt', Buffer.from('target'))
    api.addFile('/n/src.txt', Buffer.from('source'))
    const h = rw(api)
    await writeAt(h, '/n/q[1].txt', 'over')
    await h.vfs.truncate('/n/t[2].txt', 2)
    expect(api.filePaths()).toEqual(['/n/q[1].txt', '/n/src.txt', '/n/t[2].txt'])
    expect(api.fileAt('/n/q[1].txt')).toMatchObject({ obj: { fileId: q.fileId }, versions: 2 })
    expect(api.fileAt('/n/q[1].txt')!.bytes.toString()).toBe('over')
    expect(api.fileAt('/n/t[2].txt')!.bytes.toString()).toBe('ta')
    await h.vfs.rename('/n/src.txt', '/n/t[2].txt')
    expect(api.filePaths()).toEqual(['/n/q[1].txt', '/n/t[2].txt'])
    expect(api.fileAt('/n/t[2].txt')).toMatchObject({ obj: { fileId: t.fileId }, versions: 3 })
    expect(await readAll(h, '/n/t[2].txt')).toBe('source')
  })

  it('a file being written at a listed name shows, and reads, as written after its folder\'s listing was dropped', async () => {
    const api = new FakeImageKit()
    api.addFolder('/n')
    api.addFile('/n/q[1].txt', Buffer.from('stored'))
    const h = rw(api)
    const fh = await h.vfs.open('/n/q[1].txt', constants.O_WRONLY | constants.O_TRUNC)
    await h.vfs.write('/n/q[1].txt', fh, Buffer.from('written, not stored yet'), 0)
    h.vfs.forget('/n') // a refresh, or the listing cache's bound
    expect((await h.vfs.getattr('/n/q[1].txt')).size).toBe('written, not stored yet'.length)
    expect(await readAll(h, '/n/q[1].txt')).toBe('written, not stored yet')
    await h.vfs.flush('/n/q[1].txt', fh)
    await h.vfs.release('/n/q[1].txt', fh)
    expect(api.filePaths()).toEqual(['/n/q[1].txt'])
    expect(api.fileAt('/n/q[1].txt')!.bytes.toString()).toBe('written, not stored yet')
  })

  it('tags set on a file in a folder so named show at once', async () => {
    const api = new FakeImageKit()
    api.addFolder('/t[1]')
    api.addFile('/t[1]/s.txt', Buffer.from('tag me'))
    const h = rw(api)
    expect((await h.vfs.getxattr('/t[1]/s.txt', 'user.imagekit.tags').catch((e: { code: string }) => e.code))).toBe('ENODATA')
    await h.vfs.setxattr('/t[1]/s.txt', 'user.imagekit.tags', Buffer.from('red'), 0)
    expect(api.fileAt('/t[1]/s.txt')!.obj.tags).toEqual(['red'])
    expect((await h.vfs.getxattr('/t[1]/s.txt', 'user.imagekit.tags')).toString()).toBe('red')
  })

  it('a folder so named takes new files, is renamed, and is removed when empty', async () => {
    const api = new FakeImageKit()
    api.addFolder('/dir[x]')
    api.addFile('/dir[x]/in.txt', Buffer.from('in'))
    api.addFolder('/e[1]')
    const h = rw(api)
    await writeAt(h, '/dir[x]/new.txt', 'new')
    expect(api.filePaths()).toEqual(['/dir[x]/in.txt', '/dir[x]/new.txt'])
    await h.vfs.rename('/dir[x]', '/moved')
    expect(api.filePaths()).toEqual(['/moved/in.txt', '/moved/new.txt'])
    await h.vfs.rmdir('/e[1]')
    expect(api.hasFolder('/e[1]')).toBe(false)
  })

  it('new names still go through the encoding (W11)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/dir[x]')
    const h = rw(api)
    await writeAt(h, '/dir[x]/n[1].txt', 'new')
    await h.vfs.mkdir('/d#2', 0o755)
    expect(api.filePaths()).toEqual(['/dir[x]/n［1］.txt'])
    expect(api.hasFolder('/d＃2')).toBe(true)
  })

  it('of two remote names shown as one local name, the one the encoding gives back is the one reached', async () => {
    const api = new FakeImageKit()
    api.addFolder('/c')
    api.addFile('/c/x[1].txt', Buffer.from('raw'))
    api.addFile('/c/x［1］.txt', Buffer.from('encoded'))
    const h = rw(api)
    expect((await h.vfs.readdir('/c')).map((e) => e.name)).toEqual(['x[1].txt'])
    expect(await readAll(h, '/c/x[1].txt')).toBe('encoded')
    await writeAt(h, '/c/x[1].txt', 'over')
    expect(api.fileAt('/c/x［1］.txt')!.bytes.toString()).toBe('over')
    expect(api.fileAt('/c/x[1].txt')!.bytes.toString()).toBe('raw')
    await h.vfs.unlink('/c/x[1].txt')
    expect(api.filePaths()).toEqual(['/c/x[1].txt'])
  })
})
