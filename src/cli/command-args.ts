import { parseArgs, type ExtraFlag, type ParsedArgs } from '../config/flags.js'
import { helpWidth } from '../help-layout.js'
import type { CliContext } from './context.js'
import { UsageError } from './usage-error.js'

/**
 * The arguments of a command that talks to a running mount (`ikfs status|unmount|refresh`): its own flags,
 * no mount options. Undefined once `--help` printed the command's help (the command then exits 0).
 */
export function controlCommandArgs(
  args: readonly string[],
  flags: Readonly<Record<string, ExtraFlag>>,
  command: string,
  help: (width: number) => string,
  ctx: CliContext,
): ParsedArgs | undefined {
  const parsed = parseArgs(args, flags, `ikfs ${command}`)
  if (parsed.help) {
    ctx.stdout.write(help(helpWidth(ctx.stdout)))
    return undefined
  }
  if (Object.keys(parsed.options).length > 0) throw new UsageError(`ikfs ${command} takes no mount options`)
  return parsed
}
