/**
 * Folders of small JSON notes in the spool (`deletes/<id>.json`, `moves/<id>.json`), each written whole
 * (`<id>.json.tmp`, fsync, rename, fsync of the folder). Read back at start-up: a note a crash left torn, or
 * whose rename never happened (`.tmp`), never took effect (what it noted had not begun), so it is removed.
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The notes in `dir` that `isValid` accepts, each with its id (the name without `.json`); every other entry
 * (a torn note, a `.tmp`, anything not `<id>.json`) is unlinked. The unlinks are not synced: one a crash
 * undoes is done again at the next start.
 */
export function readNotes<T>(dir: string, isValid: (note: unknown) => note is T): Array<{ id: string; note: T }> {
  const notes: Array<{ id: string; note: T }> = []
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    const id = entry.endsWith('.json') ? entry.slice(0, -'.json'.length) : undefined
    let note: unknown
    try {
      note = id === undefined ? undefined : JSON.parse(readFileSync(path, 'utf8'))
    } catch {
      note = undefined
    }
    if (id !== undefined && isValid(note)) notes.push({ id, note })
    else unlinkSync(path)
  }
  return notes
}
