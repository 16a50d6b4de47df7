/**
 * Changes whose work the server did although the answer said otherwise: a gateway's 5xx after the work, or
 * a connection dropped before the answer. The client repeats such calls, and the repeat meets the work done
 * (a rename's or move's source is gone: 404; a folder job started twice fails the second time). Whether the
 * change asked for holds is then read from the library, so the caller reports what happened, not the echo.
 *
 * The client's doneBeforeRepeat (imagekit/http.ts) looks before each repeat instead, for calls whose repeat
 * would do the work again (a copy, an upload); here the repeat is harmless, so the library is asked only
 * when the change failed, and this also covers what no repeat follows: the last attempt, a job's failure.
 */
import type { ImageKitApi } from '../imagekit/api.js'
import { isImageKitError, type ImageKitCode } from '../imagekit/errors.js'
import type { Logger } from '../log.js'

/** What a change whose work was done can still end in: its repeat refused (404, 409, a failed job), or retries spent. */
const MAYBE_DONE: ReadonlySet<ImageKitCode> = new Set<ImageKitCode>([
  'IK_NOT_FOUND', 'IK_CONFLICT', 'IK_JOB_FAILED', 'IK_SERVER', 'IK_NETWORK', 'IK_TIMEOUT',
])

export function mayHaveBeenDone(e: unknown): boolean {
  return isImageKitError(e) && MAYBE_DONE.has(e.code)
}

/**
 * Runs `change`; when it fails in a way that leaves open whether its work was done, and `holds` finds the
 * result it was asked for in the library, resolves instead. Otherwise the change's own error is thrown.
 */
export async function changeOrItsResult(
  change: () => Promise<unknown>, holds: () => Promise<boolean>, log: Logger, what: Record<string, unknown>,
): Promise<void> {
  try {
    await change()
  } catch (e) {
    if (!mayHaveBeenDone(e) || !(await holds().catch(() => false))) throw e
    log.info({ ...what, err: e }, 'the change was made, though its answer was an error (lost on the way, or a repeat of one that was)')
  }
}

/** Whether the stored file `fileId` has the path `filePath` now. */
export async function fileIsAt(api: ImageKitApi, fileId: string, filePath: string): Promise<boolean> {
  return (await api.getFileDetails(fileId)).filePath === filePath
}
