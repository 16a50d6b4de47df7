/**
 * What the spool remembers about a file whose newest bytes are not stored remotely yet: its destination,
 * size, upload state and the tags and metadata set on it. Records never hold a key, a URL or an Authorization header.
 */
import type { WantedDetails } from '../wanted-details.js'

export type RecordState = 'pending' | 'failed' | 'rejected' | 'empty'

export interface JournalRecord {
  v: 1
  id: string
  /** Destination: remote folder (`/` or `/a/b`) and remote name, as encoded (name.ts). */
  folder: string
  name: string
  /** Local path at the time of writing, for `ikfs status`. */
  localPath: string
  size: number
  mtimeMs: number
  /** The remote file this upload overwrites (a new version keeps its id and privacy). */
  fileId?: string
  isPrivateFile?: boolean
  customCoordinates?: string
  /** The remote file is unpublished (RemoteBase.draft). */
  draft?: boolean
  /** What a close committed, kept while the file is written again: any other record of its path wins. */
  committedCopy?: boolean
  /** Tags and metadata set through the mount, to be set once the upload lands. */
  details?: WantedDetails
  state: RecordState
  attempts: number
  lastError?: string
  /** State rejected: the library's answer that refused the file (PendingFile.refusal). */
  refusal?: string
  /** State rejected as over the account's upload size limit: what it was refused at (PendingFile.tooLarge). */
  tooLarge?: TooLargeNote
  /**
   * CRC-32 of the first `size` bytes, when bytes and record were synced at the same time: a record that
   * reached the disk without its bytes (the machine went down before close returned) does not match them.
   */
  crc32?: number
  /**
   * An upload attempt of the file that began at this time (the daemon's clock) may have stored it: the daemon
   * stopped before its answer came, or the answer was an error after which the bytes may be stored all the
   * same, or it stored them and the tags and metadata set on the file are not set yet. The next attempt, also
   * the next mount's, first looks for them in the library (upload/stored-copy.ts) instead of storing them again.
   */
  mayBeStoredSinceMs?: number
  /**
   * An unlink of the file was under way: its remote delete may be done. Noted before that delete is sent, so
   * that the next mount drops the file instead of uploading it back after a crash in between (W8).
   */
  unlinking?: true
  /**
   * With `unlinking`: the version of the stored file (`fileId`) the unlink saw current. The next mount's finish
   * deletes the file only while that version still is (another machine's upload to the path since is a new
   * version of the same file, which the delete by id would take too: write/interrupted-unlink.ts). Absent in
   * records from before it was noted, and when an upload attempt of this file may have stored a version unseen
   * (its answer lost): the file is deleted whatever its version then, as before.
   */
  unlinkedVersionId?: string
  /**
   * A save that moved the original aside and deleted that backup (W17): the base file (`fileId`) is to be
   * renamed from the backup's path back to this record's, after `drop` (this file's own earlier upload, at
   * this record's path) is deleted. Noted before either is sent, so the next mount finishes it before the upload.
   */
  putBack?: PutBackNote
}

/**
 * A refusal over the upload size limit (W6): the file's size when refused, and the limit when the library's answer
 * said it. The next mount does not send such a file again while it is still that large (or over that limit): only
 * a change of the account's limit could change the answer, and each try of a multi-GiB file is a whole upload.
 */
export interface TooLargeNote {
  size: number
  limitBytes?: number
}

export function isTooLargeNote(x: unknown): x is TooLargeNote {
  const n = x as Partial<TooLargeNote> | null
  return typeof n === 'object' && n !== null && Number.isSafeInteger(n.size) &&
    (n.limitBytes === undefined || Number.isSafeInteger(n.limitBytes))
}

/** Whether a file of `size` bytes is still over the limit it was refused at (`note`): the account would refuse it again. */
export function stillTooLarge(note: TooLargeNote, size: number): boolean {
  return size >= note.size || (note.limitBytes !== undefined && size > note.limitBytes)
}

/**
 * Whether the next mount leaves a file with `size` spool bytes unsent, kept rejected until it is written again or
 * renamed (W6): its state is rejected, its note says it was refused as over the size limit, and it is as large
 * still. Any other refused file, one refused as too large by an ikfs that wrote no note included, is tried once
 * more (W3). The one rule: replay.ts acts on it, PendingFile.status tells it (`ikfs status`, the line of a stop
 * cut short).
 */
export function keptRejectedAtMount(file: { state: string; tooLarge?: unknown }, size: number): boolean {
  return file.state === 'rejected' && isTooLargeNote(file.tooLarge) && stillTooLarge(file.tooLarge, size)
}

export interface PutBackNote {
  /** The backup's remote path, in the record's folder. */
  from: string
  drop?: string
}

export function isPutBackNote(x: unknown): x is PutBackNote {
  const n = x as Partial<PutBackNote> | null
  return typeof n === 'object' && n !== null && typeof n.from === 'string' && (n.drop === undefined || typeof n.drop === 'string')
}

export function isRecord(x: unknown): x is JournalRecord {
  const r = x as Partial<JournalRecord> | null
  return (
    typeof r === 'object' && r !== null && r.v === 1 && typeof r.id === 'string' && /^[0-9a-f]+$/.test(r.id) &&
    typeof r.folder === 'string' && typeof r.name === 'string' && typeof r.size === 'number' &&
    typeof r.state === 'string'
  )
}
