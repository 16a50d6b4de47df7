/**
 * Whether a mountpoint can be used, asked with a stat that gives up on a hung FUSE mount (its daemon stopped,
 * not dead): the one answer to "is it a folder, absent, a dead mount, a hung one?" for `ikfs mount`,
 * `ikfs doctor` and mountFuse.
 *
 * Such a stat waits in the kernel until that daemon dies and nothing in this process can call it off. Made
 * here with fs.stat, it would hold one of libuv's pool threads, and libuv joins those threads when the
 * process exits: the command would print its failure and then hang, `process.exit` included. So the stat is
 * made by a child process, which is killed (or, in a request the daemon already took, left behind: nothing
 * waits for it) when it does not answer in time.
 */
import { spawn } from 'node:child_process'
import { isDeadMountError } from './dead-mount.js'

/** A mountpoint's stat takes milliseconds (a child node process starting, a little more); a hung FUSE mount there never answers. */
export const MOUNTPOINT_ANSWER_MS = 5_000

export interface MountpointInfo {
  isDirectory(): boolean
}

/** Raised when the stat did not answer in time: a hung mount; `ikfs unmount` clears it. */
export class MountpointHungError extends Error {
  constructor(readonly mountpoint: string, timeoutMs: number) {
    super(`${mountpoint} does not answer within ${timeoutMs / 1000}s (a hung FUSE mount: its daemon is stopped)`)
    this.name = 'MountpointHungError'
  }
}

// Prints {directory} or {code, message}; the path is its only argument. The kernel answers a stat of a FUSE
// mount's root from its cache for attr_timeout, dead daemon or not; an opendir always asks the daemon, so a
// folder is opened too, and only a dead mount's answer to that counts (a folder this user cannot read is a folder).
const STAT_SCRIPT = `
const fs = require('node:fs')
try {
  const s = fs.statSync(process.argv[1])
  if (s.isDirectory()) {
    try { fs.opendirSync(process.argv[1]).closeSync() }
    catch (e) { if (e.code === 'ENOTCONN' || e.code === 'ECONNABORTED') throw e }
  }
  process.stdout.write(JSON.stringify({ directory: s.isDirectory() }))
}
catch (e) { process.stdout.write(JSON.stringify({ code: e.code, message: e.message })) }`

/**
 * fs.stat's answer for `mountpoint` (an error keeps its errno `code`: ENOENT, ENOTCONN...), or a
 * MountpointHungError after `timeoutMs`.
 */
export function statMountpoint(mountpoint: string, timeoutMs = MOUNTPOINT_ANSWER_MS): Promise<MountpointInfo> {
  return new Promise((resolve, reject) => {
    // No environment: the private key stays out of the child.
    const child = spawn(process.execPath, ['-e', STAT_SCRIPT, mountpoint], { env: {}, stdio: ['ignore', 'pipe', 'ignore'] })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      child.stdout.destroy()
      child.unref()
      reject(new MountpointHungError(mountpoint, timeoutMs))
    }, timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', () => {
      clearTimeout(timer)
      try {
        resolve(answerOf(JSON.parse(output) as StatAnswer))
      } catch (e) {
        reject(e)
      }
    })
  })
}

type StatAnswer = { directory: boolean } | { code?: string; message: string }

function answerOf(answer: StatAnswer): MountpointInfo {
  if ('directory' in answer) return { isDirectory: () => answer.directory }
  throw Object.assign(new Error(answer.message), answer.code !== undefined ? { code: answer.code } : {})
}

export type MountpointState =
  | { kind: 'folder' }
  | { kind: 'not-folder' }
  | { kind: 'absent' }
  /** A FUSE mount whose daemon is gone (ENOTCONN, ECONNABORTED): an unmount clears it. */
  | { kind: 'dead'; reason: string }
  /** No answer within `timeoutMs`: a FUSE mount whose daemon is stopped. */
  | { kind: 'hung'; timeoutMs: number }
  /** Any other failure of the stat; `reason` is its errno code (EACCES, ENOTDIR...) or message. */
  | { kind: 'failed'; reason: string }

/** What `mountpoint` is, for deciding whether to mount there; never rejects. */
export async function mountpointState(mountpoint: string, timeoutMs = MOUNTPOINT_ANSWER_MS): Promise<MountpointState> {
  try {
    return (await statMountpoint(mountpoint, timeoutMs)).isDirectory() ? { kind: 'folder' } : { kind: 'not-folder' }
  } catch (e) {
    if (e instanceof MountpointHungError) return { kind: 'hung', timeoutMs }
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return { kind: 'absent' }
    const reason = code ?? (e instanceof Error ? e.message : String(e))
    return isDeadMountError(e) ? { kind: 'dead', reason } : { kind: 'failed', reason }
  }
}
