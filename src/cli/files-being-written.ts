/**
 * A stop (SIGINT, SIGTERM, `ikfs unmount --lazy`, `umount -l` from outside) while programs still write files
 * in the mount: the mount is out of the namespace by then, and the session goes on serving those files until
 * their programs close them. Each close stores its file as usual (W2); only then does the session end.
 * Ending it at once would fail their next write and their close, and lose what they had written, which
 * exists nowhere else. A program that holds a folder in the mount (its working folder, `cp -r`'s open
 * destination) still reaches it after the detach, but can no longer start writing another file, so the wait
 * ends. A second signal ends it at once (`stop`), and so does the end of the FUSE session (its connection
 * aborted from outside), after which no file can be closed any more.
 */
import { systemClock } from '../clock.js'
import type { Logger } from '../log.js'
import { plural } from '../plural.js'

export interface BeingWrittenSource {
  filesBeingWritten(): string[]
  /** Of those, the files with writes no close or fsync committed: what a session that ended has lost. */
  filesWithUncommittedWrites?(): string[]
  /** After the session ended: commits the files whose last close left its commit to a release that never came. */
  commitClosedFiles?(): string[]
  refuseNewWrites(): void
}

export interface WaitOptions {
  /** Aborted by a second signal: the wait ends at once, and whatever is still open is lost. */
  stop: AbortSignal
  /**
   * Aborted when the session has ended (part of `stop`). A detached mount's session ends after the last close
   * of its files, and the kernel then drops the releases it queued for them: a file still open here may have
   * been closed, with what it had written committed by that close.
   */
  sessionGone?: AbortSignal
  /**
   * Whether the session ended because nothing held the detached mount any more: every program had closed its
   * files, so a close whose commit was left to the release the kernel then dropped was the last (commitClosedFiles).
   */
  closedAll?: () => boolean
  pollMs?: number
  /** How often the files still open are named again while the wait goes on. */
  reportEveryMs?: number
}

const POLL_MS = 200
const REPORT_EVERY_MS = 30_000
/** Names listed in one log line; the count says how many more there are. */
const NAMED = 10

/**
 * Resolves once no file is being written (at once when none is), or when `stop` aborts. No new file may be
 * opened for writing meanwhile (a program inside the mount still reaches it), so the wait ends.
 */
export async function waitForFilesBeingWritten(vfs: BeingWrittenSource, log: Logger, options: WaitOptions): Promise<void> {
  vfs.refuseNewWrites()
  const pollMs = options.pollMs ?? POLL_MS
  const reportEveryMs = options.reportEveryMs ?? REPORT_EVERY_MS
  let open = vfs.filesBeingWritten()
  if (open.length === 0) return
  if (!options.stop.aborted) {
    log.warn(
      { files: named(open), count: open.length },
      `waiting for programs to close ${plural(open.length, 'file')} they are writing, to store ${open.length === 1 ? 'it' : 'them'} ` +
        '(another SIGINT or SIGTERM stops at once, and what they have not closed is lost)',
    )
  }
  let reportedAt = Date.now()
  while (!options.stop.aborted) {
    await systemClock.sleep(pollMs, options.stop).catch(() => undefined) // a second signal: the loop ends
    open = vfs.filesBeingWritten()
    if (open.length === 0) {
      log.info('every file being written was closed')
      return
    }
    if (Date.now() - reportedAt >= reportEveryMs) {
      reportedAt = Date.now()
      log.warn({ files: named(open), count: open.length }, `still waiting for programs to close ${plural(open.length, 'file')} they are writing`)
    }
  }
  if (vfs.filesWithUncommittedWrites) {
    const closed = open
    const gone = options.sessionGone?.aborted === true
    const released = gone && options.closedAll?.() === true ? (vfs.commitClosedFiles?.() ?? []) : []
    if (released.length > 0) {
      log.info(
        { files: named(released), count: released.length },
        `the session ended before the kernel's release of ${plural(released.length, 'file')} closed by another process than the one that opened ${released.length === 1 ? 'it' : 'them'}: stored as that close left ${released.length === 1 ? 'it' : 'them'}`,
      )
    }
    // After a session that ended, any file may have been closed meanwhile; after a second signal, only those
    // still open count (a close that is waiting for its upload has committed the writes, which the spool keeps).
    const uncommitted = vfs.filesWithUncommittedWrites()
    open = (gone ? uncommitted : closed.filter((path) => uncommitted.includes(path))).filter((path) => !released.includes(path))
    const committed = closed.filter((path) => !open.includes(path) && !released.includes(path))
    if (committed.length > 0) {
      log.info(
        { files: named(committed), count: committed.length },
        `${gone ? 'the session ended' : 'stopped'} with ${plural(committed.length, 'file')} still open for writing whose writes a close committed: what their last close left is stored (or waits in the spool for its upload)`,
      )
    }
    if (open.length === 0) return
  }
  lost(open, log)
}

function lost(open: string[], log: Logger): void {
  log.warn({ files: named(open), count: open.length }, `stopped without waiting for ${plural(open.length, 'file')} still being written: not stored`)
}

function named(paths: string[]): string[] {
  return paths.length <= NAMED ? paths : [...paths.slice(0, NAMED), `… ${paths.length - NAMED} more`]
}

