/** Runs a helper program (fusermount, umount, mount) with a hard time limit; never rejects. */
import { execFile } from 'node:child_process'

export interface CommandResult {
  /** Exit code; null when it could not start, was killed, or timed out. */
  code: number | null
  stderr: string
  timedOut: boolean
}

/** `env`: the child's whole environment (default this process's). */
export function runCommand(file: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', ...(env ? { env } : {}) }, (err, _stdout, stderr) => {
      if (!err) return resolve({ code: 0, stderr, timedOut: false })
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown }
      resolve({
        code: typeof e.code === 'number' ? e.code : null,
        stderr: stderr || e.message,
        timedOut: e.killed === true,
      })
    })
  })
}
