/**
 * `ikfs unmount MOUNTPOINT [--lazy] [--wait]`: unmounts a live mount or clears a dead one left by a crash.
 * A live mount that programs still use is left mounted unless --lazy (as umount(8) does); detached, the
 * daemon serves the files they are still writing until they close them.
 * The daemon goes on after the unmount until its uploads in flight are stored (W3); this command says so,
 * and with --wait stays until the daemon has exited.
 */
import { anyMountType } from '../fuse/mountinfo.js'
import { UnmountBusyError } from '../fuse/unmount.js'
import { extraBool, type ExtraFlag } from '../config/flags.js'
import { askUntil, fetchStatus } from '../status/client.js'
import type { StatusSnapshot } from '../status/snapshot.js'
import type { CliContext } from './context.js'
import { commandHelp, extraFlagsHelp } from './help.js'
import { foreignMountMessage, isIkfsMount } from './mount-kind.js'
import { plural } from '../plural.js'
import { realMountpoint } from './real-mountpoint.js'
import { socketFor } from './status.js'
import { UsageError } from './usage-error.js'
import { controlCommandArgs } from './command-args.js'

/** How long the daemon may take to answer a status request before the unmount goes ahead without it. */
const STATUS_TIMEOUT_MS = 2_000
/** How often --wait asks whether the daemon is still there. */
const WAIT_POLL_MS = 200
/** How long the daemon may take to notice that its mount is gone (it usually takes milliseconds). */
const NOTICE_MS = 3_000
const NOTICE_POLL_MS = 50

export const UNMOUNT_FLAGS: Readonly<Record<string, ExtraFlag>> = {
  '--lazy': { takesValue: false, help: 'Detach the mount even while programs use it: nothing new opens; the daemon serves the files they are writing until they close them (and stores them), then exits, and their other open files fail from then on.' },
  '--wait': { takesValue: false, help: 'After unmounting, wait until the daemon has stored its uploads in flight and exited.' },
}

export function unmountHelp(width: number): string {
  return commandHelp('ikfs unmount MOUNTPOINT [--lazy] [--wait]', [
    'Unmounts the ikfs mount at MOUNTPOINT, or clears a dead one left by a crash; another filesystem\'s mount is ' +
      'left alone. While a program uses the mount, it stays mounted and the command exits 1 (`fuser -vm ' +
      'MOUNTPOINT` names the program), as umount does. The daemon goes on until the uploads it has in flight are ' +
      'stored, then exits; the command says so, and what stays in the spool for the next mount.',
  ], width, extraFlagsHelp(UNMOUNT_FLAGS, width))
}

export async function runUnmount(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = controlCommandArgs(args, UNMOUNT_FLAGS, 'unmount', unmountHelp, ctx)
  if (!parsed) return 0
  if (parsed.positionals.length !== 1) throw new UsageError('usage: ikfs unmount MOUNTPOINT [--lazy] [--wait]')
  const lazy = extraBool(parsed, '--lazy')
  const wait = extraBool(parsed, '--wait')
  const mountpoint = await realMountpoint(parsed.positionals[0] as string, ctx.cwd, ctx.runtime)
  const socket = socketFor(mountpoint, ctx)
  const before = await askDaemon(socket, STATUS_TIMEOUT_MS)
  // A dead mount (its daemon crashed) is still listed, and is cleared like a live one. Not listed, the
  // daemon may still be storing its last uploads after an earlier unmount: it is reported on and waited for.
  const mounted = await ctx.runtime.mountedType(mountpoint)
  if (mounted !== undefined && !isIkfsMount(mounted)) throw new Error(foreignMountMessage(mounted, mountpoint, 'ikfs unmount leaves it alone'))
  if (mounted !== undefined) {
    // A live mount in use stays, as with umount(8): a program working in it could not go on. --lazy detaches it
    // all the same (the daemon still serves the files being written until they are closed). A dead one is cleared.
    await ctx.runtime.unmountPath(mountpoint, { lazy, refuseBusy: before !== undefined }).catch((e: unknown) => {
      if (!(e instanceof UnmountBusyError)) throw e
      throw new UnmountBusyError(`${e.message}; close it (a shell: cd out), or detach the mount now: ikfs unmount --lazy ${mountpoint}`, { cause: e })
    })
    ctx.stdout.write(`ikfs: unmounted ${mountpoint}\n`)
  } else if (before === undefined) {
    const other = await anyMountType(mountpoint).catch(() => undefined)
    throw new Error(other === undefined ? `nothing is mounted at ${mountpoint}` : `${mountpoint} holds a ${other} mount, not an ikfs one: ikfs unmount leaves it alone`)
  } else {
    ctx.stdout.write(`ikfs: ${mountpoint} is already unmounted\n`)
  }
  if (before === undefined) return 0
  // Returns once the daemon has taken the unmount in (or is gone), so that a mount run next does not find it
  // still claiming the mountpoint, and the report below says what it has left to store.
  const after = await askUntil(() => askDaemon(socket, STATUS_TIMEOUT_MS), (now) => now?.state !== 'mounted', NOTICE_MS, NOTICE_POLL_MS)
  let last = after ?? before
  if (wait) {
    for (let now = after; now !== undefined; now = await askDaemon(socket, STATUS_TIMEOUT_MS)) {
      last = now
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS))
    }
    ctx.stdout.write(`ikfs: the daemon (pid ${before.pid}) has exited\n`)
  } else if (after !== undefined) {
    const writing = last.uploads.filter((u) => u.state === 'writing').length
    if (writing > 0) {
      ctx.stdout.write(
        `ikfs: the daemon (pid ${before.pid}) goes on serving ${plural(writing, 'file')} that programs are still writing, ` +
          `and stores ${writing === 1 ? 'it' : 'them'} when they close ${writing === 1 ? 'it' : 'them'} (\`ikfs status ${mountpoint}\` names ${writing === 1 ? 'it' : 'them'})\n`,
      )
    }
    const storing = last.uploads.filter(isBeingStored).length
    if (storing > 0) {
      ctx.stdout.write(
        `ikfs: the daemon (pid ${before.pid}) goes on until ${plural(storing, 'upload')} in flight ${storing === 1 ? 'is' : 'are'} stored, ` +
          `then exits (\`ikfs status ${mountpoint}\` shows ${storing === 1 ? 'it' : 'them'}; \`ikfs unmount --wait\` waits)\n`,
      )
    }
  }
  const kept = last.uploads.filter((u) => !isBeingStored(u) && u.state !== 'writing').length
  if (kept > 0) {
    ctx.stdout.write(
      `ikfs: ${plural(kept, 'file')} ${kept === 1 ? 'stays' : 'stay'} in the spool (empty, or ${kept === 1 ? 'its' : 'their'} upload failed or was refused): ` +
        'the next mount of this library (same --endpoint) with the same cache dir takes them up\n',
    )
  }
  return 0
}

/** What unmounting waits for (W3): uploads in flight and those waiting only for their write-back delay. */
function isBeingStored(upload: StatusSnapshot['uploads'][number]): boolean {
  return upload.state === 'waiting' || upload.state === 'uploading' || upload.state === 'retrying'
}

/**
 * The daemon's status, or undefined when no daemon answers (a dead mount, another tool's mount, a daemon
 * that has exited): the status is only there to tell the user more, never a reason not to unmount.
 */
async function askDaemon(socket: string, timeoutMs: number): Promise<StatusSnapshot | undefined> {
  return fetchStatus(socket, timeoutMs).catch(() => undefined)
}
