/**
 * Folder renames and moves run as ImageKit bulk jobs: the start call answers a job id, which the client
 * then polls. When the server accepted the start (a 2xx arrived) but its answer was lost, the job runs
 * without an id to poll: its outcome is read from the folders themselves instead, until the source is
 * gone and the target is there (or the deadline passes, and the lost answer is the error). A look that fails
 * does not end the watch: the trouble that lost the answer may last a little longer. A job whose start was
 * repeated after its work was done ends in an error whose echo the folders tell apart (lost-answer.ts).
 * Every job that ends is checked against the folders (one round trip): a job racing another machine's change
 * (two machines renaming one folder at once) fails, or completes having moved nothing, and the folders say
 * why: its source gone (ENOENT) or its target taken (EEXIST), as rename(2) on a local disk would answer.
 */
import type { Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import { hasImageKitCode, isLostAnswer } from '../imagekit/errors.js'
import type { Logger } from '../log.js'
import { findStored } from './find-stored.js'
import { folderExists } from './folder-exists.js'
import { fromFolderJobFailure, type FolderJobFailure } from './from-imagekit-error.js'
import { mayHaveBeenDone } from './lost-answer.js'
import { parentOf } from './name.js'

/** How long the folders are watched for a job whose answer was lost. */
export const LOST_JOB_DEADLINE_MS = 60_000
const FIRST_LOOK_MS = 250
const MAX_PAUSE_MS = 2_000

export interface FolderJobDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
}

/** Runs `start` (a bulk job moving the folder at `fromPath` to `toPath`, remote paths) to its end. */
export async function runFolderJob(d: FolderJobDeps, start: () => Promise<unknown>, fromPath: string, toPath: string): Promise<void> {
  let failure: unknown
  try {
    if (await startOrWatch(d, start, fromPath, toPath)) return
  } catch (e) {
    // A start whose work was done but whose answer was a 5xx is repeated by the client, and the repeat's job fails
    // (the source is gone by then) or is refused: the folders say whether the first job did the move.
    if (!mayHaveBeenDone(e)) throw e
    failure = e
  }
  // A job that ends, Completed or not, is read from the folders: ImageKit says nothing of why a job failed, and
  // documents no failure state at all, so a job that found its source gone (another machine moved it first)
  // may read Completed having moved nothing. Both folders are asked at once: one round trip.
  const now = await foldersNow(d, fromPath, toPath).catch((e: unknown) => {
    d.log.debug({ from: fromPath, to: toPath, err: e }, 'could not look at the folders of a folder job that ended')
    return undefined
  })
  const what = { from: fromPath, to: toPath }
  if (now && !now.source && now.target) {
    if (failure) d.log.info({ ...what, err: failure }, 'the change was made, though its answer was an error (lost on the way, or a repeat of one that was)')
    return
  }
  const ended = failure === undefined ? 'completed' : hasImageKitCode(failure, 'IK_JOB_FAILED') ? 'failed' : undefined
  const why: FolderJobFailure | undefined = !now ? undefined : !now.source ? 'source-gone'
    : now.target || (ended && (await fileAt(d, toPath))) ? 'target-taken' : undefined
  if (why && ended) {
    d.log.info({ ...what, job: ended, err: failure },
      why === 'source-gone'
        ? 'the folder job moved nothing: its source folder is gone (moved or deleted elsewhere first)'
        : 'the folder job moved nothing: its target is taken (made elsewhere meanwhile)')
    throw fromFolderJobFailure(why, failure, { op: 'rename folder', target: `${fromPath} to ${toPath}` })
  }
  if (failure !== undefined) throw failure
  // Completed, and the source still there without the target: what a listing behind the job would show.
  if (now) d.log.warn(what, 'a folder job read Completed but the listings still show its source and not its target')
}

/** Starts the job and waits for it; true when its outcome was read from the folders already (its answer lost). */
async function startOrWatch(d: FolderJobDeps, start: () => Promise<unknown>, fromPath: string, toPath: string): Promise<boolean> {
  try {
    await start()
    return false
  } catch (e) {
    if (!isLostAnswer(e)) throw e
    d.log.warn({ from: fromPath, to: toPath, err: e }, 'the answer to a folder job was lost; checking the folders for its outcome')
    if (!(await movedWithin(d, fromPath, toPath, LOST_JOB_DEADLINE_MS))) throw e
    return true
  }
}

async function foldersNow(d: FolderJobDeps, fromPath: string, toPath: string): Promise<{ source: boolean; target: boolean }> {
  const [source, target] = await Promise.all([folderExists(d.api, fromPath), folderExists(d.api, toPath)])
  return { source, target }
}

/** Whether a file (made elsewhere) has the target's name: asked only of a job that moved nothing. */
async function fileAt(d: FolderJobDeps, remotePath: string): Promise<boolean> {
  const [folder, name] = parentOf(remotePath)
  return (await findStored(d.api, folder, name).catch(() => undefined)) !== undefined
}

async function moved(d: FolderJobDeps, fromPath: string, toPath: string): Promise<boolean> {
  const now = await foldersNow(d, fromPath, toPath)
  return !now.source && now.target
}

/** moved(), where a look that fails (the trouble that lost the answer) says not yet. */
async function movedNow(d: FolderJobDeps, fromPath: string, toPath: string): Promise<boolean> {
  try {
    return await moved(d, fromPath, toPath)
  } catch (e) {
    d.log.debug({ from: fromPath, to: toPath, err: e }, 'could not look at the folders of a folder job whose answer was lost; looking again')
    return false
  }
}

async function movedWithin(d: FolderJobDeps, fromPath: string, toPath: string, deadlineMs: number): Promise<boolean> {
  const deadline = d.clock.now() + deadlineMs
  for (let pause = FIRST_LOOK_MS; ; pause = Math.min(MAX_PAUSE_MS, pause * 2)) {
    if (await movedNow(d, fromPath, toPath)) return true
    if (d.clock.now() >= deadline) return false
    await d.clock.sleep(pause)
  }
}

/**
 * Where a folder whose moves were interrupted by a crash is now: the last path of its route (folder-moves.ts)
 * that exists remotely, or undefined when none does.
 */
export async function whereFolderIs(api: ImageKitApi, route: readonly string[]): Promise<string | undefined> {
  for (const path of [...route].reverse()) if (await folderExists(api, path)) return path
  return undefined
}
