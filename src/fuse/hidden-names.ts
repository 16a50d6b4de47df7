/**
 * libfuse2's stand-in names for open files that lose theirs (the fuse-native fallback only; shared/fuse-native-notes.md).
 *
 * libfuse2's path-based API hides a file that is open when it is unlinked, or renamed over, instead of removing
 * its name: it renames it to `.fuse_hiddenXXXXXXXXYYYYYYYY` in its folder (asking getattr first that the name is
 * free), goes on sending that name for the file's requests, and unlinks it after the last release. Passed on as
 * they come, that is a rename in the library: the hidden name shows in listings (an `rm -r` of the folder fails
 * with ENOTEMPTY), a file being written is uploaded under it at its close, and a save by rename over a file a
 * program has open makes the saved file a new one (its file id, tags and versions go with the hidden one).
 *
 * So the hiding rename is answered here, and stands for what the libfuse3 binding asks of the VFS (W8, W9): an
 * unlink, or nothing when a rename onto that name follows (the VFS then saves over the open file). Which of the
 * two libfuse2 does not say, and the rename of a rename over comes only once the hiding rename is answered: the
 * unlink waits for the next request (or HIDE_SETTLE_MS), and any request but that rename sends it first, so no
 * request sees the name still there. An old version (R9) is not hidden: no unlink or rename over it removes it, so the
 * hide is refused (EACCES, as the VFS answers the libfuse3 binding), where answering it would report an unlink
 * that then fails. The hidden name answers getattr (fstat), chmod, chown, utimens and truncate (fchmod, fchown, futimens,
 * truncate of /proc/PID/fd/N) by one of the file's handles,
 * an open (`/proc/PID/fd/N`) with another handle on what that one has open (for writing only a file being
 * written, as with libfuse3), and its unlink after the last release is answered here too. Its folder cannot be removed meanwhile
 * (ENOTEMPTY): libfuse2 would leave the file no path, and every request of its descriptors would fail.
 *
 * Bounded by the open files: a handle is kept from its open to its release, a hidden name until its unlink.
 */
import { constants as fsConstants } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { posix } from 'node:path'
import type { FuseOps, FuseReply } from '../../native/binding-types.js'
import type { Logger } from '../log.js'

/** How long an unlink of an open file waits for a rename onto its name, when no request comes meanwhile. */
export const HIDE_SETTLE_MS = 50
const HIDDEN_NAME = /^\.fuse_hidden[0-9a-f]{16}$/
const ENOTEMPTY = -osConstants.errno.ENOTEMPTY
const EACCES = -osConstants.errno.EACCES
/** Ops answered at once without waiting for a pending unlink: they name a handle, not a path. */
const BY_HANDLE: ReadonlySet<string> = new Set(['read', 'readTo', 'write', 'writeFrom', 'flush', 'fsync', 'ftruncate',
  'fallocate', 'getattrOpen', 'utimensOpen', 'chmodOpen', 'chownOpen', 'truncateOpen', 'reopen', 'copyFileRange'])

interface PendingHide {
  path: string
  /** The hidden name its handles have now. */
  hiddenAs: string
  timer: NodeJS.Timeout
  settled?: Promise<void>
  /** Resolves once known as an unlink (done) or as a save over the file (that rename done). */
  decided: Promise<void>
  decide(): void
}

/** `readsOldVersion`: whether a handle reads an old version (R9; Vfs.readsOldVersion). */
export function withHiddenNames(
  ops: FuseOps, logger: Logger, settleMs = HIDE_SETTLE_MS, readsOldVersion: (fh: number) => boolean = () => false,
): FuseOps {
  const log = logger.child({ component: 'fuse.hidden-names' })
  /** Open handles by the path libfuse2 sends for them (moved by renames, to the hidden name by a hide). */
  const handles = new Map<string, number[]>()
  const pathOf = new Map<number, string>()
  /** Hidden names not unlinked yet (libfuse2 unlinks each after its file's last release). */
  const hidden = new Set<string>()
  let pending: PendingHide | undefined

  const track = (path: string, fh: number): void => {
    pathOf.set(fh, path)
    handles.set(path, [...(handles.get(path) ?? []), fh])
  }
  const untrack = (fh: number): void => {
    const path = pathOf.get(fh)
    if (path === undefined) return
    pathOf.delete(fh)
    const left = (handles.get(path) ?? []).filter((h) => h !== fh)
    if (left.length > 0) handles.set(path, left)
    else handles.delete(path)
  }
  const under = (path: string, folder: string): boolean => path === folder || path.startsWith(`${folder}/`)
  const moved = (from: string, to: string): void => {
    for (const [fh, path] of [...pathOf]) {
      if (!under(path, from)) continue
      untrack(fh)
      track(to + path.slice(from.length), fh)
    }
    for (const path of [...hidden]) {
      if (!under(path, from)) continue
      hidden.delete(path)
      hidden.add(to + path.slice(from.length))
    }
  }
  const hiddenHandle = (path: string): number | undefined =>
    HIDDEN_NAME.test(posix.basename(path)) ? handles.get(path)?.at(-1) : undefined
  const rename = (from: string, to: string, cb: FuseReply): void =>
    ops.rename(from, to, (code, ...values) => {
      if (code === 0) moved(from, to)
      cb(code, ...values)
    })
  const opened = (path: string, cb: FuseReply): FuseReply => (code, ...values) => {
    if (code === 0 && typeof values[0] === 'number') track(path, values[0])
    cb(code, ...values)
  }

  /** The unlink a hide stood for, once it is known not to be a rename over the file. */
  const settle = (): Promise<void> => {
    const hide = pending
    if (!hide) return Promise.resolve()
    hide.settled ??= new Promise<void>((resolve) => {
      clearTimeout(hide.timer)
      ops.unlink(hide.path, (code) => {
        if (pending === hide) pending = undefined
        if (code !== 0) log.warn({ path: hide.path, code }, 'the unlink of an open file failed after it was answered: the file stays in the library')
        resolve()
        hide.decide()
      })
    })
    return hide.settled
  }
  const afterSettling = <A extends unknown[]>(run: (...args: A) => void) => (...args: A): void => {
    if (!pending) return run(...args)
    void settle().then(() => run(...args))
  }

  /**
   * A close or fsync of the hidden file itself may upload it: it waits for what the hide stands for (W8, W9),
   * without deciding it (its close may come between the hide and the rename of a save over it).
   */
  const afterDeciding = <A extends unknown[]>(fhAt: number, run: (...args: A) => void) => (...args: A): void => {
    if (!pending || pathOf.get(args[fhAt] as number) !== pending.hiddenAs) return run(...args)
    void pending.decided.then(() => run(...args))
  }

  const wrapped: Record<string, unknown> = {}
  for (const [name, op] of Object.entries(ops) as [string, (...args: unknown[]) => void][]) {
    wrapped[name] = BY_HANDLE.has(name) ? op : afterSettling(op)
  }
  return {
    ...(wrapped as unknown as FuseOps),

    flush: afterDeciding(1, (path: string, fh: number, cb: FuseReply, caller?: number) => ops.flush(path, fh, cb, caller)),

    fsync: afterDeciding(2, (path: string, datasync: number, fh: number, cb: FuseReply) => ops.fsync(path, datasync, fh, cb)),

    getattr: afterSettling((path: string, cb: FuseReply) => {
      const fh = hiddenHandle(path)
      return fh === undefined ? ops.getattr(path, cb) : ops.getattrOpen(fh, cb)
    }),

    // fchmod and futimens of the hidden file: by its handle, as with libfuse3 (fuse-native delivers no
    // modification time, utimens' atime stands for both: it is not known, NaN, as for a utimens by name).
    utimens: afterSettling((path: string, atime: number, mtime: number, cb: FuseReply) => {
      const fh = hiddenHandle(path)
      return fh === undefined ? ops.utimens(path, atime, mtime, cb) : ops.utimensOpen(fh, atime, Number.NaN, cb)
    }),

    chmod: afterSettling((path: string, mode: number, cb: FuseReply) => {
      const fh = hiddenHandle(path)
      return fh === undefined ? ops.chmod(path, mode, cb) : ops.chmodOpen(fh, mode, cb)
    }),

    truncate: afterSettling((path: string, size: number, cb: FuseReply) => {
      const fh = hiddenHandle(path)
      return fh === undefined ? ops.truncate(path, size, cb) : ops.truncateOpen(fh, size, cb)
    }),

    chown: afterSettling((path: string, uid: number, gid: number, cb: FuseReply) => {
      const fh = hiddenHandle(path)
      return fh === undefined ? ops.chown(path, uid, gid, cb) : ops.chownOpen(fh, uid, gid, cb)
    }),

    open: afterSettling((path: string, flags: number, cb: FuseReply, caller?: number) => {
      const fh = hiddenHandle(path)
      if (fh === undefined) return ops.open(path, flags, opened(path, cb), caller)
      // libfuse2 has no name left to open it by (as libfuse3): another handle on what the open one has.
      ops.reopen(fh, opened(path, cb), flags)
    }),

    create: afterSettling((path: string, mode: number, cb: FuseReply, caller?: number, flags?: number) =>
      ops.create(path, mode, opened(path, cb), caller, flags)),

    release: afterDeciding(1, (path: string, fh: number, cb: FuseReply) => {
      untrack(fh)
      ops.release(path, fh, cb)
    }),

    unlink: afterSettling((path: string, cb: FuseReply) => {
      // libfuse2's unlink of a hidden name after the last release: the file's name went at the hide. libfuse2
      // counts an open once it is answered, so a handle opened meanwhile may still be here: it keeps the file.
      if (HIDDEN_NAME.test(posix.basename(path)) && hidden.delete(path)) return cb(0)
      ops.unlink(path, cb)
    }),

    // libfuse2 would take the folder's name from under the hidden file, which then answers ENOENT to every
    // request (its path is gone): the folder stays until the file is closed, as it did with the hidden name in it.
    rmdir: afterSettling((path: string, cb: FuseReply) => {
      for (const name of hidden) if (posix.dirname(name) === path) return cb(ENOTEMPTY)
      ops.rmdir(path, cb)
    }),

    rename: (from: string, to: string, cb: FuseReply) => {
      if (pending && to === pending.path && !pending.settled) {
        // A rename over the file just hidden: the VFS saves over the open file (W9), which keeps its name.
        const hide = pending
        clearTimeout(hide.timer)
        pending = undefined
        return rename(from, to, (...reply) => {
          hide.decide()
          cb(...reply)
        })
      }
      afterSettling(() => {
        const open = isHide(from, to) ? handles.get(from) : undefined
        if (open?.some(readsOldVersion)) return cb(EACCES)
        if (open) {
          moved(from, to)
          hidden.add(to)
          let decide = (): void => undefined
          const decided = new Promise<void>((resolve) => { decide = resolve })
          pending = { path: from, hiddenAs: to, timer: setTimeout(() => void settle(), settleMs), decided, decide }
          return cb(0)
        }
        rename(from, to, cb)
      })()
    },
  }
}

function isHide(from: string, to: string): boolean {
  return HIDDEN_NAME.test(posix.basename(to)) && posix.dirname(from) === posix.dirname(to)
}
