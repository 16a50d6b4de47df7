/**
 * What `ikfs mount` is doing before its mount is live, one step at a time: each step is logged when it
 * starts and told to a waiting `--daemon` parent (so a --daemon-wait that runs out can say what was still
 * going on), and a stop signal before the mount is live logs which step it interrupted before the process
 * ends. Without that, a daemon stopped while its API had not answered left an empty log.
 *
 * The process ends with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a
 * command a signal stopped. A signal while the kernel mount is being made waits for it, and the mount it made
 * is taken down first: ending the process with the mount made left a dead mount ("Transport endpoint is not
 * connected"), or hung the exit when a request was already waiting on it.
 */
import { constants } from 'node:os'
import type { Logger } from '../log.js'
import type { SignalSource, StopSignal } from './context.js'

/** Upper bound on everything before mounting: a hung DNS lookup or API must not hang `ikfs mount`. */
export const PREFLIGHT_TIMEOUT_MS = 15_000

export interface StartupOptions {
  log: Logger
  signals: SignalSource
  /** Told each step as it starts (the --daemon parent). */
  report?: (step: string) => void
  /** Ends the process with `code` after a stop signal, once the log line is written. */
  stop: (code: number) => void
}

/** What a command a signal stopped exits with (shells report 128 + the signal's number). */
export function signalExitCode(signal: StopSignal): number {
  return 128 + constants.signals[signal]
}

/** Thrown by `mounting` once a stop signal came while the mount was made: the mount has been taken down. */
export class StoppedWhileMounting extends Error {
  constructor(signal: StopSignal) {
    super(`stopped by ${signal} while mounting; the mount was taken down again`)
  }
}

export class Startup {
  #step = 'starting'
  #since = Date.now()
  /** Settles once the mount being made (if any) has been taken down again after a stop signal. */
  #mountAttempt: Promise<void> | undefined
  #signal: StopSignal | undefined
  readonly #onSignal = (signal: StopSignal): void => this.#stopped(signal)

  constructor(readonly options: StartupOptions) {
    options.signals.on('SIGINT', this.#onSignal)
    options.signals.on('SIGTERM', this.#onSignal)
  }

  /** `text` names what the mount waits for now, e.g. "checking the keys with the Media API at …". */
  step(text: string): void {
    this.#step = text
    this.#since = Date.now()
    this.options.log.info(text)
    this.options.report?.(text)
  }

  /**
   * `attempt` makes the kernel mount. A stop signal while it runs waits for it; once it resolves, `undo` takes
   * the mount down and this rejects with StoppedWhileMounting (the process is ending with the signal's code).
   */
  async mounting<T>(attempt: Promise<T>, undo: (made: T) => Promise<void>): Promise<T> {
    const made = attempt.then(async (mount) => {
      if (this.#signal === undefined) return mount
      await undo(mount).catch((err: unknown) => this.options.log.error({ err }, 'could not take down the mount made while stopping'))
      throw new StoppedWhileMounting(this.#signal)
    })
    this.#mountAttempt = made.then(() => undefined, () => undefined)
    try {
      return await made
    } finally {
      this.#mountAttempt = undefined
    }
  }

  /** The mount is live (or failed): stop signals are the session's from now on. */
  done(): void {
    this.options.signals.off('SIGINT', this.#onSignal)
    this.options.signals.off('SIGTERM', this.#onSignal)
  }

  #stopped(signal: StopSignal): void {
    if (this.#signal !== undefined) {
      // Still listened to: without a listener, a second Ctrl-C would end the process with the mount made.
      this.options.log.warn({ signal }, 'already stopping: the mount being made is taken down first')
      return
    }
    const seconds = Math.round((Date.now() - this.#since) / 1000)
    this.#signal = signal
    const mounting = this.#mountAttempt
    this.options.log.warn({ signal }, `stopped before the mount was live, while ${this.#step} (for ${seconds}s)` +
      (mounting ? '; taking the mount down once it is made' : ''))
    const code = signalExitCode(signal)
    const stop = (): void => {
      this.done()
      this.options.stop(code)
    }
    if (mounting) void mounting.then(stop)
    else stop()
  }
}
