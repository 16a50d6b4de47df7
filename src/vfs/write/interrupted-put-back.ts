/**
 * The remote part of a put-back (W17, put-back.ts): the original, renamed aside to its backup name, goes back to
 * its place, after the new file's own upload there (if any) is deleted, so that it takes the new bytes as a new
 * version at the upload that follows. Run by the unlink of the backup, and at start for a record still noting it
 * (a crash or kill -9 in between, or a library that did not answer): the steps are read from the library, so a
 * step done before the crash is not repeated, and a file waiting for this waits (quiesced) until it is settled.
 */
import type { ImageKitApi } from '../../imagekit/api.js'
import { hasImageKitCode } from '../../imagekit/errors.js'
import type { Logger } from '../../log.js'
import { versionIdOf } from '../inode.js'
import type { PendingFile } from '../file-node.js'
import { changeOrItsResult, fileIsAt } from '../lost-answer.js'
import { parentOf } from '../name.js'
import type { PutBackNote } from '../spool/record.js'
import type { ReplayDeps } from './replay.js'
import { detailsUnlessGone, untilAnswered } from './until-answered.js'

/** done: the original is at `path`; else it is not, and the upload makes its own file there. */
export type PutBackOutcome = 'done' | 'gone' | 'elsewhere' | 'taken'

/**
 * Puts the stored file `fileId` back from `note.from` to `path` (same folder), `note.drop` deleted first.
 * `checkedAt`: where the caller just found the file, under the path locks, having checked that the new file's
 * own upload is its one version (put-back.ts); else the library is asked for both.
 */
export async function finishPutBack(api: ImageKitApi, log: Logger, fileId: string, path: string, note: PutBackNote, checkedAt?: string): Promise<PutBackOutcome> {
  const at = checkedAt ?? (await detailsUnlessGone(api, fileId))?.filePath
  if (at === undefined) return 'gone'
  if (at === path) return 'done'
  if (at !== note.from) return 'elsewhere'
  if (note.drop !== undefined && note.drop !== fileId) {
    // Asked unless the caller just did (under the path locks): a version stored onto it since (an upload to the
    // path while this waited for the library: the file's own, queued again by a failed rm, or a file renamed
    // there) would be deleted with it, and the original renamed back over what was saved last.
    const drop = checkedAt === undefined ? await detailsUnlessGone(api, note.drop) : { fileId: note.drop }
    if (drop && versionIdOf(drop) !== note.drop) return 'taken'
    if (drop) {
      try {
        await api.deleteFile(note.drop)
      } catch (e) {
        if (!hasImageKitCode(e, 'IK_NOT_FOUND')) throw e
      }
    }
  }
  try {
    await changeOrItsResult(() => api.renameFile(note.from, parentOf(path)[1]), () => fileIsAt(api, fileId, path), log, { op: 'put back', from: note.from, to: path })
  } catch (e) {
    if (hasImageKitCode(e, 'IK_CONFLICT')) return 'taken' // another file there (stored elsewhere meanwhile): it gets the version
    if (hasImageKitCode(e, 'IK_NOT_FOUND')) return 'gone' // deleted or moved elsewhere meanwhile (not to the place: fileIsAt)
    throw e
  }
  return 'done'
}

/** What replay.ts (and the write path, for a put-back the library did not answer) gives it. */
export type SettlePutBackDeps = Pick<ReplayDeps, 'api' | 'clock' | 'log' | 'closing' | 'persist' | 'requeue'> & {
  /** The folder's listing is to be read again (the original moved). */
  expire(folder: string): void
}

/** Finishes (or settles) the put-back a quiesced file's record notes, asking until the library answers. */
export async function settlePutBack(d: SettlePutBackDeps, file: PendingFile): Promise<void> {
  const note = file.putBack
  const fileId = file.base?.fileId
  if (note === undefined || fileId === undefined) return d.requeue(file)
  const settled = await untilAnswered(
    d,
    async () => {
      const outcome = await finishPutBack(d.api, d.log, fileId, file.remotePath, note)
      await endPutBack(d, file, outcome)
      d.log.info({ path: file.localPath, backup: note.from, outcome }, 'a put-back of a file saved by moving its original aside is settled; its upload goes on')
    },
    (e) => d.log.warn({ path: file.localPath, backup: note.from, err: e }, 'cannot put a file saved by moving its original aside back yet; its upload waits until the library answers'),
  )
  if (settled === 'stopped') return // the note stays for the next mount
  d.expire(file.folder)
  d.requeue(file)
}

/** The note is dropped; unless the original is at the file's path now, the upload makes a file of its own there. */
export async function endPutBack(d: Pick<SettlePutBackDeps, 'persist' | 'log'>, file: PendingFile, outcome: PutBackOutcome): Promise<void> {
  file.putBack = undefined
  if (outcome !== 'done') {
    d.log.warn({ path: file.localPath, outcome }, 'the original of a file saved by moving it aside could not be put back (deleted, moved or replaced elsewhere): the new bytes are stored as a file of their own')
    file.base = undefined
  }
  await d.persist(file).catch((e: unknown) => {
    d.log.warn({ path: file.localPath, err: e }, 'the spool journal cannot note that a put-back is done; the next mount checks it again')
  })
}
