/**
 * A rename of a pending file (namespace.ts): the quiesced file is pointed at its new path, with what that
 * means for its upload (a stored file renamed over another goes up again, as that file's new version).
 */
import type { Logger } from '../../log.js'
import type { Destination } from '../destination.js'
import type { PendingFile, RemoteBase } from '../file-node.js'
import type { FileInode } from '../inode.js'
import type { CommittedCopies } from '../spool/committed-copies.js'
import type { Streamer } from '../upload/streamer.js'
import { carriedDetails, mergeWanted } from '../wanted-details.js'
import type { Committer } from './committer.js'
import type { PendingFiles } from './pending-files.js'

export interface RetargetDeps {
  log: Logger
  uploadTags: readonly string[]
  /** `--write-back`: a close leaves the upload to the uploader, this long after. 0: close uploads. */
  writeBackDelayMs: number
  streamer: Streamer
  committedCopies: CommittedCopies
  pending: PendingFiles
  committer: Committer
  /** Ends the file's quiesce and queues its upload again (write-path.ts requeue). */
  requeue(file: PendingFile): void
}

/**
 * Points a quiesced pending file at another path (rename); `base` is the remote file it now replaces, and
 * `stored` the file's own earlier version, whose tags and metadata it carries over that one's (W9).
 */
export async function retarget(d: RetargetDeps, file: PendingFile, dest: Destination, base: RemoteBase | undefined, ino: number | undefined, stored?: FileInode): Promise<void> {
  d.streamer.stop(file, 'a rename')
  // Changed since its last close (still open): what that close committed moves to the new path as it was (persist).
  if (!d.committedCopies.changedSinceCommit(file)) await d.committedCopies.drop(file) // it would come back under the old name after a crash
  const carried = stored && base && base.fileId !== stored.fileId ? carriedDetails(stored, d.uploadTags) : undefined
  if (carried) file.wanted = mergeWanted(carried, file.wanted ?? {})
  d.pending.remove(file)
  const storedElsewhere = base !== undefined && base.fileId !== file.base?.fileId && !file.uploadToCome
  if (storedElsewhere) {
    // Stored under its old name, but the file it now replaces holds other bytes (a file kept open, so not
    // retired, renamed over another): they go up again, as that file's new version.
    file.unsent = true
    file.state = file.openCount > 0 ? 'open' : 'waiting'
    file.attempts = 0
  }
  tryAgainAtNewPath(file)
  file.folder = dest.folder
  file.name = dest.name
  file.localPath = dest.localPath
  file.base = base
  file.storedVersionId = undefined
  file.storedUpload = undefined
  if (ino !== undefined) file.ino = ino
  d.pending.add(file)
  if (file.unsent || file.state === 'empty') await d.committer.persist(file)
  d.requeue(file)
  if (storedElsewhere && file.openCount > 0 && d.writeBackDelayMs === 0) {
    // Often only the kernel's release of the close that stored these bytes keeps the file open (it comes
    // after close(2) has returned, and may come after the rename). That close returned with the bytes
    // stored, so the rename does too, instead of leaving them for the last close; an upload as at a close,
    // since its bytes were made durable then (fsync would sync them again).
    await d.committer.commit(file, 'close').catch((e: unknown) => {
      d.log.warn({ path: file.localPath, err: e }, 'upload after a rename over another file failed; the file stays in the spool')
    })
  }
}

/**
 * A file refused for good (rejected) that moves to another path, by its own rename or its folder's (also one a
 * crash interrupted, settled by the next mount: replay.ts relocate), is tried again: the name or folder may be
 * what the library refused, and the size limit may have been raised meanwhile (W3, W6).
 */
export function tryAgainAtNewPath(file: PendingFile): void {
  if (file.state !== 'rejected') return
  file.state = file.openCount > 0 ? 'open' : 'waiting'
  file.attempts = 0
}
