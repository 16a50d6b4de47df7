/** Runs a helper program (fusermount, umount, mount) with a hard time limit; never rejects. */
import { execFile } from 'node:child_process'

export interface CommandResult {
  /** Exit code; null when it could not start, was killed, or timed out. */
  code: number | null
  stderr: string
  timedOut: boolean
}

/**
 * `env`: the child's whole environment (default this process's). `input`: written to its stdin, then closed
 * (for what a command line cannot hold: execve refuses more than 2 MiB of arguments with E2BIG).
 */
export function runCommand(file: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv, input?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    try {
      const child = execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', ...(env ? { env } : {}) }, (err, _stdout, stderr) => {
        if (!err) return resolve({ code: 0, stderr, timedOut: false })
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown }
        resolve({
          code: typeof e.code === 'number' ? e.code : null,
          stderr: stderr || e.message,
          timedOut: e.killed === true,
        })
      })
      // A child that exits without reading it all: EPIPE, which its exit reports already.
      child.stdin?.on('error', () => undefined)
      child.stdin?.end(input)
    } catch (e) {
      // Some failures to start (E2BIG) are thrown rather than reported to the callback.
      resolve({ code: null, stderr: (e as Error).message, timedOut: false })
    }
  })
}
