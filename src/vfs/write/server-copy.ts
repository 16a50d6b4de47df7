/**
 * copy_file_range into the mount as ImageKit's copy API: nothing downloaded or uploaded, when that gives
 * exactly what a byte copy would.
 */
import type { ImageKitApi } from '../../imagekit/api.js'
import type { FileObject } from '../../imagekit/types.js'
import type { Logger } from '../../log.js'
import type { DirCache } from '../dir-cache.js'
import { findStored } from '../find-stored.js'
import { mayHaveBeenDone } from '../lost-answer.js'
import { remoteBaseOf, type PendingFile } from '../file-node.js'
import { fileInodeFrom, type FileInode } from '../inode.js'
import type { KeyedMutex } from '../lock.js'
import { parentOf, type NameCodec } from '../name.js'
import type { Streamer } from '../upload/streamer.js'
import type { PendingFiles } from './pending-files.js'

export interface ServerCopyDeps {
  api: ImageKitApi
  log: Logger
  codec: NameCodec
  dirs: DirCache
  uploadTags: readonly string[]
  streamer: Streamer
  /** The write path's lock per PendingFile id (content changes against uploads). */
  fileLock: KeyedMutex
  pending: PendingFiles
}

/**
 * Copies the whole of a stored file into `file` with ImageKit's copy API, when that gives exactly what a
 * byte copy would (copyFits): `file` was just created for the copy and is untouched (no remote file
 * at its path yet). Nothing is downloaded or uploaded; the open file shows the copy, and is filled from its
 * remote bytes only if it is read or changed before its last close. False when the copy is not done this
 * way (the caller copies bytes instead).
 */
export async function copyStored(d: ServerCopyDeps, file: PendingFile, source: FileInode): Promise<boolean> {
  const { api, dirs, codec, log, uploadTags } = d
  if (!copyFits(file, source, uploadTags)) return false
  return d.fileLock.run(file.id, async () => {
    if (!isUntouchedNewFile(file) || !d.pending.holds(file)) return false
    const copy = await copyOnServer(api, log, source, file)
    if (!copy || copy.size !== source.size) return false
    d.streamer.stop(file, 'a server-side copy')
    const node = fileInodeFrom(copy, file.ino)
    file.remoteContent = node
    file.size = node.size
    file.base = remoteBaseOf(node)
    file.dirty = false
    file.appendOnly = false
    file.state = 'clean'
    file.mtimeMs = node.updatedAtMs
    const localName = codec.toLocal(file.name)
    if (localName !== undefined) dirs.setChild(file.folder, localName, node)
    return true
  })
}

/**
 * The API copies a file into another folder under the same name, with its tags: so `file` must have
 * `source`'s name in another folder, and no upload_tags to add.
 */
export function copyFits(file: PendingFile, source: FileInode, uploadTags: readonly string[]): boolean {
  const [sourceFolder, sourceName] = parentOf(source.remotePath)
  if (source.isVersion || source.size === 0 || file.name !== sourceName || file.folder === sourceFolder) return false
  return uploadTags.length === 0
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
