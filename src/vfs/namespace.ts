/**
 * Namespace changes: mkdir, rmdir, unlink, rename (files and folders). Each checks first, then calls the
 * API in an order that leaves the source intact when a step fails, then updates the cached listings
 * synchronously (same inode numbers) so the kernel sees the result at once.
 */
import { hasImageKitCode } from '../imagekit/errors.js'
import { renameAcrossFolders, type RenameAndMove, type Taken } from './cross-folder-rename.js'
import { VfsError } from './errors.js'
import { remoteBaseOf, type PendingFile } from './file-node.js'
import { runFolderJob } from './folder-job.js'
import type { FolderMove } from './spool/folder-moves.js'
import { fromImageKitError } from './from-imagekit-error.js'
import { DirInode, FileInode, folderIdentityKey, type Inode } from './inode.js'
import { KeyedMutex } from './lock.js'
import { folderExists } from './folder-exists.js'
import { changeOrItsResult, fileIsAt } from './lost-answer.js'
import { joinRemote, parentOf } from './name.js'
import { assertFolderDepth, folderDepth, folderTooDeep, MAX_FOLDER_DEPTH, type Destination } from './destination.js'
import { mergeWanted } from './wanted-details.js'
import { renamedFileNode } from './renamed-file.js'
import { putBack, type PutBackDeps } from './put-back.js'
import { storedSince } from './upload/stored-copy.js'
import type { MovedAsideFile } from './moved-aside.js'
import type { WritePath, WritePathDeps } from './write-path.js'

/** The same shared state the write path gets, plus the write path itself. */
export type NamespaceDeps = Pick<WritePathDeps, 'api' | 'clock' | 'log' | 'codec' | 'destinations' | 'inodes' | 'dirs' | 'resolver' | 'folders'> & {
  writes: WritePath
  /**
   * Before a stored file's delete: the bytes programs have open for reading are fetched, to read on (W8). Best
   * effort: never rejects (the delete goes on without them).
   */
  keepForReaders: (node: FileInode) => Promise<void>
  /** Whether a program has that version of the stored file open for reading (keepForReaders then fetches it). */
  readersHold: (node: FileInode) => boolean
}

/**
 * How many folders a refused folder move lists to find out whether it was refused for nesting too deep: a
 * second or so of listings, so that the refusal is answered in about the time the move itself would take.
 */
const MEASURE_MAX_LISTINGS = 50

function isNotFound(e: unknown): boolean {
  return hasImageKitCode(e, 'IK_NOT_FOUND')
}

export class Namespace {
  readonly #d: NamespaceDeps
  /** Per remote path; two-path ops lock in sorted order (see vfs.ts). */
  readonly #lock = new KeyedMutex()

  readonly #putBackDeps: PutBackDeps

  constructor(deps: NamespaceDeps) {
    this.#d = deps
    this.#putBackDeps = { ...deps, listedFile: (dest) => this.#remoteFile(dest) }
  }

  #locked<T>(paths: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(paths)].sort()
    const run = (i: number): Promise<T> => (i === sorted.length ? fn() : this.#lock.run(`ns:${sorted[i]!}`, () => run(i + 1)))
    return run(0)
  }

  /** The remote node at a destination, or undefined; the parent folder must exist. */
  async #remote(dest: Destination): Promise<Inode | undefined> {
    const parent = await this.#d.resolver.resolveDir(dest.parentLocalPath)
    return (await this.#d.dirs.listing(parent)).children.get(dest.localName)
  }

  /** The remote file at a destination, or undefined (a folder there counts as none). */
  async #remoteFile(dest: Destination): Promise<FileInode | undefined> {
    const node = await this.#remote(dest)
    return node?.kind === 'file' ? node : undefined
  }

  async mkdir(localPath: string): Promise<void> {
    const dest = await this.#d.destinations.of(localPath)
    assertFolderDepth(`mkdir ${localPath}`, dest.remotePath)
    await this.#locked([dest.remotePath], async () => {
      if ((await this.#remote(dest)) || this.#d.writes.pendingAt(dest.remotePath)) {
        throw new VfsError('EEXIST', `mkdir ${localPath}: exists`, { level: 'debug' })
      }
      await this.#d.folders.assertExists(dest.folder, parentOf(dest.parentLocalPath)[1], `mkdir ${localPath}`)
      const now = this.#d.clock.now()
      const folder = new DirInode(this.#d.inodes.allocate(), dest.remotePath, now, now)
      // ImageKit's create-folder also answers success for a folder that exists: one made elsewhere after the
      // cached listing (R2), maybe full. Its listing, asked for alongside (no longer a wait), shows what is in
      // it at once; a new folder lists empty, and files created in it need no listing first.
      const listed = this.#d.dirs.listing(folder).then(() => true, () => false)
      try {
        // Success is what a repeat of a create whose answer was lost gets too, unless every answer is lost.
        await changeOrItsResult(() => this.#d.api.createFolder(dest.folder, dest.name), () => folderExists(this.#d.api, dest.remotePath),
          this.#d.log, { op: 'mkdir', path: dest.remotePath })
      } catch (e) {
        await listed
        this.#d.dirs.forget(dest.remotePath)
        throw fromImageKitError(e, { op: 'mkdir', target: dest.remotePath })
      }
      await listed // a listing that failed is fetched again by the first lookup inside
      this.#d.folders.confirm(dest.remotePath)
      this.#d.dirs.setChild(dest.folder, dest.localName, folder)
    })
  }

  /** ImageKit deletes folders recursively: refuse unless a fresh listing (and the spool) shows it empty. */
  async rmdir(localPath: string): Promise<void> {
    const dest = await this.#d.destinations.of(localPath)
    await this.#locked([dest.remotePath], async () => {
      const node = await this.#remote(dest)
      if (!node) throw new VfsError('ENOENT', `rmdir ${localPath}: no such folder`)
      if (node.kind !== 'dir') throw new VfsError('ENOTDIR', `rmdir ${localPath}: not a folder`)
      await this.#assertEmpty(node, `rmdir ${localPath}`)
      await this.#deleteEmptyFolder(node.remotePath, dest.folder, `rmdir ${localPath}`)
      this.#d.dirs.setChild(dest.folder, dest.localName, undefined)
      this.#d.dirs.forget(node.remotePath)
      this.#d.inodes.forget(folderIdentityKey(node.remotePath))
      this.#d.writes.forgetFolderMtime(node.remotePath)
    })
  }

  /**
   * Deletes a folder #assertEmpty just found empty. The check is the listing just answered; the delete is sent
   * at once. A repeat of the delete (after a 5xx, a 429's wait, a dropped connection) comes later: it is not
   * sent unless the folder still lists nothing, so that a file stored in it meanwhile (elsewhere) is not deleted
   * with it (ImageKit's delete is recursive; README W7 says what remains).
   */
  async #deleteEmptyFolder(remotePath: string, parent: string, what: string): Promise<void> {
    let refused: VfsError | undefined
    const stillEmpty = async (): Promise<boolean> => {
      try {
        for await (const _ of this.#d.api.listFiles({ path: remotePath, type: 'all' })) {
          refused = new VfsError('ENOTEMPTY', `${what}: something was stored in the folder (elsewhere) while its delete was being repeated`, { level: 'info' })
          return false
        }
        return true
      } catch (e) {
        refused = fromImageKitError(e, { op: `${what} (check before repeating the delete)`, target: remotePath })
        return false
      }
    }
    try {
      await this.#d.api.deleteFolder(remotePath, { done: async () => !(await stillEmpty()) })
    } catch (e) {
      if (!isNotFound(e)) throw fromImageKitError(e, { op: what, target: remotePath })
    }
    if (refused) {
      this.#d.dirs.expire(remotePath)
      this.#d.dirs.expire(parent)
      throw refused
    }
  }

  async #assertEmpty(dir: DirInode, what: string): Promise<void> {
    // ImageKit's delete of the folder is recursive: the files inside whose delete is under way (hidden from the
    // listing) are deleted first, so that none is taken before its bytes are fetched for its readers (W8).
    await this.#d.writes.deletes.settledUnder(dir.remotePath)
    this.#d.dirs.expire(dir.remotePath)
    const listing = await this.#d.dirs.listing(dir)
    if (listing.children.size > 0 || this.#d.writes.hasPendingUnder(dir.remotePath)) {
      throw new VfsError('ENOTEMPTY', `${what}: folder not empty`, { level: 'debug' })
    }
    // ImageKit deletes a folder with everything in it: entries hidden from the listing would go too.
    if (listing.hidden > 0) {
      throw new VfsError('ENOTEMPTY', `${what}: the folder holds ${listing.hidden} remote entries that cannot be shown locally (see the "hiding entry" warnings); delete them through ImageKit first`)
    }
  }

  /**
   * Deletes the file with all its versions (ImageKit's delete), or drops a file that only exists in the spool.
   * The backup a save moved the original aside to is put back instead (W17, put-back.ts).
   */
  async unlink(localPath: string): Promise<void> {
    const dest = await this.#d.destinations.of(localPath)
    const { movedAside } = this.#d.writes
    const pair = movedAside.take(dest.remotePath)
    try {
      await this.#unlinkLocked(dest, pair)
    } catch (e) {
      // Not done (the library did not answer): the unlink repeated may still put the original back (W17).
      if (pair) movedAside.untake(pair)
      throw e
    }
    if (pair) movedAside.settled(pair)
  }

  async #unlinkLocked(dest: Destination, pair: MovedAsideFile | undefined): Promise<void> {
    const { localPath } = dest
    await this.#locked(pair ? [dest.remotePath, pair.place.remotePath] : [dest.remotePath], async () => {
      if (pair && (await putBack(this.#putBackDeps, pair, dest, pair.place))) return
      const node = await this.#remote(dest)
      if (node?.kind === 'dir') throw new VfsError('EISDIR', `unlink ${localPath}: is a folder`)
      if (node?.isVersion) throw new VfsError('EACCES', `unlink ${localPath}: old versions are read-only`)
      let pending = this.#d.writes.pendingAt(dest.remotePath)
      if (!node && !pending) throw new VfsError('ENOENT', `unlink ${localPath}: no such file`)
      // An upload in flight lands first, then is deleted (from the listing, once the file retired meanwhile).
      if (pending && !(await this.#d.writes.quiesce(pending))) pending = undefined
      // Bytes a handle has only remotely (opened for writing, not filled yet; a server-side copy) go with the
      // delete: they come into the spool first, so that the descriptor reads and writes on (W8).
      if (pending?.remoteContent) {
        const filling = pending
        await this.#d.writes.fetchContent(filling).catch((e: unknown) => {
          this.#d.writes.requeue(filling)
          throw e
        })
      }
      let fileId = pending?.base?.fileId ?? (pending ? node?.fileId : (await this.#remoteFile(dest))?.fileId)
      // A program that has the stored file open for reading reads on what it opened: its bytes are fetched first,
      // for as long as the download takes, with the folder locked by the kernel until the unlink answers. So the
      // unlink answers once the delete is noted, and the fetch and the delete follow (pending-deletes.ts).
      if (!pending && node?.kind === 'file' && node.fileId === fileId && this.#d.readersHold(node) && this.#deleteLater(node, dest)) return
      if (node?.kind === 'file' && node.fileId === fileId) await this.#d.keepForReaders(node)
      // An upload attempt whose answer was an error (a 5xx, a lost answer) may have stored the file, unknown to
      // the write path and the listing: what its name holds since that attempt goes too, else the deleted file
      // comes back in the library. Looked for once the unlink is noted, so that the next mount finishes it.
      const maybeStoredSinceMs = fileId === undefined ? pending?.mayBeStoredSinceMs : undefined
      if (fileId !== undefined || maybeStoredSinceMs !== undefined) {
        // Noted first: after a crash between the delete and the spool's discard, the file is not uploaded back
        // (nor, its remote delete unfinished, left in the library: write/interrupted-unlink.ts).
        if (pending) {
          const quiesced = pending
          // With the version listed (the one deleted): the next mount's finish leaves the file if another machine
          // stored a version since, which the delete by id would take too. Not when an attempt of this file may
          // have stored a version unseen (its answer lost): that one goes too, whatever is current then.
          const mayBeStored = quiesced.mayBeStoredSinceMs !== undefined || quiesced.sendingSinceMs !== undefined
          const unlinkedVersionId = node?.kind === 'file' && node.fileId === fileId && !mayBeStored ? node.versionId : undefined
          await this.#d.writes.markUnlinking(quiesced, true, unlinkedVersionId).catch((e: unknown) => {
            this.#d.writes.requeue(quiesced)
            throw fromImageKitError(e, { op: 'unlink', target: dest.remotePath })
          })
        }
        try {
          // A put-back still waiting for the library (W17): the original is aside, and what the name holds in the
          // library is the file's own upload, which goes too (else the name comes back).
          if (maybeStoredSinceMs !== undefined) fileId = (await storedSince(this.#d.api, dest.folder, dest.name, maybeStoredSinceMs))?.fileId
          const drop = pending?.putBack?.drop
          if (drop !== undefined && drop !== fileId) {
            await this.#d.api.deleteFile(drop).catch((e: unknown) => {
              if (!isNotFound(e)) throw e
            })
          }
          if (fileId !== undefined) await this.#d.api.deleteFile(fileId)
        } catch (e) {
          if (!isNotFound(e)) {
            if (pending) {
              await this.#d.writes.markUnlinking(pending, false)
              this.#d.writes.requeue(pending)
            }
            throw fromImageKitError(e, { op: 'unlink', target: dest.remotePath })
          }
          // The listed file is gone; one stored at the name since (elsewhere, after the cached listing: R2) is
          // what the name holds now, and goes, as on a local disk, instead of coming back later.
          if (!pending && fileId !== undefined) fileId = await this.#deleteNewerAt(dest, fileId)
        }
      }
      if (pending) await this.#d.writes.discard(pending)
      if (fileId) await this.#d.writes.forgetStored(fileId)
      this.#d.dirs.setChild(dest.folder, dest.localName, undefined)
      if (fileId) this.#d.dirs.dropVersionsOf(dest.folder, fileId)
    })
  }

  /**
   * The stored file `node` at `dest`, which programs have open for reading, goes from the listings now; its bytes
   * are fetched for them and it is deleted from the library in the background (pending-deletes.ts). False, done
   * nothing, when its delete cannot be noted in the spool (the caller deletes it at once then).
   */
  #deleteLater(node: FileInode, dest: Destination): boolean {
    try {
      this.#d.writes.deletes.begin(node.fileId, dest.remotePath, () => this.#d.keepForReaders(node), node.versionId)
    } catch (e) {
      this.#d.log.warn({ path: dest.remotePath, err: e }, 'delete of a file open for reading: cannot note it in the spool; its bytes are fetched for the readers before it, the folder waiting')
      return false
    }
    this.#d.dirs.setChild(dest.folder, dest.localName, undefined)
    this.#d.dirs.dropVersionsOf(dest.folder, node.fileId)
    return true
  }

  /** After deleting `goneId` found it gone: deletes the file now at `dest` (listed afresh), if another; its id. */
  async #deleteNewerAt(dest: Destination, goneId: string): Promise<string> {
    this.#d.dirs.expire(dest.folder)
    const now = await this.#remoteFile(dest)
    if (!now || now.fileId === goneId || now.isVersion) return goneId
    try {
      await this.#d.api.deleteFile(now.fileId)
    } catch (e) {
      if (!isNotFound(e)) throw fromImageKitError(e, { op: 'unlink', target: dest.remotePath })
    }
    this.#d.dirs.dropVersionsOf(dest.folder, goneId)
    return now.fileId
  }

  async rename(fromLocalPath: string, toLocalPath: string): Promise<void> {
    const from = await this.#d.destinations.of(fromLocalPath)
    // rename(2) has EINVAL only for a folder moved into itself, and GNU mv says just that ("cannot move 'a' to
    // a subdirectory of itself"); EPERM, "Operation not permitted", is rename(2)'s for a rename the filesystem
    // does not support, which mv prints as it is.
    const to = await this.#d.destinations.of(toLocalPath, 'EPERM')
    if (from.remotePath === to.remotePath) return
    if (to.remotePath.startsWith(from.remotePath + '/')) {
      throw new VfsError('EINVAL', `rename ${fromLocalPath}: cannot move a folder into itself`)
    }
    this.#d.writes.movedAside.changed(from.remotePath)
    this.#d.writes.movedAside.changed(to.remotePath)
    await this.#locked([from.remotePath, to.remotePath], () => this.#renameLocked(from, to)).catch((e: unknown) => {
      // The source is gone remotely (deleted or moved elsewhere after the cached listing, R2): the listing that
      // still shows it is read again, so the name does not stay there for the dir cache time.
      if (e instanceof VfsError && isNotFound(e.cause)) this.#d.dirs.expire(from.folder)
      throw e
    })
  }

  async #renameLocked(from: Destination, to: Destination): Promise<void> {
    const srcNode = await this.#remote(from)
    const srcPending = this.#d.writes.pendingAt(from.remotePath)
    if (!srcNode && !srcPending) throw new VfsError('ENOENT', `rename ${from.localPath}: no such file`)
    // A folder takes its tree along: as far as the cached listings show it (a deeper part not listed yet is
    // the library's to refuse; #renameFolder then measures the tree, to answer the same).
    const what = `rename ${from.localPath} to ${to.localPath}`
    if (srcNode?.kind === 'dir' && !srcPending) assertFolderDepth(what, to.remotePath, this.#knownHeight(srcNode.remotePath))
    else assertFolderDepth(what, to.folder)
    // ImageKit's move (and the upload of a file waiting in the spool) makes a missing target folder: one deleted
    // elsewhere is not brought back by a rename into it, as it is not by a create there (W7).
    if (to.folder !== from.folder) await this.#d.folders.assertExists(to.folder, parentOf(to.parentLocalPath)[1], `rename ${from.localPath} to ${to.localPath}`)
    // ImageKit's folder move merges into a folder of the same name there (same-named files become versions
    // of its files): what the target folder holds is read fresh, not from a listing others changed since.
    if (srcNode?.kind === 'dir' && !srcPending) this.#d.dirs.expire(to.folder)
    const dstNode = await this.#remote(to)
    const dstPending = this.#d.writes.pendingAt(to.remotePath)
    if (srcNode?.kind === 'dir' && !srcPending) {
      if (dstPending || dstNode?.kind === 'file') throw new VfsError('ENOTDIR', `rename ${to.localPath}: not a folder`)
      return this.#renameFolder(srcNode, from, to, dstNode)
    }
    if (srcNode?.kind === 'file' && srcNode.isVersion) throw new VfsError('EACCES', `rename ${from.localPath}: old versions are read-only`)
    if (dstNode?.kind === 'file' && dstNode.isVersion) throw new VfsError('EACCES', `rename ${to.localPath}: old versions are read-only`)
    if (dstNode?.kind === 'dir') throw new VfsError('EISDIR', `rename ${to.localPath}: is a folder`)
    return this.#renameFile(from, to, srcNode as FileInode | undefined, srcPending, dstNode as FileInode | undefined, dstPending)
  }

  /**
   * A folder move the library refused (a 400, or a job that failed) that would take the tree deeper: whether a
   * folder under it, in a part no listing had shown before the move, would land past MAX_FOLDER_DEPTH. Then the
   * refusal is that limit's (ENAMETOOLONG, as a tree known to be that high is refused before any call), not EIO.
   * The steps done before the refused one are undone by then (cross-folder-rename.ts), so the tree is where it was.
   * The measure lists the tree, deepest branch first, at most MEASURE_MAX_LISTINGS folders, and only down to the
   * level that would not fit; a measure that fails or runs out leaves the library's refusal as it was.
   */
  async #refusedAsTooDeep(e: unknown, src: DirInode, from: Destination, to: Destination): Promise<VfsError | undefined> {
    if (!hasImageKitCode(e, 'IK_BAD_REQUEST') && !hasImageKitCode(e, 'IK_JOB_FAILED')) return undefined
    const room = MAX_FOLDER_DEPTH - folderDepth(to.remotePath) // levels that fit under the moved folder
    if (folderDepth(to.remotePath) <= folderDepth(from.remotePath)) return undefined
    let listings = 0
    const stack: [DirInode, number][] = [[src, 0]]
    try {
      for (let next = stack.pop(); next && listings < MEASURE_MAX_LISTINGS; next = stack.pop()) {
        const [dir, height] = next
        if (height > room) return folderTooDeep(`rename ${from.localPath} to ${to.localPath}`, to.remotePath, height, e)
        listings++
        for (const child of (await this.#d.dirs.listing(dir)).children.values()) if (child.kind === 'dir') stack.push([child, height + 1])
      }
    } catch (err) {
      this.#d.log.debug({ path: from.localPath, err }, 'could not measure the tree of a refused folder move')
    }
    return undefined
  }

  /** How many levels of folders the cached listings show under a folder (0: none, or none listed). */
  #knownHeight(remotePath: string): number {
    let height = 0
    const stack: [string, number][] = [[remotePath, 0]]
    for (let next = stack.pop(); next; next = stack.pop()) {
      const [path, depth] = next
      height = Math.max(height, depth)
      for (const child of this.#d.dirs.peek(path)?.children.values() ?? []) if (child.kind === 'dir') stack.push([child.remotePath, depth + 1])
    }
    return height
  }

  async #renameFile(
    from: Destination, to: Destination, src: FileInode | undefined, srcPending: PendingFile | undefined,
    dst: FileInode | undefined, dstPending: PendingFile | undefined,
  ): Promise<void> {
    const { writes, dirs } = this.#d
    // Uploads in flight land first (the target's decides whether it exists remotely). A pending file whose
    // upload landed and that retired meanwhile is no longer pending: the listing has it.
    if (srcPending && !(await writes.quiesce(srcPending))) {
      srcPending = undefined
      src = await this.#remoteFile(from)
      if (!src) throw new VfsError('ENOENT', `rename ${from.localPath}: no such file`)
    }
    try {
      // A server-side copy still open has its bytes only remotely, at the path this rename changes: they
      // come into the spool first, for the upload a rename over another file makes (and for later reads).
      if (srcPending?.remoteContent) await writes.fetchContent(srcPending)
      if (dstPending && !(await writes.quiesce(dstPending))) {
        dstPending = undefined
        dst = await this.#remoteFile(to)
      }
      // A target open for writing and not filled yet has its bytes only remotely, as the version the rename
      // makes old: its URL then serves the new one. They come into the spool first, so that the program that
      // has it open reads and writes on what it opened (W9), as for an unlink (W8).
      if (dstPending?.remoteContent) await writes.fetchContent(dstPending)
      await this.#renameQuiesced(from, to, src, srcPending, dst, dstPending)
    } catch (e) {
      // Whatever the failure left stopped uploads again (a retargeted or discarded file is no longer stopped).
      for (const f of [srcPending, dstPending]) if (f?.quiesced) writes.requeue(f)
      throw e
    }
  }

  async #renameQuiesced(
    from: Destination, to: Destination, src: FileInode | undefined, srcPending: PendingFile | undefined,
    dst: FileInode | undefined, dstPending: PendingFile | undefined, retried = false,
  ): Promise<void> {
    const { writes, dirs } = this.#d
    // A source never stored before whose upload attempt's answer was an error (a 5xx, a lost answer) may be
    // stored at its name all the same, unknown to the listing: that copy is the source's stored file, moved to
    // the new name (where the next attempt finds it) or deleted as the source of a save, never left behind.
    const srcFileId = srcPending?.base?.fileId ?? src?.fileId ?? (await this.#maybeStoredAt(from, srcPending))
    const dstBase = dstPending?.base ?? (dst ? remoteBaseOf(dst) : undefined)
    const ino = src?.ino ?? srcPending?.ino ?? dirs.peek(to.folder)?.children.get(to.localName)?.ino
    // What was set on a target still waiting for its upload (R10) stays, as a stored target's tags do, unless
    // the saved file, never stored itself (an editor's temporary file), has its own (W9).
    if (srcPending && !src && dstPending?.wanted) srcPending.wanted = mergeWanted(dstPending.wanted, srcPending.wanted ?? {})
    if (dstBase) {
      // Atomic save onto an existing file: its id and privacy stay, and its tags and metadata unless the
      // source has its own (wanted-details.ts carriedDetails); it gains a version.
      if (srcPending && (srcPending.unsent || srcPending.state === 'empty' || srcPending.dirty || srcPending.openCount > 0)) {
        if (dstPending) await writes.discard(dstPending)
        await writes.retarget(srcPending, to, dstBase, dst?.ino ?? dstPending?.ino, src)
      } else {
        if (!src) throw new VfsError('ENOENT', `rename ${from.localPath}: no such file`)
        await writes.uploadCopy(src, to, dstBase, dst?.ino ?? dstPending?.ino ?? this.#d.inodes.allocate())
        if (dstPending) await writes.discard(dstPending)
        if (srcPending) await writes.discard(srcPending)
      }
      if (srcFileId && srcFileId !== dstBase.fileId && !(src?.fileId === srcFileId && this.#d.readersHold(src) && this.#deleteLater(src, from))) {
        // A program that has the source open for reading reads on what it opened, as after an unlink (W8): when
        // it holds it, the fetch and the delete follow the rename (#deleteLater).
        if (src?.fileId === srcFileId) await this.#d.keepForReaders(src)
        try {
          await this.#d.api.deleteFile(srcFileId)
        } catch (e) {
          if (!isNotFound(e)) throw fromImageKitError(e, { op: 'rename (delete source)', target: from.remotePath })
        }
        await writes.forgetStored(srcFileId)
        dirs.dropVersionsOf(from.folder, srcFileId)
      }
      dirs.setChild(from.folder, from.localName, undefined)
      // The target's node is the new version's (its upload landed) or the file waiting in the spool shows.
      dirs.versionAdded(to.folder)
      return
    }
    // No remote target: a target only in the spool (empty, or never uploaded) is replaced, so its bytes and
    // record go; then move the remote file (if any) and point the pending upload at the new path.
    if (dstPending) await writes.discard(dstPending)
    // A pending upload's record names the old path until it is retargeted below: each step is noted first, so
    // that after a crash the next mount uploads to where the stored file is (spool/folder-moves.ts).
    const move = srcFileId && srcPending?.uploadToCome ? writes.folderMoveFrom(from.remotePath, true) : undefined
    try {
      if (srcFileId && src) {
        await this.#moveRemoteFile(srcFileId, from, to, move)
      } else if (srcFileId) {
        // Only known from an upload that landed after the listing: re-list and retry once.
        dirs.expire(from.folder)
        const fresh = await this.#remote(from)
        if (fresh?.kind === 'file') await this.#moveRemoteFile(fresh.fileId, from, to, move)
      }
    } catch (e) {
      if (move) writes.endFolderMove(move)
      // The target was added elsewhere after the cached listing (R2): rename(2) replaces it, as on a local disk
      // (the steps before the conflict were undone, cross-folder-rename.ts), so this is an atomic save after all.
      const cause = e instanceof VfsError ? e.cause : undefined
      if (!hasImageKitCode(cause, 'IK_CONFLICT') || retried) throw e
      dirs.expire(to.folder)
      const fresh = await this.#remote(to)
      if (fresh?.kind === 'dir') throw new VfsError('EISDIR', `rename ${to.localPath}: is a folder`, { cause: e })
      if (!fresh) throw e
      this.#d.log.info({ from: from.remotePath, to: to.remotePath }, 'rename: the target exists in the library (added elsewhere); replacing it')
      return this.#renameQuiesced(from, to, src, srcPending, fresh, undefined, true)
    }
    if (srcPending) await writes.retarget(srcPending, to, srcPending.base, ino)
    if (move) writes.endFolderMove(move)
    dirs.setChild(from.folder, from.localName, undefined)
    // A file only in the spool moved in the spool only: the listings still say what the library holds.
    if (!srcFileId) return
    // Same inode at the new name, with the new path and url: the folders need not be listed again.
    if (src && ino !== undefined) {
      dirs.setChild(to.folder, to.localName, renamedFileNode(src, ino, to.remotePath, this.#d.clock.now()))
      // Maybe a save moving the original aside (W17): remembered until the backup's unlink (moved-aside.ts).
      if (!srcPending && from.folder === to.folder) this.#d.writes.movedAside.renamed(src, from, to)
      return dirs.fileMoved(from.folder, to.folder)
    }
    dirs.expire(to.folder)
    dirs.expire(from.folder)
  }

  /** What `dest`'s name holds since an upload attempt of `file` that may have stored it began, if any. */
  async #maybeStoredAt(dest: Destination, file: PendingFile | undefined): Promise<string | undefined> {
    const sinceMs = file?.mayBeStoredSinceMs
    if (sinceMs === undefined) return undefined
    try {
      return (await storedSince(this.#d.api, dest.folder, dest.name, sinceMs))?.fileId
    } catch (e) {
      throw fromImageKitError(e, { op: 'rename (look for an upload that may have been stored)', target: dest.remotePath })
    }
  }

  /**
   * renameFile within a folder, moveFile across folders, both across folders under a new name; `move`: noted
   * first. A step that fails while the file `fileId` is where the step was to put it was done (lost-answer.ts).
   */
  async #moveRemoteFile(fileId: string, from: Destination, to: Destination, move?: FolderMove): Promise<void> {
    const { api, writes, log } = this.#d
    const op = { op: 'rename', target: from.remotePath }
    const step = (toPath: string, call: () => Promise<unknown>): Promise<void> => {
      if (move) writes.noteFolderMove(move, toPath)
      return changeOrItsResult(call, () => fileIsAt(api, fileId, toPath), log, { op: 'rename', from: from.remotePath, to: toPath })
    }
    const calls: RenameAndMove = {
      rename: (folder, name, newName) => step(joinRemote(folder, newName), () => api.renameFile(joinRemote(folder, name), newName)),
      move: (folder, name, toFolder) => step(joinRemote(toFolder, name), () => api.moveFile(joinRemote(folder, name), toFolder)),
    }
    try {
      if (from.folder === to.folder) await calls.rename(from.folder, from.name, to.name)
      else if (from.name === to.name) await calls.move(from.folder, from.name, to.folder)
      else await renameAcrossFolders(calls, from, to, await this.#takenNames(from, to), 'file')
    } catch (e) {
      throw fromImageKitError(e, op)
    }
  }

  /**
   * For a rename into another folder under another name: is the old name taken in the target folder, the new
   * one in the source? By a listed entry, or by a file waiting in the spool, whose upload could otherwise land
   * on the moved file between two steps.
   */
  async #takenNames(from: Destination, to: Destination): Promise<Taken> {
    const taken = async (at: Destination, localName: string, name: string): Promise<boolean> =>
      (await this.#remote({ ...at, localName, name, remotePath: '' })) !== undefined ||
      this.#d.writes.pendingAt(joinRemote(at.folder, name)) !== undefined
    return {
      oldNameInTarget: await taken(to, from.localName, from.name),
      newNameInSource: await taken(from, to.localName, to.name),
    }
  }

  async #renameFolder(src: DirInode, from: Destination, to: Destination, dst: Inode | undefined): Promise<void> {
    const { api, dirs, writes } = this.#d
    if (src.remotePath === '/') throw new VfsError('EBUSY', 'rename: the root cannot be renamed')
    if (dst?.kind === 'dir') {
      await this.#assertEmpty(dst, `rename onto ${to.localPath}`)
      await this.#deleteEmptyFolder(dst.remotePath, to.folder, `rename onto ${to.localPath} (replace empty folder)`)
      dirs.setChild(to.folder, to.localName, undefined)
    }
    // A file inside (or in a folder it merges into) whose delete is under way would move with the folder, away
    // from the path a file made at its name waits on (pending-deletes.ts): those deletes are done first.
    await writes.deletes.settledUnder(src.remotePath)
    await writes.deletes.settledUnder(to.remotePath)
    const inside = writes.pendingUnder(src.remotePath)
    // Files open inside keep working: an upload asked for while the job runs waits for it (write-path.ts quiesce).
    const still: PendingFile[] = []
    for (const f of inside) if (await writes.quiesce(f)) still.push(f) // the others retired: the folder's listing has them
    const op = { op: 'rename folder', target: src.remotePath }
    // The spool's records of the files inside name the old path until they are retargeted below: each job is
    // noted first, so that after a crash the next mount finds where they belong (spool/folder-moves.ts).
    const move = still.length > 0 ? writes.folderMoveFrom(src.remotePath) : undefined
    const job = (start: () => Promise<unknown>, fromPath: string, toPath: string): Promise<void> => {
      if (move) writes.noteFolderMove(move, toPath)
      return runFolderJob(this.#d, start, fromPath, toPath)
    }
    const jobs: RenameAndMove = {
      rename: (folder, name, newName) =>
        job(() => api.renameFolder(joinRemote(folder, name), newName), joinRemote(folder, name), joinRemote(folder, newName)),
      move: (folder, name, toFolder) =>
        job(() => api.moveFolder(joinRemote(folder, name), toFolder), joinRemote(folder, name), joinRemote(toFolder, name)),
    }
    try {
      if (from.folder === to.folder) await jobs.rename(from.folder, from.name, to.name)
      else if (from.name === to.name) await jobs.move(from.folder, from.name, to.folder)
      else await renameAcrossFolders(jobs, from, to, await this.#takenNames(from, to), 'folder')
    } catch (e) {
      if (move) writes.endFolderMove(move)
      for (const f of still) writes.requeue(f)
      const tooDeep = await this.#refusedAsTooDeep(e, src, from, to)
      if (tooDeep) throw tooDeep
      const err = fromImageKitError(e, op)
      // Another machine's change came first (folder-job.ts): both folders are listed afresh, to show what won.
      if (err.code === 'ENOENT' || err.code === 'EEXIST') for (const folder of [from.folder, to.folder]) dirs.expire(folder)
      throw err
    }
    let allRetargeted = true
    for (const f of still) {
      const rel = f.folder.slice(src.remotePath.length) // "" or "/sub"
      const newFolder = to.remotePath + rel
      f.localPath = to.localPath + f.localPath.slice(from.localPath.length)
      try {
        await writes.retarget(f, { ...f, localName: '', parentLocalPath: '', folder: newFolder, name: f.name, remotePath: joinRemote(newFolder, f.name) } as Destination, f.base, undefined)
      } catch (e) {
        // The folder moved all the same: the file goes on to its upload at the new path (its journal record,
        // which the failure could not rewrite, is rewritten at its next change or attempt).
        writes.requeue(f)
        allRetargeted = false
        this.#d.log.error({ path: f.localPath, err: e }, 'a file being written in a renamed folder could not be updated in the spool journal')
      }
    }
    // A record left at the old path still needs the note: the next mount moves it to where the folder is.
    if (move && allRetargeted) writes.endFolderMove(move)
    dirs.forget(src.remotePath)
    dirs.forget(to.remotePath)
    dirs.setChild(from.folder, from.localName, undefined)
    dirs.setChild(to.folder, to.localName, new DirInode(src.ino, to.remotePath, src.createdAtMs, this.#d.clock.now()))
    writes.movedFolderMtimes(src.remotePath, to.remotePath)
  }
}
