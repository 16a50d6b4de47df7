/**
 * What a close committed, kept apart while the file is written again (W3).
 *
 * A file whose last close committed content that is not stored yet (waiting for its `--write-back` upload, or
 * for a retry) has a journal record that promises that content to the next mount after a crash. When the
 * file is opened for writing again, the new writes would change those very bytes in place, so a crash
 * before the next close would leave nothing the record can stand for: a truncate made the data shorter than
 * the record (the file was dropped), an edit made it differ. So before the first change, the committed bytes
 * move aside under a record of their own: given a second name when the opener truncates (a hard link, no
 * copy), copied otherwise.
 * Such a record loses to any other valid record of its path at start-up (recover.ts): it only speaks when the
 * new content was never committed. It goes once the new content is stored, or the file is dropped or renamed
 * with no change since its last close (a rename of a file changed since moves it along: follow).
 */
import { linkSync, renameSync, statSync, truncateSync } from 'node:fs'
import { copyFile, open, unlink, type FileHandle } from 'node:fs/promises'
import type { Logger } from '../../log.js'
import type { PendingFile } from '../file-node.js'
import type { DataFiles } from './data-files.js'
import type { Journal, JournalRecord } from './journal.js'
import { DATA_FILE_MODE } from './spool.js'

export class CommittedCopies {
  constructor(
    readonly dataFiles: DataFiles,
    readonly journal: Journal,
    readonly log: Logger,
  ) {}

  /**
   * Whether an open for writing with these flags must keep `file`'s committed content first: it has some that
   * only its journal record promises, and the opener may change it (appending does not: start-up cuts the
   * data back to the record's size).
   */
  needed(file: PendingFile, truncate: boolean, append: boolean): boolean {
    if (!file.unsent || file.dirty || file.size === 0 || !this.journal.isDurable(file.id)) return false
    return truncate || !append
  }

  /**
   * Whether a change from byte `from` on (a write there, a truncate to it) must keep `file`'s committed content
   * first: its journal record promises bytes that are still in the data file in place, and the change reaches
   * below their end. This also holds for a handle that stayed open across the commit (a child that inherited
   * the descriptor writes on after the opener's close; a duplicate closed), and after appends that left the
   * file changed since (bytes past the record's end are cut back at start-up; those below are not).
   */
  neededFrom(file: PendingFile, from: number): boolean {
    // Also with a kept copy: a close since (by another handle) committed newer content under the file's own record.
    if (!file.unsent) return false
    const recorded = this.journal.durableRecord(file.id)
    return recorded !== undefined && recorded.size > 0 && from < recorded.size
  }

  /**
   * Moves (`truncate`: the opener empties the file anyway) or copies the committed bytes aside, under a durable
   * record of their own; `file` keeps its id and data path, on a fresh empty file when moved. The caller holds
   * the file's lock and has its fd open. A failure (the spool's disk full) leaves things as they were.
   */
  async keep(file: PendingFile, truncate: boolean): Promise<void> {
    // What the record promises (the file may have been appended to since: those bytes are not kept).
    const recorded = this.journal.durableRecord(file.id)
    const id = this.dataFiles.newId()
    if (truncate) return this.#move(file, recorded, id)
    const at = this.dataFiles.path(id)
    try {
      await copyFile(file.dataPath, at)
      this.dataFiles.placed()
      const copy = await open(at, 'r+')
      try {
        if (recorded && (await copy.stat()).size > recorded.size) await copy.truncate(recorded.size) // appended since
        await copy.datasync()
      } finally {
        await copy.close()
      }
      await this.#record(id, recorded ?? file.record())
    } catch (e) {
      if (await this.#giveUp(file, id, e)) await this.dataFiles.remove(id)
      return
    }
    await this.drop(file) // what an earlier close committed: this newer commit replaces it
    file.committedCopy = id
    await this.journal.remove(file.id)
  }

  /**
   * keep() for an opener that truncates: the bytes change names instead of being copied. In an order where a
   * kill -9 at any point leaves one record whose data file holds them: a second name for them (a hard link)
   * and its record first, then the file's own record goes, and only then does its name get an empty file.
   */
  async #move(file: PendingFile, recorded: JournalRecord | undefined, id: string): Promise<void> {
    const at = this.dataFiles.path(id)
    const fresh = this.dataFiles.path(this.dataFiles.newId())
    let fd: FileHandle | undefined
    try {
      linkSync(file.dataPath, at)
      this.dataFiles.placed()
      if (recorded && statSync(at).size > recorded.size) truncateSync(at, recorded.size) // appended since: not promised
      fd = await open(fresh, 'wx+', DATA_FILE_MODE)
      await this.#record(id, recorded ?? file.record())
    } catch (e) {
      await fd?.close().catch(() => undefined)
      await unlink(fresh).catch(() => undefined)
      if (await this.#giveUp(file, id, e)) await unlink(at).catch(() => undefined)
      return
    }
    await this.drop(file) // what an earlier close committed: this newer commit replaces it
    file.committedCopy = id
    try {
      await this.journal.remove(file.id)
    } catch (e) {
      // Its del line not written (the disk full) or not synced: the record is gone all the same (the journal
      // forgets it at once and appends its del ahead of its next line, or its next rewrite drops it), and after a
      // crash before then it is refused, as its data file is about to be emptied, shorter than it: the kept
      // copy's record speaks then, as it would have.
      this.log.warn({ path: file.localPath, err: e }, 'the journal could not note that a file written again left its committed content to a kept copy; a crash before its next close would report that record as refused, and keep that content')
    }
    try {
      renameSync(fresh, file.dataPath)
    } catch (e) {
      await fd?.close().catch(() => undefined)
      await unlink(fresh).catch(() => undefined)
      await this.#unmove(file, recorded, id)
      throw e
    }
    this.dataFiles.placed() // synced with the file's next durable record (committer.ts)
    const moved = file.fd
    file.fd = fd
    await moved?.close()
  }

  /**
   * The move's rename failed after the file's own record went: the file is still on its committed bytes, which
   * the kept copy shares (a second name, the same inode), and emptying that copy when it goes (drop) would empty
   * the file's data. So the file's own record comes back and the copy goes by name only, its record first; if
   * either fails, the copy stays the file's committed copy, its bytes no longer shared once its next move works.
   */
  async #unmove(file: PendingFile, recorded: JournalRecord | undefined, id: string): Promise<void> {
    try {
      await this.journal.write(recorded ?? file.record())
      await this.journal.remove(id)
    } catch {
      return
    }
    file.committedCopy = undefined
    await unlink(this.dataFiles.path(id)).catch(() => undefined)
  }

  /**
   * The kept bytes' name and their record, durably: the name too before the file's own record goes (keep), else a
   * power loss could leave neither. Both have settled when this fails, so no cleanup races the record's write.
   */
  async #record(id: string, record: JournalRecord): Promise<void> {
    const results = await Promise.allSettled([this.dataFiles.syncNames(), this.journal.write({ ...record, id, committedCopy: true })])
    for (const result of results) if (result.status === 'rejected') throw result.reason
  }

  /**
   * keep() failed (the spool's disk full, a failed sync of the folder): the kept copy's record goes, before its
   * bytes, which the caller removes only when this says the record is gone (true). A record left without its
   * data file would make the next start report a lost upload; one left with them loses to the file's own.
   */
  async #giveUp(file: PendingFile, id: string, e: unknown): Promise<boolean> {
    this.log.warn({ path: file.localPath, err: e }, 'cannot keep the last committed content of a file written again; a crash before its next close would lose it')
    return this.journal.remove(id).then(() => true, () => false)
  }

  /**
   * The records of what a close committed (the file's own record, or its kept copy's) take the file's path, base,
   * times, details and unlink note now (a rename, a utimens or setxattr, an unlink), as their content was
   * committed, without the changes since (no close committed them): a crash before its next close leaves that
   * content, where the file is now.
   */
  async follow(file: PendingFile): Promise<void> {
    const now = file.record()
    for (const recorded of this.#committed(file)) {
      await this.journal.write({
        ...now, id: recorded.id, size: recorded.size,
        ...(recorded.crc32 !== undefined ? { crc32: recorded.crc32 } : {}),
        ...(recorded.committedCopy === true ? { committedCopy: true } : {}),
      })
    }
  }

  /** Whether `file` is changed since a close committed content that records still promise (see follow). */
  changedSinceCommit(file: PendingFile): boolean {
    return file.dirty && this.hasCommitted(file)
  }

  /** Whether `file` has content a close committed that a record promises (durably): its own, or its kept copy. */
  hasCommitted(file: PendingFile): boolean {
    return this.#committed(file).length > 0
  }

  #committed(file: PendingFile): JournalRecord[] {
    return [file.committedCopy, file.id].flatMap((id) => (id === undefined ? [] : (this.journal.durableRecord(id) ?? [])))
  }

  /**
   * The new content is stored, or the file went: the kept bytes and their record go. The bytes go also when the
   * record's del could not be written (a full disk; the journal appends it later): unlike a file's own record, a
   * kept copy's never speaks without its bytes (recover.ts: no lost upload reported), whereas one found with them
   * after a crash would put the older content back over what was stored since.
   */
  async drop(file: PendingFile): Promise<void> {
    const id = file.committedCopy
    if (id === undefined) return
    file.committedCopy = undefined
    await this.journal.remove(id).catch(() => undefined)
    await this.dataFiles.remove(id)
  }
}
