/** `ikfs unmount MOUNTPOINT [--lazy]`: unmounts a live mount or clears a dead one left by a crash. */
import { resolve } from 'node:path'
import { extraBool, parseArgs, type ExtraFlag } from '../config/flags.js'
import type { CliContext } from './context.js'
import { extraFlagsHelp } from './help.js'
import { UsageError } from './usage-error.js'

export const UNMOUNT_FLAGS: Readonly<Record<string, ExtraFlag>> = {
  '--lazy': { takesValue: false, help: 'Detach now even if files are open; the mount goes when they close.' },
}

export function unmountHelp(): string {
  return ['Usage: ikfs unmount MOUNTPOINT [--lazy]', '', extraFlagsHelp(UNMOUNT_FLAGS), ''].join('\n')
}

export async function runUnmount(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseArgs(args, UNMOUNT_FLAGS, 'ikfs unmount')
  if (parsed.help) {
    ctx.stdout.write(unmountHelp())
    return 0
  }
  if (Object.keys(parsed.options).length > 0) throw new UsageError('ikfs unmount takes no mount options')
  if (parsed.positionals.length !== 1) throw new UsageError('usage: ikfs unmount MOUNTPOINT [--lazy]')
  const mountpoint = resolve(ctx.cwd, parsed.positionals[0] as string)
  const lazy = extraBool(parsed, '--lazy')
  await ctx.runtime.unmountPath(mountpoint, { lazy })
  ctx.stdout.write(`ikfs: unmounted ${mountpoint}\n`)
  return 0
}
