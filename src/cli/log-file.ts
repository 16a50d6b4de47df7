/**
 * Opening a --log-file the way every command that writes one does: its folder made (owner only), the file
 * opened for appending (mode 0600: it names the files written through the mount), and a failure said as one
 * line naming the file and the flag. The logger writes to the descriptor opened here: its own asynchronous
 * open would say a failure (a folder given, no permission) as an error event ending the process with a stack
 * trace, and pino's own mkdir never returns for some paths (make-dirs.ts).
 */
import { openSync } from 'node:fs'
import { dirname } from 'node:path'
import { makeDirs } from '../make-dirs.js'

/** A descriptor of `logFile` open for appending; `what` names it in the message ("log file", "daemon's log file"). */
export function openLogFile(logFile: string, what = 'log file'): number {
  try {
    makeDirs(dirname(logFile), 0o700)
    return openSync(logFile, 'a', 0o600)
  } catch (e) {
    throw new Error(`cannot write the ${what} ${logFile}: ${(e as Error).message} (choose another with --log-file)`, { cause: e })
  }
}
