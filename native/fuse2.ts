/**
 * The fuse-native helper addon (native/fuse2/ikfs_fuse2.c): answers, before libfuse2 sees them, the requests
 * on which libfuse2 would hang, and notes which process each comes from (fuse-native does not say). Optional:
 * without it (no C compiler at install) the fallback works as fuse-native alone does: a rename of a file onto
 * itself that another machine deleted hangs its folder, and every close of a file written uploads it, also
 * a close by a process that inherited the descriptor (each command a shell starts, at its exit).
 */
import { builtAddon, loadBuiltAddon } from './built-addon.js'

interface Fuse2Addon {
  /** undefined once in place, else why not. */
  answerSelfRenames(thread: Buffer, mountpoint: string): string | undefined
  /** The process (thread group id) whose open, create or flush waits on the worker with these thread locals; 0 if unknown. */
  requestCaller(locals: Buffer): number
}

/** The addon at `path` loaded, or why not (not built, or built for another Node): `ikfs doctor` says which. */
export function loadFuse2Helper(
  path: string | undefined = builtAddon('fuse2', 'ikfs_fuse2.node'),
): { addon: Fuse2Addon; reason?: undefined } | { addon?: undefined; reason: string } {
  return loadBuiltAddon<Fuse2Addon>(path, 'the fuse-native helper addon')
}

/**
 * Makes the fuse-native session of `mountpoint` (`thread`: its fuse_thread_t Buffer, fuse-native's `_thread`)
 * answer a rename of a name onto itself ENOENT itself (README W9). Returns why it could not, or undefined.
 */
export function answerSelfRenames(
  thread: Buffer | null,
  mountpoint: string,
  path: string | undefined = builtAddon('fuse2', 'ikfs_fuse2.node'),
): string | undefined {
  const { addon, reason } = loadFuse2Helper(path)
  if (addon === undefined) return reason
  if (thread === null) return 'fuse-native has no session state'
  return addon.answerSelfRenames(thread, mountpoint)
}

/**
 * Who sent the open, create or flush that fuse-native hands JavaScript with `locals` (its worker's
 * fuse_thread_locals_t Buffer, the first argument of its handlers): a process id, or 0 when unknown. Needs the
 * receive answerSelfRenames() put in place; undefined without the addon.
 */
export function requestCallers(
  path: string | undefined = builtAddon('fuse2', 'ikfs_fuse2.node'),
): ((locals: Buffer) => number) | undefined {
  return loadFuse2Helper(path).addon?.requestCaller
}
