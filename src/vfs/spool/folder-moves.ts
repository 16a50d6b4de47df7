/**
 * Folder renames in progress (`moves/<id>.json`, 0600): the route a folder takes through its bulk jobs (its
 * remote path before the first job, then each job's target), noted durably before each job starts and removed
 * once the spool's records of the files waiting inside point at where the folder ended up. The same for a
 * stored file waiting for its next upload, renamed in up to three steps (cross-folder-rename.ts): its route
 * holds the file's paths (`file`).
 *
 * Between a job finishing at ImageKit and those records being rewritten, a kill -9 would leave records under
 * the old path, and the next mount would upload them there: the old folder created again beside the moved one.
 * So at start, records under a route's first path belong under the last path of the route that exists
 * remotely (write/replay.ts). Each note is written whole (temp file, fsync, rename, fsync of the folder),
 * so a crash leaves the previous note or the new one, never a torn one.
 */
import { unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { fsyncDirSync, replaceWithLinesSync } from '../../full-disk.js'
import { readNotes } from './notes.js'
import { DATA_FILE_MODE } from './spool.js'

export interface FolderMove {
  id: string
  /** Remote folder paths, oldest first: the first is where the spool's records place the files inside. */
  route: string[]
  /** The route is one file's remote paths (its record is at the first), not a folder's. */
  file?: true
}

function isRoute(x: unknown): x is string[] {
  return Array.isArray(x) && x.length > 0 && x.every((p) => typeof p === 'string' && p.startsWith('/'))
}

function isMoveNote(x: unknown): x is { route: string[]; file?: unknown } {
  return isRoute((x as { route?: unknown } | null | undefined)?.route)
}

export class FolderMoves {
  constructor(readonly dir: string) {}

  /** Notes (or extends) a move's route durably, before its next job starts. */
  note(move: FolderMove): void {
    const note = JSON.stringify({ v: 1, route: move.route, ...(move.file ? { file: true } : {}) })
    replaceWithLinesSync(this.#path(move.id), [note], 'folder move note', { mode: DATA_FILE_MODE, sync: true })
    fsyncDirSync(this.dir)
  }

  /** The move's files are recorded at their new place (or it failed and they never left): the note goes. */
  end(id: string): void {
    try {
      unlinkSync(this.#path(id))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
      throw e
    }
    fsyncDirSync(this.dir)
  }

  /** Start-up: the moves a crash interrupted (unreadable or half-written notes are removed). */
  loadAll(): FolderMove[] {
    // A note whose rename never happened is removed: the one it replaced (if any) is still there.
    return readNotes(this.dir, isMoveNote).map(({ id, note }) => ({ id, route: note.route, ...(note.file === true ? { file: true as const } : {}) }))
  }

  #path(id: string): string {
    return join(this.dir, `${id}.json`)
  }
}

/** Whether the remote `folder` lies in (or is) `root`. */
export function isUnder(folder: string, root: string): boolean {
  return folder === root || folder.startsWith(root === '/' ? '/' : `${root}/`)
}
