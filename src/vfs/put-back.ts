/**
 * W17: the unlink of the backup a save moved the original aside to (moved-aside.ts) makes the original take the
 * new file's bytes at its place instead of deleting it with its versions, as an overwrite would (W2, W9): the
 * file keeps its id, privacy, tags, metadata and coordinates, and the new bytes are its new version.
 *
 * Each step is durable before the next one starts:
 *  1. the new bytes as a pending file at the place, quiesced: the file the save made (still waiting for its
 *     upload), or its stored bytes again in the spool (the kept copy of its upload, spool/recent-copies.ts);
 *     its journal record then names the original as its base and notes the put-back;
 *  2. remotely (write/interrupted-put-back.ts, which the next mount runs for a record still noting it): the new
 *     file's own upload deleted, the original renamed back to its place;
 *  3. the note dropped, and the upload: a new version of the original.
 * Locally the place shows the new bytes throughout, and the backup's name goes when the unlink returns.
 * Anything that does not fit (the original changed or read meanwhile, the new file being written, empty,
 * a step 1 that fails) leaves the unlink to delete the backup as before; a details call the library does not
 * answer fails the unlink instead, and its repeat tries again (moved-aside.ts untake).
 */
import type { ImageKitApi } from '../imagekit/api.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { Destination } from './destination.js'
import type { DirCache } from './dir-cache.js'
import { remoteBaseOf, type PendingFile } from './file-node.js'
import { fileIdentityKey, versionIdOf, type FileInode } from './inode.js'
import type { InodeTable } from './inode-table.js'
import type { MovedAsideFile } from './moved-aside.js'
import { renamedFileNode } from './renamed-file.js'
import { finishPutBack } from './write/interrupted-put-back.js'
import { detailsUnlessGone } from './write/until-answered.js'
import { fromImageKitError } from './from-imagekit-error.js'
import type { FileObject } from '../imagekit/types.js'
import type { WritePath } from './write-path.js'

export interface PutBackDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  dirs: DirCache
  inodes: InodeTable
  writes: WritePath
  /** The stored file listed at a destination, if any. */
  listedFile(dest: Destination): Promise<FileInode | undefined>
}

/** True when the backup's unlink is done by putting the original back; false: delete it as any unlink does. */
export async function putBack(d: PutBackDeps, pair: MovedAsideFile, aside: Destination, place: Destination): Promise<boolean> {
  const { writes } = d
  const original = await d.listedFile(aside)
  if (!original || original.fileId !== pair.fileId || original.versionId !== pair.versionId) return false
  if (writes.pendingAt(aside.remotePath) || d.inodes.isPinned(fileIdentityKey(original.fileId))) return false
  const made = await madeInPlace(d, pair, place)
  if (!made) return false
  // Not changed elsewhere since the rename, and still at the backup's name (one details call). A library that
  // does not answer fails the unlink: were it to go on, it would delete the original with its versions.
  let now: FileObject | undefined
  try {
    now = await detailsUnlessGone(d.api, original.fileId)
  } catch (e) {
    if (made.kind === 'pending') writes.requeue(made.file)
    throw fromImageKitError(e, { op: 'unlink (put the original back)', target: aside.remotePath })
  }
  if (!now || now.filePath !== aside.remotePath || versionIdOf(now) !== original.versionId) {
    if (made.kind === 'pending') writes.requeue(made.file)
    return false
  }
  const file = await pendingWithOriginal(d, made, place, original, aside)
  if (!file) return false
  d.log.info(
    { path: place.localPath, backup: aside.localPath, fileId: original.fileId },
    'a save moved the original aside and deleted it: it takes the new bytes as a new version, and keeps its id, tags and versions (W17)',
  )
  let settled = false
  try {
    const outcome = await finishPutBack(d.api, d.log, original.fileId, place.remotePath, file.putBack!, now.filePath)
    await writes.endPutBack(file, outcome)
    settled = true
  } catch (e) {
    d.log.warn({ path: place.localPath, backup: aside.localPath, err: e }, 'cannot put the original back yet; it is done once the library answers, and the upload waits until then')
    writes.settlePutBackLater(file)
  }
  // The backup's name goes; the place shows the new bytes (the pending file), and the original under them.
  d.dirs.setChild(aside.folder, aside.localName, undefined)
  if (made.drop) {
    await writes.forgetStored(made.drop)
    d.dirs.dropVersionsOf(place.folder, made.drop)
  }
  if (file.base?.fileId === original.fileId) {
    d.inodes.forget(fileIdentityKey(original.fileId)) // its number is the place's from now on
    d.dirs.setChild(place.folder, place.localName, renamedFileNode(original, file.ino, place.remotePath, d.clock.now()))
  } else {
    d.dirs.expire(place.folder) // the original went elsewhere meanwhile: what the folder holds is read again
  }
  if (settled) await writes.uploadAfterPutBack(file)
  return true
}

/** Step 1: the new bytes as a pending file at the place, its record naming the original and the put-back. */
async function pendingWithOriginal(d: PutBackDeps, made: Made, place: Destination, original: FileInode, aside: Destination): Promise<PendingFile | undefined> {
  let file: PendingFile | undefined = made.kind === 'pending' ? made.file : undefined
  try {
    if (made.kind === 'stored') file = await d.writes.respool(made.node, place)
    // What was set on the new file's own upload (setfattr after its close) goes with its bytes, as a save's over a file does (W9).
    const own = made.kind === 'stored' ? made.node : made.stored
    await d.writes.rebase(file!, remoteBaseOf(original), { from: aside.remotePath, ...(made.drop ? { drop: made.drop } : {}) }, own)
    return file
  } catch (e) {
    d.log.warn({ path: place.localPath, backup: aside.localPath, err: e }, 'cannot keep the original of a file saved by moving it aside: the backup is deleted as before')
    if (made.kind === 'pending') d.writes.requeue(made.file)
    else if (file) await d.writes.discard(file) // its stored bytes stay what the place holds
    return undefined
  }
}

/** `stored`: the listed file of a pending one's own upload (`drop`), if listed. */
type Made = { kind: 'pending'; file: PendingFile; drop: string | undefined; stored?: FileInode } | { kind: 'stored'; node: FileInode; drop: string }

/**
 * The file the save made in the original's place, if it is still there, with no writes its close did not
 * commit, and has nothing but the bytes this mount gave it: still in the spool (returned quiesced), or stored
 * by one upload.
 */
async function madeInPlace(d: PutBackDeps, pair: MovedAsideFile, place: Destination): Promise<Made | undefined> {
  const made = pair.made!
  const pending = d.writes.pendingAt(place.remotePath)
  if (pending && pending !== made) return undefined
  if (pending && (await d.writes.quiesce(pending))) {
    // Its bytes committed (by a close: the kernel's release of that close may still be on its way, so it may be
    // open), waiting for their upload or stored by it (then only its release keeps it here).
    const fits = !pending.dirty && pending.state !== 'rejected' && pending.size > 0 && (pending.unsent || pending.base !== undefined) &&
      pending.mayBeStoredSinceMs === undefined && pending.putBack === undefined
    // Stored under its own id already: by one upload only (a second one made that version old, its own history).
    const own = pending.base?.fileId
    const listed = own === undefined ? undefined : await d.listedFile(place).catch(() => undefined)
    if (!fits || (listed !== undefined && listed.fileId === own && listed.versionId !== own)) {
      d.writes.requeue(pending)
      return undefined
    }
    return { kind: 'pending', file: pending, drop: own, ...(listed !== undefined && listed.fileId === own ? { stored: listed } : {}) }
  }
  // Its upload landed and it was retired: the listing shows what it stored, its first and only version.
  const node = await d.listedFile(place)
  const fileId = made.base?.fileId
  if (!node || fileId === undefined || node.fileId !== fileId || node.versionId !== fileId || node.size === 0) return undefined
  if (d.writes.pendingAt(place.remotePath) || d.inodes.isPinned(fileIdentityKey(fileId))) return undefined
  return { kind: 'stored', node, drop: fileId }
}
