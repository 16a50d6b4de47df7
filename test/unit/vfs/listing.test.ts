import { constants } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { ManualClock } from '../../../src/clock.js'
import { DirCache, UNREACHABLE_RETRY_MS } from '../../../src/vfs/dir-cache.js'
import { DirInode, FileInode } from '../../../src/vfs/inode.js'
import { InodeTable } from '../../../src/vfs/inode-table.js'
import { NameCodec } from '../../../src/vfs/name.js'
import { Counters } from '../../../src/vfs/stats.js'
import { WarnOnce } from '../../../src/vfs/warn-once.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { baseOptions, expectCode, makeVfs, memoryLogger } from './helpers.js'

const PROBES = ['.hidden', '.directory', 'autorun.inf', '.Trash-1000', '.xdg-volume-info']

describe('listings', () => {
  it('ls -l of 2,500 entries: one listing (3 pages), no per-file calls', async () => {
    const api = new FakeImageKit()
    api.addFolder('/big')
    for (let i = 0; i < 2500; i++) api.addFile(`/big/f${i}.jpg`, 100 + i)
    const { vfs } = makeVfs(api)
    const entries = await vfs.readdir('/big')
    expect(entries).toHaveLength(2500)
    const listsAfterReaddir = api.calls.listFiles
    for (const e of entries) {
      const attr = await vfs.getattr(`/big/${e.name}`)
      expect(attr).toEqual(e.attr)
    }
    expect(api.calls.listFiles).toBe(listsAfterReaddir)
    expect(api.listQueries.filter((q) => q.path === '/big')).toEqual([{ path: '/big', type: 'all' }])
    expect(api.calls.listPages).toBe(1 + 3) // root (1 page) + /big (3 pages)
    expect(api.calls.getFileDetails + api.calls.listFileVersions + api.calls.readRange).toBe(0)
    expect((await vfs.getattr('/big/f2499.jpg')).size).toBe(2599)
    vfs.checkInvariants()
  })

  it('probes of missing names are answered from memory and re-list at most once per expiry', async () => {
    const api = new FakeImageKit()
    api.addFolder('/docs')
    api.addFile('/docs/a.txt', 10)
    const { vfs, clock } = makeVfs(api, { dirCacheTimeMs: 10_000 })
    await vfs.readdir('/docs')
    const before = api.calls.listFiles
    for (let round = 0; round < 3; round++) {
      for (const p of PROBES) await expectCode(vfs.getattr(`/docs/${p}`), 'ENOENT')
    }
    expect(api.calls.listFiles).toBe(before)
    clock.advance(10_000)
    await Promise.all(PROBES.map((p) => expectCode(vfs.getattr(`/docs/${p}`), 'ENOENT')))
    for (const p of PROBES) await expectCode(vfs.getattr(`/docs/${p}`), 'ENOENT')
    // Root and /docs expired: each is listed once more, not once per probe.
    expect(api.calls.listFiles).toBe(before + 2)
  })

  it('coalesces concurrent listings of one folder', async () => {
    const api = new FakeImageKit()
    for (let i = 0; i < 20; i++) api.addFile(`/f${i}`, 1)
    const { vfs } = makeVfs(api)
    const attrs = await Promise.all(Array.from({ length: 20 }, (_, i) => vfs.getattr(`/f${i}`)))
    expect(attrs.map((a) => a.size)).toEqual(Array(20).fill(1))
    expect(api.calls.listFiles).toBe(1)
  })

  it('getattr of a deep path walks down from the root, listing each level once', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/a/b')
    api.addFile('/a/b/c.jpg', 5)
    const { vfs } = makeVfs(api)
    expect((await vfs.getattr('/a/b/c.jpg')).size).toBe(5)
    expect(api.listQueries.map((q) => q.path)).toEqual(['/', '/a', '/a/b'])
    await expectCode(vfs.getattr('/a/b/c.jpg/x'), 'ENOTDIR')
    await expectCode(vfs.readdir('/a/b/c.jpg'), 'ENOTDIR')
    await expectCode(vfs.getattr('/nope/x'), 'ENOENT')
  })

  it('keeps inode numbers stable across re-listings and new versions', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    api.addFile('/d/x.jpg', 10)
    api.addFile('/d/y.jpg', 20)
    const { vfs, clock } = makeVfs(api, { dirCacheTimeMs: 1000 })
    expect((await vfs.getattr('/')).ino).toBe(1)
    const d1 = await vfs.getattr('/d')
    const x1 = await vfs.getattr('/d/x.jpg')
    const y1 = await vfs.getattr('/d/y.jpg')
    expect(new Set([1, d1.ino, x1.ino, y1.ino]).size).toBe(4)
    api.overwrite('/d/x.jpg', patternBytes(30), '2025-01-01T00:00:00.000Z')
    clock.advance(1000)
    const x2 = await vfs.getattr('/d/x.jpg')
    expect(x2.size).toBe(30)
    expect(x2.ino).toBe(x1.ino)
    expect((await vfs.getattr('/d')).ino).toBe(d1.ino)
    expect((await vfs.getattr('/d/y.jpg')).ino).toBe(y1.ino)
    vfs.checkInvariants()
  })

  it('bounds cached listings with an LRU; evicted folders are re-listed', async () => {
    const api = new FakeImageKit()
    for (const f of ['/a', '/b', '/c']) {
      api.addFolder(f)
      api.addFile(`${f}/file`, 1)
    }
    const { vfs } = makeVfs(api, { maxCachedDirs: 2 })
    await vfs.readdir('/a')
    await vfs.readdir('/b')
    await vfs.readdir('/c')
    expect(vfs.stats().cachedDirs).toBeLessThanOrEqual(2)
    const before = api.calls.listFiles
    await vfs.getattr('/a/file')
    expect(api.calls.listFiles).toBeGreaterThan(before)
    vfs.checkInvariants()
  })

  it('an open handle keeps its node and inode number when its folder is evicted', async () => {
    const api = new FakeImageKit()
    for (const f of ['/a', '/b', '/c']) {
      api.addFolder(f)
      api.addFile(`${f}/file`, 3)
    }
    const { vfs } = makeVfs(api, { maxCachedDirs: 1 })
    const fh = await vfs.open('/a/file', constants.O_RDONLY)
    const ino = (await vfs.getattr('/a/file')).ino
    await vfs.readdir('/b')
    await vfs.readdir('/c')
    expect((await vfs.read('/a/file', fh, 10, 0)).length).toBe(3)
    expect((await vfs.getattr('/a/file')).ino).toBe(ino)
    vfs.checkInvariants()
    await vfs.release('/a/file', fh)
  })

  it('reports attributes from the listing and the options', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const f = api.addFile('/d/p.png', 1000, { updatedAt: '2024-05-06T07:08:09.010Z' })
    const { vfs, clock } = makeVfs(api, { filePerm: 0o666, dirPerm: 0o777, umask: 0o027, uid: 7, gid: 8 })
    const a = await vfs.getattr('/d/p.png')
    expect(a).toMatchObject({
      kind: 'file', perm: 0o640, size: 1000, nlink: 1, uid: 7, gid: 8, blksize: 1048576, blocks: 2,
      mtimeMs: Date.parse('2024-05-06T07:08:09.010Z'), atimeMs: Date.parse('2024-05-06T07:08:09.010Z'),
      ctimeMs: Date.parse('2024-05-06T07:08:09.010Z'), birthtimeMs: Date.parse(f.createdAt),
    })
    const d = await vfs.getattr('/d')
    expect(d).toMatchObject({ kind: 'dir', perm: 0o750, nlink: 2 })
    expect(d.mtimeMs).toBe(Date.parse('2024-01-02T03:04:06.006Z'))
    expect(d.ctimeMs).toBe(d.mtimeMs)
    const root = await vfs.getattr('/')
    expect(root.mtimeMs).toBe(clock.now())
  })

  it('shows encoded remote names decoded, and finds them by their local name', async () => {
    const api = new FakeImageKit()
    api.addFile('/why？ 50％.jpg', 4)
    api.addFile('/plain.jpg', 5)
    const { vfs } = makeVfs(api)
    const names = (await vfs.readdir('/')).map((e) => e.name).sort()
    expect(names).toEqual(['plain.jpg', 'why? 50%.jpg'])
    expect((await vfs.getattr('/why? 50%.jpg')).size).toBe(4)
  })

  it('hides colliding entries: the folder wins; the round-tripping name wins; warns once', async () => {
    const api = new FakeImageKit()
    api.addFile('/same', 1)
    api.addFolder('/same')
    api.addFile('/a?b', 2) // raw '?' (uploaded outside rclone)
    api.addFile('/a？b', 3) // rclone's encoding of local "a?b"
    const { vfs, clock, records } = makeVfs(api, { dirCacheTimeMs: 10 })
    const entries = await vfs.readdir('/')
    expect(entries.map((e) => e.name).sort()).toEqual(['a?b', 'same'])
    expect((await vfs.getattr('/same')).kind).toBe('dir')
    expect((await vfs.getattr('/a?b')).size).toBe(3)
    clock.advance(10)
    await vfs.readdir('/')
    const warns = records.filter((r) => r.level === 40)
    expect(warns).toHaveLength(2)
  })

  it('hides names that cannot be shown locally', async () => {
    const api = new FakeImageKit()
    api.addFile('/bad‛FF', 1)
    api.addFile('/' + 'x'.repeat(300), 1)
    api.addFile('/ok', 1)
    const { vfs, records } = makeVfs(api)
    expect((await vfs.readdir('/')).map((e) => e.name)).toEqual(['ok'])
    expect(records.filter((r) => r.level === 40)).toHaveLength(2)
  })

  it('maps listing errors through fromImageKitError and does not cache failures', async () => {
    const api = new FakeImageKit()
    api.addFile('/x', 1)
    const { vfs } = makeVfs(api)
    api.failNext.set('listFiles', new ImageKitError('IK_UNAUTHORIZED', 'GET /v1/files: 401', { status: 401 }))
    await expectCode(vfs.readdir('/'), 'EACCES')
    expect((await vfs.readdir('/')).map((e) => e.name)).toEqual(['x'])
    api.failNext.set('listFiles', new ImageKitError('IK_SERVER', 'GET /v1/files: 503', { status: 503 }))
    vfs.forget()
    await expectCode(vfs.readdir('/'), 'EIO')
  })

  it('R13: an unreachable API serves the last listing, tries again after a pause, and never masks a 401', async () => {
    const api = new FakeImageKit()
    api.addFolder('/docs')
    api.addFile('/docs/a.txt', 10)
    const { vfs, clock, records } = makeVfs(api, { dirCacheTimeMs: 10_000 })
    const first = await vfs.readdir('/docs')
    clock.advance(10_000)
    const before = api.calls.listFiles
    api.failAlways.set('listFiles', new ImageKitError('IK_NETWORK', 'GET /v1/files: connection refused (ECONNREFUSED)'))
    expect(await vfs.readdir('/docs')).toEqual(first)
    expect((await vfs.getattr('/docs/a.txt')).ino).toBe(first[0]!.attr.ino)
    await expectCode(vfs.getattr('/docs/missing'), 'ENOENT')
    // One attempt each for the root and /docs, then their last listings for the pause.
    expect(api.calls.listFiles).toBe(before + 2)
    const warned = records.filter((r) => r.msg === 'the API cannot be reached: showing the last listing of this folder')
    expect(warned.map((r) => r.folder)).toEqual(['/', '/docs'])
    expect(vfs.stats().staleListingsServed).toBe(2)
    clock.advance(UNREACHABLE_RETRY_MS - 1)
    await vfs.readdir('/docs')
    expect(api.calls.listFiles).toBe(before + 2)
    // After the pause the API is asked again; it answers, with a change made meanwhile.
    api.failAlways.delete('listFiles')
    api.addFile('/docs/b.txt', 20)
    api.addFolder('/new')
    clock.advance(1)
    expect((await vfs.readdir('/docs')).map((e) => e.name)).toEqual(['a.txt', 'b.txt'])
    expect(api.calls.listFiles).toBe(before + 4)
    // Answers about the request itself are errors, stale listing or not.
    clock.advance(10_000)
    api.failNext.set('listFiles', new ImageKitError('IK_UNAUTHORIZED', 'GET /v1/files: 401', { status: 401 }))
    await expectCode(vfs.readdir('/docs'), 'EACCES')
    // A folder never listed has nothing to fall back on (its parent's last listing shows it).
    api.failAlways.set('listFiles', new ImageKitError('IK_SERVER', 'GET /v1/files: 503', { status: 503 }))
    await expectCode(vfs.readdir('/new'), 'EIO')
  })

  it('cachedFiles(path) names the files of the cached listings at and below a folder, by local folder', async () => {
    const api = new FakeImageKit()
    for (const folder of ['/a', '/a/b', '/c', '/a/empty']) api.addFolder(folder)
    api.addFile('/top.txt', 1)
    api.addFile('/a/one.txt', 1)
    api.addFile('/a/b/two:three.txt', 1) // a name the default encoding shows otherwise
    api.addFile('/c/four.txt', 1)
    const { vfs } = makeVfs(api)
    await vfs.readdir('/a/b')
    await vfs.readdir('/c')
    const two = (await vfs.readdir('/a/b')).map((e) => e.name)
    expect(two).toHaveLength(1)
    expect(Object.fromEntries(vfs.cachedFiles('/a'))).toEqual({ '/a': ['one.txt'], '/a/b': two })
    expect(Object.fromEntries(vfs.cachedFiles())).toEqual({ '/': ['top.txt'], '/a': ['one.txt'], '/a/b': two, '/c': ['four.txt'] })
    vfs.forget('/a')
    expect(Object.fromEntries(vfs.cachedFiles('/a'))).toEqual({})
  })

  it('forget(path) drops that folder and below; forget() drops all', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/a/b')
    api.addFolder('/c')
    const { vfs } = makeVfs(api)
    await vfs.readdir('/a/b')
    await vfs.readdir('/c')
    const n = api.calls.listFiles
    vfs.forget('/a')
    await vfs.readdir('/c')
    expect(api.calls.listFiles).toBe(n)
    await vfs.readdir('/a/b')
    expect(api.listQueries.slice(n).map((q) => q.path)).toEqual(['/a', '/a/b'])
    vfs.forget()
    await vfs.readdir('/c')
    expect(api.listQueries.slice(n + 2).map((q) => q.path)).toEqual(['/', '/c'])
  })
})

describe('--versions', () => {
  it('shows old versions beside the file, read-only, named like rclone, readable', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    const oldBytes = patternBytes(1500, 3)
    api.addFile('/p/photo.jpg', oldBytes, { updatedAt: '2024-03-04T05:06:07.089Z' })
    api.overwrite('/p/photo.jpg', patternBytes(700, 4), '2024-06-01T00:00:00.000Z')
    const { vfs } = makeVfs(api, { versions: true })
    const entries = await vfs.readdir('/p')
    expect(entries.map((e) => e.name).sort()).toEqual(['photo-v2024-03-04-050607-089.jpg', 'photo.jpg'])
    expect(api.listQueries.filter((q) => q.path === '/p')).toEqual(expect.arrayContaining([
      { path: '/p', type: 'all' }, { path: '/p', type: 'file-version' },
    ]))
    expect(api.listQueries.filter((q) => q.path === '/p')).toHaveLength(2)
    const v = await vfs.getattr('/p/photo-v2024-03-04-050607-089.jpg')
    expect(v.perm).toBe(0o444)
    expect(v.size).toBe(1500)
    const fh = await vfs.open('/p/photo-v2024-03-04-050607-089.jpg', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', fh, 5000, 0), oldBytes)).toBe(0)
    expect(api.ranges.at(-1)?.url).toContain('ik-obj-version=')
    await vfs.release('', fh)
    vfs.checkInvariants()
  })

  it('asks for the old versions while the folder itself is being listed, not after it', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    api.addFile('/p/photo.jpg', 10, { updatedAt: '2024-03-04T05:06:07.089Z' })
    api.overwrite('/p/photo.jpg', patternBytes(5), '2024-06-01T00:00:00.000Z')
    let versionsAsked!: () => void
    const versionsListing = new Promise<boolean>((resolve) => (versionsAsked = () => resolve(true)))
    let overlapped: boolean | undefined
    api.listGate = async (query) => {
      if (query.path !== '/p') return
      if (query.type === 'file-version') return versionsAsked()
      // The folder's own listing waits (at most half a second) for the versions listing to start.
      overlapped = await Promise.race([versionsListing, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500))])
    }
    const { vfs } = makeVfs(api, { versions: true })
    expect((await vfs.readdir('/p')).map((e) => e.name).sort()).toEqual(['photo-v2024-03-04-050607-089.jpg', 'photo.jpg'])
    expect(overlapped).toBe(true)
  })

  it('hides a version whose name would be longer than 255 bytes (NAME_MAX), as it hides such files', async () => {
    const api = new FakeImageKit()
    const long = 'x'.repeat(240) + '.jpg' // 244 bytes: its version name has 267
    for (const name of [long, 'short.jpg']) {
      api.addFile(`/${name}`, 10, { updatedAt: '2024-03-04T05:06:07.089Z' })
      api.overwrite(`/${name}`, patternBytes(5), '2024-06-01T00:00:00.000Z')
    }
    const { vfs, records } = makeVfs(api, { versions: true })
    expect((await vfs.readdir('/')).map((e) => e.name).sort()).toEqual(['short-v2024-03-04-050607-089.jpg', 'short.jpg', long].sort())
    await expectCode(vfs.getattr(`/${'x'.repeat(240)}-v2024-03-04-050607-089.jpg`), 'ENOENT')
    expect(records.some((r) => String(r.msg).startsWith('hiding entry'))).toBe(true)
  })

  it('does not list versions without the option', async () => {
    const api = new FakeImageKit()
    api.addFile('/photo.jpg', 10)
    api.overwrite('/photo.jpg', patternBytes(5), '2024-06-01T00:00:00.000Z')
    const { vfs } = makeVfs(api)
    expect((await vfs.readdir('/')).map((e) => e.name)).toEqual(['photo.jpg'])
    expect(api.listQueries.every((q) => q.type === 'all')).toBe(true)
  })
})

describe('read-only mounts and bad handles', () => {
  it('rejects writes with EROFS when read-only', async () => {
    const api = new FakeImageKit()
    api.addFile('/x', 3)
    const ro = makeVfs(api).vfs
    await expectCode(ro.open('/x', constants.O_WRONLY), 'EROFS')
    await expectCode(ro.open('/x', constants.O_RDWR), 'EROFS')
    await expectCode(ro.open('/x', constants.O_RDONLY | constants.O_TRUNC), 'EROFS')
    await expectCode(ro.create('/y', 0o644, constants.O_WRONLY), 'EROFS')
    await expectCode(ro.mkdir('/d', 0o755), 'EROFS')
    await expectCode(ro.unlink('/x'), 'EROFS')
    await expectCode(ro.rename('/x', '/z'), 'EROFS')
    await expectCode(ro.setxattr('/x', 'user.imagekit.tags', Buffer.from('a'), 0), 'EROFS')
    await expectCode(ro.truncate('/x', 0), 'EROFS')
    await expectCode(ro.chmod('/x', 0o600), 'EROFS')
  })
  it('open of a folder is EISDIR; unknown fh is EBADF', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const { vfs } = makeVfs(api)
    await expectCode(vfs.open('/d', constants.O_RDONLY), 'EISDIR')
    await expectCode(vfs.read('/d', 42, 10, 0), 'EBADF')
    await expectCode(vfs.release('/d', 42), 'EBADF')
  })
})

describe('R3: inode numbers stay while mounted', () => {
  it('across a refresh (ikfs refresh, SIGHUP) of a folder or of everything', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    api.addFile('/d/x.jpg', 10)
    const { vfs } = makeVfs(api)
    const file = (await vfs.getattr('/d/x.jpg')).ino
    const folder = (await vfs.getattr('/d')).ino
    vfs.forget('/d')
    expect((await vfs.getattr('/d/x.jpg')).ino).toBe(file)
    vfs.forget()
    expect((await vfs.getattr('/d/x.jpg')).ino).toBe(file)
    expect((await vfs.getattr('/d')).ino).toBe(folder)
    vfs.checkInvariants()
  })

  it('after the listing cache let go of the folder (more folders than --max-cached-dirs)', async () => {
    const api = new FakeImageKit()
    for (const f of ['/a', '/b', '/c']) {
      api.addFolder(f)
      api.addFile(`${f}/file`, 3)
    }
    const { vfs } = makeVfs(api, { maxCachedDirs: 2 })
    const ino = (await vfs.getattr('/a/file')).ino
    await vfs.readdir('/b')
    await vfs.readdir('/c')
    expect((await vfs.getattr('/a/file')).ino).toBe(ino)
    vfs.checkInvariants()
  })
})

describe('R2: the listing cache', () => {
  it('keeps a folder with more entries than its whole bound (alone), instead of fetching it for every lookup', async () => {
    const api = new FakeImageKit()
    api.addFolder('/big')
    for (let i = 0; i < 20; i++) api.addFile(`/big/f${i}`, 1)
    const inodes = new InodeTable()
    const dirs = new DirCache(
      api, new ManualClock(), { codec: new NameCodec(baseOptions.encoding), inodes, warn: new WarnOnce(memoryLogger().logger) }, new Counters(),
      { ttlMs: 60_000, maxDirs: 100, versions: false, maxEntries: 10 },
    )
    const dir = new DirInode(2, '/big', 0, 0)
    const inos = new Set<number>()
    for (let i = 0; i < 5; i++) inos.add((await dirs.listing(dir)).children.get('f0')!.ino)
    expect(api.calls.listFiles).toBe(1)
    expect(inos.size).toBe(1)
  })

  it('counts entries this mount adds against its bound (folders filled by cp -r do not grow it past the bound)', async () => {
    const inodes = new InodeTable()
    const dirs = new DirCache(
      new FakeImageKit(), new ManualClock(), { codec: new NameCodec(baseOptions.encoding), inodes, warn: new WarnOnce(memoryLogger().logger) }, new Counters(),
      { ttlMs: 60_000, maxDirs: 100, versions: false, maxEntries: 10 },
    )
    for (const d of ['/a', '/b']) {
      await dirs.listing(new DirInode(inodes.allocate(), d, 0, 0)) // empty, as mkdir lists a folder it makes
      for (let i = 0; i < 50; i++) {
        dirs.setChild(d, `f${i}`, new FileInode(inodes.allocate(), `${d}/f${i}`, `id${d}${i}`, `id${d}${i}`, false, 1, 'u', false, 0, 0, '', '', false, undefined, undefined, undefined, undefined, undefined, undefined))
      }
    }
    expect(dirs.entryCount).toBeLessThanOrEqual(10)
    expect([...dirs.nodes()].length).toBeLessThanOrEqual(50) // the one folder kept alone, as a folder larger than the bound is
  })

  it('a refresh while a listing is being fetched: the next lookups get a listing fetched after the refresh', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    api.addFile('/d/a', 1)
    const { vfs } = makeVfs(api)
    await vfs.readdir('/')
    let open!: () => void
    const gate = new Promise<void>((resolve) => (open = resolve))
    api.listGate = async (query) => {
      if (query.path === '/d') await gate
    }
    const before = vfs.readdir('/d') // started before the change below
    await new Promise((resolve) => setImmediate(resolve))
    api.addFile('/d/b', 1) // added elsewhere
    vfs.forget('/d') // ikfs refresh /d
    const after = vfs.readdir('/d')
    const statOfNew = vfs.getattr('/d/b').then(() => 'found', (e: { code: string }) => e.code)
    open()
    await before
    expect((await after).map((e) => e.name).sort()).toEqual(['a', 'b'])
    expect(await statOfNew).toBe('found')
  })
})
