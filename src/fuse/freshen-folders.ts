/**
 * Has the kernel look again at folders of the mount (their names and attributes), so that for the next
 * attr_timeout it can answer about them from its cache alone. Forgetting missed names (forget_names.c) asks
 * only that cache, never this daemon: a folder the kernel holds as aged (looked at longer ago than
 * attr_timeout, which --allow-other's permission checks need too) answers EAGAIN there, and its names stayed
 * missing for negative_timeout.
 *
 * The look is a stat by a child process, answered by this daemon as any program's: made here (fs.stat), it
 * would hold one of libuv's threads in a request only this process can answer, and a daemon killed meanwhile
 * could not exit (mountpoint-state.ts). A child that does not finish in time is killed, and the forgetting goes
 * on with what the kernel holds.
 */
import { join } from 'node:path'
import { runCommand } from './run-command.js'

/** The stats take a listing per folder level not listed since the refresh dropped it: one round trip each. */
export const FRESHEN_WAIT_MS = 2_000

const STAT_EACH = `const fs = require('node:fs'); for (const p of process.argv.slice(1)) { try { fs.statSync(p) } catch {} }`

export async function freshenFolders(mountpoint: string, folders: readonly string[], timeoutMs = FRESHEN_WAIT_MS): Promise<void> {
  if (folders.length === 0) return
  // No environment: the private key stays out of the child.
  await runCommand(process.execPath, ['-e', STAT_EACH, ...folders.map((f) => join(mountpoint, f))], timeoutMs, {})
}
