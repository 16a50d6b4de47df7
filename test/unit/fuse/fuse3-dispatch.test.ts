import { constants, release } from 'node:os'
import { describe, expect, it } from 'vitest'
import { createDispatch, dropsPagesOnDirectWrite, loadFuse3, Op, OpenReply, openReplyFor, STAT_FIELDS, UNLINKED_PATH, type Fuse3Ops } from '../../../native/fuse3.js'
import { constants as fsConstants } from 'node:fs'
import { NativeLoadError } from '../../../native/load.js'

const { errno } = constants

type Reply = [id: number, code: number, a?: unknown, b?: unknown, c?: unknown]

const stat = (ino: number) => ({
  mode: 0o100644, uid: 1, gid: 2, size: 10 + ino, nlink: 1, ino, blksize: 4096, blocks: 1, atime: 1000, mtime: 2000, ctime: 3000,
})

/** Ops that answer synchronously from a table, or with what `answers` says per op. */
function harness(answers: Partial<Record<keyof Fuse3Ops, (...args: any[]) => void>> = {}, { directIo = false } = {}) {
  const replies: Reply[] = []
  const calls: Array<[string, unknown[]]> = []
  const ops = new Proxy({} as Fuse3Ops, {
    get: (_t, name: string) => (...args: any[]) => {
      // The callback is the last function: open, create and flush pass the calling process after it.
      const at = args.findLastIndex((a) => typeof a === 'function')
      calls.push([name, args.filter((_a, i) => i !== at)])
      const cb = args[at] as (...v: unknown[]) => void
      const answer = answers[name as keyof Fuse3Ops]
      if (answer) return answer(...args)
      cb(0)
    },
  })
  const lifecycle = { inits: [] as number[], exits: 0 }
  const copies: number[] = []
  const pendingWrites = new Map<number, Buffer>([[6, Buffer.from('payload')]])
  const copyIn = (id: number, dest: Buffer) => {
    copies.push(id)
    pendingWrites.get(id)!.copy(dest)
  }
  /** Each pending read's libfuse buffer, as copyOut fills it. */
  const readBuffers = new Map<number, Buffer>()
  const copyOut = (id: number, at: number, bytes: Uint8Array) => {
    const target = readBuffers.get(id) ?? Buffer.alloc(16)
    readBuffers.set(id, target)
    target.set(bytes, at)
  }
  // Open flags (the fifth value) are recorded only when given, so other replies read as [id, code, a, b].
  const dispatch = createDispatch({ reply: (...r: Reply) => replies.push(r[4] === undefined ? r.slice(0, 4) as Reply : r), copyIn, copyOut }, ops, {
    init: (maxWrite) => lifecycle.inits.push(maxWrite),
    exit: () => lifecycle.exits++,
  }, { directIo })
  return { dispatch, replies, calls, lifecycle, copies, readBuffers }
}

describe('libfuse3 dispatcher', () => {
  it('answers getattr with the stat packed in the C side order', () => {
    const h = harness({ getattr: (_p, cb) => cb(0, stat(7)) })
    h.dispatch(Op.Getattr, 11, '/a')
    const [id, code, packed] = h.replies[0]!
    expect([id, code]).toEqual([11, 0])
    expect(Array.from(packed as Float64Array)).toEqual([0o100644, 1, 2, 17, 1, 7, 4096, 1, 1000, 2000, 3000])
  })

  it('packs a whole listing: names plus one stat block per entry', () => {
    const h = harness({ readdir: (_p, cb) => cb(0, ['x', 'y'], [stat(3), stat(4)]) })
    h.dispatch(Op.Readdir, 1, '/')
    const [, code, names, stats] = h.replies[0]!
    expect(code).toBe(0)
    expect(names).toEqual(['x', 'y'])
    expect((stats as Float64Array).length).toBe(2 * STAT_FIELDS)
    expect((stats as Float64Array)[STAT_FIELDS + 5]).toBe(4)
  })

  it('passes errors through and never replies twice', () => {
    const h = harness({ unlink: (_p, cb) => { cb(-errno.ENOENT); cb(0) } })
    h.dispatch(Op.Unlink, 5, '/gone')
    expect(h.replies).toEqual([[5, -errno.ENOENT, undefined, undefined]])
  })

  it('answers EIO when an op throws instead of answering', () => {
    const h = harness({ mkdir: () => { throw new Error('bug') } })
    h.dispatch(Op.Mkdir, 9, '/d', 0o755)
    expect(h.replies).toEqual([[9, -errno.EIO, undefined, undefined]])
  })

  it('a read copies the reader\'s bytes into libfuse\'s buffer piece by piece, then answers the count', () => {
    const h = harness({
      readTo: (_p, _fh, dest: { length: number; set(b: Uint8Array, at: number): void }, _pos, cb) => {
        expect(dest.length).toBe(8)
        dest.set(Buffer.from('abc'), 0)
        dest.set(Buffer.from('de'), 3) // a second block
        cb(5)
      },
    })
    h.dispatch(Op.Read, 3, '/f', 2, 8, 100)
    const [, [, fh, , pos]] = h.calls[0]! as [string, unknown[]]
    expect([fh, pos]).toEqual([2, 100])
    expect(h.readBuffers.get(3)!.subarray(0, 5).toString()).toBe('abcde')
    expect(h.replies[0]).toEqual([3, 5, undefined, undefined])
  })

  it('bytes offered after the reply never reach the C side (its request record is gone)', () => {
    let late: (() => void) | undefined
    const h = harness({
      readTo: (_p, _fh, dest: { set(b: Uint8Array, at: number): void }, _pos, cb) => {
        cb(-errno.EIO) // e.g. the deadline answered
        late = () => dest.set(Buffer.from('x'), 0)
      },
    })
    h.dispatch(Op.Read, 4, '/f', 2, 8, 0)
    expect(late).toThrow(/after the reply/)
    expect(h.readBuffers.has(4)).toBe(false)
  })

  it('a failed read replies without data', () => {
    const h = harness({ readTo: (_p, _fh, _dest, _pos, cb) => cb(-errno.EIO) })
    h.dispatch(Op.Read, 5, '/f', 2, 8, 0)
    expect(h.replies[0]).toEqual([5, -errno.EIO, undefined, undefined])
  })

  it('write has the adapter lend a buffer that copyIn fills during dispatch, and answers the byte count', () => {
    const data = Buffer.from('payload')
    let seen: Buffer | undefined
    let copiesDuringFill: number[] = []
    const h = harness({
      writeFrom: (_p, _fh, fill: (dest: Buffer) => void, len, _pos, cb) => {
        const dest = Buffer.alloc(len)
        fill(dest)
        copiesDuringFill = [...h.copies]
        seen = dest
        cb(len)
      },
    })
    h.dispatch(Op.Write, 6, '/f', 2, data.length, 40, 0)
    expect(copiesDuringFill).toEqual([6]) // copied while the request is still pending
    expect(seen!.toString()).toBe('payload')
    const [, fh, , len, pos, pageWriteback] = h.calls[0]![1]
    expect([fh, len, pos, pageWriteback]).toEqual([2, 7, 40, false])
    expect(h.replies[0]!.slice(0, 2)).toEqual([6, 7])
  })

  it('create answers with the handle and the new file\'s stat, for the getattr libfuse sends next', () => {
    const h = harness({ create: (_p, _mode, cb) => cb(0, 12), getattr: (_p, cb) => cb(0, stat(9)) })
    h.dispatch(Op.Create, 4, '/new', 0o644, 0o1101, 4242)
    expect(h.calls.map((c) => c[0])).toEqual(['create', 'getattr'])
    // The calling process rides along (vfs.ts flush), and the open flags (O_APPEND: vfs.ts write).
    expect(h.calls[0]![1]).toEqual(['/new', 0o644, 4242, 0o1101])
    const [id, code, fh, packed] = h.replies[0]!
    expect([id, code, fh]).toEqual([4, 0, 12])
    expect(Array.from(packed as Float64Array)).toEqual([0o100644, 1, 2, 19, 1, 9, 4096, 1, 1000, 2000, 3000])
  })

  it('a handle that only writes into an emptied file skips the page cache (direct_io); one that may read or edits in place keeps it', () => {
    const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL } = fsConstants
    const opened = (flags: number) => {
      const h = harness({ open: (_p, _flags, cb) => cb(0, 3) })
      h.dispatch(Op.Open, 1, '/f', flags, 4242)
      expect(h.calls[0]![1]).toEqual(['/f', flags, 4242])
      expect(h.replies[0]!.slice(0, 3)).toEqual([1, 0, 3])
      return h.replies[0]![4]
    }
    const created = (flags: number) => {
      const h = harness({ create: (_p, _mode, cb) => cb(0, 3), getattr: (_p, cb) => cb(0, stat(9)) })
      h.dispatch(Op.Create, 1, '/f', 0o644, flags)
      expect(h.replies[0]!.slice(0, 3)).toEqual([1, 0, 3])
      return h.replies[0]![4]
    }
    expect(opened(O_WRONLY | O_TRUNC)).toBe(OpenReply.DirectIo) // cp, shell > over an existing file
    expect(created(O_WRONLY | O_CREAT | O_TRUNC)).toBe(OpenReply.DirectIo) // cp to a new name
    expect(created(O_WRONLY | O_CREAT | O_EXCL)).toBe(OpenReply.DirectIo)
    expect(created(O_WRONLY | O_CREAT | O_APPEND)).toBe(OpenReply.DirectIo)
    expect(opened(O_WRONLY)).toBe(0) // dd conv=notrunc: the pages it does not write stay valid
    expect(opened(O_WRONLY | O_APPEND)).toBe(0) // >>
    expect(opened(O_RDWR | O_TRUNC)).toBe(0) // may read back, or mmap
    expect(created(O_RDWR | O_CREAT)).toBe(0)
    expect(opened(O_RDONLY)).toBe(0)
    // O_SYNC and O_DSYNC: through the page cache the kernel would follow each write with an fsync (an upload, W3),
    // where the kernel keeps the file's other descriptors coherent with a direct one's writes.
    const syncReply = dropsPagesOnDirectWrite(release()) ? OpenReply.DirectIo : 0
    expect(opened(O_RDWR | fsConstants.O_DSYNC)).toBe(syncReply) // a database's log
    expect(opened(O_WRONLY | O_APPEND | fsConstants.O_SYNC)).toBe(syncReply)
    expect(created(O_RDWR | O_CREAT | fsConstants.O_DSYNC)).toBe(syncReply)
    // A refused open carries no flags.
    const refused = harness({ open: (_p, _flags, cb) => cb(-errno.EACCES) })
    refused.dispatch(Op.Open, 2, '/f', O_WRONLY | O_TRUNC)
    expect(refused.replies).toEqual([[2, -errno.EACCES, undefined, undefined]])
  })

  it('O_SYNC and O_DSYNC handles bypass the page cache only on kernels that drop a range\'s pages before a direct write (6.6 on)', () => {
    const { O_RDWR, O_WRONLY, O_CREAT, O_DSYNC } = fsConstants
    expect(openReplyFor(O_RDWR | O_DSYNC, false, false, true)).toBe(OpenReply.DirectIo)
    expect(openReplyFor(O_RDWR | O_DSYNC, false, false, false)).toBe(0) // other descriptors would read stale pages
    expect(openReplyFor(O_WRONLY | O_CREAT | O_DSYNC, true, false, false)).toBe(OpenReply.DirectIo) // starts empty anyway
    expect(openReplyFor(O_RDWR | O_DSYNC, false, true, false)).toBe(OpenReply.DirectIo) // --direct-io
    // Read-only: no write for the kernel to follow with an fsync; its shared maps (Python's mmap.mmap) and readahead stay.
    expect(openReplyFor(fsConstants.O_RDONLY | O_DSYNC, false, false, true)).toBe(0)
    expect(openReplyFor(fsConstants.O_RDONLY | fsConstants.O_SYNC, false, false, true)).toBe(0)
    expect(['6.6.0', '6.18.44-fc-v1300', '7.0.1', '6.12.48+deb13-amd64'].map(dropsPagesOnDirectWrite)).toEqual([true, true, true, true])
    expect(['6.1.0-18-amd64', '5.15.0-91-generic', '6.5.13', '4.19.0'].map(dropsPagesOnDirectWrite)).toEqual([false, false, false, false])
  })

  it('an open the VFS says must bypass the page cache skips it (another version is open there, R5)', () => {
    const h = harness({ open: (_p, _flags, cb) => cb(0, 3, true) })
    h.dispatch(Op.Open, 1, '/f', fsConstants.O_RDONLY)
    expect(h.replies[0]).toEqual([1, 0, 3, undefined, OpenReply.DirectIo])
  })

  it('an open the VFS says needs no flush asks the kernel to send none at close (FOPEN_NOFLUSH), alone or with direct_io', () => {
    const h = harness({ open: (_p, _flags, cb) => cb(0, 3, false, true) })
    h.dispatch(Op.Open, 1, '/f', fsConstants.O_RDONLY)
    expect(h.replies[0]).toEqual([1, 0, 3, undefined, OpenReply.NoFlush])
    const both = harness({ open: (_p, _flags, cb) => cb(0, 3, true, true) })
    both.dispatch(Op.Open, 1, '/f', fsConstants.O_RDONLY)
    expect(both.replies[0]).toEqual([1, 0, 3, undefined, OpenReply.DirectIo | OpenReply.NoFlush])
  })

  it('with --direct-io every open and create skips the page cache, reading ones too', () => {
    const { O_RDONLY, O_RDWR, O_CREAT, O_WRONLY, O_APPEND } = fsConstants
    for (const flags of [O_RDONLY, O_RDWR, O_WRONLY | O_APPEND]) {
      const h = harness({ open: (_p, _flags, cb) => cb(0, 3) }, { directIo: true })
      h.dispatch(Op.Open, 1, '/f', flags)
      expect(h.replies[0]).toEqual([1, 0, 3, undefined, OpenReply.DirectIo])
    }
    const c = harness({ create: (_p, _mode, cb) => cb(0, 3), getattr: (_p, cb) => cb(0, stat(9)) }, { directIo: true })
    c.dispatch(Op.Create, 1, '/f', 0o644, O_RDWR | O_CREAT)
    expect(c.replies[0]![4]).toBe(OpenReply.DirectIo)
  })

  it('create still answers with the handle when that stat fails, and passes a failed create through', () => {
    const statFails = harness({ create: (_p, _mode, cb) => cb(0, 12), getattr: (_p, cb) => cb(-errno.EIO) })
    statFails.dispatch(Op.Create, 4, '/new', 0o644, 0)
    expect(statFails.replies).toEqual([[4, 0, 12, undefined, 0]])
    const refused = harness({ create: (_p, _mode, cb) => cb(-errno.EACCES) })
    refused.dispatch(Op.Create, 5, '/new', 0o644, 0)
    expect(refused.replies).toEqual([[5, -errno.EACCES, undefined, undefined]])
    expect(refused.calls.map((c) => c[0])).toEqual(['create'])
  })

  it('a file unlinked while open (no path): fstat, futimens and fchmod answer by its handle, handle ops go on, the rest find nothing', () => {
    const h = harness({ getattrOpen: (_fh, cb) => cb(0, stat(9)), utimensOpen: (_fh, _a, _m, cb) => cb(0), chmodOpen: (_fh, _mode, cb) => cb(0) })
    h.dispatch(Op.Getattr, 1, null, 4)
    expect(h.calls).toEqual([['getattrOpen', [4]]])
    expect(Array.from(h.replies[0]![2] as Float64Array)[5]).toBe(9)
    h.dispatch(Op.Flush, 2, null, 4, 4242)
    h.dispatch(Op.Release, 3, null, 4)
    h.dispatch(Op.Ftruncate, 4, null, 4, 0)
    expect(h.calls.slice(1)).toEqual([['flush', [UNLINKED_PATH, 4, 4242]], ['release', [UNLINKED_PATH, 4]], ['ftruncate', [UNLINKED_PATH, 4, 0]]])
    h.dispatch(Op.Utimens, 5, null, 1000, 2000, 4)
    h.dispatch(Op.Chmod, 6, null, 0o600, 4)
    expect(h.calls.slice(4)).toEqual([['utimensOpen', [4, 1000, 2000]], ['chmodOpen', [4, 0o600]]])
    h.dispatch(Op.Getattr, 7, null, 0) // no handle either
    h.dispatch(Op.Getxattr, 8, null, 'user.imagekit.tags', 0)
    h.dispatch(Op.Chmod, 9, null, 0o600, 0)
    expect(h.calls).toHaveLength(6)
    expect(h.replies.slice(4).map((r) => r[1])).toEqual([0, 0, -errno.ENOENT, -errno.ENOENT, -errno.ENOENT])
  })

  it('a file unlinked while open (no path): fchown and a truncate by its /proc path go by the handle open_files.c gave them, none is ENOENT', () => {
    const h = harness()
    h.dispatch(Op.Chown, 1, null, 0, -1, 4)
    h.dispatch(Op.Truncate, 2, null, 10, 4)
    expect(h.calls).toEqual([['chownOpen', [4, 0, -1]], ['truncateOpen', [4, 10]]])
    h.dispatch(Op.Chown, 3, null, 0, -1, 0)
    h.dispatch(Op.Truncate, 4, null, 10, 0)
    h.dispatch(Op.Chown, 5, '/f', 0, -1, 4) // a name: by the name, whatever handle came along
    h.dispatch(Op.Truncate, 6, '/f', 10, 4)
    expect(h.calls.slice(2)).toEqual([['chown', ['/f', 0, -1]], ['truncate', ['/f', 10]]])
    expect(h.replies.map((r) => r[1])).toEqual([0, 0, -errno.ENOENT, -errno.ENOENT, 0, 0])
  })

  it('a file unlinked while open, opened again through /proc (no path): reopened from its handle, answered as an open', () => {
    const h = harness({ reopen: (_fh, cb) => cb(0, 8, true, true) })
    h.dispatch(Op.Reopen, 1, null, 4, fsConstants.O_RDONLY)
    expect(h.calls).toEqual([['reopen', [4, fsConstants.O_RDONLY]]])
    expect(h.replies[0]).toEqual([1, 0, 8, undefined, OpenReply.DirectIo | OpenReply.NoFlush])
    h.dispatch(Op.Reopen, 3, null, 4, fsConstants.O_WRONLY) // truncate -s of /proc/PID/fd/N: the flags go along
    expect(h.calls[1]).toEqual(['reopen', [4, fsConstants.O_WRONLY]])
    const gone = harness({ reopen: (_fh, cb) => cb(-errno.EBADF) })
    gone.dispatch(Op.Reopen, 2, null, 4)
    expect(gone.replies[0]).toEqual([2, -errno.EBADF, undefined, undefined])
  })

  it('splits truncate from ftruncate and passes fsync datasync', () => {
    const h = harness()
    h.dispatch(Op.Truncate, 1, '/f', 10)
    h.dispatch(Op.Ftruncate, 2, '/f', 4, 20)
    h.dispatch(Op.Fsync, 3, '/f', 4, 1)
    expect(h.calls).toEqual([['truncate', ['/f', 10]], ['ftruncate', ['/f', 4, 20]], ['fsync', ['/f', 1, 4]]])
  })

  it('refuses RENAME_EXCHANGE and checks RENAME_NOREPLACE against the target', () => {
    const exists = harness({ getattr: (_p, cb) => cb(0, stat(1)) })
    exists.dispatch(Op.Rename, 1, '/a', '/b', 1)
    expect(exists.replies[0]![1]).toBe(-errno.EEXIST)
    expect(exists.calls.map((c) => c[0])).toEqual(['getattr'])

    const free = harness({ getattr: (_p, cb) => cb(-errno.ENOENT) })
    free.dispatch(Op.Rename, 2, '/a', '/b', 1)
    expect(free.calls).toEqual([['getattr', ['/b']], ['rename', ['/a', '/b']]])
    expect(free.replies[0]![1]).toBe(0)

    const exchange = harness()
    exchange.dispatch(Op.Rename, 3, '/a', '/b', 2)
    expect(exchange.replies[0]![1]).toBe(-errno.EINVAL)
    expect(exchange.calls).toEqual([])
  })

  it('gives utimens both times, NaN meaning "leave unchanged"', () => {
    const h = harness()
    h.dispatch(Op.Utimens, 1, '/f', Number.NaN, 5000)
    expect(h.calls[0]![0]).toBe('utimensExact')
    expect(h.calls[0]![1]).toEqual(['/f', Number.NaN, 5000])
  })

  it('encodes xattr names NUL-separated and a missing value as ENODATA', () => {
    const h = harness({
      listxattr: (_p, cb) => cb(0, ['user.a', 'user.b']),
      getxattr: (_p, _n, _pos, cb) => cb(0, undefined),
    })
    h.dispatch(Op.Listxattr, 1, '/f', 0)
    h.dispatch(Op.Getxattr, 2, '/f', 'user.x', 0)
    expect((h.replies[0]![2] as Buffer).toString()).toBe('user.a\0user.b\0')
    expect(h.replies[1]![1]).toBe(-errno.ENODATA)
  })

  it('reports INIT and the end of the loop, and answers INIT itself', () => {
    const h = harness()
    h.dispatch(Op.Init, 1, null as unknown as string, 1048576, 0)
    h.dispatch(Op.Exit, 0, null as unknown as string)
    expect(h.lifecycle).toEqual({ inits: [1048576], exits: 1 })
    expect(h.replies).toEqual([[1, 0, undefined, undefined]])
  })
})

describe('loadFuse3', () => {
  it('says how to get the binding when it was not built', () => {
    expect(() => loadFuse3('/nonexistent/ikfs_fuse3.node')).toThrow(NativeLoadError)
    expect(() => loadFuse3('/nonexistent/ikfs_fuse3.node')).toThrow(/libfuse3-dev.*npm run build:native/)
  })
})
