/**
 * What `ikfs mount` is doing before its mount is live, one step at a time: each step is logged when it
 * starts and told to a waiting `--daemon` parent (so a --daemon-wait that runs out can say what was still
 * going on), and a stop signal before the mount is live logs which step it interrupted before the process
 * ends. Without that, a daemon stopped while its API had not answered left an empty log.
 */
import type { Logger } from '../log.js'
import type { SignalSource, StopSignal } from './context.js'

/** Upper bound on everything before mounting: a hung DNS lookup or API must not hang `ikfs mount`. */
export const PREFLIGHT_TIMEOUT_MS = 15_000

export interface StartupOptions {
  log: Logger
  signals: SignalSource
  /** Told each step as it starts (the --daemon parent). */
  report?: (step: string) => void
  /** Ends the process after a stop signal, once the log line is written. */
  stop: (signal: StopSignal) => void
}

export class Startup {
  #step = 'starting'
  #since = Date.now()
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

  /** The mount is live (or failed): stop signals are the session's from now on. */
  done(): void {
    this.options.signals.off('SIGINT', this.#onSignal)
    this.options.signals.off('SIGTERM', this.#onSignal)
  }

  #stopped(signal: StopSignal): void {
    this.done()
    const seconds = Math.round((Date.now() - this.#since) / 1000)
    this.options.log.warn({ signal }, `stopped before the mount was live, while ${this.#step} (for ${seconds}s)`)
    this.options.stop(signal)
  }
}
