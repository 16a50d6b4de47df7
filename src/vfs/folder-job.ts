/**
 * Folder renames and moves run as ImageKit bulk jobs: the start call answers a job id, which the client
 * then polls. When the server accepted the start (a 2xx arrived) but its answer was lost, the job runs
 * without an id to poll: its outcome is read from the folders themselves instead, until the source is
 * gone and the target is there (or the deadline passes, and the lost answer is the error). A look that fails
 * does not end the watch: the trouble that lost the answer may last a little longer. A job whose start was
 * repeated after its work was done ends in an error whose echo the folders tell apart (lost-answer.ts).
 */
import type { Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import { isLostAnswer } from '../imagekit/errors.js'
import type { Logger } from '../log.js'
import { folderExists } from './folder-exists.js'
import { changeOrItsResult } from './lost-answer.js'

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
  // A start whose work was done but whose answer was a 5xx is repeated by the client, and the repeat's job fails
  // (the source is gone by then) or is refused: the folders say whether the first job did the move.
  await changeOrItsResult(() => startOrWatch(d, start, fromPath, toPath), () => moved(d, fromPath, toPath), d.log, { from: fromPath, to: toPath })
}

async function startOrWatch(d: FolderJobDeps, start: () => Promise<unknown>, fromPath: string, toPath: string): Promise<void> {
  try {
    await start()
  } catch (e) {
    if (!isLostAnswer(e)) throw e
    d.log.warn({ from: fromPath, to: toPath, err: e }, 'the answer to a folder job was lost; checking the folders for its outcome')
    if (!(await movedWithin(d, fromPath, toPath, LOST_JOB_DEADLINE_MS))) throw e
  }
}

async function moved(d: FolderJobDeps, fromPath: string, toPath: string): Promise<boolean> {
  const [sourceThere, targetThere] = await Promise.all([folderExists(d.api, fromPath), folderExists(d.api, toPath)])
  return !sourceThere && targetThere
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
