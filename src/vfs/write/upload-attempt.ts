/**
 * One upload attempt of a pending file, as the uploader runs it (upload/uploader.ts perform): its bytes sent
 * (or found stored by an earlier attempt whose answer was an error, upload/stored-copy.ts), its wanted tags
 * and metadata set, and the landed version shown in the listing and forgotten by the spool.
 */
import type { Clock } from '../../clock.js'
import type { ImageKitApi } from '../../imagekit/api.js'
import type { UploadResponse } from '../../imagekit/types.js'
import type { Logger } from '../../log.js'
import type { DirCache } from '../dir-cache.js'
import type { PendingFile } from '../file-node.js'
import type { FolderPresence } from '../folder-presence.js'
import { fileInodeFromUpload, versionIdOf } from '../inode.js'
import { parentOf, type NameCodec } from '../name.js'
import type { CommittedCopies } from '../spool/committed-copies.js'
import type { Journal } from '../spool/journal.js'
import type { LocalMtimes } from '../spool/mtimes.js'
import { uploadFieldsOf } from '../upload/fields.js'
import { setWantedDetails } from '../upload/set-details.js'
import { mayHaveBeenStored, storedCopyOf } from '../upload/stored-copy.js'
import type { Streamer } from '../upload/streamer.js'
import { writesDone } from './content.js'
import { describe, type AttemptControl } from '../upload/uploader.js'

/** An attempt made without an uploader (tests): its requests retry as the client's policy says. */
const NO_GIVING_UP: AttemptControl = { uploadFailed: () => false, stopped: () => false }

export interface UploadAttemptDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  /** For the uploader and the streamer (component vfs.upload). */
  uploadLog: Logger
  codec: NameCodec
  dirs: DirCache
  /** Asked before a file's first attempt whether its folder was deleted elsewhere (W7). */
  folders: FolderPresence
  uploadTags: readonly string[]
  streamer: Streamer
  mtimes: LocalMtimes
  committedCopies: CommittedCopies
  journal: Journal
  /** The upload landed on a file nobody holds: retired in the background, under its lock, if still idle. */
  retireWhenIdle(file: PendingFile): void
  /** A new version of the file is stored: what still fetches an older one must stop (R5). */
  versionStored?: (fileId: string) => void
}

export class UploadAttempts {
  readonly #d: UploadAttemptDeps

  constructor(deps: UploadAttemptDeps) {
    this.#d = deps
  }

  /** The uploader's perform (upload/uploader.ts UploaderDeps). */
  async perform(file: PendingFile, onProgress: (sentBytes: number) => void, control: AttemptControl = NO_GIVING_UP): Promise<boolean> {
    const { api } = this.#d
    if (file.quiesced) {
      await file.quiesced.ended // a rename or unlink is running: its outcome decides where (and whether) this goes
      if (file.unlinked || !file.unsent) return false
    }
    if (file.attempts <= 1 && !file.storedUpload) await this.#sayIfFolderComesBack(file)
    const base = file.base
    const changes = file.changes
    let uploaded: UploadResponse
    try {
      uploaded = file.storedUpload ?? (await this.#send(file, onProgress, control))
    } catch (e) {
      // An open for writing superseded it (Uploader.supersede): nothing more is sent, the file stays unsent (and
      // noted as maybe stored by a try before, #send).
      if (!control.superseded?.aborted) throw e
      file.state = file.openCount > 0 ? 'open' : 'waiting'
      return false
    }
    const customCoordinates = uploaded.customCoordinates ?? base?.customCoordinates
    file.base = {
      fileId: uploaded.fileId,
      isPrivateFile: uploaded.isPrivateFile ?? base?.isPrivateFile ?? false,
      ...(customCoordinates ? { customCoordinates } : {}),
      ...((uploaded.isPublished ?? !base?.draft) ? {} : { draft: true as const }),
    }
    if (file.changes !== changes) {
      // Written meanwhile: what went up is not the content (nor, maybe, any content). The file is an overwrite
      // of what it stored now, and stays unsent; whoever waits for its upload sends it again (uploader.ts).
      file.state = file.openCount > 0 ? 'open' : 'waiting'
      file.mayBeStoredSinceMs = undefined // what is stored is not the content: its attempt has not begun
      this.#d.dirs.expire(file.folder)
      return false
    }
    file.storedUpload = uploaded
    const res = file.wanted ? await setWantedDetails(api, this.#d.uploadLog, file, uploaded) : uploaded
    file.storedUpload = undefined
    file.mayBeStoredSinceMs = undefined
    file.unsent = false
    file.sentBytes = file.size
    if (file.state !== 'empty') file.state = 'clean'
    const versionId = versionIdOf(res)
    file.storedVersionId = file.dirty ? undefined : versionId
    // The version keeps the time the file showed (its last write, or one set through the mount): its
    // updatedAt is the upload's, a moment later, and would change the time under programs that saw the first.
    this.#d.mtimes.set(res.fileId, versionId, file.mtimeMs)
    if (!file.dirty) {
      await this.#d.committedCopies.drop(file)
      await this.#d.journal.remove(file.id).catch((e: unknown) => {
        // Stored all the same: never uploaded again for this. Its del goes in with the journal's next line (or
        // its next rewrite leaves the record out), and its data file stays until then (spool-files.ts): a crash
        // before then makes the next mount store it once more (looking for this upload first when the attempt
        // was noted), never report it lost. Not taken (a full disk) or not synced (EIO, ENOSPC from fdatasync).
        this.#d.log.warn({ path: file.localPath, err: e }, 'uploaded, but the spool journal cannot note it yet (its disk full, or a failed sync)')
      })
    }
    this.#landed(file, res, base?.fileId !== undefined)
    // A file still holding its fd is released by write-path.ts #closeIdle, which is waiting for this upload. Any
    // other idle file is retired under its lock, so after an open that is waiting for this upload to reuse the
    // file (it holds the lock; awaiting the lock here would deadlock with it), and only if that open did not take it.
    if (file.openCount === 0 && !file.fd) this.#d.retireWhenIdle(file)
    return true
  }

  /**
   * Sends the file's bytes (the rest of its streamed upload, or the whole file), unless an earlier attempt
   * whose answer was an error, or never came (a kill -9 of the daemon that sent it), stored them: that version
   * is the result then (upload/stored-copy.ts).
   */
  async #send(file: PendingFile, onProgress: (sentBytes: number) => void, control: AttemptControl): Promise<UploadResponse> {
    const { api, uploadTags } = this.#d
    const sinceMs = file.mayBeStoredSinceMs ?? this.#d.clock.now()
    this.#noteAttempt(file, sinceMs)
    const reading = async (): Promise<() => void> => {
      const read = this.#reading(file)
      await writesDone(file) // one that began before this request reads
      return read
    }
    const storedBefore = async (previous: unknown): Promise<UploadResponse | undefined> =>
      mayHaveBeenStored(previous) ? this.#storedCopy(file, sinceMs, describe(previous), control) : undefined
    // No error noted: the daemon that sent the earlier attempt stopped before its answer (replay.ts).
    const earlierAnswer = file.lastError ?? 'none (the daemon stopped before it came)'
    try {
      let streamFailure: unknown
      const uploaded =
        (file.mayBeStoredSinceMs !== undefined ? await this.#storedCopy(file, sinceMs, earlierAnswer, control) : undefined) ??
        (await this.#finishStream(file, onProgress, (e) => (streamFailure = e))) ??
        (await storedBefore(streamFailure)) ??
        this.#refusedAsTooLarge(file) ??
        (await api.uploadFile({
          ...uploadFieldsOf(file, uploadTags),
          localFile: file.dataPath,
          ...(file.fd ? { localFileHandle: file.fd } : {}),
          onProgress,
          reading,
          storedBefore,
          // Only bytes read while nothing can change them (no fill from a server-side copy to come).
          read: (bytes) => (file.readForUpload = file.remoteContent || file.filling ? undefined : { changes: file.changes, bytes }),
        }, { giveUp: control.uploadFailed, ...(control.superseded ? { signal: control.superseded } : {}) }))
      // Stored: until it has landed (its tags set, perform), a crash leaves the next mount to find it.
      file.mayBeStoredSinceMs = sinceMs
      this.#d.streamer.storedWithoutStream(file) // a 4xx that refused its stream was the streamed form's
      return uploaded
    } catch (e) {
      this.#d.streamer.refusedWithoutStream(file, e) // refused too: a 4xx that refused its stream was the file's
      // Superseded (Uploader.supersede) between its tries: the client does not say whether one of them had its
      // answer lost after the store, so the file counts as maybe stored. Its next attempt (of the new content)
      // looks for that copy first, and an unlink before it deletes what the name holds since (namespace.ts).
      if (mayHaveBeenStored(e) || control.superseded?.aborted) file.mayBeStoredSinceMs = sinceMs
      throw e
    } finally {
      file.sendingSinceMs = undefined
    }
  }

  /** Throws the API's refusal of the file's stream as over the size limit, if the file is still as large (Streamer.tooLargeAlready). */
  #refusedAsTooLarge(file: PendingFile): undefined {
    const refusal = this.#d.streamer.tooLargeAlready(file)
    if (refusal !== undefined) throw refusal
    return undefined
  }

  /** The rest of the file's streamed upload (W12), if one runs: its one request reads the rest of the bytes. */
  async #finishStream(file: PendingFile, onProgress: (sentBytes: number) => void, onFailure: (e: unknown) => void): Promise<UploadResponse | undefined> {
    const read = this.#reading(file)
    try {
      return await this.#d.streamer.finish(file, onProgress, onFailure)
    } finally {
      read()
    }
  }

  /**
   * Holds changes to the file's bytes (PendingFile.sent) until the returned function is called: while one
   * request reads them (UploadRequest.reading), never through an attempt's waits between its requests (a
   * backoff, a 429's reset, the lookup of an earlier attempt's version), which would hold a program's write(2)
   * through a handle still open for as long. No version is made of bytes from before and after a change.
   */
  #reading(file: PendingFile): () => void {
    let done!: () => void
    const sent = new Promise<void>((resolve) => (done = resolve))
    file.sent = sent
    return () => {
      if (file.sent === sent) file.sent = undefined
      done()
    }
  }

  /**
   * Before an attempt is sent, its record says that it may store the file from now on: after a kill -9 before
   * its answer, the next mount looks for the bytes in the library instead of storing them again (replay.ts).
   */
  #noteAttempt(file: PendingFile, sinceMs: number): void {
    file.sendingSinceMs = sinceMs
    try {
      this.#d.journal.noteAttempt(file.id, sinceMs)
    } catch (e) {
      this.#d.log.warn({ path: file.localPath, err: e }, 'the spool journal cannot note this upload attempt (its disk is full); a crash before its answer would make the next mount store it again')
    }
  }

  /** The version an earlier attempt stored, if any; undefined also when the library cannot tell now. */
  async #storedCopy(file: PendingFile, sinceMs: number, answer: string | undefined, control: AttemptControl): Promise<UploadResponse | undefined> {
    const options = { giveUp: control.stopped, ...(control.superseded ? { signal: control.superseded } : {}) }
    const found = await storedCopyOf(this.#d.api, file, sinceMs, options).catch((e: unknown) => {
      this.#d.uploadLog.debug({ path: file.localPath, err: e }, 'cannot tell whether an earlier upload attempt was stored; sending it again')
      return undefined
    })
    if (found) this.#d.uploadLog.info({ path: file.localPath, versionId: versionIdOf(found), answer }, 'the upload was stored, though its answer was an error')
    return found
  }

  /**
   * ImageKit's upload makes a missing folder: a file open while its folder was deleted elsewhere is stored all
   * the same (written bytes are never dropped, W7), and the log says that this brings the folder back. Asked
   * before a file's first attempt only: a retry in an outage would wait for the question's retries too. Never
   * retried itself: a log line is not worth holding the upload's slot through an outage or a 429 storm.
   */
  async #sayIfFolderComesBack(file: PendingFile): Promise<void> {
    const folderName = this.#d.codec.toLocal(parentOf(file.folder)[1]) ?? ''
    if (!(await this.#d.folders.isGone(file.folder, folderName, { giveUp: () => true }))) return
    this.#d.log.warn(
      { path: file.localPath, folder: file.folder },
      'the folder was deleted from the library (elsewhere) while this file was open; storing the file brings the folder back, since written bytes are never dropped',
    )
  }

  /**
   * The upload landed: the listing shows the new version at once (same inode number). A version that replaced
   * one (over a stored file, or, as its answer says, at a name stored elsewhere) makes that one old (R9).
   */
  #landed(file: PendingFile, res: UploadResponse, overStoredFile: boolean): void {
    this.#d.versionStored?.(res.fileId)
    const localName = this.#d.codec.toLocal(file.name)
    if (localName !== undefined && res.filePath === file.remotePath) {
      const times = { createdAtMs: file.createdAtMs, updatedAtMs: this.#d.clock.now() }
      this.#d.dirs.setChild(file.folder, localName, fileInodeFromUpload(res, file.ino, times))
      if (overStoredFile || versionIdOf(res) !== res.fileId) this.#d.dirs.versionAdded(file.folder)
    } else {
      this.#d.dirs.expire(file.folder)
    }
  }
}
