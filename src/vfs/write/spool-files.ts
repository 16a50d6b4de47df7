/**
 * The data files of pending files in the spool: a new one for new content (the kept copy of a version's bytes
 * when there is one, spool/recent-copies.ts), and their end when the file is forgotten, kept a while or removed.
 */
import { open, type FileHandle } from 'node:fs/promises'
import type { PendingFile } from '../file-node.js'
import type { FileInode } from '../inode.js'
import type { CommittedCopies } from '../spool/committed-copies.js'
import { removeUnrecorded, type DataFiles } from '../spool/data-files.js'
import type { Journal } from '../spool/journal.js'
import type { RecentCopies } from '../spool/recent-copies.js'
import type { PendingFiles } from './pending-files.js'

export interface SpoolFilesDeps {
  pending: PendingFiles
  journal: Journal
  dataFiles: DataFiles
  recent: RecentCopies
  committedCopies: CommittedCopies
}

export class SpoolFiles {
  readonly #d: SpoolFilesDeps

  constructor(deps: SpoolFilesDeps) {
    this.#d = deps
  }

  /**
   * A data file for new content: the kept copy of `bytesOf`'s version when there is one (its bytes already in
   * place: `filled`), else an empty one.
   */
  async newFor(bytesOf: FileInode | undefined): Promise<{ id: string; fh: FileHandle; filled: boolean }> {
    const { recent, dataFiles } = this.#d
    const kept = bytesOf && recent.take(bytesOf.fileId, bytesOf.versionId, bytesOf.size)
    if (kept) {
      try {
        return { id: kept.id, fh: kept.fh ?? (await open(dataFiles.path(kept.id), 'r+')), filled: true }
      } catch {
        await dataFiles.remove(kept.id, kept.fh) // gone meanwhile: fetched again below
      }
    }
    return { ...(await dataFiles.create()), filled: false }
  }

  /**
   * Forgets a file nobody has open; when its bytes are what its last upload stored, the data file is kept a
   * while for a rename over another file or a reopen (recent-copies.ts) instead of being removed.
   */
  async retire(file: PendingFile, fd?: FileHandle): Promise<void> {
    const fileId = file.base?.fileId
    const versionId = file.storedVersionId
    if (fileId === undefined || versionId === undefined || file.openCount > 0 || file.unlinked || file.dirty || file.unsent || file.state !== 'clean') {
      return this.drop(file, fd)
    }
    this.#d.pending.remove(file)
    await this.#d.journal.remove(file.id).catch(() => undefined)
    // Its removal not in the journal yet (the disk full): the data file stays until it is, not kept as a copy.
    if (this.#d.journal.isUnremoved(file.id)) return removeUnrecorded(this.#d.journal, this.#d.dataFiles, file.id, fd)
    // The bytes its upload read, if nothing changed them since: the spool copy's, so not read again.
    const read = file.readForUpload
    const bytes = read && read.changes === file.changes && read.bytes.length === file.size && !file.remoteContent ? read.bytes : undefined
    file.readForUpload = undefined
    await this.#d.recent.keep(fileId, versionId, { id: file.id, fh: fd, size: file.size }, bytes)
  }

  /** Forgets a file; its data file goes once no handle needs it (`fd`: its spool fd, given up by the caller). */
  async drop(file: PendingFile, fd?: FileHandle): Promise<void> {
    this.#d.pending.remove(file)
    await this.#d.committedCopies.drop(file)
    await this.#d.journal.remove(file.id).catch(() => undefined)
    if (file.openCount === 0) await removeUnrecorded(this.#d.journal, this.#d.dataFiles, file.id, fd)
    else await fd?.close().catch(() => undefined)
  }
}
