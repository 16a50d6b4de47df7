/**
 * Committing a changed file: its spool bytes and journal record made durable as far as the moment needs
 * (W3), then its upload, now (close, fsync) or after the write-back delay. Also the journal rewrites after
 * later state changes (`persist`), and the errors close and fsync report when an upload fails.
 */
import { open } from 'node:fs/promises'
import { isDiskFull } from '../../full-disk.js'
import type { Logger } from '../../log.js'
import { VfsError } from '../errors.js'
import type { PendingFile } from '../file-node.js'
import type { KeyedMutex } from '../lock.js'
import { crc32Of } from '../spool/checksum.js'
import type { CommittedCopies } from '../spool/committed-copies.js'
import type { DataFiles } from '../spool/data-files.js'
import type { Journal } from '../spool/journal.js'
import { spoolError } from '../spool/spool-error.js'
import { describe, isRefusal, isTooLarge, type Uploader } from '../upload/uploader.js'

/** Files up to this size have their bytes and record synced at the same time (with a checksum in the record). */
const SYNC_TOGETHER_BYTES = 1024 * 1024

export interface CommitterDeps {
  log: Logger
  journal: Journal
  uploader: Uploader
  /** The write path's lock per PendingFile id (content changes against uploads). */
  fileLock: KeyedMutex
  /** `--write-back`: a close leaves the upload to the uploader, this long after. 0: close uploads. */
  writeBackDelayMs: number
  committedCopies: CommittedCopies
  /** Their names in the spool's folder are synced with the bytes (data-files.ts syncNames); synced ones are emptied in the pool. */
  dataFiles: DataFiles
  /**
   * The end of the library's delete of a file unlinked at `remotePath` while open for reading, while one is under
   * way (pending-deletes.ts `gate`), else undefined: a file stored there must wait for it (W8).
   */
  deleteUnderWayAt: (remotePath: string) => Promise<void> | undefined
}

export class Committer {
  readonly #d: CommitterDeps

  constructor(deps: CommitterDeps) {
    this.#d = deps
  }

  needsCommit(file: PendingFile): boolean {
    return !file.unlinked && (file.dirty || (file.unsent && file.state === 'open'))
  }

  /**
   * A close by a process that still maps the file shared and writable (Vfs.flush's `stillMapped`): the release
   * after the unmap uploads it, and what this close left is recorded meanwhile, as for a close while another
   * handle has the file open, so that a crash or kill -9 before the unmap does not lose it (W3).
   */
  keepWhileMapped(file: PendingFile): Promise<void> {
    return this.#keepForLastClose(file, 1)
  }

  /** Whether a flush of a writable handle would commit (and upload) the file now, with no error to report. */
  commitsAtClose(file: PendingFile): boolean {
    return file.openCount === 1 && !file.failedWrite && this.needsCommit(file)
  }

  /**
   * flush (every close(2)): the last handle of a changed file uploads here so close() sees the result. A file
   * left unfit by a failed write fails the close of a handle that could write, never a reader's. A reader's
   * close that is the last one starts the upload and returns once the file is durable in the spool (kept so
   * by the writer's close already, most often), as with --write-back: the writer's close was answered, and a
   * program that only read (a `cat`, a thumbnailer, a poll) has no use for the upload's outcome nor for its
   * retries' wait; a failure is retried in the background.
   */
  async flush(file: PendingFile, writable = true): Promise<void> {
    if (file.openCount > 1 && writable && !file.failedWrite && file.dirty) return this.#keepForLastClose(file)
    if (file.openCount !== 1 || !this.needsCommit(file)) return
    if (file.failedWrite && !writable) return // reverted at its release
    this.#refuseUnfit(file, 'close')
    await this.commit(file, writable ? 'close' : 'reader-close').catch((e: unknown) => { throw spoolError(e, `close ${file.localPath}`) })
  }

  /**
   * fsync: the content is stored remotely when it returns (write-back: the upload starts now); at a path where the
   * delete of a file unlinked there is under way, durable in the spool, its upload following that delete (commit).
   */
  async fsync(file: PendingFile): Promise<void> {
    try {
      if (this.needsCommit(file)) {
        this.#refuseUnfit(file, 'fsync')
        await this.commit(file, 'sync', true).catch((e: unknown) => { throw spoolError(e, `fsync ${file.localPath}`) })
      } else if (file.unsent && file.state !== 'rejected') {
        const deleted = this.#d.deleteUnderWayAt(file.remotePath)
        if (deleted) {
          await this.persist(file).catch((e: unknown) => { throw spoolError(e, `fsync ${file.localPath}`) })
          if (!file.inflight && !file.waitsForDelete) this.#d.uploader.scheduleAfter(file, deleted)
        } else {
          await this.#upload(file)
        }
      }
    } finally {
      // The file stays open, maybe for long: the bytes its upload read are not held for a retire that may never come.
      file.readForUpload = undefined
    }
  }

  /**
   * A file whose write failed (and was not written again) is not stored: its writer was told, and storing
   * what got through would publish a truncated file over the library's good one. Its close fails like the write.
   */
  #refuseUnfit(file: PendingFile, what: 'close' | 'fsync'): void {
    if (!file.failedWrite) return
    throw new VfsError(
      file.failedWrite.code,
      `${what} ${file.localPath}: not stored, since a write into it at offset ${file.failedWrite.at} failed (${file.failedWrite.code}); the library keeps what it had`,
      { level: 'error' },
    )
  }

  /**
   * Journals the content (durable before close returns), then uploads it: now, or after the write-back delay.
   * A close (or an fsync, `fsyncs`) at a path where the delete of a file unlinked there while open for reading is
   * under way (W8) does not wait for that delete, which follows the download of that file's bytes for its
   * readers: the content is made durable in the spool, as with write-back, and uploaded once the delete is done.
   */
  async commit(file: PendingFile, how: 'close' | 'reader-close' | 'sync', fsyncs = false): Promise<void> {
    const { journal, uploader, writeBackDelayMs, log } = this.#d
    /** The spool could not keep the file for a later upload (its disk is full): it is uploaded before returning. */
    let notKept = false
    /** The delete at the file's path its upload waits for (looked at under the file's lock, before the record). */
    let deleted: Promise<void> | undefined
    const upload = await this.#d.fileLock.run(file.id, async () => {
      deleted = how !== 'sync' || fsyncs ? this.#d.deleteUnderWayAt(file.remotePath) : undefined
      if (file.unlinked) return false
      // What O_SYNC writes kept is committed now too, also when they left nothing dirty: no longer written on
      // since (Uploader's writtenOn). keptByWrite goes only with the record below: while the one such a write
      // wrote stays, the next of them changes the file in place, with no copy of the whole file aside.
      file.syncWrittenSinceCommit = false
      if (file.dirty) {
        // The bytes and their record must outlive this call only when the upload does not happen inside it
        // (write-back, empty files) or the caller asked for it (fsync). A close that uploads at once makes
        // them durable only if the upload fails (persist, called by the uploader); a kill -9 meanwhile loses
        // nothing (the page cache survives the process) and the in-flight record lets the next mount finish.
        const durable = how !== 'close' || writeBackDelayMs > 0 || file.size === 0 || deleted !== undefined || journal.isDurable(file.id)
        // A small file's bytes and record are synced at the same time (one wait for the disk instead of two
        // in a row); the record then carries the bytes' checksum, so that one which reached the disk without
        // them is recognised at start (write/replay.ts). Larger files sync their bytes first, then the record.
        const checksum = durable && file.fd && file.size > 0 && file.size <= SYNC_TOGETHER_BYTES ? crc32Of(file.fd.fd, file.size) : undefined
        const dataSynced = durable ? this.#syncData(file) : undefined
        if (checksum === undefined) await dataSynced
        file.dirty = false
        if (file.size === 0) {
          // ImageKit cannot store empty files: kept in the spool, shown, uploaded once it has content.
          uploader.cancel(file)
          file.unsent = false
          file.state = 'empty'
          await journal.write(file.record())
          return false
        }
        file.unsent = true
        file.state = 'waiting'
        file.attempts = 0
        file.keptByWrite = false
        if (durable) {
          await Promise.all([dataSynced, journal.write(file.record(checksum))]).catch((e: unknown) => {
            if (!isDiskFull(e)) throw e
            notKept = true
            log.warn({ path: file.localPath, err: e }, 'the spool cannot keep this file for a later upload (its disk is full); uploading it before the call returns')
          })
        } else {
          this.#recordInflight(file)
        }
      }
      return file.unsent
    })
    if (!upload) return
    if (deleted && !notKept) {
      // Not dirty (written already by a close before, or kept by O_SYNC writes): its record is made durable now.
      if (!journal.isDurable(file.id)) await this.persist(file)
      if (!file.inflight) {
        log.info({ path: file.localPath }, 'closed: the file unlinked at this path while open for reading is not deleted from the library yet (its bytes are being fetched for its readers); this file is kept in the spool and uploaded once that delete is done')
        uploader.scheduleAfter(file, deleted)
        return
      }
    }
    // A reader's close whose file the spool could not keep durably uploads before it returns, as a close did.
    const inBackground = how === 'close' ? writeBackDelayMs > 0 : how === 'reader-close' && journal.isDurable(file.id)
    if (inBackground && !notKept) {
      uploader.schedule(file, writeBackDelayMs)
      return
    }
    await this.#upload(file)
  }

  /**
   * A close of a changed file that another handle still has open (a reader, another writer): that handle's
   * close is the last, and uploads it (W2). Until then what this close left is recorded, durably as at a
   * write-back close, so that a crash or kill -9 meanwhile leaves it to the next mount (W3); a change the other
   * handle then makes below its end keeps those bytes aside first (committed-copies.ts neededFrom). A spool
   * that cannot take the record (its disk full) leaves that to the last close, as before.
   */
  async #keepForLastClose(file: PendingFile, minOpenCount = 2): Promise<void> {
    await this.#d.fileLock.run(file.id, async () => {
      if (file.openCount < minOpenCount) return
      await this.#keep(file, true).catch((e: unknown) => {
        this.#d.log.warn({ path: file.localPath, err: e }, 'the spool cannot record a file closed while another open or a shared map still has it; a crash before its last close would lose it')
      })
    })
  }

  /**
   * A write through a handle opened with O_SYNC or O_DSYNC (W3): before it returns, the file as written so far
   * is kept durably in the spool as a close another handle outlives keeps it (its bytes fdatasync'ed, its record
   * synced), so a crash or kill -9 right after it leaves the file to the next mount; the upload still waits for
   * the last close (or an fsync), since uploading at every write would store the whole file again each time.
   * Writes that wait together share a keep: the first one's covers every write that landed before it began,
   * and the next covers all that landed meanwhile, so the rest find nothing left to keep (the journal's group
   * commit shares the record syncs of several files too). A spool that cannot keep it fails the write (ENOSPC,
   * EIO); its bytes stay, for the close to upload.
   */
  async keepWritten(file: PendingFile): Promise<void> {
    await this.#d.fileLock.run(file.id, () => this.#keep(file, false))
      .catch((e: unknown) => { throw spoolError(e, `write ${file.localPath}`) })
  }

  /**
   * The file as written so far, durable in the spool under a record of an open file. The record and checksum
   * are taken before the first wait, so a write landing meanwhile is left marked for the next keep. Not
   * `checksummed` (a sync write's keep): the bytes are synced before the record, which carries no checksum
   * that the next such write in place would break (W3: one in flight at a crash may be partly there, as
   * on a disk). The caller holds the file's lock.
   */
  async #keep(file: PendingFile, checksummed: boolean): Promise<void> {
    if (file.unlinked || !file.dirty || file.size === 0 || file.failedWrite) return
    const checksum = checksummed && file.fd && file.size <= SYNC_TOGETHER_BYTES ? crc32Of(file.fd.fd, file.size) : undefined
    const was = {
      unsent: file.unsent, state: file.state, attempts: file.attempts, keptByWrite: file.keptByWrite, syncWrittenSinceCommit: file.syncWrittenSinceCommit,
    }
    file.dirty = false // a write meanwhile sets it again
    file.unsent = true
    file.state = 'open'
    file.attempts = 0
    file.keptByWrite = !checksummed
    file.syncWrittenSinceCommit = !checksummed
    const record = file.record(checksum)
    try {
      const dataSynced = this.#syncData(file)
      if (checksum === undefined) await dataSynced
      await Promise.all([dataSynced, this.#d.journal.write(record)])
    } catch (e) {
      Object.assign(file, was)
      file.dirty = true
      throw e
    }
  }

  /**
   * Rewrites a file's record after a state change (an upload failed, a rename, new times). From here on the
   * spool copy may be the only copy for a while, so bytes and record are made to survive a power loss.
   */
  async persist(file: PendingFile): Promise<void> {
    if (file.unlinked) return
    if (!file.unsent && file.state !== 'empty' && file.state !== 'rejected') return
    // Changed since the close that committed what the records promise (still open): they keep that content.
    if (this.#d.committedCopies.changedSinceCommit(file)) return this.#d.committedCopies.follow(file)
    try {
      await this.#syncData(file)
    } catch (e) {
      this.#d.log.error({ path: file.remotePath, err: e }, 'could not sync the spooled copy of a pending upload')
    }
    await this.#d.journal.write(file.record())
  }

  /**
   * The record of an upload that runs inside close(2) only lets the next mount finish it after a kill -9. When
   * the spool's disk is too full to take it, the upload goes ahead all the same (close reports its outcome);
   * only that crash window is left uncovered, and the log says so.
   */
  #recordInflight(file: PendingFile): void {
    try {
      this.#d.journal.writeInflight(file.record())
    } catch (e) {
      this.#d.log.warn({ path: file.localPath, err: e }, 'the spool journal cannot record this upload (its disk is full); uploading it all the same, but a crash before it lands would lose it')
    }
  }

  async #upload(file: PendingFile): Promise<void> {
    try {
      await this.#d.uploader.upload(file)
    } catch (e) {
      throw uploadError(file, e) // the uploader made the spooled copy durable (persist) before this
    }
  }

  /**
   * fdatasync of the spooled bytes, once per change (the fd of an open file, else the path), then of the spool
   * folder's new names (a new data file's among them; none to sync most of the time): both must survive a power
   * loss. In that order: where the file's sync already made its name durable (ext4's journal commits both), the
   * folder's costs next to nothing, while run at the same time both waited for the disk.
   */
  async #syncData(file: PendingFile): Promise<void> {
    await this.#syncBytes(file)
    await this.#d.dataFiles.syncNames()
  }

  async #syncBytes(file: PendingFile): Promise<void> {
    if (file.dataSynced) return
    const changes = file.changes // a write landing during the sync may not be covered by it
    const fh = file.fd ?? (await open(file.dataPath, 'r'))
    try {
      await fh.datasync()
      this.#d.dataFiles.noteSynced(file.id)
    } finally {
      if (fh !== file.fd) await fh.close()
    }
    if (file.changes === changes) file.dataSynced = true
  }
}

/**
 * What close or fsync reports when the file's upload failed. A refusal for good (the uploader logged it once,
 * with the API's answer and the spool file) is EFBIG over the size limit (W6) and EPERM otherwise ("Operation not
 * permitted": the library will not take this file, and, unlike EIO, trying again as it is changes nothing);
 * logged by the FUSE op at debug only, or each refusal was said twice. The same errno when the file was written
 * while the refused attempt ran (its state is not rejected then): what this call committed was refused all the
 * same, and no timer retries it; the close or fsync after those writes uploads the new content (W3), which the
 * message says, at warn (the uploader said the refusal at info only). A failure retried in the background is EIO.
 */
function uploadError(file: PendingFile, e: unknown): VfsError {
  if (isTooLarge(e) && file.state === 'rejected') {
    return new VfsError('EFBIG', `upload ${file.remotePath}: larger than the account's upload limit; kept in the spool`, { cause: e, level: 'debug' })
  }
  if (isRefusal(e) && file.state === 'rejected') {
    return new VfsError('EPERM', `upload ${file.remotePath}: refused by the library; kept in the spool, not retried until it is written again or renamed`, { cause: e, level: 'debug' })
  }
  if (isRefusal(e)) {
    const what = isTooLarge(e) ? "larger than the account's upload limit" : `refused by the library (${describe(e)})`
    return new VfsError(isTooLarge(e) ? 'EFBIG' : 'EPERM', `upload ${file.remotePath}: ${what}, but the file was written since: ` +
      'kept in the spool, not retried on a timer; the close or fsync after those writes uploads the new content', { cause: e, level: 'warn' })
  }
  return new VfsError('EIO', `upload ${file.remotePath}: ${describe(e)}; kept in the spool and retried in the background`, { cause: e, level: 'error' })
}
