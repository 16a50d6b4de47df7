/**
 * The write path: files being written (PendingFile, file-node.ts) in the spool, their journal records,
 * the overlay they form over listings, and their uploads (upload/uploader.ts).
 *
 * Locks (see the order in vfs.ts): `#pathLock` per remote path serialises creating/removing the
 * PendingFile of a path; `#fileLock` per PendingFile id serialises content changes against uploads
 * (an open for writing waits for an upload in flight: bytes never change under an upload).
 */
import { constants as fsConstants } from 'node:fs'
import { open, stat, truncate, type FileHandle } from 'node:fs/promises'
import type { Clock } from '../clock.js'
import { isDiskFull } from '../full-disk.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { FileObject, UploadResponse } from '../imagekit/types.js'
import type { Logger } from '../log.js'
import type { DirCache } from './dir-cache.js'
import { VfsError } from './errors.js'
import { PendingFile, remoteBaseOf, type RemoteBase } from './file-node.js'
import { fileInodeFrom, fileInodeFromUpload, versionIdOf, type FileInode } from './inode.js'
import type { InodeTable } from './inode-table.js'
import { KeyedMutex } from './lock.js'
import { parentOf, type NameCodec } from './name.js'
import { destinationOf, type Destination } from './destination.js'
import { fillFromRemote } from './remote-fill.js'
import type { Resolver } from './resolver.js'
import { Journal } from './spool/journal.js'
import { crc32Of } from './spool/checksum.js'
import { recoverSpool } from './spool/recover.js'
import { spoolError } from './spool/spool-error.js'
import { DataFiles } from './spool/data-files.js'
import { LocalMtimes } from './spool/mtimes.js'
import type { DropCachedPages } from './spool/page-trim.js'
import { RecentCopies } from './spool/recent-copies.js'
import { libraryKeyOf, Spool } from './spool/spool.js'
import type { Counters } from './stats.js'
import type { UploadStatus, VfsOptions } from './types.js'
import { uploadFieldsOf } from './upload/fields.js'
import { STREAM_THRESHOLD_BYTES, Streamer } from './upload/streamer.js'
import { describe, isTooLarge, Uploader } from './upload/uploader.js'
import { setWantedDetails } from './upload/set-details.js'
import { WarnOnce } from './warn-once.js'
import { carriedDetails, mergeWanted, type WantedDetails } from './wanted-details.js'

/** A file created (or truncated) by an open that nothing has written, synced or uploaded yet, and only that open holds. */
function isUntouchedNewFile(file: PendingFile): boolean {
  return file.openCount === 1 && file.size === 0 && file.base === undefined && file.dirty && file.appendOnly &&
    !file.unsent && file.state === 'open' && file.inflight === undefined && !file.unlinked && file.writesInFlight === 0 &&
    file.streamed === undefined && file.remoteContent === undefined
}

/** Files up to this size have their bytes and record synced at the same time (with a checksum in the record). */
const SYNC_TOGETHER_BYTES = 1024 * 1024

export interface WritePathDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  /** For the uploader and the streamer (component vfs.upload). */
  uploadLog: Logger
  codec: NameCodec
  inodes: InodeTable
  dirs: DirCache
  resolver: Resolver
  counters: Counters
  options: VfsOptions
  /** The page-cache addon's, when built (spool/page-trim.ts). */
  dropCachedPages?: DropCachedPages | undefined
}

export class WritePath {
  readonly #d: WritePathDeps
  readonly #spool: Spool
  readonly #dataFiles: DataFiles
  readonly #journal: Journal
  readonly #uploader: Uploader
  readonly #streamer: Streamer
  readonly #mtimes: LocalMtimes
  readonly #recent: RecentCopies
  readonly #byRemotePath = new Map<string, PendingFile>()
  readonly #pathLock = new KeyedMutex()
  readonly #fileLock = new KeyedMutex()
  readonly #background = new Set<Promise<void>>()

  constructor(deps: WritePathDeps) {
    this.#d = deps
    this.#spool = new Spool(deps.options.cacheDir, libraryKeyOf(deps.options.libraryId))
    this.#journal = new Journal(this.#spool.journalDir, deps.options.bootId)
    this.#dataFiles = new DataFiles(this.#spool.dataDir, this.#spool.freeDir)
    this.#recent = new RecentCopies(this.#dataFiles, this.#spool.keptDir, deps.clock)
    const mtimeWarnings = new WarnOnce(deps.log)
    this.#mtimes = new LocalMtimes(this.#spool.dir, (err) =>
      mtimeWarnings.warn('mtimes', { err }, 'modification times set through the mount cannot be saved in the spool; they are kept until unmount'))
    this.#uploader = new Uploader({
      clock: deps.clock, log: deps.uploadLog, counters: deps.counters,
      maxParallel: deps.options.maxParallelUploads,
      perform: (file, onProgress) => this.#perform(file, onProgress),
      persist: (file) => this.#persist(file),
    })
    this.#streamer = new Streamer({
      api: deps.api, log: deps.uploadLog, uploader: this.#uploader, uploadTags: deps.options.uploadTags,
      // With write-back a closed file may still change before its upload: it is never streamed.
      enabled: deps.options.streamUploads !== false && deps.options.writeBackDelayMs === 0,
      thresholdBytes: deps.options.streamThresholdBytes ?? STREAM_THRESHOLD_BYTES,
      dropCachedPages: deps.dropCachedPages,
      trimStepBytes: deps.options.streamTrimStepBytes,
    })
    this.#replay()
  }

  get spoolDir(): string {
    return this.#spool.dir
  }

  // ---- overlay ----

  pendingAt(remotePath: string): PendingFile | undefined {
    return this.#byRemotePath.get(remotePath)
  }

  pendingAtLocal(localPath: string): PendingFile | undefined {
    try {
      return this.#byRemotePath.get(destinationOf(this.#d.codec, localPath).remotePath)
    } catch {
      return undefined
    }
  }

  pendingIn(folder: string): PendingFile[] {
    return [...this.#byRemotePath.values()].filter((f) => f.folder === folder)
  }

  hasPendingUnder(folder: string): boolean {
    const prefix = folder === '/' ? '/' : folder + '/'
    for (const f of this.#byRemotePath.values()) if (f.folder === folder || f.folder.startsWith(prefix)) return true
    return false
  }

  pendingUnder(folder: string): PendingFile[] {
    const prefix = folder + '/'
    return [...this.#byRemotePath.values()].filter((f) => f.folder === folder || f.folder.startsWith(prefix))
  }

  uploads(): UploadStatus[] {
    return [...this.#byRemotePath.values()]
      .filter((f) => f.unsent || f.inflight || f.state === 'empty' || f.state === 'rejected')
      .map((f) => f.status())
  }

  // ---- opening ----

  /** A pending file opened for reading (its newest bytes are in the spool), or undefined. */
  async openForRead(localPath: string): Promise<PendingFile | undefined> {
    const file = this.pendingAtLocal(localPath)
    if (!file) return undefined
    return this.#fileLock.run(file.id, async () => {
      if (this.#byRemotePath.get(file.remotePath) !== file) return undefined // dropped while we waited
      await this.#ensureFd(file)
      file.openCount++
      return file
    })
  }

  /** Opens (creating when allowed) the pending file of a path for writing; fills it from the remote bytes unless O_TRUNC. */
  async openForWrite(localPath: string, flags: number, create: boolean): Promise<PendingFile> {
    const dest = destinationOf(this.#d.codec, localPath)
    const truncate = (flags & fsConstants.O_TRUNC) !== 0
    return this.#pathLock.run(dest.remotePath, async () => {
      const existing = this.#byRemotePath.get(dest.remotePath)
      if (existing) {
        const reused = await this.#fileLock.run(existing.id, async () => {
          if (this.#byRemotePath.get(dest.remotePath) !== existing) return false // dropped while we waited
          this.#streamer.stop(existing, 'a second open for writing')
          this.#uploader.cancel(existing) // a write-back that has not started restarts at the next close
          await existing.inflight?.catch(() => undefined)
          await this.#ensureFd(existing)
          if (truncate && existing.size > 0) await this.#truncateLocked(existing, 0)
          if (truncate) existing.failedWrite = undefined
          if (truncate && existing.openCount === 0) existing.appendOnly = true // written afresh by one writer
          if (existing.unsent || existing.dirty) existing.state = 'open'
          existing.openCount++
          return true
        })
        if (reused) return existing
      }
      const node = await this.#remoteFile(dest)
      if (!node && !create) throw new VfsError('ENOENT', `open ${localPath}: no such file`)
      const now = this.#d.clock.now()
      const filling = node !== undefined && !truncate && node.size > 0
      const { id, fh, filled } = await this.#spoolFileFor(filling ? node : undefined)
      const base: RemoteBase | undefined = node ? remoteBaseOf(node) : undefined
      const file = new PendingFile(
        id, this.#dataFiles.path(id), dest.folder, dest.name, localPath, node?.ino ?? this.#d.inodes.allocate(),
        0, node ? node.updatedAtMs : now, node ? node.createdAtMs : now, base,
      )
      file.fd = fh
      try {
        if (filled) {
          file.size = node!.size
        } else if (filling) {
          await this.#fill(file, node)
        } else {
          file.dirty = true // new or truncated: must be recorded at close, even when empty
          file.mtimeMs = now
          file.appendOnly = true
        }
      } catch (e) {
        await this.#dataFiles.remove(id, fh)
        throw e
      }
      file.openCount = 1
      this.#byRemotePath.set(dest.remotePath, file)
      return file
    })
  }

  /** The remote file at a destination (undefined when absent); the parent folder must exist. */
  async #remoteFile(dest: Destination): Promise<FileInode | undefined> {
    const parent = await this.#d.resolver.resolveDir(dest.parentLocalPath)
    const node = (await this.#d.dirs.listing(parent)).children.get(dest.localName)
    if (!node) return undefined
    if (node.kind === 'dir') throw new VfsError('EISDIR', `open ${dest.localPath}: is a folder`)
    if (node.isVersion) throw new VfsError('EACCES', `open ${dest.localPath}: old versions are read-only`)
    return node
  }

  /**
   * A data file for new content: the kept copy of `bytesOf`'s version when there is one (its bytes already in
   * place: `filled`), else an empty one.
   */
  async #spoolFileFor(bytesOf: FileInode | undefined): Promise<{ id: string; fh: FileHandle; filled: boolean }> {
    const kept = bytesOf && this.#recent.take(bytesOf.fileId, bytesOf.versionId, bytesOf.size)
    if (kept) {
      try {
        return { id: kept.id, fh: kept.fh ?? (await open(this.#dataFiles.path(kept.id), 'r+')), filled: true }
      } catch {
        await this.#dataFiles.remove(kept.id, kept.fh) // gone meanwhile: fetched again below
      }
    }
    return { ...(await this.#dataFiles.create()), filled: false }
  }

  /** The remote bytes into the spool file (remote-fill.ts). */
  async #fill(file: PendingFile, node: FileInode): Promise<void> {
    const target = `fill ${node.remotePath}`
    await fillFromRemote(this.#d.api, this.#d.log, node, (chunk, position) =>
      this.#writeSpool(file.fd!, chunk, position).catch((e: unknown) => { throw spoolError(e, `${target}: writing the spool`) }))
    const { size } = await stat(file.dataPath)
    if (size !== node.size) throw new VfsError('EIO', `${target}: got ${size} of ${node.size} bytes`)
    file.size = size
    file.dataSynced = false
  }

  async #ensureFd(file: PendingFile): Promise<void> {
    if (!file.fd) file.fd = await open(file.dataPath, 'r+')
  }

  // ---- content ----

  async write(file: PendingFile, data: Buffer, position: number): Promise<number> {
    if (file.remoteContent) await this.#fetchContent(file)
    const appending = this.#streamer.writing(file, position)
    const written = { bytes: 0 }
    let failure: unknown
    file.writesInFlight++
    try {
      await this.#writeSpool(file.fd!, data, position, written)
    } catch (e) {
      failure = e
    } finally {
      file.writesInFlight--
    }
    const done = written.bytes
    if (done > 0) {
      file.size = Math.max(file.size, position + done)
      this.#touch(file)
      if (file.failedWrite && position <= file.failedWrite.at && position + done > file.failedWrite.at) file.failedWrite = undefined
    }
    if (failure !== undefined) {
      this.#streamer.stop(file, 'a failed write')
      // Bytes that reached the spool count: a short write, whose rest the application writes again (and
      // then gets the error). Nothing written: the error, as the errno the spool's disk gave, and the file
      // is left unfit to store until that offset is written again (W14).
      if (done > 0) return done
      const error = spoolError(failure, `write ${file.localPath}`)
      // Content closed earlier and not stored yet (waiting for its write-back or a retry) shares the spool
      // copy: dropping it would lose what that close confirmed, so such a file is stored as written, as before.
      if (error instanceof VfsError && !file.unsent && (!file.failedWrite || position < file.failedWrite.at)) {
        file.failedWrite = { at: position, code: error.code }
      }
      throw error
    }
    if (appending) this.#streamer.wrote(file)
    return done
  }

  /**
   * Writes all of `data` at `position` into a spool file; when the disk is full, the kept copies of uploaded
   * files (recent-copies.ts) make room once before the failure counts. `written` tells how much landed.
   */
  async #writeSpool(fd: FileHandle, data: Uint8Array, position: number, written = { bytes: 0 }): Promise<void> {
    for (let gaveWay = false; written.bytes < data.length;) {
      try {
        written.bytes += (await fd.write(data, written.bytes, data.length - written.bytes, position + written.bytes)).bytesWritten
      } catch (e) {
        if (gaveWay || !isDiskFull(e) || !(await this.#recent.giveWay())) throw e
        gaveWay = true
      }
    }
  }

  async read(file: PendingFile, length: number, position: number): Promise<Buffer> {
    if (file.remoteContent) await this.#fetchContent(file)
    if (position >= file.size || length <= 0) return Buffer.alloc(0)
    const buf = Buffer.allocUnsafe(Math.min(length, file.size - position))
    const { bytesRead } = await file.fd!.read(buf, 0, buf.length, position)
    return buf.subarray(0, bytesRead)
  }

  async truncateOpen(file: PendingFile, size: number): Promise<void> {
    await this.#fileLock.run(file.id, () => this.#truncateLocked(file, size))
  }

  /** fallocate's growth (W16): to `size` if the file is smaller then, never shorter. */
  async growOpen(file: PendingFile, size: number): Promise<void> {
    await this.#fileLock.run(file.id, async () => {
      if (size > file.size) await this.#truncateLocked(file, size)
    })
  }

  async #truncateLocked(file: PendingFile, size: number): Promise<void> {
    if (file.remoteContent) await this.#fetchContent(file)
    // The same size changes no byte: a sequential writer and its streamed upload go on, and a new file stays
    // fit for a server-side copy (libuv's copyFile truncates its new target to 0 before copy_file_range).
    if (size !== file.size) this.#streamer.stop(file, 'a truncate')
    await file.fd!.truncate(size).catch((e: unknown) => { throw spoolError(e, `truncate ${file.localPath}`) })
    file.size = size
    if (file.failedWrite && size <= file.failedWrite.at) file.failedWrite = undefined
    this.#touch(file)
  }

  #touch(file: PendingFile): void {
    file.dirty = true
    file.dataSynced = false
    file.mtimeMs = this.#d.clock.now()
    file.mtimeSet = false
    file.storedVersionId = undefined
    file.storedUpload = undefined
  }

  /** utimens of a pending file: shown at once, and kept for the version its upload stores. */
  setMtime(file: PendingFile, mtimeMs: number): void {
    file.mtimeMs = mtimeMs
    file.mtimeSet = true
    if (file.unsent || file.state === 'empty') this.#persist(file).catch(() => undefined)
    if (!file.dirty && !file.unsent && file.state === 'clean') {
      const landed = this.#landedNode(file)
      if (landed) this.rememberMtime(landed, mtimeMs)
    }
  }

  // ---- modification times (spool/mtimes.ts) ----

  /** The modification time set through the mount on this version of a file, if any. */
  mtimeOf(node: FileInode): number | undefined {
    return this.#mtimes.get(node.fileId, node.versionId)
  }

  /** utimens of a stored file: its current version shows `mtimeMs` from now on. */
  rememberMtime(node: FileInode, mtimeMs: number): void {
    this.#mtimes.set(node.fileId, node.versionId, mtimeMs)
  }

  /** A file was deleted remotely: no copy of its bytes stays in the spool. */
  async forgetStored(fileId: string): Promise<void> {
    await this.#recent.drop(fileId)
  }

  #landedNode(file: PendingFile): FileInode | undefined {
    const localName = this.#d.codec.toLocal(file.name)
    const node = localName === undefined ? undefined : this.#d.dirs.peek(file.folder)?.children.get(localName)
    return node?.kind === 'file' && node.fileId === file.base?.fileId ? node : undefined
  }

  // ---- server-side copies (copy_file_range) ----

  /**
   * Copies the whole of a stored file into `file` with ImageKit's copy API, when that gives exactly what a
   * byte copy would: `file` was just created for the copy and is untouched (no remote file at its path yet),
   * and has the source's name in another folder (the API keeps the name). Nothing is downloaded or uploaded;
   * the open file shows the copy, and is filled from its remote bytes only if it is read or changed before
   * its last close. False when the copy is not done this way (the caller copies bytes instead).
   */
  async copyStored(file: PendingFile, source: FileInode): Promise<boolean> {
    const { api, dirs, codec, log } = this.#d
    const [sourceFolder, sourceName] = parentOf(source.remotePath)
    if (source.isVersion || source.size === 0 || file.name !== sourceName || file.folder === sourceFolder) return false
    // A copy carries the source's tags; upload_tags would be missing from it. A quote cannot be searched for.
    if (this.#d.options.uploadTags.length > 0 || sourceName.includes('"')) return false
    return this.#fileLock.run(file.id, async () => {
      if (!isUntouchedNewFile(file) || this.#byRemotePath.get(file.remotePath) !== file) return false
      try {
        await api.copyFile(source.remotePath, file.folder === '/' ? '/' : `${file.folder}/`)
      } catch (e) {
        log.debug({ from: source.remotePath, to: file.remotePath, err: e }, 'server-side copy refused; copying the bytes')
        return false
      }
      const copy = await this.#findStored(file).catch(() => undefined)
      // Copied, but not found yet: the bytes are copied too, and the upload at close stores them as a version.
      if (!copy || copy.size !== source.size) return false
      this.#streamer.stop(file, 'a server-side copy')
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

  /** The stored file at a pending file's path, asked of the API by name (no listing of a whole folder). */
  async #findStored(file: PendingFile): Promise<FileObject | undefined> {
    for await (const item of this.#d.api.listFiles({ path: file.folder, searchQuery: `name = "${file.name}"` })) {
      if (item.type === 'file' && item.filePath === file.remotePath) return item
    }
    return undefined
  }

  /** The open file's content is a server-side copy: its remote bytes go into the spool first (once). */
  async #fetchContent(file: PendingFile): Promise<void> {
    const node = file.remoteContent
    if (!node) return
    file.filling ??= this.#fill(file, node).then(
      () => {
        file.remoteContent = undefined
        file.filling = undefined
      },
      (e: unknown) => {
        file.filling = undefined
        throw e
      },
    )
    await file.filling
  }

  // ---- closing ----

  #needsCommit(file: PendingFile): boolean {
    return !file.unlinked && (file.dirty || (file.unsent && file.state === 'open'))
  }

  /**
   * flush (every close(2)): the last handle of a changed file uploads here so close() sees the result. A file
   * left unfit by a failed write fails the close of a handle that could write, never a reader's.
   */
  async flush(file: PendingFile, writable = true): Promise<void> {
    if (file.openCount !== 1 || !this.#needsCommit(file)) return
    if (file.failedWrite && !writable) return // reverted at its release
    this.#refuseUnfit(file, 'close')
    await this.#commit(file, 'close').catch((e: unknown) => { throw spoolError(e, `close ${file.localPath}`) })
  }

  /** fsync: the content is stored remotely when it returns (write-back: the upload starts now). */
  async fsync(file: PendingFile): Promise<void> {
    if (this.#needsCommit(file)) {
      this.#refuseUnfit(file, 'fsync')
      await this.#commit(file, 'sync').catch((e: unknown) => { throw spoolError(e, `fsync ${file.localPath}`) })
    } else if (file.unsent && file.state !== 'rejected') await this.#upload(file)
  }

  /**
   * A file whose write failed (and was not written again) is not stored: its writer was told, and storing
   * what got through would publish a truncated file over the library's good one. Its close fails like the write.
   */
  #refuseUnfit(file: PendingFile, what: 'close' | 'fsync'): void {
    if (!file.failedWrite) return
    throw new VfsError(
      file.failedWrite.code,
      `${what} ${file.localPath}: not stored, since a write into it at offset ${file.failedWrite.at} failed (${file.failedWrite.code}); the library keeps what it had`,
      { level: 'error' },
    )
  }

  /**
   * A handle went away. The last one of a changed file commits in the background (release cannot report
   * errors; flush already did for close(2)); otherwise the spool file is closed and dropped before returning.
   * A file left unfit by a failed write goes back instead to what its last good close left (#revert).
   */
  async release(file: PendingFile): Promise<void> {
    file.openCount--
    if (file.openCount > 0) return
    if (file.failedWrite && this.#needsCommit(file)) return this.#revert(file)
    if (!this.#needsCommit(file)) {
      // A rename or unlink that quiesced the file while a reader had it open could not queue its upload again.
      if (file.unsent && !file.inflight && file.quiesced === undefined && file.nextAttemptAtMs === undefined) this.requeue(file)
      return this.#closeIdle(file)
    }
    this.#track((async () => {
      try {
        await this.#commit(file, 'close')
      } catch (e) {
        this.#d.log.warn({ path: file.localPath, err: e }, 'upload after the last close failed; the file stays in the spool')
      }
      await this.#closeIdle(file)
    })())
  }

  /**
   * Closes the spool fd of a file nobody has open, and forgets the file when nothing needs it. An upload in
   * flight may be reading through the fd: it is waited for first.
   */
  async #closeIdle(file: PendingFile): Promise<void> {
    await this.#fileLock.run(file.id, async () => {
      await file.inflight?.catch(() => undefined)
      if (file.openCount > 0) return
      const fd = file.fd
      file.fd = undefined
      if (!file.mustKeep) await this.#retire(file, fd)
      else await fd?.close().catch(() => undefined)
    })
  }

  /**
   * The last handle of a file whose write failed went away: nothing of it is stored. A file closed empty
   * before (a new file's descriptor duplicated and closed, as dd and shells do) stays that empty file (W5);
   * any other is dropped from the spool, so it shows what the library holds (nothing, for a new file).
   */
  async #revert(file: PendingFile): Promise<void> {
    await this.#fileLock.run(file.id, async () => {
      await file.inflight?.catch(() => undefined)
      if (file.openCount > 0 || !file.failedWrite) return // opened again meanwhile: that handle decides
      const keptEmpty = file.state === 'empty'
      this.#d.log.warn(
        { path: file.localPath, at: file.failedWrite.at, code: file.failedWrite.code },
        keptEmpty ? 'closed after a failed write: not stored, and left empty as it was' : 'closed after a failed write: not stored, and dropped from the spool (the library keeps what it had)',
      )
      this.#streamer.stop(file, 'a failed write')
      this.#uploader.cancel(file)
      file.failedWrite = undefined
      file.dirty = false
      const fd = file.fd
      file.fd = undefined
      if (!keptEmpty) return this.#drop(file, fd)
      try {
        await (fd ? fd.truncate(0) : truncate(file.dataPath, 0))
        file.size = 0
      } finally {
        await fd?.close().catch(() => undefined)
      }
    })
  }

  /** Path-based truncate: fill, truncate, close (uploads like a close). */
  async truncatePath(localPath: string, size: number): Promise<void> {
    const file = await this.openForWrite(localPath, size === 0 ? fsConstants.O_TRUNC : 0, false)
    try {
      await this.truncateOpen(file, size)
      await this.flush(file)
    } finally {
      await this.release(file)
    }
  }

  #track(p: Promise<void>): void {
    this.#background.add(p)
    void p.finally(() => this.#background.delete(p))
  }

  /** Journals the content (durable before close returns), then uploads it: now, or after the write-back delay. */
  async #commit(file: PendingFile, how: 'close' | 'sync'): Promise<void> {
    /** The spool could not keep the file for a later upload (its disk is full): it is uploaded before returning. */
    let notKept = false
    const upload = await this.#fileLock.run(file.id, async () => {
      if (file.unlinked) return false
      if (file.dirty) {
        // The bytes and their record must outlive this call only when the upload does not happen inside it
        // (write-back, empty files) or the caller asked for it (fsync). A close that uploads at once makes
        // them durable only if the upload fails (#persist, called by the uploader); a kill -9 meanwhile loses
        // nothing (the page cache survives the process) and the in-flight record lets the next mount finish.
        const durable = how === 'sync' || this.#d.options.writeBackDelayMs > 0 || file.size === 0 || this.#journal.isDurable(file.id)
        // A small file's bytes and record are synced at the same time (one wait for the disk instead of two
        // in a row); the record then carries the bytes' checksum, so that one which reached the disk without
        // them is recognised at start (#replay). Larger files sync their bytes first, then the record.
        const checksum = durable && file.fd && file.size > 0 && file.size <= SYNC_TOGETHER_BYTES ? crc32Of(file.fd.fd, file.size) : undefined
        const dataSynced = durable ? this.#syncData(file) : undefined
        if (checksum === undefined) await dataSynced
        file.dirty = false
        if (file.size === 0) {
          // ImageKit cannot store empty files: kept in the spool, shown, uploaded once it has content.
          this.#uploader.cancel(file)
          file.unsent = false
          file.state = 'empty'
          await this.#journal.write(file.record())
          return false
        }
        file.unsent = true
        file.state = 'waiting'
        file.attempts = 0
        if (durable) {
          await Promise.all([dataSynced, this.#journal.write(file.record(checksum))]).catch((e: unknown) => {
            if (!isDiskFull(e)) throw e
            notKept = true
            this.#d.log.warn({ path: file.localPath, err: e }, 'the spool cannot keep this file for a later upload (its disk is full); uploading it before the call returns')
          })
        } else {
          this.#recordInflight(file)
        }
      }
      return file.unsent
    })
    if (!upload) return
    if (how === 'close' && this.#d.options.writeBackDelayMs > 0 && !notKept) {
      this.#uploader.schedule(file, this.#d.options.writeBackDelayMs)
      return
    }
    await this.#upload(file)
  }

  /**
   * The record of an upload that runs inside close(2) only lets the next mount finish it after a kill -9. When
   * the spool's disk is too full to take it, the upload goes ahead all the same (close reports its outcome);
   * only that crash window is left uncovered, and the log says so.
   */
  #recordInflight(file: PendingFile): void {
    try {
      this.#journal.writeInflight(file.record())
    } catch (e) {
      this.#d.log.warn({ path: file.localPath, err: e }, 'the spool journal cannot record this upload (its disk is full); uploading it all the same, but a crash before it lands would lose it')
    }
  }

  async #upload(file: PendingFile): Promise<void> {
    try {
      await this.#uploader.upload(file)
    } catch (e) {
      throw this.#uploadError(file, e) // the uploader made the spooled copy durable (#persist) before this
    }
  }

  /** fdatasync of the spooled bytes, once per change (the fd of an open file, else the path). */
  async #syncData(file: PendingFile): Promise<void> {
    if (file.dataSynced) return
    const fh = file.fd ?? (await open(file.dataPath, 'r'))
    try {
      await fh.datasync()
    } finally {
      if (fh !== file.fd) await fh.close()
    }
    file.dataSynced = true
  }

  #uploadError(file: PendingFile, e: unknown): VfsError {
    if (isTooLarge(e)) {
      return new VfsError('EFBIG', `upload ${file.remotePath}: larger than the account's upload limit; kept in the spool`, { cause: e, level: 'error' })
    }
    return new VfsError('EIO', `upload ${file.remotePath}: ${describe(e)}; kept in the spool and retried in the background`, { cause: e, level: 'error' })
  }

  async #perform(file: PendingFile, onProgress: (sentBytes: number) => void): Promise<boolean> {
    const { api, options } = this.#d
    if (file.quiesced) {
      await file.quiesced.ended // a rename or unlink is running: its outcome decides where (and whether) this goes
      if (file.unlinked || !file.unsent) return false
    }
    const base = file.base
    const uploaded = file.storedUpload ?? (await this.#streamer.finish(file, onProgress)) ?? (await api.uploadFile({
      ...uploadFieldsOf(file, options.uploadTags),
      localFile: file.dataPath,
      ...(file.fd ? { localFileHandle: file.fd } : {}),
      onProgress,
    }))
    const customCoordinates = uploaded.customCoordinates ?? base?.customCoordinates
    file.base = {
      fileId: uploaded.fileId,
      isPrivateFile: uploaded.isPrivateFile ?? base?.isPrivateFile ?? false,
      ...(customCoordinates ? { customCoordinates } : {}),
    }
    file.storedUpload = uploaded
    const res = file.wanted ? await setWantedDetails(api, this.#d.uploadLog, file, uploaded) : uploaded
    file.storedUpload = undefined
    file.unsent = false
    file.sentBytes = file.size
    if (file.state !== 'empty') file.state = 'clean'
    const versionId = versionIdOf(res)
    file.storedVersionId = file.dirty ? undefined : versionId
    if (file.mtimeSet) this.#mtimes.set(res.fileId, versionId, file.mtimeMs)
    if (!file.dirty) {
      await this.#journal.remove(file.id).catch((e: unknown) => {
        // Stored all the same: never uploaded again for this. The record is gone from memory, so the log's
        // next rewrite leaves it out; only a crash before then makes the next mount upload it once more.
        this.#d.log.warn({ path: file.localPath, err: e }, 'uploaded, but the spool journal cannot note it (its disk is full)')
      })
    }
    this.#landed(file, res)
    // A file still holding its fd is released by #closeIdle, which is waiting for this upload. Any other idle
    // file is retired under its lock, so after an open that is waiting for this upload to reuse the file (it
    // holds the lock; awaiting the lock here would deadlock with it), and only if that open did not take it.
    if (file.openCount === 0 && !file.fd) this.#track(this.#fileLock.run(file.id, () => this.#retireIfIdle(file)))
    return true
  }

  /**
   * setxattr of tags or metadata on a file whose upload is still to come: kept with it (and its spool record)
   * and set once the upload lands. False when the file has no upload to come (its bytes are stored): the
   * caller changes the stored file.
   */
  async want(file: PendingFile, wanted: WantedDetails): Promise<boolean> {
    return this.#fileLock.run(file.id, async () => {
      await file.inflight?.catch(() => undefined)
      if (this.#byRemotePath.get(file.remotePath) !== file || file.unlinked) return false
      if (!file.uploadToCome) return false
      file.wanted = mergeWanted(file.wanted, wanted)
      await this.#persist(file)
      return true
    })
  }

  /** A pending file not in the map was retired or dropped already (a quiesce, a rename). */
  async #retireIfIdle(file: PendingFile): Promise<void> {
    if (this.#isIdleAndStored(file) && this.#byRemotePath.get(file.remotePath) === file) await this.#retire(file)
  }

  #isIdleAndStored(file: PendingFile): boolean {
    return file.openCount === 0 && !file.fd && !file.dirty && !file.unsent && file.state !== 'empty'
  }

  /** The upload landed: the listing shows the new version at once (same inode number). */
  #landed(file: PendingFile, res: UploadResponse): void {
    const localName = this.#d.codec.toLocal(file.name)
    if (localName !== undefined && res.filePath === file.remotePath) {
      const times = { createdAtMs: file.createdAtMs, updatedAtMs: this.#d.clock.now() }
      this.#d.dirs.setChild(file.folder, localName, fileInodeFromUpload(res, file.ino, times))
    } else {
      this.#d.dirs.expire(file.folder)
    }
  }

  // ---- namespace support (namespace.ts) ----

  /**
   * Stops scheduled uploads and waits for one in flight: afterwards the file is at rest. False when it is no
   * longer its path's pending file: its upload landed and it was retired meanwhile (the listing has it now).
   */
  async quiesce(file: PendingFile): Promise<boolean> {
    return this.#fileLock.run(file.id, async () => {
      this.#streamer.stop(file, 'a rename or unlink')
      this.#uploader.cancel(file)
      await file.inflight?.catch(() => undefined)
      if (this.#byRemotePath.get(file.remotePath) !== file) return false
      // Stored and idle: its landed upload would retire it any moment (#perform); done now, so the answer holds.
      if (this.#isIdleAndStored(file)) {
        await this.#retire(file)
        return false
      }
      if (!file.quiesced) {
        let end!: () => void
        const ended = new Promise<void>((resolve) => { end = resolve })
        file.quiesced = { ended, end }
      }
      return true
    })
  }

  /** Re-queues a quiesced file's upload (a namespace op failed or moved it). */
  requeue(file: PendingFile): void {
    this.#endQuiesce(file)
    if (file.unsent && file.openCount === 0 && file.state !== 'rejected' && !file.unlinked) {
      this.#uploader.schedule(file, this.#d.options.writeBackDelayMs)
    }
  }

  #endQuiesce(file: PendingFile): void {
    file.quiesced?.end()
    file.quiesced = undefined
  }

  /** Forgets a pending file (unlink, or replaced by a rename): no upload, spool bytes removed once closed. */
  async discard(file: PendingFile): Promise<void> {
    this.#streamer.stop(file, 'unlinked')
    file.unlinked = true
    file.dirty = false
    file.unsent = false
    this.#endQuiesce(file)
    this.#uploader.cancel(file)
    await this.#drop(file)
  }

  /**
   * Points a quiesced pending file at another path (rename); `base` is the remote file it now replaces, and
   * `stored` the file's own earlier version, whose tags and metadata it carries over that one's (W9).
   */
  async retarget(file: PendingFile, dest: Destination, base: RemoteBase | undefined, ino: number | undefined, stored?: FileInode): Promise<void> {
    this.#streamer.stop(file, 'a rename')
    const carried = stored && base && base.fileId !== stored.fileId ? carriedDetails(stored, this.#d.options.uploadTags) : undefined
    if (carried) file.wanted = mergeWanted(carried, file.wanted ?? {})
    if (this.#byRemotePath.get(file.remotePath) === file) this.#byRemotePath.delete(file.remotePath)
    if (base && base.fileId !== file.base?.fileId && !file.uploadToCome) {
      // Stored under its old name, but the file it now replaces holds other bytes (a file kept open, so not
      // retired, renamed over another): they go up again, as that file's new version.
      file.unsent = true
      file.state = file.openCount > 0 ? 'open' : 'waiting'
      file.attempts = 0
    }
    file.folder = dest.folder
    file.name = dest.name
    file.localPath = dest.localPath
    file.base = base
    file.storedVersionId = undefined
    file.storedUpload = undefined
    if (ino !== undefined) file.ino = ino
    this.#byRemotePath.set(dest.remotePath, file)
    if (file.unsent || file.state === 'empty') await this.#persist(file)
    this.requeue(file)
  }

  /**
   * Uploads `source`'s remote bytes as a new version of the file at `dest` (atomic-save rename onto an
   * existing file), with the tags and metadata `source` has of its own (carriedDetails). Nothing stays behind
   * on failure.
   */
  async uploadCopy(source: FileInode, dest: Destination, base: RemoteBase, ino: number): Promise<void> {
    const { id, fh, filled } = await this.#spoolFileFor(source)
    const now = this.#d.clock.now()
    const file = new PendingFile(id, this.#dataFiles.path(id), dest.folder, dest.name, dest.localPath, ino, 0, now, now, base)
    file.fd = fh
    file.wanted = carriedDetails(source, this.#d.options.uploadTags)
    try {
      if (filled) file.size = source.size
      else await this.#fill(file, source)
      file.dirty = true
      const kept = this.mtimeOf(source) // the new version keeps the time set on the source's
      if (kept !== undefined) {
        file.mtimeMs = kept
        file.mtimeSet = true
      }
      await this.#commit(file, 'sync')
    } catch (e) {
      await this.discard(file)
      await file.fd?.close().catch(() => undefined)
      file.fd = undefined
      throw e
    }
    const fd = file.fd
    file.fd = undefined
    await this.#retire(file, fd)
  }

  // ---- lifecycle ----

  async close(): Promise<void> {
    this.#streamer.close()
    await Promise.allSettled([...this.#background])
    await this.#uploader.drain()
    this.#uploader.close()
    for (const file of this.#byRemotePath.values()) {
      const fd = file.fd
      file.fd = undefined
      await fd?.close().catch(() => undefined)
    }
    await this.#journal.close().catch(() => undefined)
    this.#mtimes.close()
    await this.#recent.close()
    await this.#dataFiles.close()
    this.#spool.unlock()
  }

  // ---- journal ----

  /**
   * Rewrites a file's record after a state change (an upload failed, a rename, new times). From here on the
   * spool copy may be the only copy for a while, so bytes and record are made to survive a power loss.
   */
  async #persist(file: PendingFile): Promise<void> {
    if (file.unlinked) return
    if (!file.unsent && file.state !== 'empty' && file.state !== 'rejected') return
    try {
      await this.#syncData(file)
    } catch (e) {
      this.#d.log.error({ path: file.remotePath, err: e }, 'could not sync the spooled copy of a pending upload')
    }
    await this.#journal.write(file.record())
  }

  /**
   * Forgets a file nobody has open; when its bytes are what its last upload stored, the data file is kept a
   * while for a rename over another file or a reopen (recent-copies.ts) instead of being removed.
   */
  async #retire(file: PendingFile, fd?: FileHandle): Promise<void> {
    const fileId = file.base?.fileId
    const versionId = file.storedVersionId
    if (fileId === undefined || versionId === undefined || file.openCount > 0 || file.unlinked || file.dirty || file.unsent || file.state !== 'clean') {
      return this.#drop(file, fd)
    }
    if (this.#byRemotePath.get(file.remotePath) === file) this.#byRemotePath.delete(file.remotePath)
    await this.#journal.remove(file.id).catch(() => undefined)
    await this.#recent.keep(fileId, versionId, { id: file.id, fh: fd, size: file.size })
  }

  /** Forgets a file; its data file goes once no handle needs it (`fd`: its spool fd, given up by the caller). */
  async #drop(file: PendingFile, fd?: FileHandle): Promise<void> {
    if (this.#byRemotePath.get(file.remotePath) === file) this.#byRemotePath.delete(file.remotePath)
    await this.#journal.remove(file.id).catch(() => undefined)
    if (file.openCount === 0) await this.#dataFiles.remove(file.id, fd)
    else await fd?.close().catch(() => undefined)
  }

  /** Start-up: files from the journal re-appear and their uploads are queued (spool/recover.ts). */
  #replay(): void {
    for (const { record: r, size } of recoverSpool(this.#journal, this.#dataFiles, this.#d.log)) {
      const base = r.fileId ? { fileId: r.fileId, isPrivateFile: r.isPrivateFile === true, ...(r.customCoordinates ? { customCoordinates: r.customCoordinates } : {}) } : undefined
      const file = new PendingFile(r.id, this.#dataFiles.path(r.id), r.folder, r.name, r.localPath, this.#d.inodes.allocate(), size, r.mtimeMs, r.mtimeMs, base)
      file.attempts = r.attempts
      file.lastError = r.lastError
      file.mtimeSet = r.mtimeSet === true
      file.wanted = r.details
      this.#byRemotePath.set(file.remotePath, file)
      if (size === 0) {
        file.state = 'empty'
      } else if (r.state === 'rejected') {
        file.state = 'rejected'
        file.unsent = true
      } else {
        file.unsent = true
        this.#uploader.schedule(file, 0)
      }
    }
  }
}
