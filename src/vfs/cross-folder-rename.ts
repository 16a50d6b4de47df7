/**
 * A rename into another folder under another name, for files and folders alike. ImageKit has no such call:
 * it takes a move (same name, other folder) and a rename (same folder, other name), and neither may land on
 * a name that is taken there (a file moved onto a same-named file becomes a version of it; a rename onto one
 * fails). So the steps are ordered to land on free names: move first when the target folder has no entry of
 * the old name, else rename first when the source folder has none of the new name, else through a name
 * neither folder has (three steps instead of an EXDEV, which `mv` would answer by copying the file as a new
 * one: new id, no versions, no tags). A step that fails undoes the ones before it, last first; only a crash
 * in between can leave the entry under the temporary name.
 */
import { randomBytes } from 'node:crypto'
import { extname } from 'node:path'

export interface RenameAndMove {
  rename(folder: string, name: string, newName: string): Promise<unknown>
  move(folder: string, name: string, toFolder: string): Promise<unknown>
}

export interface Place {
  folder: string
  name: string
}

interface Step {
  run: () => Promise<unknown>
  undo: () => Promise<unknown>
}

/** Which names are taken where: by a listed entry, or by a file waiting in the spool to upload there. */
export interface Taken {
  oldNameInTarget: boolean
  newNameInSource: boolean
}

export async function renameAcrossFolders(ops: RenameAndMove, from: Place, to: Place, taken: Taken, kind: 'file' | 'folder'): Promise<void> {
  const rename = (folder: string, name: string, newName: string): Step => ({
    run: () => ops.rename(folder, name, newName),
    undo: () => ops.rename(folder, newName, name),
  })
  const move = (folder: string, name: string, toFolder: string): Step => ({
    run: () => ops.move(folder, name, toFolder),
    undo: () => ops.move(toFolder, name, folder),
  })
  if (!taken.oldNameInTarget) return runUndoable([move(from.folder, from.name, to.folder), rename(to.folder, from.name, to.name)])
  if (!taken.newNameInSource) return runUndoable([rename(from.folder, from.name, to.name), move(from.folder, to.name, to.folder)])
  const free = freeName(kind === 'file' ? from.name : '')
  return runUndoable([rename(from.folder, from.name, free), move(from.folder, free, to.folder), rename(to.folder, free, to.name)])
}

/**
 * A name no listing has: random, of characters every ImageKit name allows as they are (a folder's new name
 * only letters, digits and `-`), with a file's plain extension kept (what its type may be guessed from).
 */
export function freeName(fileName: string): string {
  const extension = extname(fileName)
  return `ikfs-move-${randomBytes(6).toString('hex')}${/^\.[A-Za-z0-9]{1,15}$/.test(extension) ? extension : ''}`
}

/** Runs the steps in order; when one fails, undoes those done (last first, as far as they go) and rethrows. */
async function runUndoable(steps: readonly Step[]): Promise<void> {
  const done: Step[] = []
  for (const step of steps) {
    try {
      await step.run()
    } catch (e) {
      for (const undone of done.reverse()) {
        try {
          await undone.undo()
        } catch {
          break // an earlier undo depends on this one
        }
      }
      throw e
    }
    done.push(step)
  }
}
