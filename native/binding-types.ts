/**
 * What either FUSE binding (fuse-native, or ikfs's libfuse3 binding in native/fuse3.ts) calls and receives:
 * the fuse-native-shaped ops object that src/fuse/adapter.ts provides, and the plain stat objects it answers
 * with. Types only.
 */

/** The first argument is 0, a negative errno, or (read/write) a byte count; then the op's values. */
export type FuseReply = (code: number, ...values: unknown[]) => void

/** A stat as the bindings pack it: times in ms since the epoch. */
export interface FuseStat {
  mode: number
  uid: number
  gid: number
  size: number
  nlink: number
  ino: number
  blksize: number
  blocks: number
  atime: number
  mtime: number
  ctime: number
}

export interface FuseStatFs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  namemax: number
}

type Cb = FuseReply

/** As src/vfs/types.ts ReadDestination (a Uint8Array is one). */
export interface ReadDestination {
  readonly length: number
  set(bytes: Uint8Array, at: number): void
}

export interface FuseOps {
  getattr(path: string, cb: Cb): void
  /** getattr by the handle of a file unlinked while open (libfuse3 with hard_remove: no path left). */
  getattrOpen(fh: number, cb: Cb): void
  readdir(path: string, cb: Cb): void
  /**
   * `caller` (open, create, flush; libfuse3 only): the process asking, by its thread group id; 0 or absent when
   * unknown. A flush is sent for every close(2), also by processes that inherited the descriptor.
   * cb answers the handle, and `true` after it when this handle's reads must bypass the kernel's page cache.
   */
  open(path: string, flags: number, cb: Cb, caller?: number): void
  /**
   * Another read-only handle on what handle `fh` has open (libfuse3: a file unlinked while open, opened
   * again through /proc/PID/fd, has no path to open by); cb answers as open's does.
   */
  reopen(fh: number, cb: Cb, flags?: number): void
  read(path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Cb): void
  /**
   * A read whose bytes go to `dest.set(bytes, at)` (up to dest.length) before cb answers the count; never
   * after the op's deadline answered (the binding's memory is gone then).
   */
  readTo(path: string, fh: number, dest: ReadDestination, pos: number, cb: Cb): void
  release(path: string, fh: number, cb: Cb): void
  statfs(path: string, cb: Cb): void
  listxattr(path: string, cb: Cb): void
  getxattr(path: string, name: string, position: number, cb: Cb): void
  /** `flags`: the open flags (libfuse3 only; fuse-native 2.2.6 does not pass them). */
  create(path: string, mode: number, cb: Cb, caller?: number, flags?: number): void
  write(path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Cb): void
  /**
   * A write whose bytes the binding copies itself: `fill(dest)` is called at once, synchronously, with a buffer
   * of `len` bytes lent by the adapter (one copy out of libfuse's memory, into memory the VFS may keep).
   * `pageWriteback`: the kernel writes back pages of a shared memory map, at their own offset, through any
   * writable handle of the file (also one opened with O_APPEND).
   */
  writeFrom(path: string, fh: number, fill: (dest: Buffer) => void, len: number, pos: number, cb: Cb, pageWriteback?: boolean): void
  flush(path: string, fh: number, cb: Cb, caller?: number): void
  fsync(path: string, datasync: number, fh: number, cb: Cb): void
  truncate(path: string, size: number, cb: Cb): void
  ftruncate(path: string, fh: number, size: number, cb: Cb): void
  /** truncate(2) by the path of a file that has lost its name (/proc/PID/fd/N), through one of its handles (as getattrOpen). */
  truncateOpen(fh: number, size: number, cb: Cb): void
  unlink(path: string, cb: Cb): void
  mkdir(path: string, mode: number, cb: Cb): void
  rmdir(path: string, cb: Cb): void
  rename(from: string, to: string, cb: Cb): void
  /** fuse-native's: the one time it delivers (atime) stands for both. */
  utimens(path: string, atime: number, mtime: number, cb: Cb): void
  /** Bindings that pass both times (libfuse3): ms since the epoch, NaN for "leave unchanged". */
  utimensExact(path: string, atimeMs: number, mtimeMs: number, cb: Cb): void
  chmod(path: string, mode: number, cb: Cb): void
  /** futimens through the handle of a file that has lost its name (as getattrOpen): times as utimensExact's (NaN: unchanged, or not known). */
  utimensOpen(fh: number, atimeMs: number, mtimeMs: number, cb: Cb): void
  /** fchmod through the handle of a file that has lost its name (as getattrOpen). */
  chmodOpen(fh: number, mode: number, cb: Cb): void
  chown(path: string, uid: number, gid: number, cb: Cb): void
  /** fchown through the handle of a file that has lost its name (as getattrOpen); ids as chown's (-1: unchanged). */
  chownOpen(fh: number, uid: number, gid: number, cb: Cb): void
  setxattr(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void
  removexattr(path: string, name: string, cb: Cb): void
  symlink(target: string, path: string, cb: Cb): void
  link(from: string, to: string, cb: Cb): void
  mknod(path: string, mode: number, dev: number, cb: Cb): void
  readlink(path: string, cb: Cb): void
  /** libfuse3 only (fuse-native has no such op: the kernel then copies through reads and writes). */
  copyFileRange(pathIn: string, fhIn: number, offIn: number, pathOut: string, fhOut: number, offOut: number, len: number, flags: number, cb: Cb): void
  /** libfuse3 only (fuse-native has none: the kernel answers EOPNOTSUPP). `mode`: fallocate(2)'s FALLOC_FL_* bits. */
  fallocate(path: string, fh: number, mode: number, offset: number, length: number, cb: Cb): void
}
