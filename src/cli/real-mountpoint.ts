/**
 * The one spelling of a mountpoint every command uses: absolute, with every symlink resolved, the last one
 * included. fusermount3 refuses to mount on a symlink, and the control socket's name is a hash of this path
 * (status/paths.ts), so `ikfs status` through another spelling still finds the daemon.
 *
 * A mountpoint that is mounted is never asked about: a hung FUSE daemon would hang the stat, and `ikfs
 * unmount` is how such a mount is cleared. It is not a symlink either way, so only the folders above it and
 * symlinks on the way are read.
 */
import { readlink, realpath } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { MountRuntime } from './runtime.js'

/** As the kernel's own limit (ELOOP). */
const MAX_SYMLINKS = 40

/** `typed` resolved against `cwd`; a path that does not exist comes back as it is, for the caller to say so. */
export async function realMountpoint(typed: string, cwd: string, runtime: Pick<MountRuntime, 'mountedType'>): Promise<string> {
  let path = resolve(cwd, typed)
  for (let followed = 0; path !== '/'; followed++) {
    const folder = await realpath(dirname(path)).catch(() => undefined)
    if (folder === undefined) return path
    path = join(folder, basename(path))
    if ((await runtime.mountedType(path)) !== undefined) return path
    let target: string
    try {
      target = await readlink(path)
    } catch {
      return path // not a symlink (EINVAL), or missing
    }
    if (followed === MAX_SYMLINKS) throw new Error(`mountpoint ${typed}: too many levels of symbolic links`)
    path = resolve(dirname(path), target)
  }
  return path
}
