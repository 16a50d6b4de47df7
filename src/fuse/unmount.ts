/**
 * Unmounting a path, from polite to forceful, for `ikfs unmount`, mount.ts and tests:
 * fusermount -u → umount (root) → fusermount -uz → umount -l (root) → abort the FUSE connection via
 * /sys/fs/fuse/connections/<id>/abort, then lazy again. Every step has a time limit; nothing hangs.
 * "fusermount" is fusermount3 where there is one (FUSE 3 alone has no fusermount), else fusermount.
 */
import { access, readFile, writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { findFusermounts, unmountFusermount } from '../../native/load.js'
import { canonicalMountpoint, findFuseMount, connectionId } from './mountinfo.js'
import { runCommand } from './run-command.js'

/** fusermount/umount finish in milliseconds; longer means a stuck kernel request. */
export const UNMOUNT_COMMAND_TIMEOUT_MS = 10_000
const FUSECTL_DIR = '/sys/fs/fuse/connections'

export class UnmountError extends Error {
  override name = 'UnmountError'
  readonly code = 'IKFS_UNMOUNT'
}

export interface UnmountOptions {
  /** Skip the non-lazy attempts (detach at once even if files are open). */
  lazy?: boolean
  /**
   * Stop after the non-lazy attempts: a mount that programs still use stays (UnmountBusyError), as with
   * umount(8). For a live mount, whose open files would fail once detached.
   */
  refuseBusy?: boolean
  commandTimeoutMs?: number
}

/** The mount is in use (a file or folder open in it) and was left mounted (refuseBusy). */
export class UnmountBusyError extends UnmountError {
  override name = 'UnmountBusyError'
}

function isRoot(): boolean {
  return process.getuid?.() === 0
}

export type UnmountCommand = [file: string, args: string[]]

/**
 * The commands unmountPath tries, in order: `attempts` before aborting the connection, `lazyAttempts` after.
 * `fusermount`: the program's path (none on PATH: root still has umount).
 */
export function unmountCommands(
  target: string,
  options: Pick<UnmountOptions, 'lazy' | 'refuseBusy'> & { root: boolean; fusermount: string | undefined },
): { attempts: UnmountCommand[]; lazyAttempts: UnmountCommand[] } {
  const { root, fusermount } = options
  const attempts: UnmountCommand[] = []
  if (!options.lazy) {
    if (fusermount) attempts.push([fusermount, ['-u', target]])
    if (root) attempts.push(['umount', [target]])
  }
  const lazyAttempts: UnmountCommand[] = []
  if (fusermount) lazyAttempts.push([fusermount, ['-uz', target]])
  if (root) lazyAttempts.push(['umount', ['-l', target]])
  const refuseBusy = options.refuseBusy === true && !options.lazy
  if (!refuseBusy) attempts.push(...lazyAttempts)
  return { attempts, lazyAttempts }
}

/** Resolves once no FUSE filesystem is mounted at `mountpoint` (also when none was); else UnmountError. */
export async function unmountPath(mountpoint: string, options: UnmountOptions = {}): Promise<void> {
  const target = await canonicalMountpoint(mountpoint)
  const timeoutMs = options.commandTimeoutMs ?? UNMOUNT_COMMAND_TIMEOUT_MS
  const fusermount = unmountFusermount(findFusermounts())
  const { attempts, lazyAttempts } = unmountCommands(target, { ...options, root: isRoot(), fusermount })
  const refuseBusy = options.refuseBusy === true && !options.lazy

  const failures: string[] = fusermount ? [] : ['neither fusermount3 nor fusermount is on PATH']
  for (const [file, args] of attempts) {
    if (!(await findFuseMount(target))) return
    const result = await runCommand(file, args, timeoutMs)
    if (result.code !== 0) failures.push(`${basename(file)} ${args[0]}: ${result.timedOut ? 'timed out' : result.stderr.trim()}`)
  }
  if (!(await findFuseMount(target))) return
  if (refuseBusy) {
    throw new UnmountBusyError(
      failures.some((f) => /busy/i.test(f))
        ? `${target} is in use: a program has a file or folder open in it (\`fuser -vm ${target}\` names it)`
        : `could not unmount ${target}: ${failures.join('; ') || 'still mounted'}`,
    )
  }

  if (await abortConnection(target, timeoutMs)) {
    for (const [file, args] of lazyAttempts) {
      if (!(await findFuseMount(target))) return
      await runCommand(file, args, timeoutMs)
    }
  }
  if (await findFuseMount(target)) {
    throw new UnmountError(`could not unmount ${target}: ${failures.join('; ') || 'still mounted'}`)
  }
}

/** Aborts the FUSE connection behind `mountpoint` (every pending and future request fails ENOTCONN). */
export async function abortConnection(mountpoint: string, timeoutMs = UNMOUNT_COMMAND_TIMEOUT_MS): Promise<boolean> {
  const entry = await findFuseMount(mountpoint)
  if (!entry) return false
  const abortFile = `${FUSECTL_DIR}/${connectionId(entry)}/abort`
  if (!(await exists(abortFile))) await mountFusectl(timeoutMs)
  try {
    await writeFile(abortFile, '1')
    return true
  } catch {
    return false
  }
}

/**
 * Mounts fusectl (/sys/fs/fuse/connections: each connection's abort and waiting files) when it is not, as root:
 * systemd normally does it; containers and fresh machines often lack it.
 */
export async function mountFusectl(timeoutMs = UNMOUNT_COMMAND_TIMEOUT_MS): Promise<void> {
  if (!isRoot() || (await isFusectlMounted())) return
  await runCommand('mount', ['-t', 'fusectl', 'fusectl', FUSECTL_DIR], timeoutMs)
}

async function isFusectlMounted(): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '')
  return mounts.split('\n').some((line) => line.split(' ')[1] === FUSECTL_DIR)
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
