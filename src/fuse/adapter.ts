/**
 * The fuse-native ops object: decode fuse-native's arguments → vfs.<op> → encode (stat.ts) → cb.
 * No caches, timers or business rules here; guard.ts catches, maps errno, logs, counts and times out.
 *
 * Binding quirks handled here (shared/fuse-native-notes.md):
 * - read/write buffers point into libfuse memory and are detached after cb: `write` copies its data before
 *   anything async (into a pooled buffer, write-buffers.ts, lent to the VFS until its write settles), and
 *   `writeFrom` (libfuse3) has the binding copy straight into such a buffer;
 *   `read` lets the VFS copy straight into that buffer (readInto, stopped by the guard's flag set before
 *   a deadline answers), or copies the result at reply time; both answer the byte count as cb's first
 *   argument.
 * - file handles are int32 on the C side and 0 means "no handle": the VFS numbers them from 1.
 * - utimens receives atime in both slots (binding bug); UTIME_NOW/UTIME_OMIT arrive as ~1073 ms. The VFS is
 *   told the modification time is unknown (NaN): it would otherwise keep an access time as one (W13).
 * - create gets no open flags from fuse-native 2.2.6 (libfuse3 passes them): the VFS is told they are unknown
 *   (undefined), and decides what that means (vfs/create-flags.ts).
 * - fgetattr, opendir, releasedir, access and fsyncdir are left out on purpose: libfuse falls back to
 *   getattr (a custom fgetattr is never called anyway), opendir/releasedir succeed without a handle
 *   (and fuse-native passes fh where flags belong), ENOSYS for access/fsyncdir makes the kernel treat
 *   them as success and stop asking (permissions come from our modes via default_permissions).
 * - getxattr/listxattr size semantics (size 0, ERANGE) live in native/ikfs-fuse.ts, which sees the buffer.
 */
import { posix } from 'node:path'
import type { Logger } from '../log.js'
import { isVfsError, VfsError } from '../vfs/errors.js'
import type { Vfs } from '../vfs/types.js'
import { MAX_REQUEST_BYTES } from '../../native/fuse-options.js'
import type { FuseOps, ReadDestination } from '../../native/binding-types.js'
import type { BusyFolders } from './busy-folders.js'
import type { FuseOp } from './errno.js'
import { OpGuard, type FuseReply, type OpGuardOptions } from './guard.js'
import { toFuseStat, toFuseStatFs } from './stat.js'
import { WriteBuffers, type WriteBufferLease } from './write-buffers.js'

/** What fuse-native 2.2.6 delivers for UTIME_NOW/UTIME_OMIT: tv_sec 0, tv_nsec ≈ 2^30 → 1073 ms. */
export const UTIME_SENTINEL_MS = 1073
/** fuse-native reads the handle back with NAPI_ARGV_INT32. */
const MAX_HANDLE = 0x7fffffff
/** Idle write buffers kept: enough for the concurrent writes of several writers (8 MiB at 128 KiB each). */
const WRITE_BUFFERS_KEPT = 64

export interface FuseOpsOptions extends OpGuardOptions {
  /** Wall clock for UTIME_NOW (default Date.now). */
  now?: () => number
  /** A guard built by the caller (to share counters); otherwise one is made from these options. */
  guard?: OpGuard
  /** The binding's largest write request: the size of the pooled write buffers (default fuse-native's). */
  maxWriteBytes?: number
  /** Where write data is copied (default: a pool of maxWriteBytes buffers). */
  writeBuffers?: WriteBuffers
  /** Told of every lookup answered "no such file" (the kernel keeps that answer: missing-names.ts). */
  onMissing?: (path: string) => void
  /** Told which folders' kernel locks each request may hold while it is in flight (busy-folders.ts). */
  busyFolders?: BusyFolders
  /** Whether process `caller` maps the file at `path` shared and writable (shared-maps.ts), asked by a flush. */
  mapsShared?: (caller: number, path: string) => Promise<boolean>
}

type Cb = FuseReply

export type { FuseOps }

const ok = (): unknown[] => [0]

export function createFuseOps(vfs: Vfs, logger: Logger, options: FuseOpsOptions = {}): FuseOps {
  const guard = options.guard ?? new OpGuard(logger, options)
  const now = options.now ?? Date.now
  const writeBuffers = options.writeBuffers ?? new WriteBuffers(options.maxWriteBytes ?? MAX_REQUEST_BYTES, WRITE_BUFFERS_KEPT)
  /** The guard sets `signal.aborted` before a deadline answers, so nothing is written into `dest` after that. */
  const readTo = (path: string, fh: number, dest: ReadDestination, pos: number, cb: Cb): void =>
    vfs.readInto
      ? guard.runAbortable('read', path, cb, (signal) => vfs.readInto!(path, fh, dest, pos, signal), (n) => [n])
      : guard.runAbortable('read', path, cb, (signal) => vfs.read(path, fh, dest.length, pos).then((data) => {
        if (signal.aborted) return 0
        const n = Math.min(dest.length, data.length)
        dest.set(data.subarray(0, n), 0)
        return n
      }), (n) => [n])
  /** The lease holds the bytes until the VFS write settles (a write answered by its deadline may still run). */
  const write = (path: string, fh: number, lease: WriteBufferLease, pos: number, cb: Cb, pageWriteback?: boolean): void =>
    guard.run('write', path, cb, () => {
      const writing = vfs.write(path, fh, lease.data, pos, pageWriteback)
      writing.then(lease.release, lease.release)
      return writing
    }, (written) => [byteCount(written, lease.data.length)])
  const busy = options.busyFolders
  /** `work` holds these folders' kernel locks until it settles (a lookup or readdir, or a change in them). */
  const holding = <T>(folders: readonly string[], work: () => Promise<T>): (() => Promise<T>) => {
    if (!busy) return work
    return () => {
      const release = busy.enter(folders)
      try {
        const running = work()
        running.then(release, release)
        return running
      } catch (e) {
        release()
        throw e
      }
    }
  }
  const inParentOf = <T>(path: string, work: () => Promise<T>) => holding([posix.dirname(path)], work)
  const onMissing = options.onMissing
  const mapsShared = options.mapsShared
  const getattr = onMissing
    ? (path: string) => vfs.getattr(path).catch((e: unknown) => {
      if (isVfsError(e) && e.code === 'ENOENT') onMissing(path)
      throw e
    })
    : (path: string) => vfs.getattr(path)
  const openedHandle = (fh: number): unknown[] => {
    const noFlush = vfs.closesWithoutFlush?.(fh) === true
    const bypass = vfs.bypassesPageCache?.(fh) === true
    return noFlush ? [0, handle(fh), bypass, true] : bypass ? [0, handle(fh), true] : [0, handle(fh)]
  }
  const refuse = (op: FuseOp, path: string, cb: Cb, code: 'EPERM' | 'EINVAL'): void =>
    guard.run(op, path, cb, () => Promise.reject(new VfsError(code, `${op} is not supported`, { level: 'debug' })), ok)

  return {
    getattr: (path, cb) => guard.run('getattr', path, cb, inParentOf(path, () => getattr(path)), (attr) => [0, toFuseStat(attr)]),

    getattrOpen: (fh, cb) => guard.run('getattr', `handle ${fh}`, cb, () => vfs.getattrOpen(fh), (attr) => [0, toFuseStat(attr)]),

    readdir: (path, cb) =>
      guard.run('readdir', path, cb, holding([path], () => vfs.readdir(path)), (entries) => [
        0,
        entries.map((e) => e.name),
        entries.map((e) => toFuseStat(e.attr)),
      ]),

    open: (path, flags, cb, caller) => guard.run('open', path, cb, () => vfs.open(path, flags, caller), openedHandle),

    reopen: (fh, cb, flags) => guard.run('open', `handle ${fh}`, cb, () => vfs.reopen(fh, flags), openedHandle),

    read: (path, fh, buf, len, pos, cb) => readTo(path, fh, buf.subarray(0, len), pos, cb),

    readTo,

    release: (path, fh, cb) => guard.run('release', path, cb, () => vfs.release(path, fh), ok),

    statfs: (path, cb) => guard.run('statfs', path, cb, () => vfs.statfs(path), (s) => [0, toFuseStatFs(s)]),

    listxattr: (path, cb) => guard.run('listxattr', path, cb, () => vfs.listxattr(path), (names) => [0, names]),

    getxattr: (path, name, _position, cb) =>
      guard.run('getxattr', path, cb, () => vfs.getxattr(path, name), (value) => [0, value]),

    create: (path, mode, cb, caller, flags) =>
      guard.run('create', path, cb, inParentOf(path, () => vfs.create(path, mode, flags, caller)), (fh) => [0, handle(fh)]),

    // fuse-native (libfuse2) does not say whether a write is a memory map's page written back. Without the
    // writeback cache (neither binding asks for it) the kernel writes pages back only through a descriptor that
    // mapped the file shared and writable: a write on an O_APPEND descriptor is a write(2), so it goes to the
    // file's end, not to the end as the kernel knows it (an older version's, W1), unless that very descriptor was
    // mapped so (its pages then land at the end too).
    write: (path, fh, buf, len, pos, cb) => write(path, fh, writeBuffers.copy(buf, len), pos, cb, false),

    writeFrom: (path, fh, fill, len, pos, cb, pageWriteback) => {
      const lease = writeBuffers.take(len)
      try {
        fill(lease.data)
      } catch (e) {
        lease.release()
        throw e
      }
      write(path, fh, lease, pos, cb, pageWriteback)
    },

    flush: (path, fh, cb, caller) => {
      const stillMapped = mapsShared && caller ? () => mapsShared(caller, path) : undefined
      guard.run('flush', path, cb, () => vfs.flush(path, fh, caller, stillMapped), ok)
    },

    fsync: (path, datasync, fh, cb) => guard.run('fsync', path, cb, () => vfs.fsync(path, fh, datasync !== 0), ok),

    truncate: (path, size, cb) => guard.run('truncate', path, cb, holding([path], () => vfs.truncate(path, size)), ok),

    ftruncate: (path, fh, size, cb) => guard.run('ftruncate', path, cb, () => vfs.ftruncate(path, fh, size), ok),

    truncateOpen: (fh, size, cb) => guard.run('truncate', `handle ${fh}`, cb, () => vfs.truncateOpen(fh, size), ok),

    fallocate: (path, fh, mode, offset, length, cb) =>
      guard.run('fallocate', path, cb, () => vfs.fallocate(fh, mode, offset, length), ok),

    unlink: (path, cb) => guard.run('unlink', path, cb, inParentOf(path, () => vfs.unlink(path)), ok),

    mkdir: (path, mode, cb) => guard.run('mkdir', path, cb, inParentOf(path, () => vfs.mkdir(path, mode)), ok),

    rmdir: (path, cb) => guard.run('rmdir', path, cb, inParentOf(path, () => vfs.rmdir(path)), ok),

    rename: (from, to, cb) => guard.run('rename', from, cb, holding([posix.dirname(from), posix.dirname(to)], () => vfs.rename(from, to)), ok),

    utimens: (path, atime, _mtimeIsAtimeToo, cb) => {
      const timeMs = atime === UTIME_SENTINEL_MS ? now() : atime
      guard.run('utimens', path, cb, holding([path], () => vfs.utimens(path, timeMs, Number.NaN)), ok)
    },

    utimensExact: (path, atimeMs, mtimeMs, cb) =>
      guard.run('utimens', path, cb, holding([path], async () => {
        const mtime = Number.isNaN(mtimeMs) ? (await vfs.getattr(path)).mtimeMs : mtimeMs
        await vfs.utimens(path, Number.isNaN(atimeMs) ? mtime : atimeMs, mtime)
      }), ok),

    chmod: (path, mode, cb) => guard.run('chmod', path, cb, holding([path], () => vfs.chmod(path, mode)), ok),

    utimensOpen: (fh, atimeMs, mtimeMs, cb) => guard.run('utimens', `handle ${fh}`, cb, () => vfs.utimensOpen(fh, atimeMs, mtimeMs), ok),

    chmodOpen: (fh, mode, cb) => guard.run('chmod', `handle ${fh}`, cb, () => vfs.chmodOpen(fh, mode), ok),

    chown: (path, uid, gid, cb) => guard.run('chown', path, cb, holding([path], () => vfs.chown(path, uid, gid)), ok),

    chownOpen: (fh, uid, gid, cb) => guard.run('chown', `handle ${fh}`, cb, () => vfs.chownOpen(fh, uid, gid), ok),

    setxattr: (path, name, value, _position, flags, cb) => {
      const copy = Buffer.from(value) // libfuse memory, detached after cb
      guard.run('setxattr', path, cb, holding([path], () => vfs.setxattr(path, name, copy, flags)), ok)
    },

    removexattr: (path, name, cb) => guard.run('removexattr', path, cb, holding([path], () => vfs.removexattr(path, name)), ok),

    symlink: (_target, path, cb) => refuse('symlink', path, cb, 'EPERM'),
    link: (_from, to, cb) => refuse('link', to, cb, 'EPERM'),
    mknod: (path, _mode, _dev, cb) => refuse('mknod', path, cb, 'EPERM'),
    readlink: (path, cb) => refuse('readlink', path, cb, 'EINVAL'),

    copyFileRange: (_pathIn, fhIn, offIn, pathOut, fhOut, offOut, len, _flags, cb) =>
      guard.run('copy_file_range', pathOut, cb, () => vfs.copyFileRange(fhIn, offIn, fhOut, offOut, len), (copied) => [byteCount(copied, len)]),
  }
}

function handle(fh: number): number {
  if (!Number.isInteger(fh) || fh < 1 || fh > MAX_HANDLE) throw new Error(`VFS returned an invalid file handle ${fh}`)
  return fh
}

function byteCount(n: number, max: number): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`VFS reported ${n} bytes for a ${max}-byte request`)
  return n
}
