/**
 * The stored file at a path as the library holds it now, for an open that starts from its bytes (an append, an
 * in-place edit, a truncate to a smaller size): another machine may have stored a new version there, or deleted
 * it, after the cached listing (R2), and starting from the listed version would upload its bytes over the new
 * one, which would live on only as an old version. One details call; the cached listing takes what it says.
 */
import type { ImageKitApi } from '../imagekit/api.js'
import { hasImageKitCode } from '../imagekit/errors.js'
import type { FileObject } from '../imagekit/types.js'
import type { DirCache } from './dir-cache.js'
import type { Destination } from './destination.js'
import { fromImageKitError } from './from-imagekit-error.js'
import { fileInodeFrom, type FileInode } from './inode.js'

export interface CurrentFileDeps {
  api: ImageKitApi
  dirs: DirCache
}

/** `listed` when it is current; else the file there now (undefined: none), through `listAgain` once the listing expired. */
export async function currentFile(
  d: CurrentFileDeps, dest: Destination, listed: FileInode, listAgain: () => Promise<FileInode | undefined>,
): Promise<FileInode | undefined> {
  let details: FileObject | undefined
  try {
    details = await d.api.getFileDetails(listed.fileId)
  } catch (e) {
    if (!hasImageKitCode(e, 'IK_NOT_FOUND')) throw fromImageKitError(e, { op: 'open for writing', target: dest.remotePath })
  }
  if (details?.filePath === listed.remotePath) {
    if (details.versionInfo.id === listed.versionId) return listed
    const current = fileInodeFrom(details, listed.ino)
    d.dirs.setChild(dest.folder, dest.localName, current)
    return current
  }
  // Deleted or moved away: whatever the name holds now (maybe another file stored there since) is listed afresh.
  d.dirs.expire(dest.folder)
  return listAgain()
}
