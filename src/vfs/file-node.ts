/**
 * PendingFile: per-file write state, shared by every handle open on the file. Its bytes live in one
 * spool file (`dataPath`); it shows in listings (the overlay) from the moment it is created or opened for
 * writing until its upload landed and the last handle closed.
 *
 *   open ──write──▶ dirty ──last close/fsync──▶ committed (journal record) ──▶ waiting/uploading ──▶ landed
 *                                    size 0 ──▶ empty (kept, no upload)        └─▶ failed (retried) / rejected
 */
import type { FileHandle } from 'node:fs/promises'
import type { FileInode } from './inode.js'
import type { UploadStatus } from './types.js'
import type { VfsCode } from './errors.js'
import type { UploadResponse } from '../imagekit/types.js'
import type { StreamedUpload } from './upload/streamer.js'
import type { WantedDetails } from './wanted-details.js'
import type { JournalRecord, PutBackNote, RecordState, TooLargeNote } from './spool/record.js'
import { keptRejectedAtMount } from './spool/record.js'
import { joinRemote } from './name.js'

export type PendingState = 'open' | 'waiting' | 'uploading' | 'retrying' | 'failed' | 'rejected' | 'empty' | 'clean'

/** The remote file an upload replaces: a new version keeps its id and privacy. */
export interface RemoteBase {
  fileId: string
  isPrivateFile: boolean
  /** The Upload API resets custom coordinates on overwrite and has no flag to keep them: they are resent. */
  customCoordinates?: string
  /** An unpublished (draft) file: a new version is uploaded as a draft too, not published by the overwrite. */
  draft?: true
}

/** What an overwrite of `node` must keep (tags and custom metadata are kept by the API when asked). */
export function remoteBaseOf(node: { fileId: string; isPrivateFile: boolean; customCoordinates: string | undefined; isPublished?: boolean }): RemoteBase {
  return {
    fileId: node.fileId,
    isPrivateFile: node.isPrivateFile,
    ...(node.customCoordinates ? { customCoordinates: node.customCoordinates } : {}),
    ...(node.isPublished === false ? { draft: true as const } : {}),
  }
}

export class PendingFile {
  /** Handles open on the file (read and write). */
  openCount = 0
  /** Of those, the ones opened for writing: a program that has one may write again after any close of another. */
  writers = 0
  /** Changed since the last commit (journal record + upload request). */
  dirty = false
  /** The spooled bytes were fdatasync'ed since they last changed. */
  dataSynced = false
  /** Committed content that is not stored remotely yet. */
  unsent = false
  state: PendingState = 'open'
  attempts = 0
  sentBytes = 0
  lastError: string | undefined
  /** Why the library refused the file for good (state rejected): its answer, as ImageKitError words it (no key, no URL). */
  refusal: string | undefined
  /** Refused as over the upload size limit (state rejected): its size then, and the limit if the answer said it. */
  tooLarge: TooLargeNote | undefined
  nextAttemptAtMs: number | undefined
  /**
   * Its upload waits until the delete of a file unlinked at its path is done (pending-deletes.ts): its close
   * answered once it was durable in the spool (W8), and `ikfs status` says what it waits for.
   */
  waitsForDelete = false
  /** Bumped to cancel a scheduled (write-back or retry) upload. */
  generation = 0
  fd: FileHandle | undefined
  /**
   * The upload in progress, if any. A handle still open may change the content under it (a program that
   * goes on writing after a failed fsync, while the retry runs): `changes` tells the upload it sent older bytes.
   */
  inflight: Promise<void> | undefined
  /** Bumped by every change of the content (write, truncate). */
  changes = 0
  /**
   * `changes` at the last close whose commit was left to the release that follows it (another process's copy
   * of the descriptor, vfs.ts flush). Its program saw that close succeed; when the session ends before the
   * release arrives (the kernel drops it), the file is committed as that close left it if nothing changed it since.
   */
  changesAtClose: number | undefined
  /**
   * Its journal record was last written by a write through an O_SYNC or O_DSYNC handle (Committer.keepWritten),
   * with no checksum: what it promises is the file as such writes leave it, so the next of them changes it in place.
   */
  keptByWrite = false
  /**
   * Written through an O_SYNC or O_DSYNC handle since its last close or fsync: those writes left it clean (kept
   * durably) but committed nothing (Uploader's writtenOn). A commit clears it; keptByWrite outlives a commit
   * that writes no record (nothing dirty), as the record it speaks of does.
   */
  syncWrittenSinceCommit = false
  /** The id of what its last close committed, kept aside while it is written again (spool/committed-copies.ts). */
  committedCopy: string | undefined
  /** Removed by unlink (or replaced by a rename) while handles were open: never upload again. */
  unlinked = false
  /** An unlink is deleting the stored file (JournalRecord.unlinking). */
  unlinking = false
  /** With `unlinking`: the version of the stored file that unlink saw current (JournalRecord.unlinkedVersionId). */
  unlinkedVersionId: string | undefined
  /** Every byte so far was appended at the end of a file that started empty: it may be streamed (streamer.ts). */
  appendOnly = false
  /** Writes to the spool file in progress (an upload request that starts reading the bytes waits for them). */
  readonly writesUnderWay = new Set<Promise<void>>()
  get writesInFlight(): number {
    return this.writesUnderWay.size
  }
  /** The upload streaming this file while it is written, if any. */
  streamed: StreamedUpload | undefined
  /**
   * Stopped by a rename or unlink in progress (write-path.ts quiesce), which queues its upload again itself;
   * an upload asked for meanwhile (a close, an fsync) waits for `ended`, so it goes to the path the op leaves.
   */
  quiesced: { ended: Promise<void>; end: () => void } | undefined
  /** Holds an upload slot taken ahead of its upload (by a streamed upload). */
  slotReserved = false
  /** The version id the last upload of these bytes stored (its spool copy may be reused: spool/recent-copies.ts). */
  storedVersionId: string | undefined
  /**
   * The bytes an upload attempt last read of the spool copy whole (a small file), and `changes` then: while
   * `changes` is the same, they are the spool copy's bytes, and a retire keeps them in memory from here instead
   * of reading the file once more (spool/recent-bytes.ts). Dropped at the next change.
   */
  readForUpload: { changes: number; bytes: Buffer } | undefined
  /**
   * Copied server-side (copy_file_range): the content is this remote file's, and the spool file is still empty;
   * it is filled from the remote bytes before any read, write or truncate of the open file.
   */
  remoteContent: FileInode | undefined
  /** That fill, while it runs. */
  filling: Promise<void> | undefined
  /** Tags and metadata set (setxattr) before the upload: set right after it lands (wanted-details.ts). */
  wanted: WantedDetails | undefined
  /**
   * These bytes are stored (this upload answered) but `wanted` could not be set yet: a retry sets it without
   * uploading again. Cleared when the content or the destination changes.
   */
  storedUpload: UploadResponse | undefined
  /**
   * An upload attempt of this file ended in an error after which its bytes may be stored all the same (a 5xx,
   * a lost answer), or stored them and their tags and metadata are not set yet, begun at this time: the next
   * attempt, or the next mount's, first looks for them (upload/stored-copy.ts).
   */
  mayBeStoredSinceMs: number | undefined
  /**
   * An upload attempt is under way, begun at this time: it may store the bytes before its answer comes (and
   * the journal record says so, for the next mount after a kill -9).
   */
  sendingSinceMs: number | undefined
  /**
   * Resolves once the request of that attempt now reading the spool bytes has read them (or ended): until then
   * a change through a handle still open (a child's inherited descriptor, another handle during a retry) waits
   * (write/content.ts), so no version is made of bytes from before and after it. Set per request, never through
   * the waits between them.
   */
  sent: Promise<void> | undefined
  /**
   * A write into the spool failed at this offset (its disk full, say), and nothing has been written there
   * since: the file is not what its writer meant, so its last close stores nothing and fails with that
   * write's errno (W14). Writing that offset again, or truncating below it, makes the file whole again.
   */
  failedWrite: { at: number; code: VfsCode } | undefined
  /** Its base file is to be put back at its path before its upload (JournalRecord.putBack, put-back.ts). */
  putBack: PutBackNote | undefined

  constructor(
    readonly id: string,
    readonly dataPath: string,
    public folder: string,
    public name: string,
    public localPath: string,
    public ino: number,
    public size: number,
    public mtimeMs: number,
    readonly createdAtMs: number,
    public base: RemoteBase | undefined,
  ) {}

  get remotePath(): string {
    return joinRemote(this.folder, this.name)
  }

  /**
   * Must stay in the spool (and the overlay) even with no handle open. Not once unlinked: what a handle wrote
   * after the unlink (a temporary file, SQLite's -shm) made it dirty, but is never uploaded.
   */
  get mustKeep(): boolean {
    if (this.openCount > 0) return true
    return !this.unlinked && (this.dirty || this.unsent || this.state === 'empty' || this.inflight !== undefined)
  }

  /**
   * A program has it open for writing, or open with changes no close or fsync has committed yet: stopping now
   * would fail its next write and lose those bytes (a close through a duplicate of its descriptor may have
   * stored what it had written so far: it is still writing).
   */
  get beingWritten(): boolean {
    return this.openCount > 0 && (this.dirty || this.writers > 0) && !this.unlinked
  }

  /** Its newest bytes are not stored remotely (and an empty file never is until it has content). */
  get uploadToCome(): boolean {
    return this.dirty || this.unsent || this.state === 'empty'
  }

  /** Its spool journal record; `crc32` when its bytes are synced together with it (journal.ts). */
  record(crc32?: number): JournalRecord {
    const state: RecordState = this.state === 'empty' || this.state === 'rejected' || this.state === 'failed' ? this.state : 'pending'
    const mayBeStoredSinceMs = this.mayBeStoredSinceMs ?? this.sendingSinceMs
    return {
      v: 1, id: this.id, folder: this.folder, name: this.name, localPath: this.localPath, size: this.size,
      mtimeMs: this.mtimeMs, state, attempts: this.attempts,
      ...(this.wanted ? { details: this.wanted } : {}),
      ...(this.base ? { fileId: this.base.fileId, isPrivateFile: this.base.isPrivateFile, customCoordinates: this.base.customCoordinates } : {}),
      ...(this.base?.draft ? { draft: true } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.state === 'rejected' && this.refusal !== undefined ? { refusal: this.refusal } : {}),
      ...(this.state === 'rejected' && this.tooLarge !== undefined ? { tooLarge: this.tooLarge } : {}),
      ...(crc32 !== undefined ? { crc32 } : {}),
      ...(this.unlinking ? { unlinking: true as const, ...(this.unlinkedVersionId !== undefined ? { unlinkedVersionId: this.unlinkedVersionId } : {}) } : {}),
      ...(this.putBack ? { putBack: this.putBack } : {}),
      ...(mayBeStoredSinceMs !== undefined ? { mayBeStoredSinceMs } : {}),
    }
  }

  status(): UploadStatus {
    // Changes to come first; then an upload under way (a close stores while the program still has the file open).
    const { state: now } = this
    const state = this.beingWritten && (this.dirty || isIdle(now)) ? 'writing' : isIdle(now) ? 'waiting' : now
    return {
      localPath: this.localPath,
      size: this.size,
      sentBytes: this.sentBytes,
      state,
      attempts: this.attempts,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(state === 'rejected' && this.refusal !== undefined ? { refusal: this.refusal } : {}),
      ...(state === 'rejected' && keptRejectedAtMount(this, this.size) ? { keptRejectedAtMount: true as const } : {}),
      ...(this.nextAttemptAtMs !== undefined && (state === 'failed' || state === 'waiting') ? { nextAttemptAtMs: this.nextAttemptAtMs } : {}),
      ...(this.waitsForDelete && state === 'waiting' ? { waitsFor: 'delete' as const } : {}),
    }
  }
}

/** Open, or stored and unchanged: no upload is under way or scheduled (shown as waiting, or writing while open). */
function isIdle(state: PendingState): state is 'open' | 'clean' {
  return state === 'open' || state === 'clean'
}
