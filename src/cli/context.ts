/**
 * What a subcommand needs from the outside world, passed in so tests can run main() in-process:
 * output streams, environment, working and home folders, signals, and the modules that mount.
 */
import { homedir } from 'node:os'
import type { ProcessIdentity } from '../config/load.js'
import type { CrashSource } from './crash-report.js'
import type { ParentChannel } from './daemon.js'
import { realRuntime, type MountRuntime } from './runtime.js'

export interface TextSink {
  write(text: string): unknown
  isTTY?: boolean
}

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP'

/** process.on/off for the signals the daemon handles. */
export interface SignalSource {
  on(signal: StopSignal, listener: (signal: StopSignal) => void): void
  off(signal: StopSignal, listener: (signal: StopSignal) => void): void
}

export interface CliContext {
  readonly stdout: TextSink
  readonly stderr: TextSink
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  readonly home: string
  readonly signals: SignalSource
  /** Errors nothing caught: the daemon logs them and stops (crash-report.ts). */
  readonly crashes: CrashSource
  /** uid/gid/umask for defaults; the process's own when omitted. */
  readonly identity?: ProcessIdentity
  readonly runtime: MountRuntime
  /** Set in a daemon child (`ikfs mount --daemon`): told once the mount is live. */
  readonly background?: ParentChannel
  /**
   * Ends the process at once with `code`, whatever is still pending (a second stop signal: an upload the first
   * stop waits for must not hold the process). Tests record the call instead.
   */
  readonly exit: (code: number) => void
}

/** The uid defaults and per-user paths are for: the context's identity, else the process's own. */
export function uidOf(ctx: CliContext): number {
  return ctx.identity?.uid ?? process.getuid?.() ?? 0
}

export function processContext(): CliContext {
  return {
    stdout: closedPipeIgnored(process.stdout),
    stderr: closedPipeIgnored(process.stderr),
    env: process.env,
    cwd: process.cwd(),
    home: process.env.HOME || homedir(),
    signals: {
      on: (signal, listener) => void process.on(signal, listener),
      off: (signal, listener) => void process.off(signal, listener),
    },
    crashes: {
      on: (listener) => void process.on('uncaughtException', listener),
      off: (listener) => void process.off('uncaughtException', listener),
    },
    runtime: realRuntime(),
    exit: (code) => process.exit(code),
  }
}

/**
 * A reader that went away (`ikfs doctor | head -1`) makes each later write fail with EPIPE, an 'error' event
 * that, with no listener, ends the process with a stack trace. What is left to say has nobody to read it; the
 * command goes on (a mount keeps serving) and ends with its own exit code.
 */
function closedPipeIgnored(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (stream.listenerCount('error') === 0) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e
    })
  }
  return stream
}
