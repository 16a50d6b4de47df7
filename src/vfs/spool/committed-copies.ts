/**
 * What a close committed, kept apart while the file is written again (W3).
 *
 * A file whose last close committed content that is not stored yet (waiting for its `--write-back` upload, or
 * for a retry) has a journal record that promises that content to the next mount after a crash. When the
 * file is opened for writing again, the new writes would change those very bytes in place, so a crash
 * before the next close would leave nothing the record can stand for: a truncate made the data shorter than
 * the record (the file was dropped), an edit made it differ. So before the first change, the committed bytes
 * move aside under a record of their own: renamed when the opener truncates (no copy), copied otherwise.
 * Such a record loses to any other valid record of its path at start-up (recover.ts): it only speaks when the
 * new content was never committed. It goes once the new content is stored, or the file is dropped or renamed.
 */
import { renameSync } from 'node:fs'
import { copyFile, open } from 'node:fs/promises'
import type { Logger } from '../../log.js'
import type { PendingFile } from '../file-node.js'
import type { DataFiles } from './data-files.js'
import type { Journal } from './journal.js'
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
   * Moves (`truncate`: the opener empties the file anyway) or copies the committed bytes aside, under a durable
   * record of their own; `file` keeps its id and data path, on a fresh empty file when moved. The caller holds
   * the file's lock and has its fd open. A failure (the spool's disk full) leaves things as they were.
   */
  async keep(file: PendingFile, truncate: boolean): Promise<void> {
    const id = this.dataFiles.newId()
    const at = this.dataFiles.path(id)
    try {
      if (truncate) {
        renameSync(file.dataPath, at)
        const moved = file.fd
        file.fd = await open(file.dataPath, 'wx+', DATA_FILE_MODE).catch((e: unknown) => {
          renameSync(at, file.dataPath)
          throw e
        })
        await moved?.close()
      } else {
        await copyFile(file.dataPath, at)
        const copy = await open(at, 'r+')
        try {
          await copy.datasync()
        } finally {
          await copy.close()
        }
      }
      await this.journal.write({ ...file.record(), id, committedCopy: true })
    } catch (e) {
      this.log.warn({ path: file.localPath, err: e }, 'cannot keep the last committed content of a file written again; a crash before its next close would lose it')
      await this.dataFiles.remove(id)
      return
    }
    await this.drop(file) // what an earlier close committed: this newer commit replaces it
    file.committedCopy = id
    await this.journal.remove(file.id)
  }

  /** The new content is stored, or the file went: the kept bytes and their record go. */
  async drop(file: PendingFile): Promise<void> {
    const id = file.committedCopy
    if (id === undefined) return
    file.committedCopy = undefined
    await this.journal.remove(id).catch(() => undefined)
    await this.dataFiles.remove(id)
  }
}
