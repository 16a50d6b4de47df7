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
/**
 * Stats at once: one after another, a slow API's round trips used up the wait after a few folders, and those
 * looked at first had aged again (--attr-timeout) by the time the rest were, so a refresh of many folders left
 * every name missing. A quarter of the daemon's API connections, so other requests still find one.
 */
export const FRESHEN_PARALLEL = 8

/** The paths come on stdin, each ended by a NUL (which no path holds): a command line holds 2 MiB at most. */
const STAT_ALL = `const { stat } = require('node:fs/promises'); const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
const paths = Buffer.concat(chunks).toString('utf8').split('\\0').slice(0, -1); let next = 0;
const worker = async () => { while (next < paths.length) await stat(paths[next++]).catch(() => undefined) };
Promise.all(Array.from({ length: ${FRESHEN_PARALLEL} }, worker)) })`

/** Resolves with whether every folder was looked at in time. */
export async function freshenFolders(mountpoint: string, folders: readonly string[], timeoutMs = FRESHEN_WAIT_MS): Promise<boolean> {
  if (folders.length === 0) return true
  // Only the thread pool's size: the private key stays out of the child.
  const env = { UV_THREADPOOL_SIZE: String(FRESHEN_PARALLEL) }
  const paths = folders.map((f) => `${join(mountpoint, f)}\0`).join('')
  const result = await runCommand(process.execPath, ['-e', STAT_ALL], timeoutMs, env, paths)
  return result.code === 0
}
