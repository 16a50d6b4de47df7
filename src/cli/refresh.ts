/**
 * `ikfs refresh MOUNTPOINT [PATH]`: drops the daemon's cached listings (under PATH, else all) so changes
 * made elsewhere show at once. PATH is a path inside the mount ("/photos", "photos") or a full path
 * under MOUNTPOINT ("/mnt/ik/photos"). Same effect as SIGHUP, but per folder and without a pid.
 */
import { isAbsolute, resolve } from 'node:path'
import { controlRequest } from '../status/client.js'
import type { CliContext } from './context.js'
import { realMountpoint } from './real-mountpoint.js'
import { notRunning, socketFor } from './status.js'
import { UsageError } from './usage-error.js'
import { controlCommandArgs } from './command-args.js'
import { commandHelp } from './help.js'

export function refreshHelp(width: number): string {
  return commandHelp('ikfs refresh MOUNTPOINT [PATH]', [
    'Drops cached folder listings of the ikfs mount at MOUNTPOINT (under PATH only, when given), so files ' +
      'added, changed or deleted elsewhere show at once, with their new sizes and times (with the fuse-native ' +
      'fallback binding, those the kernel already holds follow within --attr-timeout). PATH is inside the ' +
      'mount: /photos, or /mnt/ik/photos.',
  ], width)
}

/**
 * PATH as the VFS names it ("/a/b"), from either spelling: a full path under the mountpoint (under any of its
 * spellings: with symlinks resolved, as typed), else a path inside the mount. A UsageError when it climbs out
 * of the mount with "..".
 */
export function mountRelativePath(mountpoint: string | readonly string[], path: string): string {
  const spellings = typeof mountpoint === 'string' ? [mountpoint] : mountpoint
  const under = isAbsolute(path) ? spellings.find((m) => path === m || path.startsWith(m.endsWith('/') ? m : m + '/')) : undefined
  const inside = under === undefined ? path : path.slice(under.length)
  // Inside the mount, ".." at its root would name the folder the mount hides; "..foo" is an ordinary name.
  const parts: string[] = []
  for (const part of inside.split('/')) {
    if (part === '' || part === '.') continue
    if (part !== '..') parts.push(part)
    else if (parts.pop() === undefined) throw new UsageError(`${path} is outside the mount at ${spellings[0]}`)
  }
  return '/' + parts.join('/')
}

export async function runRefresh(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = controlCommandArgs(args, {}, 'refresh', refreshHelp, ctx)
  if (!parsed) return 0
  if (parsed.positionals.length < 1 || parsed.positionals.length > 2) {
    throw new UsageError('usage: ikfs refresh MOUNTPOINT [PATH]')
  }
  const typed = resolve(ctx.cwd, parsed.positionals[0] as string)
  const mountpoint = await realMountpoint(typed, ctx.cwd, ctx.runtime)
  const pathArg = parsed.positionals[1]
  const path = pathArg === undefined ? '/' : mountRelativePath([mountpoint, typed], pathArg)
  let res
  try {
    res = await controlRequest(socketFor(mountpoint, ctx), 'POST', `/refresh?path=${encodeURIComponent(path)}`)
  } catch (e) {
    throw await notRunning(e, mountpoint)
  }
  if (res.status !== 200) {
    let message = res.body.trim()
    try {
      message = (JSON.parse(res.body) as { error?: string }).error ?? message
    } catch {
      // not JSON: print as is
    }
    throw new Error(`refresh failed: ${message}`)
  }
  ctx.stdout.write(`ikfs: dropped cached listings under ${path} in ${mountpoint}\n`)
  return 0
}
