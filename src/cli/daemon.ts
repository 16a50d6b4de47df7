/**
 * `ikfs mount --daemon` (rclone mount's flag): the command returns once the mount is live and leaves its
 * daemon running in the background, or fails with the daemon's own error line and exit code, as the
 * foreground command would.
 *
 * The command runs itself again as a child, with the same arguments and environment (so the private key
 * travels the way it came, never newly on a command line), in a session of its own and with no terminal.
 * Until the child is live, what it prints comes back over an IPC channel and is printed here; then it closes
 * the channel and this command exits 0. The child's own stdout and stderr go to its log file, as its log does.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync } from 'node:fs'
import { join } from 'node:path'
import type { CliContext, StopSignal, TextSink } from './context.js'
import { openLogFile } from './log-file.js'
import { PREFLIGHT_TIMEOUT_MS, signalExitCode } from './startup.js'

/** Set in the child's environment: it runs in the foreground and reports to its parent. */
export const DAEMON_CHILD_ENV = 'IKFS_DAEMON_CHILD'
/** How long an exited daemon's last messages may take to arrive. */
const CHANNEL_DRAIN_MS = 2_000

type ChildMessage = { kind: 'out'; stream: 'stdout' | 'stderr'; text: string } | { kind: 'step'; text: string } | { kind: 'ready' }

/** What a daemon child tells its parent (CliContext.background). */
export interface ParentChannel {
  /** The mount is live: the parent may exit. Later output goes to the log file only. */
  ready(): void
  /** What the mount waits for now (startup.ts): named if --daemon-wait runs out meanwhile. */
  step(text: string): void
}

export function isDaemonChild(env: CliContext['env']): boolean {
  return env[DAEMON_CHILD_ENV] === '1'
}

/**
 * Where a daemon logs when no --log-file is given, as native/mount.fuse.ikfs does: /var/log/ikfs for root,
 * else $XDG_STATE_HOME/ikfs (~/.local/state/ikfs; a relative $XDG_STATE_HOME is ignored, as the XDG spec says
 * and as the cache and config defaults do); named after the mountpoint.
 */
export function defaultDaemonLogFile(mountpoint: string, ctx: Pick<CliContext, 'env' | 'home'>, uid: number): string {
  const state = ctx.env.XDG_STATE_HOME
  const folder = uid === 0 ? '/var/log/ikfs' : join(state?.startsWith('/') ? state : join(ctx.home, '.local', 'state'), 'ikfs')
  const name = mountpoint.replace(/^\/+/, '').replace(/\//g, '-') || 'root'
  return join(folder, `${name}.log`)
}

export interface BackgroundStart {
  /** The `ikfs mount` arguments as given (--daemon among them); --log-file is added when missing. */
  args: readonly string[]
  logFile: string
  logFileGiven: boolean
  /** How long to wait for the mount to be live (--daemon-wait). */
  timeoutMs: number
}

/** Starts the daemon child and waits until it is live (0) or has failed (its exit code, or 1). */
export async function runInBackground(start: BackgroundStart, ctx: CliContext): Promise<number> {
  const { timeoutMs } = start
  const args = start.logFileGiven ? start.args : [...start.args, '--log-file', start.logFile]
  const daemon = spawnDaemon(args, start.logFile, ctx)
  return new Promise<number>((resolve) => {
    let settled = false
    const settle = (code: number): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      ctx.signals.off('SIGINT', onInterrupt)
      ctx.signals.off('SIGTERM', onInterrupt)
      if (daemon.connected) daemon.disconnect()
      daemon.unref()
      resolve(code)
    }
    // Ctrl-C or SIGTERM: 130 or 143, as the command in the foreground exits (startup.ts).
    const onInterrupt = (signal: StopSignal): void => {
      ctx.stderr.write('ikfs: interrupted before the mount was live; stopping the daemon\n')
      daemon.kill('SIGTERM')
      settle(signalExitCode(signal))
    }
    ctx.signals.on('SIGINT', onInterrupt)
    ctx.signals.on('SIGTERM', onInterrupt)
    let step: string | undefined
    const timer = setTimeout(() => {
      ctx.stderr.write(notLiveInTime(timeoutMs, step, start.logFile))
      daemon.kill('SIGTERM')
      settle(1)
    }, timeoutMs)
    daemon.on('message', (message: ChildMessage) => {
      if (message.kind === 'out') (message.stream === 'stdout' ? ctx.stdout : ctx.stderr).write(message.text)
      if (message.kind === 'step') step = message.text
      if (message.kind === 'ready') {
        ctx.stderr.write(`ikfs: running in the background (pid ${daemon.pid}), logging to ${start.logFile}\n`)
        settle(0)
      }
    })
    daemon.on('error', (err) => {
      ctx.stderr.write(`ikfs: cannot start the daemon: ${err.message}\n`)
      settle(1)
    })
    // The exit can be seen before the last messages are read: those end with the channel's disconnect.
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
    const ended = (): void => {
      if (settled || exited === undefined) return
      if (exited.code === null) ctx.stderr.write(`ikfs: the daemon was killed by ${exited.signal} before the mount was live (see ${start.logFile})\n`)
      settle(exited.code ?? 1)
    }
    daemon.on('exit', (code, signal) => {
      exited = { code, signal }
      if (!daemon.connected) ended()
      else setTimeout(ended, CHANNEL_DRAIN_MS).unref()
    })
    daemon.on('disconnect', ended)
  })
}

/** What the user reads when --daemon-wait ran out: what the daemon was still doing, and where its log is. */
export function notLiveInTime(timeoutMs: number, step: string | undefined, logFile: string): string {
  const doing = step === undefined ? 'it had not started its checks yet' : `it was still ${step}`
  const hint = timeoutMs < PREFLIGHT_TIMEOUT_MS
    ? ` (--daemon-wait is shorter than the ${PREFLIGHT_TIMEOUT_MS / 1000}s the checks before mounting may take: a longer one lets them finish and say what is wrong)`
    : ''
  return `ikfs: the mount was not live within ${timeoutMs / 1000}s: ${doing}; stopping the daemon${hint}. Its log: ${logFile}\n`
}

/** `ikfs mount ARGS` in a session of its own, its stdout and stderr appended to `logFile`, with an IPC channel. */
function spawnDaemon(args: readonly string[], logFile: string, ctx: CliContext): ChildProcess {
  const output = openLogFile(logFile, "daemon's log file")
  try {
    return spawn(process.execPath, [...process.execArgv, process.argv[1] as string, 'mount', ...args], {
      cwd: ctx.cwd,
      env: { ...ctx.env, [DAEMON_CHILD_ENV]: '1' },
      detached: true,
      stdio: ['ignore', output, output, 'ipc'],
    })
  } finally {
    closeSync(output)
  }
}

/**
 * In a daemon child: a context whose stdout and stderr reach the parent until the mount is live (then the log
 * file, which the child's own streams are), and `background.ready()` to say so. `close()` before exiting, so
 * that what was sent arrives and the open channel does not keep the process alive.
 */
export function reportToParent(ctx: CliContext): { ctx: CliContext; close(): Promise<void> } {
  const send = process.send?.bind(process)
  if (send === undefined || !process.connected) return { ctx, close: async () => undefined }
  const pending = new Set<Promise<void>>()
  const post = (message: ChildMessage): void => {
    if (!process.connected) return
    const sent = new Promise<void>((resolve) => send(message, undefined, {}, () => resolve()))
    pending.add(sent)
    void sent.then(() => pending.delete(sent))
  }
  const relay = (stream: 'stdout' | 'stderr', local: TextSink): TextSink => ({
    write: (text: string) => (process.connected ? post({ kind: 'out', stream, text }) : local.write(text)),
  })
  const close = async (): Promise<void> => {
    await Promise.all(pending)
    if (process.connected) process.disconnect()
  }
  return {
    ctx: {
      ...ctx,
      stdout: relay('stdout', ctx.stdout),
      stderr: relay('stderr', ctx.stderr),
      background: {
        ready: () => {
          post({ kind: 'ready' })
          void close()
        },
        step: (text: string) => post({ kind: 'step', text }),
      },
    },
    close,
  }
}
