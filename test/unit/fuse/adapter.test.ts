import { constants as fsConstants } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createFuseOps, UTIME_SENTINEL_MS } from '../../../src/fuse/adapter.js'
import { BusyFolders } from '../../../src/fuse/busy-folders.js'
import { WriteBuffers } from '../../../src/fuse/write-buffers.js'
import { FUSE_ERRNO } from '../../../src/fuse/errno.js'
import { S_IFDIR, S_IFREG } from '../../../src/fuse/stat.js'
import { VfsError } from '../../../src/vfs/errors.js'
import { createFakeVfs, makeAttr } from './fake-vfs.js'
import { captureLogger } from './log-capture.js'

/** Calls one op and resolves with the arguments fuse-native's callback received. */
function call(fn: (cb: (...a: unknown[]) => void) => void): Promise<unknown[]> {
  return new Promise((resolve) => fn((...args) => resolve(args)))
}

async function waitForIdle(buffers: WriteBuffers): Promise<void> {
  for (let i = 0; i < 100 && buffers.idle === 0; i++) await new Promise((r) => setImmediate(r))
}

function setup(impl: Parameters<typeof createFakeVfs>[0] = {}) {
  const { vfs, calls } = createFakeVfs(impl)
  const { logger, records } = captureLogger()
  const ops = createFuseOps(vfs, logger, { now: () => 1_700_000_000_000 })
  return { ops, calls, records }
}

describe('createFuseOps', () => {
  it('getattr encodes the Attr as a fuse-native stat object', async () => {
    const { ops } = setup({ getattr: async () => makeAttr({ kind: 'dir', perm: 0o755, ino: 12 }) })
    const [code, stat] = await call((cb) => ops.getattr('/d', cb))
    expect(code).toBe(0)
    expect(stat).toMatchObject({ mode: S_IFDIR | 0o755, ino: 12, mtime: 2000 })
  })

  it('readdir answers names and a matching stats array', async () => {
    const { ops } = setup({
      readdir: async () => [{ name: 'a.jpg', attr: makeAttr({ ino: 3 }) }, { name: 'sub', attr: makeAttr({ kind: 'dir', ino: 4 }) }],
    })
    const [code, names, stats] = (await call((cb) => ops.readdir('/', cb))) as [number, string[], { mode: number; ino: number }[]]
    expect(code).toBe(0)
    expect(names).toEqual(['a.jpg', 'sub'])
    expect(stats.map((s) => [s.ino, s.mode & 0o170000])).toEqual([[3, S_IFREG], [4, S_IFDIR]])
  })

  it('create hands the VFS the open flags the binding names, else none (fuse-native names none: the VFS is told they are unknown)', async () => {
    const { ops, calls } = setup({ create: async () => 7 })
    const { O_CREAT, O_WRONLY, O_APPEND } = fsConstants
    expect(await call((cb) => ops.create('/log', 0o644, cb, 42, O_WRONLY | O_CREAT | O_APPEND))).toEqual([0, 7])
    expect(await call((cb) => ops.create('/new', 0o644, cb))).toEqual([0, 7])
    expect(calls.map((c) => c.args)).toEqual([['/log', 0o644, O_WRONLY | O_CREAT | O_APPEND, 42], ['/new', 0o644, undefined, undefined]])
  })

  it('read copies the result into fuse-native’s buffer and answers the byte count first', async () => {
    const { ops, calls } = setup({ read: async () => Buffer.from('hello') })
    const buf = Buffer.alloc(8)
    const reply = await call((cb) => ops.read('/f', 3, buf, 8, 100, cb))
    expect(reply).toEqual([5])
    expect(buf.subarray(0, 5).toString()).toBe('hello')
    expect(calls[0]).toEqual({ op: 'read', args: ['/f', 3, 8, 100] })
  })

  it('read lets a VFS with readInto fill the kernel buffer itself, with a signal for the deadline', async () => {
    let seen: { dest: Uint8Array; position: number; signal: AbortSignal } | undefined
    const { ops } = setup({
      readInto: async (_p: string, _fh: number, dest: Uint8Array, position: number, signal: AbortSignal) => {
        seen = { dest, position, signal }
        dest.set(Buffer.from('hello'))
        return 5
      },
    })
    const buf = Buffer.alloc(16)
    expect(await call((cb) => ops.read('/f', 3, buf, 8, 100, cb))).toEqual([5])
    expect(buf.subarray(0, 5).toString()).toBe('hello')
    expect(seen!.dest.length).toBe(8)
    expect(seen!.position).toBe(100)
    expect(seen!.signal.aborted).toBe(false)
  })

  it('read never copies more than the request length', async () => {
    const { ops } = setup({ read: async () => Buffer.from('0123456789') })
    const buf = Buffer.alloc(4)
    expect(await call((cb) => ops.read('/f', 1, buf, 4, 0, cb))).toEqual([4])
    expect(buf.toString()).toBe('0123')
  })

  it('readTo hands the VFS the binding\'s destination itself (libfuse3: block memory straight into libfuse)', async () => {
    const pieces: Array<[string, number]> = []
    const dest = { length: 8, set: (bytes: Uint8Array, at: number) => pieces.push([Buffer.from(bytes).toString(), at]) }
    const { ops } = setup({
      readInto: async (_p: string, _fh: number, d: typeof dest, _position: number) => {
        expect(d).toBe(dest)
        d.set(Buffer.from('abc'), 0)
        d.set(Buffer.from('de'), 3)
        return 5
      },
    })
    expect(await call((cb) => ops.readTo('/f', 3, dest, 100, cb))).toEqual([5])
    expect(pieces).toEqual([['abc', 0], ['de', 3]])
  })

  it('readTo without readInto copies what read returned, cut at the destination length', async () => {
    const target = Buffer.alloc(4)
    const { ops, calls } = setup({ read: async () => Buffer.from('0123456789') })
    expect(await call((cb) => ops.readTo('/f', 1, target, 7, cb))).toEqual([4])
    expect(target.toString()).toBe('0123')
    expect(calls[0]).toEqual({ op: 'read', args: ['/f', 1, 4, 7] })
  })

  it('write copies libfuse’s buffer before the VFS sees it (it is detached after cb)', async () => {
    let seen: Buffer | undefined
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const { ops } = setup({
      write: async (_p: string, _fh: number, data: Buffer) => {
        await gate
        seen = data
        return data.length
      },
    })
    const libfuseMemory = Buffer.from('abcdef')
    const pending = call((cb) => ops.write('/f', 2, libfuseMemory, 4, 0, cb))
    libfuseMemory.fill(0) // what detaching/reuse does to the original
    release()
    expect(await pending).toEqual([4])
    expect(seen?.toString()).toBe('abcd')
  })

  it('pools write buffers at the binding\'s largest request (1 MiB writes of libfuse3 reuse memory)', async () => {
    const seen: Buffer[] = []
    const { vfs } = createFakeVfs({
      write: async (_p: string, _fh: number, data: Buffer) => {
        seen.push(data)
        return data.length
      },
    })
    const ops = createFuseOps(vfs, captureLogger().logger, { maxWriteBytes: 1024 * 1024 })
    const MiB = Buffer.alloc(1024 * 1024, 7)
    expect(await call((cb) => ops.write('/f', 2, MiB, MiB.length, 0, cb))).toEqual([MiB.length])
    await new Promise((resolve) => setImmediate(resolve)) // the lease goes back when the write settles
    expect(await call((cb) => ops.write('/f', 2, MiB, MiB.length, MiB.length, cb))).toEqual([MiB.length])
    expect(seen[1]!.buffer).toBe(seen[0]!.buffer)
  })

  it('write copies into pooled buffers: given back when the VFS write settles, reused by the next write', async () => {
    const writeBuffers = new WriteBuffers(16, 4)
    const seen: Buffer[] = []
    const { vfs } = createFakeVfs({
      write: async (_p: string, _fh: number, data: Buffer) => {
        seen.push(data)
        return data.length
      },
    })
    const ops = createFuseOps(vfs, captureLogger().logger, { writeBuffers })
    expect(await call((cb) => ops.write('/f', 2, Buffer.from('first'), 5, 0, cb))).toEqual([5])
    expect(writeBuffers.idle).toBe(1)
    expect(await call((cb) => ops.write('/f', 2, Buffer.from('second'), 6, 5, cb))).toEqual([6])
    expect(seen[1]!.buffer).toBe(seen[0]!.buffer) // the same memory, no new allocation
    expect(seen[1]!.toString()).toBe('second')
    // Larger than the pooled size: a buffer of its own, never kept.
    expect(await call((cb) => ops.write('/f', 2, Buffer.alloc(40, 1), 40, 11, cb))).toEqual([40])
    expect(writeBuffers.idle).toBe(1)
  })

  it('writeFrom lends a pooled buffer for the binding to fill: one copy, the same pool as write', async () => {
    const writeBuffers = new WriteBuffers(16, 4)
    const seen: Buffer[] = []
    const texts: string[] = []
    const { vfs } = createFakeVfs({
      write: async (_p: string, _fh: number, data: Buffer) => {
        seen.push(data)
        texts.push(data.toString())
        return data.length
      },
    })
    const ops = createFuseOps(vfs, captureLogger().logger, { writeBuffers })
    const fillWith = (text: string) => (dest: Buffer) => {
      expect(dest.length).toBe(text.length)
      dest.write(text)
    }
    expect(await call((cb) => ops.writeFrom('/f', 2, fillWith('first'), 5, 0, cb))).toEqual([5])
    expect(await call((cb) => ops.writeFrom('/f', 2, fillWith('again'), 5, 5, cb))).toEqual([5])
    expect(texts).toEqual(['first', 'again'])
    expect(seen[1]!.buffer).toBe(seen[0]!.buffer)
    expect(writeBuffers.idle).toBe(1)
  })

  it('writeFrom gives the buffer back when filling it fails (the dispatcher answers EIO for the throw)', async () => {
    const writeBuffers = new WriteBuffers(16, 4)
    const { vfs } = createFakeVfs({ write: async () => { throw new Error('never called') } })
    const ops = createFuseOps(vfs, captureLogger().logger, { writeBuffers })
    const fail = () => { throw new RangeError('copyIn: not a write') }
    expect(() => ops.writeFrom('/f', 2, fail, 5, 0, () => undefined)).toThrow(RangeError)
    expect(writeBuffers.idle).toBe(1)
  })

  it('a write answered by its deadline keeps its buffer until the VFS write settles', async () => {
    const writeBuffers = new WriteBuffers(16, 4)
    const fire: (() => void)[] = []
    let finish!: () => void
    const { vfs } = createFakeVfs({
      write: async (_p: string, _fh: number, data: Buffer) => {
        await new Promise<void>((r) => (finish = r))
        return data.length
      },
    })
    const ops = createFuseOps(vfs, captureLogger().logger, {
      writeBuffers, deadlinesMs: { write: 10 }, timers: { set: (fn) => fire.push(fn), clear: () => undefined },
    })
    const answered = call((cb) => ops.write('/f', 2, Buffer.from('slow'), 4, 0, cb))
    fire[0]!()
    expect(await answered).toEqual([FUSE_ERRNO.EIO])
    expect(writeBuffers.idle).toBe(0) // still lent: the VFS may be reading it
    finish()
    await waitForIdle(writeBuffers)
    expect(writeBuffers.idle).toBe(1)
  })

  it('write answers EIO when the VFS reports an impossible byte count', async () => {
    const { ops, records } = setup({ write: async () => 99 })
    expect(await call((cb) => ops.write('/f', 2, Buffer.alloc(4), 4, 0, cb))).toEqual([FUSE_ERRNO.EIO])
    expect(records.some((r) => r.level === 50)).toBe(true)
  })

  it('open/create answer the VFS handle; handle 0 or negative is a bug → EIO', async () => {
    let next = 5
    const { ops, calls } = setup({ open: async () => next, create: async () => next })
    expect(await call((cb) => ops.open('/f', fsConstants.O_RDONLY, cb, 4242))).toEqual([0, 5])
    expect(calls[0]?.args).toEqual(['/f', fsConstants.O_RDONLY, 4242])
    expect(await call((cb) => ops.create('/n', 0o100644, cb))).toEqual([0, 5])
    // fuse-native passes no flags: the VFS is told they are unknown (vfs/create-flags.ts).
    expect(calls[1]?.args).toEqual(['/n', 0o100644, undefined, undefined])
    next = 0
    expect(await call((cb) => ops.open('/f', 0, cb))).toEqual([FUSE_ERRNO.EIO])
  })

  it('open says when the handle must bypass the page cache (another version is open at its path, R5)', async () => {
    const { ops } = setup({ open: async () => 6, bypassesPageCache: (fh: number) => fh === 6 })
    expect(await call((cb) => ops.open('/f', fsConstants.O_RDONLY, cb))).toEqual([0, 6, true])
  })

  it('open says when the handle needs no flush at close (a reader of a stored version: FOPEN_NOFLUSH)', async () => {
    const { ops } = setup({ open: async () => 7, closesWithoutFlush: (fh: number) => fh === 7 })
    expect(await call((cb) => ops.open('/f', fsConstants.O_RDONLY, cb))).toEqual([0, 7, false, true])
    const both = setup({ open: async () => 7, closesWithoutFlush: () => true, bypassesPageCache: () => true })
    expect(await call((cb) => both.ops.open('/f', fsConstants.O_RDONLY, cb))).toEqual([0, 7, true, true])
  })

  it('maps VfsError codes to negative errnos', async () => {
    const { ops } = setup({ unlink: () => Promise.reject(new VfsError('EROFS', 'read-only')) })
    expect(await call((cb) => ops.unlink('/f', cb))).toEqual([FUSE_ERRNO.EROFS])
  })

  it('tells onMissing of each lookup answered ENOENT, and of nothing else', async () => {
    const { vfs } = createFakeVfs({
      getattr: async (path: string) => {
        if (path === '/gone') throw new VfsError('ENOENT', 'no such file')
        if (path === '/denied') throw new VfsError('EACCES', 'refused')
        return makeAttr({})
      },
    })
    const missing: string[] = []
    const ops = createFuseOps(vfs, captureLogger().logger, { onMissing: (path) => missing.push(path) })
    expect(await call((cb) => ops.getattr('/gone', cb))).toEqual([FUSE_ERRNO.ENOENT])
    expect(await call((cb) => ops.getattr('/denied', cb))).toEqual([FUSE_ERRNO.EACCES])
    expect((await call((cb) => ops.getattr('/here', cb)))[0]).toBe(0)
    expect(missing).toEqual(['/gone'])
  })

  it('holds the folders whose kernel locks a request may hold until the VFS answers it (busy-folders.ts)', async () => {
    let finish!: () => void
    const answered = new Promise<void>((resolve) => (finish = resolve))
    const slow = async (): Promise<void> => { await answered }
    const { vfs } = createFakeVfs({
      getattr: async () => { await answered; return makeAttr({}) },
      readdir: async () => { await answered; return [] },
      create: async () => { await answered; return 3 },
      unlink: slow, mkdir: slow, rmdir: slow, rename: slow, chmod: slow, setxattr: slow,
      read: async () => { await answered; return Buffer.alloc(0) },
    })
    const busy = new BusyFolders()
    const ops = createFuseOps(vfs, captureLogger().logger, { busyFolders: busy })
    const replies = [
      call((cb) => ops.getattr('/look/up', cb)), // a lookup: its folder
      call((cb) => ops.readdir('/listed', cb)), // the folder itself
      call((cb) => ops.create('/made/new.txt', 0o644, cb)),
      call((cb) => ops.unlink('/removed/f', cb)),
      call((cb) => ops.mkdir('/parent/child', 0o755, cb)),
      call((cb) => ops.rmdir('/parent2/child', cb)),
      call((cb) => ops.rename('/from/a', '/to/b', cb)),
      call((cb) => ops.chmod('/changed', 0o600, cb)), // the file or folder itself
      call((cb) => ops.setxattr('/tagged', 'user.x', Buffer.from('1'), 0, 0, cb)),
      call((cb) => ops.read('/reading/f', 1, Buffer.alloc(4), 4, 0, cb)),
    ]
    const held = ['/look', '/listed', '/made', '/removed', '/parent', '/parent2', '/from', '/to', '/changed', '/tagged']
    expect(held.filter((folder) => busy.isBusy(folder))).toEqual(held)
    expect(busy.isBusy('/reading')).toBe(false) // a read takes no folder's lock
    expect(busy.isBusy('/')).toBe(false)
    finish()
    await Promise.all(replies)
    expect(held.filter((folder) => busy.isBusy(folder))).toEqual([])
  })

  it('a request that fails, or whose VFS call throws at once, holds its folder no longer', async () => {
    const busy = new BusyFolders()
    const { vfs } = createFakeVfs({
      unlink: async () => { throw new VfsError('EACCES', 'refused') },
      mkdir: () => { throw new Error('boom') },
    })
    const ops = createFuseOps(vfs, captureLogger().logger, { busyFolders: busy })
    expect(await call((cb) => ops.unlink('/a/f', cb))).toEqual([FUSE_ERRNO.EACCES])
    expect(await call((cb) => ops.mkdir('/b/c', 0o755, cb))).toEqual([FUSE_ERRNO.EIO])
    expect(busy.isBusy('/a') || busy.isBusy('/b')).toBe(false)
  })

  it('a VFS method that throws synchronously answers EIO instead of killing the daemon', async () => {
    const { ops } = setup({ getattr: () => { throw new Error('boom') } })
    expect(await call((cb) => ops.getattr('/x', cb))).toEqual([FUSE_ERRNO.EIO])
  })

  it('fsync and ftruncate reorder fuse-native’s arguments for the VFS', async () => {
    const { ops, calls } = setup({ fsync: async () => {}, ftruncate: async () => {}, truncate: async () => {} })
    expect(await call((cb) => ops.fsync('/f', 1, 9, cb))).toEqual([0])
    expect(await call((cb) => ops.ftruncate('/f', 9, 2 ** 33, cb))).toEqual([0])
    expect(await call((cb) => ops.truncate('/f', 7, cb))).toEqual([0])
    expect(calls.map((c) => c.args)).toEqual([['/f', 9, true], ['/f', 9, 2 ** 33], ['/f', 7]])
  })

  it('utimens passes the one time fuse-native delivers as the access time, the modification time as unknown', async () => {
    const { ops, calls } = setup({ utimens: async () => {} })
    await call((cb) => ops.utimens('/f', 1_600_000_000_000, 1_600_000_000_000, cb))
    await call((cb) => ops.utimens('/f', UTIME_SENTINEL_MS, UTIME_SENTINEL_MS, cb))
    expect(calls.map((c) => c.args)).toEqual([
      ['/f', 1_600_000_000_000, Number.NaN],
      ['/f', 1_700_000_000_000, Number.NaN],
    ])
  })

  it('utimensExact (libfuse3) passes both times; an omitted time keeps the current mtime', async () => {
    const { ops, calls } = setup({ utimens: async () => {}, getattr: async () => makeAttr({ mtimeMs: 5000 }) })
    await call((cb) => ops.utimensExact('/f', 1_000, 2_000, cb))
    await call((cb) => ops.utimensExact('/f', 3_000, Number.NaN, cb))
    await call((cb) => ops.utimensExact('/f', Number.NaN, Number.NaN, cb))
    expect(calls.filter((c) => c.op === 'utimens').map((c) => c.args)).toEqual([
      ['/f', 1_000, 2_000],
      ['/f', 3_000, 5000],
      ['/f', 5000, 5000],
    ])
  })

  it('xattr ops: getxattr answers the Buffer, listxattr the names, setxattr gets a copy', async () => {
    let stored: Buffer | undefined
    const { ops, calls } = setup({
      getxattr: async () => Buffer.from('v'),
      listxattr: async () => ['user.a'],
      setxattr: async (_p: string, _n: string, v: Buffer) => void (stored = v),
      removexattr: () => Promise.reject(new VfsError('ENODATA', 'none')),
    })
    expect(await call((cb) => ops.getxattr('/f', 'user.a', 0, cb))).toEqual([0, Buffer.from('v')])
    expect(await call((cb) => ops.listxattr('/f', cb))).toEqual([0, ['user.a']])
    const value = Buffer.from('xyz')
    const done = call((cb) => ops.setxattr('/f', 'user.b', value, 0, 1, cb))
    value.fill(0)
    expect(await done).toEqual([0])
    expect(stored?.toString()).toBe('xyz')
    expect(calls[2]?.args.slice(0, 2).concat(calls[2]?.args[3])).toEqual(['/f', 'user.b', 1])
    expect(await call((cb) => ops.removexattr('/f', 'user.zz', cb))).toEqual([FUSE_ERRNO.ENODATA])
  })

  it('statfs encodes counts for fuse-native', async () => {
    const { ops } = setup({
      statfs: async () => ({ bsize: 1 << 20, frsize: 1 << 20, blocks: 2 ** 30, bfree: 10, bavail: 10, files: 1, ffree: 1, favail: 1, namemax: 255 }),
    })
    const [code, s] = await call((cb) => ops.statfs('/', cb))
    expect(code).toBe(0)
    expect(s).toMatchObject({ bsize: 1 << 20, blocks: 2 ** 30, namemax: 255 })
  })

  it('symlink, link and mknod are refused with EPERM without asking the VFS; readlink is EINVAL', async () => {
    const { ops, calls } = setup()
    expect(await call((cb) => ops.symlink('/t', '/l', cb))).toEqual([FUSE_ERRNO.EPERM])
    expect(await call((cb) => ops.link('/a', '/b', cb))).toEqual([FUSE_ERRNO.EPERM])
    expect(await call((cb) => ops.mknod('/p', 0o10644, 0, cb))).toEqual([FUSE_ERRNO.EPERM])
    expect(await call((cb) => ops.readlink('/p', cb))).toEqual([FUSE_ERRNO.EINVAL])
    expect(calls).toEqual([])
  })

  it('passes path-only ops straight through', async () => {
    const { ops, calls } = setup({
      mkdir: async () => {}, rmdir: async () => {}, rename: async () => {}, chmod: async () => {}, chown: async () => {},
      release: async () => {}, flush: async () => {},
    })
    for (const run of [
      (cb: (...a: unknown[]) => void) => ops.mkdir('/d', 0o755, cb),
      (cb: (...a: unknown[]) => void) => ops.rmdir('/d', cb),
      (cb: (...a: unknown[]) => void) => ops.rename('/a', '/b', cb),
      (cb: (...a: unknown[]) => void) => ops.chmod('/a', 0o600, cb),
      (cb: (...a: unknown[]) => void) => ops.chown('/a', 1, 2, cb),
      (cb: (...a: unknown[]) => void) => ops.flush('/a', 4, cb, 4242),
      (cb: (...a: unknown[]) => void) => ops.release('/a', 4, cb),
    ]) {
      expect(await call(run)).toEqual([0])
    }
    expect(calls.map((c) => [c.op, ...c.args])).toEqual([
      ['mkdir', '/d', 0o755], ['rmdir', '/d'], ['rename', '/a', '/b'], ['chmod', '/a', 0o600], ['chown', '/a', 1, 2],
      ['flush', '/a', 4, 4242, undefined], ['release', '/a', 4],
    ])
  })

  it('a flush lets the VFS ask whether the closing process still maps the file shared (only when the binding names it)', async () => {
    const { vfs } = createFakeVfs({
      flush: async (_path: string, _fh: number, _caller?: number, stillMapped?: () => Promise<boolean>) => {
        asked.push(stillMapped ? await stillMapped() : 'not asked')
      },
    })
    const asked: unknown[] = []
    const probes: [number, string][] = []
    const ops = createFuseOps(vfs, captureLogger().logger, {
      mapsShared: async (caller, path) => { probes.push([caller, path]); return true },
    })
    expect(await call((cb) => ops.flush('/d/a.bin', 4, cb, 4242))).toEqual([0])
    expect(await call((cb) => ops.flush('/d/a.bin', 4, cb, 0))).toEqual([0])
    expect(asked).toEqual([true, 'not asked'])
    expect(probes).toEqual([[4242, '/d/a.bin']])
  })

  it('offers no fgetattr/opendir/access (libfuse defaults are right; see adapter.ts)', () => {
    const { ops } = setup()
    expect('opendir' in ops || 'access' in ops || 'fgetattr' in ops).toBe(false)
  })
})
