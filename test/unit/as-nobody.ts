/**
 * Runs `ikfs ARGS` (the built bin/ikfs.js) as the unprivileged user nobody, for the checks of what a user
 * may not write: root may write anywhere, and CI runs as root. The folders involved must be reachable by
 * nobody (mkdtemp makes them 0700).
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'

const NOBODY = '65534'
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'ikfs.js')

export const isRoot = process.getuid?.() === 0

export function ikfsAsNobody(args: string[], cwd: string): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, BIN, ...args], { cwd, timeout: 30_000, env: { PATH: process.env.PATH, HOME: cwd } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      resolve({ code, stdout, stderr })
    })
  })
}
