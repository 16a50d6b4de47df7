/**
 * The remote part of an unlink the daemon stopped in (a crash or kill -9 between the note in the file's record and
 * the spool's discard, namespace.ts unlink): the next mount finishes it instead of leaving the file in the library.
 * What it deletes is what that unlink was deleting: the file's stored base (with all its versions), the upload of
 * its own a put-back waited to drop (W17), or, for a file never stored before, what its name holds since an
 * upload attempt that may have stored it (its answer an error, or the daemon stopped before it). Asked until the
 * library answers; the record stays until then, so a stop in between leaves it for the mount after.
 *
 * A stored file (its base, or what the name holds) is deleted as an unlink's background delete is (W8,
 * pending-deletes.ts): noted durably, hidden from listings by its id at once, retried, and every store at its
 * path waits for it. Deleted from here instead, while the library failed the delete the listing showed the
 * "deleted" file again, and a file written at the name meanwhile was uploaded as a version of it, which the
 * delete then took (a silent loss).
 *
 * Only what was unlinked goes: another machine's upload to the path while this daemon was down is a new version
 * of the same file (ImageKit), which a delete by id would take with it. So the version the unlink saw current
 * (JournalRecord.unlinkedVersionId), or the one found at the name, is handed over with the file, and the file is
 * deleted only while that version is still its current one (as a background delete's note says, W8); the
 * delete from here asks the same. A record from before versions were noted deletes the file as before.
 */
import type { PendingDeletes } from '../pending-deletes.js'
import { hasImageKitCode } from '../../imagekit/errors.js'
import { versionIdOf } from '../inode.js'
import { joinRemote } from '../name.js'
import type { JournalRecord } from '../spool/record.js'
import { storedSince } from '../upload/stored-copy.js'
import type { ReplayDeps } from './replay.js'
import { untilAnswered } from './until-answered.js'

export type FinishUnlinkDeps = Pick<ReplayDeps, 'api' | 'clock' | 'log' | 'closing' | 'journal' | 'pending' | 'mtimes'> & {
  /** The background deletes (W8) a stored file's delete is handed to. */
  deletes: Pick<PendingDeletes, 'begin'>
  /** The folder's listing is to be read again (a file in it was deleted). */
  expire(folder: string): void
}

/** Whether a record being unlinked names anything the library may still hold for it. */
export function unlinkLeftRemoteWork(r: JournalRecord): boolean {
  return r.fileId !== undefined || typeof r.mayBeStoredSinceMs === 'number' || r.putBack?.drop !== undefined
}

export async function finishUnlink(d: FinishUnlinkDeps, r: JournalRecord): Promise<void> {
  const remotePath = joinRemote(r.folder, r.name)
  /** Hands the delete of `fileId` to the background deletes; false when its note cannot be written (a full disk). */
  const handedOver = (fileId: string, versionId: string | undefined): boolean => {
    try {
      d.deletes.begin(fileId, remotePath, async () => undefined, versionId)
      return true
    } catch (e) {
      d.log.warn({ path: r.localPath, err: e }, 'cannot note the delete of a file unlinked when the daemon stopped; deleting it from here')
      return false
    }
  }
  /** The version of the base the unlink saw current (undefined in a record from before it was noted). */
  const unlinkedVersionId = typeof r.unlinkedVersionId === 'string' ? r.unlinkedVersionId : undefined
  // Before anything is awaited: hidden from the first listing on, and the first store at the path waits.
  const baseHandedOver = r.fileId !== undefined && handedOver(r.fileId, unlinkedVersionId)
  const finished = await untilAnswered(
    d,
    async () => {
      const drop = r.putBack?.drop
      if (drop !== undefined && drop !== r.fileId) await deleteUnlessGone(d, drop, undefined)
      if (baseHandedOver) return
      let fileId = r.fileId
      let versionId = unlinkedVersionId
      if (fileId === undefined && typeof r.mayBeStoredSinceMs === 'number') {
        const stored = await storedSince(d.api, r.folder, r.name, r.mayBeStoredSinceMs, { signal: d.closing })
        // Not a file written at the name since (by this mount, or before the stop after the unlink): one waiting
        // for its upload there (which stores over what the name holds), or one whose upload's answer came.
        const writtenSince = stored !== undefined &&
          (d.pending.at(remotePath) !== undefined || d.mtimes.get(stored.fileId, versionIdOf(stored)) !== undefined)
        if (stored && !writtenSince) {
          fileId = stored.fileId
          versionId = versionIdOf(stored)
        }
        if (fileId !== undefined && handedOver(fileId, versionId)) return
      }
      if (fileId !== undefined) await deleteUnlessGone(d, fileId, versionId)
    },
    (e) => d.log.warn({ path: r.localPath, err: e }, 'cannot finish the delete of a file unlinked when the daemon stopped yet; asking again until the library answers'),
  )
  if (finished === 'stopped') return // the record stays: the next mount finishes it
  d.log.info({ path: r.localPath }, 'the delete of a file unlinked when the daemon stopped is finished (or noted with the background deletes, which retry it)')
  d.expire(r.folder)
  await d.journal.remove(r.id).catch((e: unknown) => {
    d.log.warn({ path: r.localPath, err: e }, 'the spool journal cannot note that an unlink is finished; the next mount asks the library again')
  })
}

/**
 * Deletes the stored file `fileId`, unless it is gone already; with `versionId`, only while that version is its
 * current one (pending-deletes.ts asks the same): one another machine stored at its path since stays, with it.
 */
async function deleteUnlessGone(d: Pick<FinishUnlinkDeps, 'api' | 'closing' | 'log'>, fileId: string, versionId: string | undefined): Promise<void> {
  try {
    if (versionId !== undefined) {
      const now = await d.api.getFileDetails(fileId, { signal: d.closing })
      if (versionIdOf(now) !== versionId) {
        d.log.info(
          { fileId, unlinkedVersion: versionId, currentVersion: versionIdOf(now), now: now.filePath },
          'unlink: the file unlinked when the daemon stopped was not deleted from the library: it gained a version since (an upload to its path elsewhere), which the delete would take with it; the file is left as it is',
        )
        return
      }
    }
    await d.api.deleteFile(fileId, { signal: d.closing })
  } catch (e) {
    if (!hasImageKitCode(e, 'IK_NOT_FOUND')) throw e
  }
}
