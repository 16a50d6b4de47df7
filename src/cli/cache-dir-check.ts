/**
 * Whether the cache dir (the write spool's folder) can be used: a folder this user can write, or one that can
 * be made there, and how much room its disk has. `ikfs doctor` prints it; `ikfs mount` fails on a FAIL before
 * asking the API anything, saying which folder and which flag.
 */
import { constants as fsConstants } from 'node:fs'
import { access, realpath, stat, statfs } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { bytes } from '../status/render.js'
import type { CheckResult } from './doctor.js'

/** What an access(2) error code means for a cache dir, in words, before the code itself. */
const CANNOT_WRITE: Readonly<Record<string, string>> = {
  EACCES: 'this user may not write there',
  EPERM: 'this user may not write there',
  EROFS: 'on a read-only file system',
}

/** Below this much free space on the cache dir's disk, copying a large file into the mount fails (W14). */
export const LOW_SPOOL_SPACE_BYTES = 1024 ** 3

/**
 * `mountpoint`, when given, is where the library is to be mounted: a cache dir in it would be hidden by the
 * mount (its writes then fail) or, made there first, would make the mountpoint not empty.
 */
export async function checkCacheDir(dir: string, mountpoint?: string): Promise<CheckResult> {
  if (mountpoint !== undefined && (await isWithin(dir, mountpoint))) {
    return { name: 'cache dir', state: 'FAIL', detail: `${dir} is inside the mountpoint ${mountpoint}, which the mount hides`, fix: 'set --cache-dir to a folder outside the mountpoint' }
  }
  let probe = dir
  for (;;) {
    try {
      const info = await stat(probe)
      if (!info.isDirectory()) return { name: 'cache dir', state: 'FAIL', detail: `${probe} is not a folder`, fix: 'set --cache-dir to a folder' }
      await access(probe, fsConstants.W_OK | fsConstants.X_OK)
      const usable = probe === dir ? `${dir} is writable` : `${dir} can be created`
      const fs = await statfs(probe)
      const free = fs.bavail * fs.bsize
      if (free < LOW_SPOOL_SPACE_BYTES) {
        return {
          name: 'cache dir', state: 'warn', detail: `${usable}, but its disk has only ${bytes(free)} free`,
          fix: 'every file written through the mount passes through the cache dir: free some space there, or set --cache-dir to a disk with room for the largest files you copy in',
        }
      }
      return { name: 'cache dir', state: 'ok', detail: `${usable}; ${bytes(free)} free on its disk` }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'ENOENT' && dirname(probe) !== probe) {
        probe = dirname(probe)
        continue
      }
      const words = code === undefined ? undefined : CANNOT_WRITE[code]
      const why = code === undefined ? (e as Error).message : words === undefined ? code : `${words} (${code})`
      return { name: 'cache dir', state: 'FAIL', detail: `${probe}: ${why}`, fix: 'set --cache-dir to a folder this user can write' }
    }
  }
}

/**
 * Whether `path` is `folder` (a mountpoint, as the command resolved it) or below it: as written first, then
 * with the symlinks of `path` resolved. The mountpoint itself is never asked about: a hung mount there would
 * hang the question (real-mountpoint.ts).
 */
async function isWithin(path: string, folder: string): Promise<boolean> {
  const inside = (p: string): boolean => p === folder || p.startsWith(folder.endsWith('/') ? folder : `${folder}/`)
  return inside(path) || inside(await realPrefix(path))
}

/** `path` with its longest existing prefix resolved through symlinks (the rest as written). */
async function realPrefix(path: string): Promise<string> {
  try {
    return await realpath(path)
  } catch {
    const parent = dirname(path)
    return parent === path ? path : join(await realPrefix(parent), basename(path))
  }
}
