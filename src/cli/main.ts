/**
 * `ikfs COMMAND ...` (bin/ikfs.js calls main). Exit codes: 0 ok, 1 runtime failure (wrong keys, API
 * unreachable, mount failed), 2 usage or configuration error. Errors print one line, `ikfs: <message>`;
 * the stack only with --debug (or IKFS_DEBUG).
 */
import { isConfigError } from '../config/config-error.js'
import { parseBool } from '../config/values.js'
import { redactUrl } from '../log.js'
import { processContext, type CliContext } from './context.js'
import { isDaemonChild, reportToParent } from './daemon.js'
import { demoHelp, runDemo } from './demo.js'
import { doctorHelp, runDoctor } from './doctor.js'
import { COMMANDS, commandHelp, generalHelp, mountHelp } from './help.js'
import { runMount } from './mount.js'
import { refreshHelp, runRefresh } from './refresh.js'
import { runStatus, statusHelp } from './status.js'
import { runUnmount, unmountHelp } from './unmount.js'
import { UsageError } from './usage-error.js'
import { ikfsVersion } from './version.js'
import { helpWidth } from '../help-layout.js'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

const COMMAND_HELP: Readonly<Record<string, (width: number) => string>> = {
  mount: mountHelp,
  unmount: unmountHelp,
  umount: unmountHelp,
  demo: demoHelp,
  status: statusHelp,
  refresh: refreshHelp,
  doctor: doctorHelp,
  version: versionHelp,
  help: generalHelp,
}

export async function main(argv: readonly string[], context: Partial<CliContext> = {}): Promise<number> {
  const ctx: CliContext = { ...processContext(), ...context }
  if (argv[0] !== 'mount' || !isDaemonChild(ctx.env)) return runCommand(argv, ctx)
  // The child of `ikfs mount --daemon`: its output reaches the parent until the mount is live.
  const parent = reportToParent(ctx)
  try {
    return await runCommand(argv, parent.ctx)
  } finally {
    await parent.close()
  }
}

async function runCommand(argv: readonly string[], ctx: CliContext): Promise<number> {
  const debug = argv.includes('--debug') || isTrue(ctx.env.IKFS_DEBUG)
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'mount':
        return await runMount(rest, ctx)
      case 'unmount':
      case 'umount':
        return await runUnmount(rest, ctx)
      case 'demo':
        return await runDemo(rest, ctx)
      case 'status':
        return await runStatus(rest, ctx)
      case 'refresh':
        return await runRefresh(rest, ctx)
      case 'doctor':
        return await runDoctor(rest, ctx)
      case 'emulator': {
        if (rest.includes('--help') || rest.includes('-h')) return await help('emulator', ctx)
        const { runEmulator } = await import('../emulator/main.js')
        return await runEmulator([...rest])
      }
      case 'version':
      case '--version':
      case '-V':
        return version(rest, ctx)
      case 'help':
      case '--help':
      case '-h':
        return await help(rest[0], ctx)
      case undefined:
        ctx.stderr.write(generalHelp(helpWidth(ctx.stderr)))
        return EXIT_USAGE
      default:
        throw new UsageError(
          `unknown command "${command.startsWith('-') ? command.split('=')[0] : command}" ` +
            `(commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
        )
    }
  } catch (e) {
    return report(e, debug, ctx)
  }
}

function versionHelp(width: number): string {
  return commandHelp('ikfs version', ['Prints the version of ikfs (also `ikfs --version`).'], width)
}

function version(args: readonly string[], ctx: CliContext): number {
  if (args.includes('--help') || args.includes('-h')) {
    ctx.stdout.write(versionHelp(helpWidth(ctx.stdout)))
    return EXIT_OK
  }
  const [arg] = args
  if (arg?.startsWith('-')) throw new UsageError(`unknown flag ${arg.split('=')[0]} (see \`ikfs version --help\`)`)
  if (arg !== undefined) throw new UsageError('ikfs version takes no arguments (see `ikfs version --help`)')
  ctx.stdout.write(`ikfs ${ikfsVersion()}\n`)
  return EXIT_OK
}

async function help(topic: string | undefined, ctx: CliContext): Promise<number> {
  const width = helpWidth(ctx.stdout)
  if (topic === undefined || topic === '--help' || topic === '-h') {
    ctx.stdout.write(generalHelp(width))
    return EXIT_OK
  }
  if (topic === 'emulator') {
    const { emulatorHelp } = await import('../emulator/help.js')
    ctx.stdout.write(emulatorHelp(width))
    return EXIT_OK
  }
  const text = COMMAND_HELP[topic]?.(width)
  if (text === undefined) {
    ctx.stderr.write(`ikfs: no help for "${topic}"\n${generalHelp(helpWidth(ctx.stderr))}`)
    return EXIT_USAGE
  }
  ctx.stdout.write(text)
  return EXIT_OK
}

function report(e: unknown, debug: boolean, ctx: CliContext): number {
  const usage = isConfigError(e) || e instanceof UsageError
  const message = e instanceof Error ? e.message : String(e)
  ctx.stderr.write(`ikfs: ${redactUrl(message)}\n`)
  if (debug && e instanceof Error && e.stack) ctx.stderr.write(redactUrl(e.stack) + '\n')
  return usage ? EXIT_USAGE : EXIT_FAILURE
}

function isTrue(value: string | undefined): boolean {
  try {
    return value !== undefined && value !== '' && parseBool(value)
  } catch {
    return false
  }
}
