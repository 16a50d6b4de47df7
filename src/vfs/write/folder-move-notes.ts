/**
 * The spool's notes of folder renames (and renames of stored files waiting for their next upload) under way
 * (spool/folder-moves.ts): taken before the bulk job, dropped once it ended, so that a crash in between
 * leaves the next mount where the files waiting inside belong (replay.ts).
 */
import type { Logger } from '../../log.js'
import type { DataFiles } from '../spool/data-files.js'
import type { FolderMove, FolderMoves } from '../spool/folder-moves.js'

export interface FolderMoveNotesDeps {
  log: Logger
  /** For the notes' ids (unique in the spool). */
  dataFiles: DataFiles
  folderMoves: FolderMoves
}

export class FolderMoveNotes {
  readonly #d: FolderMoveNotesDeps

  constructor(deps: FolderMoveNotesDeps) {
    this.#d = deps
  }

  /** A new rename's note (spool/folder-moves.ts), starting where the folder (or the `file`) is now. */
  from(remotePath: string, file = false): FolderMove {
    return { id: this.#d.dataFiles.newId(), route: [remotePath], ...(file ? { file: true as const } : {}) }
  }

  /**
   * Before a bulk job that may take `move`'s folder on to `toPath`: noted durably, so a crash once the job ran
   * leaves the next mount where the files waiting inside belong. A note the spool cannot take (its disk full)
   * leaves only that crash window open.
   */
  note(move: FolderMove, toPath: string): void {
    move.route.push(toPath)
    try {
      this.#d.folderMoves.note(move)
    } catch (e) {
      this.#d.log.warn({ route: move.route, err: e }, 'the spool cannot note a folder rename (its disk is full?); a crash before it ends would upload its files waiting in the spool to the old path')
    }
  }

  /** The files of a noted folder rename are recorded where the folder is (or never left it). */
  end(move: FolderMove): void {
    try {
      this.#d.folderMoves.end(move.id)
    } catch (e) {
      this.#d.log.warn({ route: move.route, err: e }, 'the spool cannot drop the note of a finished folder rename')
    }
  }
}
