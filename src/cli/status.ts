/**
 * `ikfs status MOUNTPOINT [--json | --prometheus] [--wait DURATION]`: asks the daemon serving MOUNTPOINT
 * through its control socket. --wait polls until the mount is live (systemd ExecStartPost, mount.ikfs):
 * exit 0 once mounted, 1 when the deadline passes first.
 */
import { readdir } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { extraBool, type ExtraFlag } from '../config/flags.js'
import { parseDuration } from '../config/values.js'
import { quotedUnlessKey } from '../private-key-text.js'
import { controlRequest, ControlError, fetchStatus } from '../status/client.js'
import { mountpointState, type MountpointState } from '../fuse/mountpoint-state.js'
import { controlSocketPath } from '../status/paths.js'
import { renderStatus } from '../status/render.js'
import type { StatusSnapshot } from '../status/snapshot.js'
import { uidOf, type CliContext } from './context.js'
import { commandHelp, extraFlagsHelp } from './help.js'
import { realMountpoint } from './real-mountpoint.js'
import { UsageError } from './usage-error.js'
import { controlCommandArgs } from './command-args.js'

/** How often --wait asks again: a mount normally comes up within a second. */
const WAIT_POLL_MS = 200

export const STATUS_FLAGS: Readonly<Record<string, ExtraFlag>> = {
  '--json': { takesValue: false, help: 'Print the status document as JSON.' },
  '--prometheus': { takesValue: false, help: 'Print the Prometheus metrics text (what --metrics serves).' },
  '--wait': { takesValue: true, placeholder: 'duration', help: 'Wait up to this long (e.g. 60s) for the mount to be live; print nothing; exit 0 once it is live, 1 if it is not by then.' },
}

export function statusHelp(width: number): string {
  return commandHelp('ikfs status MOUNTPOINT [--json | --prometheus] [--wait DURATION]', [
    'Shows what the ikfs daemon serving MOUNTPOINT is doing: open files, cache sizes and hit rates, the ' +
      'upload queue with per-file progress, retries and errors.',
  ], width, extraFlagsHelp(STATUS_FLAGS, width))
}

/** The control socket of the daemon serving `mountpoint` (as realMountpoint spells it). */
export function socketFor(mountpoint: string, ctx: CliContext): string {
  return controlSocketPath(mountpoint, { env: ctx.env, uid: uidOf(ctx) })
}

export async function runStatus(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = controlCommandArgs(args, STATUS_FLAGS, 'status', statusHelp, ctx)
  if (!parsed) return 0
  if (parsed.positionals.length !== 1) throw new UsageError('usage: ikfs status MOUNTPOINT')
  if (extraBool(parsed, '--json') && extraBool(parsed, '--prometheus')) {
    throw new UsageError('--json and --prometheus are two ways to print the status: give one (usage: ikfs status MOUNTPOINT [--json | --prometheus] [--wait DURATION])')
  }
  const mountpoint = await realMountpoint(parsed.positionals[0] as string, ctx.cwd, ctx.runtime)
  const socket = socketFor(mountpoint, ctx)
  const wait = parsed.extras.get('--wait')
  if (wait !== undefined) return waitUntilMounted(socket, mountpoint, waitMs(wait), ctx)

  try {
    if (extraBool(parsed, '--prometheus')) {
      const res = await controlRequest(socket, 'GET', '/metrics')
      ctx.stdout.write(res.body)
      return res.status === 200 ? 0 : 1
    }
    const snapshot = await fetchStatus(socket)
    ctx.stdout.write(extraBool(parsed, '--json') ? JSON.stringify(snapshot, null, 2) + '\n' : renderStatus(snapshot))
    return 0
  } catch (e) {
    throw await notRunning(e, mountpoint)
  }
}

function waitMs(text: string): number {
  try {
    return parseDuration(text)
  } catch (e) {
    throw new UsageError(`--wait: ${quotedUnlessKey(text)} ${(e as Error).message}`)
  }
}

async function waitUntilMounted(socket: string, mountpoint: string, deadlineMs: number, ctx: CliContext): Promise<number> {
  const start = performance.now()
  let last: string = 'no answer yet'
  for (;;) {
    try {
      const snapshot: StatusSnapshot = await fetchStatus(socket, Math.max(WAIT_POLL_MS, deadlineMs))
      if (snapshot.state === 'mounted') return 0
      last = `the daemon is ${snapshot.state}`
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    }
    if (performance.now() - start >= deadlineMs) {
      ctx.stderr.write(`ikfs: ${mountpoint} is not mounted after ${deadlineMs / 1000}s (${last})\n`)
      return 1
    }
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS))
  }
}

/**
 * `e` in the user's terms when no daemon answered for `mountpoint` (status, refresh): a mistyped one does not
 * exist, a dead mount (its daemon killed) is one `ikfs unmount` clears, and a daemon that took the question
 * and never answered is stopped or stuck. `stateOf`: tests give another.
 */
export async function notRunning(
  e: unknown, mountpoint: string, stateOf: (path: string) => Promise<MountpointState> = mountpointState,
): Promise<unknown> {
  if (e instanceof ControlError && e.timedOut) {
    return new Error(`the ikfs daemon serving ${mountpoint} does not answer (${e.message}): it is stopped ` +
      `(kill -CONT it) or stuck; \`ikfs unmount --lazy ${mountpoint}\` detaches the mount, and its uploads not yet ` +
      'stored stay in the spool for the next mount if it has to be killed', { cause: e })
  }
  if (!(e instanceof ControlError && e.notRunning)) return e
  const say = (why: string): Error => new Error(`no ikfs daemon serves ${mountpoint}${why}`, { cause: e })
  if (await isMissing(mountpoint)) return say(': it does not exist')
  if ((await stateOf(mountpoint)).kind === 'dead') {
    return say(`: its daemon is gone and left a dead mount (Transport endpoint is not connected); run: ikfs unmount ${mountpoint}`)
  }
  return say(' (is it mounted by ikfs, as this user?)')
}

/** Asked of its folder's listing: a stat of the path itself would hang on a hung mount there. */
async function isMissing(path: string): Promise<boolean> {
  const names = await readdir(dirname(path)).catch(() => undefined)
  return names !== undefined && !names.includes(basename(path))
}
