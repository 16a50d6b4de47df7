/**
 * One emulator per data folder. A second one would replay the journal, rewrite it as a snapshot and empty
 * tmp/ under the first, whose later changes would then go to a journal file no longer in the folder, and be
 * lost at its next start (two `npm start`s in one clone did that).
 *
 * `.ikemu/lock` names its holder by pid and process start time: a lock left by a process that is gone (a
 * `kill -9`), or whose pid now belongs to another process, is taken over. So is one this process does not
 * hold (a data folder copied while its emulator ran, with the lock in it).
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export class DataDirInUseError extends Error {
  constructor(readonly dataDir: string, readonly pid: number) {
    super(`the data folder ${dataDir} is in use by another emulator (pid ${pid})`)
  }
}

/** Lock files this process holds. */
const held = new Set<string>()

/** Takes the lock of the data folder whose metadata folder is `metaDir`; returns its release. */
export function lockDataDir(dataDir: string, metaDir: string): () => void {
  const path = join(metaDir, 'lock')
  const me = holderOf(process.pid)
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      try {
        writeSync(fd, me)
      } finally {
        closeSync(fd)
      }
      held.add(path)
      return () => release(path, me)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    const holder = readHolder(path)
    if (holder !== undefined && isLive(holder, path)) throw new DataDirInUseError(dataDir, holder.pid)
    unlinkQuietly(path)
  }
}

function release(path: string, me: string): void {
  held.delete(path)
  try {
    if (readFileSync(path, 'utf8') === me) unlinkSync(path)
  } catch {
    // Gone already: nothing to release.
  }
}

interface Holder {
  pid: number
  started: string
}

function readHolder(path: string): Holder | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  const match = /^(\d+) (\S+)\n$/.exec(text)
  return match ? { pid: Number(match[1]), started: match[2] as string } : undefined
}

function isLive(holder: Holder, path: string): boolean {
  if (holder.pid === process.pid) return held.has(path)
  return startTimeOf(holder.pid) === holder.started
}

function holderOf(pid: number): string {
  return `${pid} ${startTimeOf(pid) ?? 'unknown'}\n`
}

/** Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, names one process. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}
