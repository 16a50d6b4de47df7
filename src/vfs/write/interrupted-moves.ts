/**
 * Start-up after a crash during a folder rename, or a rename of a stored file waiting for its next upload
 * (spool/folder-moves.ts): the files the spool recorded in the folder (or at the file's path) wait (quiesced, so an upload asked for meanwhile waits too) until the library says where the folder
 * is now; they are then recorded there and their uploads go on. A library that does not answer is asked
 * again, with growing pauses, until it does or the mount stops (the note stays for the next mount). Meanwhile
 * each file is also shown at the later places of the route (placesAlongRoute), so that it is in whichever
 * folder the listings show: where it will go, since the folder is where the library has it.
 */
import type { Clock } from '../../clock.js'
import type { ImageKitApi } from '../../imagekit/api.js'
import type { Logger } from '../../log.js'
import type { PendingFile } from '../file-node.js'
import { whereFolderIs } from '../folder-job.js'
import { joinRemote, parentOf } from '../name.js'
import { isUnder, type FolderMove } from '../spool/folder-moves.js'
import { detailsUnlessGone, untilAnswered } from './until-answered.js'


export interface InterruptedMovesDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  /** Aborted when the mount stops. */
  closing: AbortSignal
  /** Records `file` at `folder` and `name` instead (it, or the folder it was in, moved there). */
  relocate(file: PendingFile, folder: string, name: string): Promise<void>
  /** The file's place is settled: its upload may go on. */
  release(file: PendingFile): void
  /** The move's note is no longer needed. */
  end(move: FolderMove): void
}

/** The files recorded in each interrupted move's folder (a file in two goes with the first). */
export function filesOfMoves(moves: readonly FolderMove[], files: Iterable<PendingFile>): Map<FolderMove, PendingFile[]> {
  const byMove = new Map<FolderMove, PendingFile[]>(moves.map((m) => [m, []]))
  for (const file of files) {
    const move = moves.find((m) => (m.file ? file.remotePath === m.route[0] : isUnder(file.folder, m.route[0]!)))
    if (move) byMove.get(move)!.push(file)
  }
  return byMove
}

/** Where `file` (recorded at the move's first path, or in its folder) would be at each later path of the route. */
export function placesAlongRoute(move: FolderMove, file: PendingFile): string[] {
  const from = move.route[0]!
  return move.route.slice(1).map((to) => (move.file ? to : joinRemote(to + file.folder.slice(from.length), file.name)))
}

export async function settleInterruptedMove(d: InterruptedMovesDeps, move: FolderMove, files: readonly PendingFile[]): Promise<void> {
  const from = move.route[0]!
  const where = await askUntilAnswered(d, move, files)
  if (where === 'stopped') return
  // A file renamed through the mount meanwhile is where that rename put it.
  const still = files.filter((f) => (move.file ? f.remotePath === from : isUnder(f.folder, from)))
  if (where !== undefined && where !== from) {
    if (move.file) {
      d.log.warn({ from, to: where }, 'a rename of a file waiting for its upload was interrupted by a crash after the file moved: its upload goes where it is now')
      const [folder, name] = parentOf(where)
      for (const file of still) await d.relocate(file, folder, name)
    } else {
      d.log.warn({ from, to: where, files: still.length }, 'a folder rename was interrupted by a crash after the folder moved: its files waiting in the spool go to its new place')
      for (const file of still) await d.relocate(file, where + file.folder.slice(from.length), file.name)
    }
  }
  d.end(move)
  for (const file of still) d.release(file)
}

function askUntilAnswered(d: InterruptedMovesDeps, move: FolderMove, files: readonly PendingFile[]): Promise<string | undefined | 'stopped'> {
  return untilAnswered(
    d,
    () => (move.file ? whereFileIs(d.api, move.route, files[0]?.base?.fileId) : whereFolderIs(d.api, move.route)),
    (e) => d.log.warn({ route: move.route, err: e }, 'cannot tell where a file or folder renamed before a crash is now; what waits in the spool for it waits too'),
  )
}

/** Which path of its route the stored file `fileId` has now, if one (else it was moved or deleted elsewhere). */
async function whereFileIs(api: ImageKitApi, route: readonly string[], fileId: string | undefined): Promise<string | undefined> {
  if (fileId === undefined) return undefined
  const filePath = (await detailsUnlessGone(api, fileId))?.filePath
  return filePath !== undefined && route.includes(filePath) ? filePath : undefined
}
