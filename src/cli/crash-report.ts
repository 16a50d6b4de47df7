/**
 * An error nothing caught (a bug) ends the daemon, as Node would, but through the log first: with --daemon
 * or under systemd, the log is where anyone looks, and it hides the private key where a bare stack might not.
 * The mount is left dead on purpose: a program writing on would otherwise write into the folder underneath,
 * which is not the library. What was written and not yet stored is in the spool for the next mount (W3).
 */
import { whenLogWritten, type Logger } from '../log.js'

/** Where errors nothing caught come from: the process's 'uncaughtException' (unhandled rejections included). */
export interface CrashSource {
  on(listener: (err: unknown, origin: string) => void): void
  off(listener: (err: unknown, origin: string) => void): void
}

/** EX_SOFTWARE (sysexits.h): an internal software error. */
export const CRASH_EXIT_CODE = 70

/** Reports the next crash to `logger`, then ends the process through `exit`; returns the undo. */
export function reportCrashes(source: CrashSource, logger: Logger, mountpoint: string, exit: (code: number) => void, drainMs: number): () => void {
  let crashed = false
  const listener = (err: unknown, origin: string): void => {
    if (crashed) return
    crashed = true
    logger.fatal(
      { err, origin, component: 'cli.mount' },
      `internal error (a bug in ikfs; please report it with this log): the daemon stops. The mount stays dead until ` +
        `\`ikfs unmount ${mountpoint}\` or the next \`ikfs mount\` clears it; files not yet stored stay in the spool, ` +
        'and the next mount of this library (same --endpoint) with this cache dir stores them',
    )
    void whenLogWritten(logger, drainMs).then(() => exit(CRASH_EXIT_CODE))
  }
  source.on(listener)
  return () => source.off(listener)
}
