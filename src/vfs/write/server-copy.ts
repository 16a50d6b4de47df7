/**
 * copy_file_range into the mount as ImageKit's copy API: nothing downloaded or uploaded, when that gives
 * exactly what a byte copy would.
 */
import type { ImageKitApi } from '../../imagekit/api.js'
import type { FileObject } from '../../imagekit/types.js'
import type { Logger } from '../../log.js'
import { findStored, searchableName } from '../find-stored.js'
import { mayHaveBeenDone } from '../lost-answer.js'
import type { PendingFile } from '../file-node.js'
import type { FileInode } from '../inode.js'
import { parentOf } from '../name.js'

/**
 * The API copies a file into another folder under the same name, with its tags: so `file` must have
 * `source`'s name in another folder, and no upload_tags to add. A quote cannot be searched for (copyOnServer).
 */
export function copyFits(file: PendingFile, source: FileInode, uploadTags: readonly string[]): boolean {
  const [sourceFolder, sourceName] = parentOf(source.remotePath)
  if (source.isVersion || source.size === 0 || file.name !== sourceName || file.folder === sourceFolder) return false
  return uploadTags.length === 0 && searchableName(sourceName)
}

/** A file created (or truncated) by an open that nothing has written, synced or uploaded yet, and only that open holds. */
export function isUntouchedNewFile(file: PendingFile): boolean {
  return file.openCount === 1 && file.size === 0 && file.base === undefined && file.dirty && file.appendOnly &&
    !file.unsent && file.state === 'open' && file.inflight === undefined && !file.unlinked && file.writesInFlight === 0 &&
    file.streamed === undefined && file.remoteContent === undefined
}

/**
 * Copies `source` into `file`'s folder. The copy as stored, or undefined when the API refused (the caller
 * copies bytes instead) or the copy cannot be found yet (the bytes are copied too, and the upload at close
 * stores them as a version).
 */
export async function copyOnServer(api: ImageKitApi, log: Logger, source: FileInode, file: PendingFile): Promise<FileObject | undefined> {
  // Nothing was stored at the path before (copyFits): a file there now is the copy, made by an attempt whose
  // answer was an error or lost. So it is not copied again (each copy would add a version), nor are its bytes.
  const landed = async (): Promise<boolean> => (await findStored(api, file.folder, file.name)) !== undefined
  try {
    await api.copyFile(source.remotePath, file.folder === '/' ? '/' : `${file.folder}/`, { done: landed })
  } catch (e) {
    const copy = mayHaveBeenDone(e) ? await findStored(api, file.folder, file.name).catch(() => undefined) : undefined
    if (copy) {
      log.info({ from: source.remotePath, to: file.remotePath, err: e }, 'the server-side copy was made, though its answer was an error')
      return copy
    }
    log.debug({ from: source.remotePath, to: file.remotePath, err: e }, 'server-side copy refused; copying the bytes')
    return undefined
  }
  return findStored(api, file.folder, file.name).catch(() => undefined)
}
