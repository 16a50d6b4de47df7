/**
 * Work left by a crash (or a library that did not answer) that must wait for the library: asked again after a
 * pause that doubles from 1 s to a minute, until it answers or the mount stops.
 */
import type { Clock } from '../../clock.js'
import type { ImageKitApi } from '../../imagekit/api.js'
import { hasImageKitCode } from '../../imagekit/errors.js'
import type { FileObject } from '../../imagekit/types.js'

const FIRST_PAUSE_MS = 1_000
const MAX_PAUSE_MS = 60_000

export interface UntilAnsweredDeps {
  clock: Clock
  /** Aborted when the mount stops: the work is left for the next mount. */
  closing: AbortSignal
}

/** `ask`'s answer once it gives one; 'stopped' when the mount stops first. Each failure goes to `failed`. */
export async function untilAnswered<T>(d: UntilAnsweredDeps, ask: () => Promise<T>, failed: (e: unknown) => void): Promise<T | 'stopped'> {
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(MAX_PAUSE_MS, pause * 2)) {
    try {
      return await ask()
    } catch (e) {
      failed(e)
    }
    try {
      await d.clock.sleep(pause, d.closing)
    } catch {
      return 'stopped'
    }
  }
}

/** The stored file `fileId` as the library has it now; undefined when it is gone (deleted). */
export async function detailsUnlessGone(api: ImageKitApi, fileId: string): Promise<FileObject | undefined> {
  try {
    return await api.getFileDetails(fileId)
  } catch (e) {
    if (hasImageKitCode(e, 'IK_NOT_FOUND')) return undefined
    throw e
  }
}
