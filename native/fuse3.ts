/**
 * ikfs's libfuse3 binding (native/fuse3/ikfs_fuse3.c) driving the same ops object that fuse-native calls
 * (src/fuse/adapter.ts), so the adapter stays binding-neutral.
 *
 * What libfuse3 buys over fuse-native's libfuse2: requests of up to 1 MiB (max_write, max_pages) instead of
 * 128 KiB, READDIRPLUS (one listing fills every entry's attributes, so `ls -l` needs no per-file getattr),
 * rename flags, and utimens with both times.
 *
 * Contract with the C side: dispatch(op, id, path, ...args) is called on the JS thread for every request; each
 * request gets exactly one reply(id, code, ...payload), after which `id` is dead. A write's bytes are copied out of
 * libfuse's memory with copyIn(id, dest) and a read's into it with copyOut(id, at, bytes), both only before
 * that reply.
 */
import { createRequire } from 'node:module'
import { constants as fsConstants, existsSync } from 'node:fs'
import { constants as osConstants, release as osRelease } from 'node:os'
import type { FuseOps, FuseReply, FuseStat, FuseStatFs } from './binding-types.js'
import { buildNativeCommand, builtAddon } from './built-addon.js'
import { NativeLoadError } from './load.js'

const errno = osConstants.errno

/** Request codes: the order of `enum op` in fuse3/binding.h. */
export enum Op {
  Init = 0, Getattr, Readdir, Open, Read, Write, Release, Flush, Fsync, Truncate, Ftruncate, Create, Unlink, Mkdir,
  Rmdir, Rename, Utimens, Chmod, Chown, Statfs, Getxattr, Listxattr, Setxattr, Removexattr, Symlink, Link, Mknod,
  Readlink, CopyFileRange, Fallocate, Reopen, Exit,
}

const RENAME_NOREPLACE = 1
const RENAME_EXCHANGE = 2


export interface Fuse3Settings {
  maxWrite: number
  /** Must equal the max_read mount option in the args. */
  maxRead: number
  maxReadahead: number
  maxBackground: number
  /** Upper bound on libfuse worker threads (each blocked request holds one). */
  maxThreads: number
  writebackCache: boolean
  /** Every open and create bypasses the page cache (--direct-io); answered per open, never passed to C. */
  directIo: boolean
  /** Names outside this prefix get ENOTSUP from the C side without a call into JavaScript; '' asks for all. */
  xattrNamespace: string
}

export interface Fuse3Addon {
  libfuseVersion: number
  mount(mountpoint: string, args: string[], settings: NativeSettings, dispatch: Dispatch): unknown
  reply(id: number, code: number, a?: unknown, b?: unknown, c?: unknown): void
  /** Copies a pending write's data into `dest` (during dispatch only). */
  copyIn(id: number, dest: Buffer): void
  /** Copies `bytes` into a pending read's buffer at `at` (before its reply only). */
  copyOut(id: number, at: number, bytes: Uint8Array): void
  exit(handle: unknown): void
  /**
   * Makes the kernel forget what it remembers of `names` in `folder` (a path inside the mount): resolves with
   * how many it remembered, rejects when the folder cannot be resolved (ENOENT: the kernel holds nothing there).
   */
  forgetNames(handle: unknown, folder: string, names: string[]): Promise<number>
  /**
   * Makes the kernel ask again for the attributes of the files it knows among `names` in `folder` (it would
   * keep them for attr_timeout): resolves with how many it knew, rejects when the folder cannot be resolved.
   */
  expireAttrs(handle: unknown, folder: string, names: string[]): Promise<number>
  /** Stops the loop thread from keeping the process alive (call only before the loop has ended). */
  unref(handle: unknown): void
}

type Dispatch = (op: number, id: number, path: string | null, ...args: unknown[]) => void
/** Linux's O_ACCMODE, which node:fs does not export. */
const O_ACCMODE = 0o3
type Reply = (code: number, a?: unknown, b?: unknown, c?: unknown) => void

/** Bits of an open or create reply (REPLY_* in ikfs_fuse3.c). */
export const enum OpenReply {
  DirectIo = 1,
  /** FOPEN_NOFLUSH: close(2) of this handle sends no FLUSH (the VFS has nothing to do then). */
  NoFlush = 2,
}

/**
 * Whether a Linux release (os.release(), "6.1.0-18-amd64") drops the cached pages of a range before a direct
 * write to it, so that the file's descriptors served through the page cache read what a direct one wrote
 * ("fuse: invalidate page cache pages before direct write", Linux 6.6).
 */
export function dropsPagesOnDirectWrite(kernelRelease: string): boolean {
  const [major, minor] = kernelRelease.split(/[.-]/).map(Number) as [number, number]
  return major > 6 || (major === 6 && minor >= 6)
}

const DIRECT_WRITE_DROPS_PAGES = dropsPagesOnDirectWrite(osRelease())

/**
 * A handle that only writes, into a file that starts empty (created, or opened with O_TRUNC), bypasses the
 * kernel's page cache (FOPEN_DIRECT_IO): its bytes go to the spool once, instead of also into pages of the
 * mounted file that nobody can read through it (a write-only descriptor can be neither read nor mmapped) and
 * that the upload at close outdates (a 1 GiB `cp` took about a third less time, in four alternating pairs).
 * O_TRUNC has dropped the file's cached pages already, so no page of the old bytes is left to go stale; other
 * handles keep their view as before (a reader open meanwhile reads the version it opened). Anything that may
 * read, or edits in place, keeps the page cache. With `directIo` (--direct-io, R14) every handle bypasses it.
 *
 * So does every O_SYNC or O_DSYNC handle that may write (a database's log opened O_RDWR|O_DSYNC; a read-only one
 * keeps the page cache, its readahead and shared maps: it writes nothing): through the page cache the
 * kernel would follow each of its writes with an fsync, which uploads the whole file (W2), so that 200 8 KiB
 * writes into a 16 MiB file stored 3.2 GiB. Direct, its writes reach the daemon, which keeps each durable in
 * the spool (W3), and only an fsync(2) the program asks for uploads. A shared mmap of such a descriptor is
 * refused (ENODEV: libfuse 3.14 cannot ask for FUSE_DIRECT_IO_ALLOW_MMAP); a private one works. Only on
 * kernels that drop a range's cached pages before a direct write (DIRECT_WRITE_DROPS_PAGES): on older ones the
 * file's other descriptors would read on the pages the writes outdated, so such a handle keeps the page cache.
 */
export function openReplyFor(flags: number, created: boolean, directIo = false, syncBypass = DIRECT_WRITE_DROPS_PAGES): number {
  // Linux's O_SYNC is O_DSYNC plus a bit of its own. A read-only handle has no write for the kernel to sync.
  const readOnly = (flags & O_ACCMODE) === fsConstants.O_RDONLY
  if (directIo || (syncBypass && !readOnly && (flags & fsConstants.O_DSYNC) !== 0)) return OpenReply.DirectIo
  const writeOnly = (flags & O_ACCMODE) === fsConstants.O_WRONLY
  return writeOnly && (created || (flags & fsConstants.O_TRUNC) !== 0) ? OpenReply.DirectIo : 0
}
/** What ikfs_fuse3.c reads: flags as 0/1. */
type NativeSettings = Record<Exclude<keyof Fuse3Settings, 'xattrNamespace' | 'directIo'>, number> & { xattrNamespace: string }
type Cb = FuseReply

/** The ops this binding calls (src/fuse/adapter.ts provides them); fuse-native's utimens is not one. */
export type Fuse3Ops = Omit<FuseOps, 'utimens'>

/** Loads the addon built at install time; NativeLoadError says why it is not usable. */
export function loadFuse3(path: string | undefined = builtAddon('fuse3', 'ikfs_fuse3.node')): Fuse3Addon {
  if (path === undefined || !existsSync(path)) {
    throw new NativeLoadError(
      `the libfuse3 binding is not built (apt install libfuse3-dev pkg-config gcc, then: ${buildNativeCommand()})`,
    )
  }
  try {
    return createRequire(import.meta.url)(path) as Fuse3Addon
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e)
    throw new NativeLoadError(`the libfuse3 binding does not load (${reason}; apt install libfuse3-3)`, { cause: e })
  }
}

export interface Fuse3Session {
  /** Resolves with the negotiated write size once the kernel's INIT has been answered. */
  initialized: Promise<{ maxWrite: number }>
  /** Resolves when the loop has ended (the kernel side went away or exit() was called). */
  closed: Promise<void>
  /** Ends the loop from our side. */
  exit(): void
  /** After the kernel mount is gone: the process may exit even if the loop thread has not noticed yet. */
  release(): void
  /** See Fuse3Addon.forgetNames. */
  forgetNames(folder: string, names: string[]): Promise<number>
  /** See Fuse3Addon.expireAttrs. */
  expireAttrs(folder: string, names: string[]): Promise<number>
}

/** fuse_new + fuse_mount now (throws on failure), then serves `ops` until the mount goes away. */
export function startFuse3(addon: Fuse3Addon, mountpoint: string, args: string[], settings: Fuse3Settings, ops: Fuse3Ops): Fuse3Session {
  let resolveInit!: (v: { maxWrite: number }) => void
  let resolveClosed!: () => void
  let ended = false
  let released = false
  const initialized = new Promise<{ maxWrite: number }>((resolve) => (resolveInit = resolve))
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))
  const dispatch = createDispatch(addon, ops, {
    init: (maxWrite) => resolveInit({ maxWrite }),
    exit: () => {
      ended = true
      resolveClosed()
    },
  }, { directIo: settings.directIo })
  const nativeSettings: NativeSettings = {
    maxWrite: settings.maxWrite,
    maxRead: settings.maxRead,
    maxReadahead: settings.maxReadahead,
    maxBackground: settings.maxBackground,
    maxThreads: settings.maxThreads,
    writebackCache: settings.writebackCache ? 1 : 0,
    xattrNamespace: settings.xattrNamespace,
  }
  const handle = addon.mount(mountpoint, args, nativeSettings, dispatch)
  const release = (): void => {
    // Once the loop has ended the C side has released its thread-safe function itself.
    if (ended || released) return
    released = true
    addon.unref(handle)
  }
  return {
    initialized, closed, exit: () => addon.exit(handle), release,
    forgetNames: (folder, names) => addon.forgetNames(handle, folder, names),
    expireAttrs: (folder, names) => addon.expireAttrs(handle, folder, names),
  }
}

interface Lifecycle {
  init(maxWrite: number): void
  exit(): void
}

/** Exported for unit tests: maps each request onto `ops` and its answer onto reply(). */
export function createDispatch(
  addon: Pick<Fuse3Addon, 'reply' | 'copyIn' | 'copyOut'>,
  ops: Fuse3Ops,
  lifecycle: Lifecycle,
  { directIo = false }: { directIo?: boolean } = {},
): Dispatch {
  return (op, id, path, ...args) => {
    let replied = false
    const reply: Reply = (code, a, b, c) => {
      if (replied) return
      replied = true
      addon.reply(id, code, a, b, c)
    }
    const status: Cb = (code) => reply(code < 0 ? code : 0)
    const copyIn = (dest: Buffer): void => addon.copyIn(id, dest)
    const copyOut = (bytes: Uint8Array, at: number): void => {
      // After the reply the request record is gone on the C side: never touch it again.
      if (replied) throw new Error('read bytes delivered after the reply')
      addon.copyOut(id, at, bytes)
    }
    try {
      route(op, path, args, ops, { reply, status, copyIn, copyOut }, { lifecycle, directIo })
    } catch {
      reply(-errno.EIO)
    }
  }
}

/**
 * Ops that libfuse sends for a file unlinked (or renamed over) while open, by its handle and with no path
 * (hard_remove, set in the binding's init): they go on by the handle; this stands in for the path in logs.
 */
export const UNLINKED_PATH = '(unlinked while open)'
const BY_HANDLE: ReadonlySet<Op> = new Set([Op.Read, Op.Write, Op.Release, Op.Flush, Op.Fsync, Op.Ftruncate, Op.CopyFileRange, Op.Fallocate])

/** How one request is answered, and its bytes moved (only until its reply). */
interface RequestIo {
  reply: Reply
  status: Cb
  copyIn: (dest: Buffer) => void
  copyOut: (bytes: Uint8Array, at: number) => void
}

/** What holds for every request of the session. */
interface SessionSettings {
  lifecycle: Lifecycle
  directIo: boolean
}

function route(op: Op, pathOrNull: string | null, args: unknown[], ops: Fuse3Ops, io: RequestIo, session: SessionSettings): void {
  const { reply, status, copyIn, copyOut } = io
  const { lifecycle, directIo } = session
  const n = (i: number): number => args[i] as number
  const s = (i: number): string => args[i] as string
  const b = (i: number): Buffer => args[i] as Buffer
  const opened =
    (flags: number): Cb =>
    (code, fh, bypass, noFlush) => {
      if (code < 0) return reply(code)
      reply(0, fh, undefined, openReplyFor(flags, false, directIo || bypass === true) | (noFlush === true ? OpenReply.NoFlush : 0))
    }
  const withValue =
    (encode: (value: never) => unknown): Cb =>
    (code, value) =>
      code < 0 ? reply(code) : reply(0, encode(value as never))

  if (pathOrNull === null && op !== Op.Init && op !== Op.Exit) {
    // A getattr, futimens, fchmod or fchown by handle of a file that has lost its name (unlinked or renamed over while
    // open: fstat, and lseek to the end; native/fuse3/open_files.c gives their requests the handle) answers
    // from the handle.
    if (op === Op.Getattr && n(0) > 0) return ops.getattrOpen(n(0), withValue(statArray))
    if (op === Op.Utimens && n(2) > 0) return ops.utimensOpen(n(2), n(0), n(1), status)
    if (op === Op.Chmod && n(1) > 0) return ops.chmodOpen(n(1), n(0), status)
    if (op === Op.Chown && n(2) > 0) return ops.chownOpen(n(2), n(0), n(1), status)
    // truncate(2) of /proc/PID/fd/N (the kernel sends it by name; open_files.c gives it the node's handle).
    if (op === Op.Truncate && n(1) > 0) return ops.truncateOpen(n(1), n(0), status)
    // Opened again (through /proc/PID/fd) while it has no name, with open flags n(1): on what handle n(0) has open.
    if (op === Op.Reopen) return ops.reopen(n(0), opened(n(1) ?? fsConstants.O_RDONLY), n(1) ?? fsConstants.O_RDONLY)
    if (!BY_HANDLE.has(op)) return reply(-errno.ENOENT)
  }
  const path = pathOrNull ?? UNLINKED_PATH
  switch (op) {
    case Op.Init:
      reply(0)
      return lifecycle.init(n(0))
    case Op.Exit:
      return lifecycle.exit()
    case Op.Getattr:
      return ops.getattr(path, withValue(statArray))
    case Op.Readdir:
      return ops.readdir(path, (code, names, stats) =>
        code < 0 ? reply(code) : reply(0, names, statArrays((stats as FuseStat[] | undefined) ?? [])),
      )
    case Op.Open:
      return ops.open(path, n(0), opened(n(0)), n(1))
    case Op.Create:
      // The new file's stat rides along: libfuse's getattr right after create is answered from it in C.
      return ops.create(path, n(0), (code, fh) => {
        if (code < 0) return reply(code)
        const flags = openReplyFor(n(1), true, directIo)
        ops.getattr(path, (statCode, st) => reply(0, fh, statCode < 0 ? undefined : statArray(st as FuseStat), flags))
      }, n(2), n(1))
    case Op.Read:
      // The reader's block memory goes straight into libfuse's buffer, piece by piece, before the reply.
      return ops.readTo(path, n(0), { length: n(1), set: copyOut }, n(2), (count) => reply(count))
    case Op.Write:
      // libfuse's memory is only valid during this request: the adapter lends a buffer and copyIn fills it now.
      return ops.writeFrom(path, n(0), copyIn, n(1), n(2), (count) => reply(count), n(3) === 1)
    case Op.Release:
      return ops.release(path, n(0), status)
    case Op.Flush:
      return ops.flush(path, n(0), status, n(1))
    case Op.Fsync:
      return ops.fsync(path, n(1), n(0), status)
    case Op.Truncate:
      return ops.truncate(path, n(0), status)
    case Op.Ftruncate:
      return ops.ftruncate(path, n(0), n(1), status)
    case Op.Unlink:
      return ops.unlink(path, status)
    case Op.Mkdir:
      return ops.mkdir(path, n(0), status)
    case Op.Rmdir:
      return ops.rmdir(path, status)
    case Op.Rename:
      return rename(ops, path, s(0), n(1), reply, status)
    case Op.Utimens:
      return ops.utimensExact(path, n(0), n(1), status)
    case Op.Chmod:
      return ops.chmod(path, n(0), status)
    case Op.Chown:
      return ops.chown(path, n(0), n(1), status)
    case Op.Statfs:
      return ops.statfs(path, withValue(statfsArray))
    case Op.Getxattr:
      return ops.getxattr(path, s(0), 0, (code, value) =>
        code < 0 ? reply(code) : value ? reply(0, value) : reply(-errno.ENODATA),
      )
    case Op.Listxattr:
      return ops.listxattr(path, withValue((names: string[] | undefined) => Buffer.from((names ?? []).map((x) => `${x}\0`).join(''))))
    case Op.Setxattr:
      return ops.setxattr(path, s(0), b(1), 0, n(2), status)
    case Op.Removexattr:
      return ops.removexattr(path, s(0), status)
    case Op.Symlink:
      return ops.symlink(s(0), path, status)
    case Op.Link:
      return ops.link(s(0), path, status)
    case Op.Mknod:
      return ops.mknod(path, n(0), 0, status)
    case Op.Readlink:
      return ops.readlink(path, withValue((target: string) => Buffer.from(target)))
    case Op.CopyFileRange:
      return ops.copyFileRange(path, n(0), n(1), s(2), n(3), n(4), n(5), n(6), (count) => reply(count))
    case Op.Fallocate:
      return ops.fallocate(path, n(0), n(1), n(2), n(3), status)
    default:
      return reply(-errno.ENOSYS)
  }
}

/** RENAME_NOREPLACE (mv -n, renameat2) checked here; RENAME_EXCHANGE cannot be done on ImageKit. */
function rename(ops: Fuse3Ops, from: string, to: string, flags: number, reply: (code: number) => void, status: Cb): void {
  if (flags & RENAME_EXCHANGE || flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return reply(-errno.EINVAL)
  if (!(flags & RENAME_NOREPLACE)) return ops.rename(from, to, status)
  ops.getattr(to, (code) => {
    if (code === 0) return reply(-errno.EEXIST)
    if (code !== -errno.ENOENT) return reply(code)
    ops.rename(from, to, status)
  })
}

/** Per stat, in the order of `enum stat_field` in fuse3/binding.h. */
export const STAT_FIELDS = 11

function writeStat(target: Float64Array, at: number, st: FuseStat): void {
  target[at] = st.mode
  target[at + 1] = st.uid
  target[at + 2] = st.gid
  target[at + 3] = st.size
  target[at + 4] = st.nlink
  target[at + 5] = st.ino
  target[at + 6] = st.blksize
  target[at + 7] = st.blocks
  target[at + 8] = st.atime
  target[at + 9] = st.mtime
  target[at + 10] = st.ctime
}

export function statArray(st: FuseStat): Float64Array {
  const out = new Float64Array(STAT_FIELDS)
  writeStat(out, 0, st)
  return out
}

export function statArrays(stats: FuseStat[]): Float64Array {
  const out = new Float64Array(STAT_FIELDS * stats.length)
  stats.forEach((st, i) => writeStat(out, i * STAT_FIELDS, st))
  return out
}

export function statfsArray(s: FuseStatFs): Float64Array {
  return Float64Array.of(s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.namemax)
}
