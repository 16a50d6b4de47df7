/**
 * The write path: files being written (PendingFile, file-node.ts) from their first open to their landed
 * upload. It ties together the pieces in write/: the overlay they form over listings (pending-files.ts),
 * their bytes in the spool (content.ts), committing and uploading them (committer.ts, upload/uploader.ts,
 * upload-attempt.ts), server-side copies (server-copy.ts); and keeps their journal records and spool files
 * (spool/, spool-files.ts), taken up again at start (replay.ts).
 *
 * Locks (see the order in vfs.ts): `#pathLock` per remote path serialises creating/removing the
 * PendingFile of a path; `#fileLock` per PendingFile id serialises content changes against uploads
 * (an open for writing waits for an upload in flight: bytes never change under an upload).
 */
import { constants as fsConstants } from 'node:fs'
import { open } from 'node:fs/promises'
import type { Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { Logger } from '../log.js'
import type { DirCache } from './dir-cache.js'
import { VfsError } from './errors.js'
import { PendingFile, remoteBaseOf, type RemoteBase } from './file-node.js'
import { fileIdentityKey, folderIdentityKey, type DirInode, type FileInode, type Inode } from './inode.js'
import type { InodeTable } from './inode-table.js'
import { KeyedMutex } from './lock.js'
import { parentOf, type NameCodec } from './name.js'
import { assertFolderDepth, type Destination, type Destinations } from './destination.js'
import type { FolderPresence } from './folder-presence.js'
import type { Resolver } from './resolver.js'
import { currentFile } from './current-file.js'
import { unlistedFile } from './unlisted-file.js'
import type { CreateIntent } from './create-flags.js'
import { CommittedCopies } from './spool/committed-copies.js'
import { Journal } from './spool/journal.js'
import { DataFiles, removeUnrecorded } from './spool/data-files.js'
import { FolderMoves, type FolderMove } from './spool/folder-moves.js'
import { LocalMtimes } from './spool/mtimes.js'
import type { DropCachedPages } from './spool/page-trim.js'
import { RecentCopies } from './spool/recent-copies.js'
import { idleSpoolsWithFiles, libraryKeyOf, Spool } from './spool/spool.js'
import type { Counters } from './stats.js'
import type { UploadStatus, VfsOptions } from './types.js'
import { STREAM_THRESHOLD_BYTES, Streamer } from './upload/streamer.js'
import { Uploader } from './upload/uploader.js'
import { WarnOnce } from './warn-once.js'
import { MovedAside } from './moved-aside.js'
import type { PutBackNote } from './spool/record.js'
import { endPutBack, settlePutBack, type PutBackOutcome } from './write/interrupted-put-back.js'
import { carriedDetails, mergeWanted, type WantedDetails } from './wanted-details.js'
import { Committer } from './write/committer.js'
import { SpoolContent } from './write/content.js'
import { revertFailedWrite } from './write/failed-write.js'
import { FolderMoveNotes } from './write/folder-move-notes.js'
import { PendingFiles, type ShownFile } from './write/pending-files.js'
import { replay } from './write/replay.js'
import { retarget } from './write/retarget.js'
import { SpoolFiles } from './write/spool-files.js'
import { UploadAttempts } from './write/upload-attempt.js'
import { copyStored, type ServerCopyDeps } from './write/server-copy.js'
import { PendingDeletes } from './pending-deletes.js'

export interface WritePathDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  /** For the uploader and the streamer (component vfs.upload). */
  uploadLog: Logger
  codec: NameCodec
  /** Local paths to remote ones: a listed entry's own, else encoded. */
  destinations: Destinations
  inodes: InodeTable
  dirs: DirCache
  resolver: Resolver
  /** Asked before a name is created in a folder that may have been deleted elsewhere (W7). */
  folders: FolderPresence
  counters: Counters
  options: VfsOptions
  /** The page-cache addon's, when built (spool/page-trim.ts). */
  dropCachedPages?: DropCachedPages | undefined
  /** A new version of a file is stored (its upload landed): what still fetches an older one must stop (R5). */
  versionStored?: (fileId: string) => void
}

export class WritePath {
  readonly #d: WritePathDeps
  readonly #spool: Spool
  readonly #dataFiles: DataFiles
  readonly #journal: Journal
  readonly #folderMoves: FolderMoves
  readonly #folderMoveNotes: FolderMoveNotes
  /** Aborted at close: stops work that would otherwise wait for the library for ever. */
  readonly #closing = new AbortController()
  readonly #uploader: Uploader
  readonly #streamer: Streamer
  readonly #mtimes: LocalMtimes
  readonly #recent: RecentCopies
  readonly #committedCopies: CommittedCopies
  readonly #content: SpoolContent
  readonly #committer: Committer
  readonly #spoolFiles: SpoolFiles
  readonly #serverCopyDeps: ServerCopyDeps
  readonly #attempts: UploadAttempts
  readonly #pending = new PendingFiles()
  readonly #pathLock = new KeyedMutex()
  readonly #fileLock = new KeyedMutex()
  readonly #background = new Set<Promise<void>>()
  #refusingNewWrites = false
  /** W17: stored files renamed aside by this mount, and the files it then made in their place (put-back.ts). */
  readonly movedAside: MovedAside
  /**
   * Deletes of stored files answered before they are done (W8, pending-deletes.ts): every store of a file this
   * path makes goes through `api`, which waits while one is under way at the file's path.
   */
  readonly deletes: PendingDeletes

  constructor(given: WritePathDeps) {
    this.#spool = new Spool(given.options.cacheDir, libraryKeyOf(given.options.libraryId))
    this.deletes = new PendingDeletes(this.#spool.deletesDir, {
      api: given.api, clock: given.clock, log: given.log,
      deleted: async (fileId, folder) => {
        await this.forgetStored(fileId)
        given.dirs.dropVersionsOf(folder, fileId)
      },
    })
    const deps: WritePathDeps = { ...given, api: this.deletes.gated(given.api) }
    this.#d = deps
    this.movedAside = new MovedAside(deps.clock)
    this.#journal = new Journal(this.#spool.journalDir, deps.options.bootId)
    this.#dataFiles = new DataFiles(this.#spool.dataDir, this.#spool.freeDir)
    this.#folderMoves = new FolderMoves(this.#spool.movesDir)
    this.#folderMoveNotes = new FolderMoveNotes({ log: deps.log, dataFiles: this.#dataFiles, folderMoves: this.#folderMoves })
    const written = deps.options.writtenCacheBytes
    this.#recent = new RecentCopies(this.#dataFiles, this.#spool.keptDir, deps.clock, written === undefined ? {} : { memory: { maxBytes: written } })
    this.#committedCopies = new CommittedCopies(this.#dataFiles, this.#journal, deps.log)
    const mtimeWarnings = new WarnOnce(deps.log)
    this.#mtimes = new LocalMtimes(this.#spool.dir, (err) =>
      mtimeWarnings.warn('mtimes', { err }, 'modification times set through the mount cannot be saved in the spool; they are kept until unmount'))
    this.#mtimes.compactAtStart() // this mount holds the spool lock: it writes the log
    this.#uploader = new Uploader({
      clock: deps.clock, log: deps.uploadLog, counters: deps.counters,
      maxParallel: deps.options.maxParallelUploads,
      perform: (file, onProgress, control) => this.#attempts.perform(file, onProgress, control),
      persist: (file) => this.#committer.persist(file),
      deleteUnderWayAt: (remotePath) => this.#deleteEndAt(remotePath),
    })
    this.#streamer = new Streamer({
      api: deps.api, log: deps.uploadLog, uploader: this.#uploader, uploadTags: deps.options.uploadTags,
      // With write-back a closed file may still change before its upload: it is never streamed.
      enabled: deps.options.streamUploads !== false && deps.options.writeBackDelayMs === 0,
      thresholdBytes: deps.options.streamThresholdBytes ?? STREAM_THRESHOLD_BYTES,
      dropCachedPages: deps.dropCachedPages,
      trimStepBytes: deps.options.streamTrimStepBytes,
      deleteUnderWay: (remotePath) => this.deletes.underWayAt(remotePath),
    })
    this.#spoolFiles = new SpoolFiles({
      pending: this.#pending, journal: this.#journal, dataFiles: this.#dataFiles, recent: this.#recent, committedCopies: this.#committedCopies,
    })
    this.#content = new SpoolContent({
      api: deps.api, log: deps.log, clock: deps.clock, streamer: this.#streamer, recent: this.#recent, fileLock: this.#fileLock,
    })
    this.#attempts = new UploadAttempts({
      api: deps.api, clock: deps.clock, log: deps.log, uploadLog: deps.uploadLog, codec: deps.codec, dirs: deps.dirs,
      folders: deps.folders, uploadTags: deps.options.uploadTags, streamer: this.#streamer, mtimes: this.#mtimes,
      committedCopies: this.#committedCopies, journal: this.#journal,
      retireWhenIdle: (file) => this.#track(this.#fileLock.run(file.id, () => this.#retireIfIdle(file))),
      versionStored: deps.versionStored,
    })
    this.#serverCopyDeps = {
      api: deps.api, log: deps.log, codec: deps.codec, dirs: deps.dirs, uploadTags: deps.options.uploadTags,
      streamer: this.#streamer, fileLock: this.#fileLock, pending: this.#pending,
    }
    this.#committer = new Committer({
      log: deps.log, journal: this.#journal, uploader: this.#uploader, fileLock: this.#fileLock,
      writeBackDelayMs: deps.options.writeBackDelayMs, committedCopies: this.#committedCopies, dataFiles: this.#dataFiles,
      deleteUnderWayAt: (remotePath) => this.#deleteEndAt(remotePath),
    })
    // Those the last mount left are hidden and under way before any upload is (one at their paths waits for them).
    this.deletes.resume()
    replay({
      api: deps.api, clock: deps.clock, log: deps.log, codec: deps.codec, inodes: deps.inodes, dirs: deps.dirs,
      journal: this.#journal, dataFiles: this.#dataFiles, folderMoves: this.#folderMoves, pending: this.#pending,
      uploader: this.#uploader, fileLock: this.#fileLock, closing: this.#closing.signal, mtimes: this.#mtimes,
      deletes: this.deletes,
      persist: (file) => this.#committer.persist(file),
      requeue: (file) => this.requeue(file),
      endFolderMove: (move) => this.endFolderMove(move),
      track: (work) => this.#track(work),
    })
    this.#tellOfIdleSpools()
  }

  /** Files another library's mounts wrote into this cache dir are stored only when that library is mounted. */
  #tellOfIdleSpools(): void {
    for (const other of idleSpoolsWithFiles(this.#d.options.cacheDir, this.#spool.dir)) {
      const which = other.library === undefined ? 'another library' : `the library at ${other.library}`
      this.#d.log.warn(
        { spool: other.dir, library: other.library, files: other.files },
        `the cache dir holds up to ${other.files} file(s) written through a mount of ${which} and not stored yet: ` +
          `they are stored when that library is mounted with this cache dir${other.library?.startsWith('http') ? ` (--endpoint ${other.library})` : ''}`,
      )
    }
  }

  /** Copies of versions just uploaded, still in the spool (readers read them instead of the CDN). */
  get recentCopies(): RecentCopies {
    return this.#recent
  }

  get spoolDir(): string {
    return this.#spool.dir
  }

  /** How many entries each of its structures holds (IkVfs.sizes). */
  sizes(): Record<string, number> {
    return {
      pendingFiles: this.#pending.size, journalRecords: this.#journal.size, mtimes: this.#mtimes.size,
      recentCopies: this.#recent.count, queuedUploads: this.#uploader.files.size, uploadTimers: this.#uploader.timers, pathLocks: this.#pathLock.size,
      fileLocks: this.#fileLock.size, backgroundTasks: this.#background.size, movedAside: this.movedAside.size, pendingDeletes: this.deletes.size,
    }
  }

  // ---- overlay (write/pending-files.ts) ----

  pendingAt(remotePath: string): PendingFile | undefined {
    return this.#pending.at(remotePath)
  }

  pendingAtLocal(localPath: string): PendingFile | undefined {
    // Asked at every open, getattr and lookup: with nothing being written, no path is encoded to find out.
    if (this.#pending.isEmpty) return undefined
    let dest: Destination
    try {
      dest = this.#d.destinations.known(localPath)
    } catch {
      return undefined
    }
    return this.#pending.at(dest.remotePath) ?? this.#pendingShownAs(dest)
  }

  /**
   * A file being written at a listed name the encoding does not give back (R8: `a[b].txt`), once its folder's
   * listing was dropped (a refresh, the listing cache's bound): `known` then encodes the name (`a［b］.txt`), but
   * readdir still shows the file under its local name, and so it is found here. Only names the encoding changes
   * can be such a name.
   */
  #pendingShownAs(dest: Destination): PendingFile | undefined {
    if (dest.name === dest.localName) return undefined
    return this.#pending.in(dest.folder).find(({ name }) => this.#d.codec.toLocal(name) === dest.localName)?.file
  }

  pendingIn(folder: string): ShownFile[] {
    return this.#pending.in(folder)
  }

  hasPendingUnder(folder: string): boolean {
    return this.#pending.hasUnder(folder)
  }

  pendingUnder(folder: string): PendingFile[] {
    return this.#pending.under(folder)
  }

  uploads(): UploadStatus[] {
    return this.#pending.uploads()
  }

  filesBeingWritten(): string[] {
    return this.#pending.beingWritten()
  }

  filesWithUncommittedWrites(): string[] {
    return this.#pending.withUncommittedWrites()
  }

  /** A close left the file's commit to the release that follows it (vfs.ts flush): noted, in case none comes. */
  closedUncommitted(file: PendingFile): void {
    file.changesAtClose = file.changes
  }

  /** A close that is not the last since its process still maps the file (Committer.keepWhileMapped). */
  closedWhileMapped(file: PendingFile): Promise<void> {
    this.closedUncommitted(file)
    return this.#committer.keepWhileMapped(file)
  }

  /** See Vfs.commitClosedFiles: the commits run in the background, and close() waits for them and their uploads. */
  commitClosedFiles(): string[] {
    const closed = [...this.#pending.all()].filter((f) => this.#committer.needsCommit(f) && f.changesAtClose === f.changes && !f.failedWrite)
    for (const file of closed) {
      this.#track(this.#committer.commit(file, 'close').catch((e: unknown) => {
        this.#d.log.warn({ path: file.localPath, err: e }, 'upload after the last close failed; the file stays in the spool')
      }))
    }
    return closed.map((f) => f.localPath)
  }

  /** A stop has begun: from now on only the files being written may be opened for writing (see Vfs). */
  refuseNewWrites(): void {
    this.#refusingNewWrites = true
  }

  /** A stop has begun (refuseNewWrites): the mount is detached, and the session ends after the last close. */
  get stopping(): boolean {
    return this.#refusingNewWrites
  }

  // ---- opening ----

  /** A pending file opened for reading (its newest bytes are in the spool), or undefined. */
  async openForRead(localPath: string): Promise<PendingFile | undefined> {
    const file = this.pendingAtLocal(localPath)
    if (!file) return undefined
    return this.#fileLock.run(file.id, async () => {
      if (!this.#pending.holds(file)) return undefined // dropped while we waited
      await this.#ensureFd(file)
      file.openCount++
      return file
    })
  }

  /** One more read-only handle on a file that a handle has open already (so its spool file is open too). */
  reopenForRead(file: PendingFile): void {
    file.openCount++
  }

  /**
   * One more handle for writing on a file that lost its name while open (so its spool file is open too, and
   * nothing of it is uploaded any more): it only takes writes. O_TRUNC empties it.
   */
  async reopenForWrite(file: PendingFile, flags: number): Promise<void> {
    if ((flags & fsConstants.O_TRUNC) !== 0) await this.truncateOpen(file, 0)
    file.openCount++
    file.writers++
  }

  /**
   * Opens the pending file of a path for writing (`create`: for a create, with what its flags ask,
   * create-flags.ts); fills it from the remote bytes unless O_TRUNC.
   */
  async openForWrite(localPath: string, flags: number, create?: CreateIntent): Promise<PendingFile> {
    const dest = await this.#d.destinations.of(localPath)
    if (create) assertFolderDepth(`create ${localPath}`, dest.folder)
    const truncate = (flags & fsConstants.O_TRUNC) !== 0
    return this.#pathLock.run(dest.remotePath, async () => {
      const existing = this.#pending.at(dest.remotePath)
      if (this.#refusingNewWrites && !existing?.beingWritten) {
        throw new VfsError('EROFS', `open ${localPath} for writing: the mount is stopping, and only serves the files being written until they are closed`, { level: 'info' })
      }
      if (create?.exclusive && (existing || (await this.#listedChild(dest)))) {
        throw new VfsError('EEXIST', `create ${localPath} (O_EXCL): exists (the kernel had not been told of it yet)`, { level: 'info' })
      }
      if (existing) {
        const reused = await this.#fileLock.run(existing.id, async () => {
          if (this.#pending.at(dest.remotePath) !== existing) return false // dropped while we waited
          this.#streamer.stop(existing, 'a second open for writing')
          this.#uploader.cancel(existing) // a write-back that has not started restarts at the next close
          this.#uploader.supersede(existing) // one retrying the old content stops instead of storing it now
          await existing.inflight?.catch(() => undefined)
          this.#uploader.cancel(existing) // and the retry a failed one scheduled meanwhile
          try {
            await this.#ensureFd(existing)
            if (this.#committedCopies.needed(existing, truncate, (flags & fsConstants.O_APPEND) !== 0)) {
              await this.#committedCopies.keep(existing, truncate)
            } else if (truncate) {
              await this.#keepCommittedFrom(existing, 0) // changed since its commit by another handle (appended)
            }
            if (truncate && existing.size > 0) await this.#content.truncateLocked(existing, 0)
          } catch (e) {
            // No handle came of it, so no close will queue the upload stopped above: queued again here.
            if (this.#requeueIfIdle(existing)) {
              this.#d.log.warn({ path: existing.localPath, err: e }, 'an open for writing failed after stopping the file\'s waiting upload; upload queued again')
            }
            throw e
          }
          if (truncate) existing.failedWrite = undefined
          if (truncate && existing.openCount === 0) existing.appendOnly = true // written afresh by one writer
          // Refused for good (W3, W6), it stays so until written: an open that writes nothing (touch, truncate -s
          // to its size) changes nothing the library would answer, so its close sends nothing again.
          if (existing.dirty || (existing.unsent && existing.state !== 'rejected')) existing.state = 'open'
          existing.openCount++
          existing.writers++
          return true
        })
        if (reused) return existing
      }
      // An exclusive create gets here only for a name the listing lacks (checked above, with no await since).
      const listed = create?.exclusive ? undefined : await this.#remoteFile(dest)
      // A create that keeps the bytes at its name, of a name the listing lacks: stored elsewhere since? (unlisted-file.ts)
      const unlisted = !listed && create?.findsUnlisted ? await unlistedFile(this.#d, dest) : undefined
      const node = unlisted ?? (listed && !truncate ? await currentFile(this.#d, dest, listed, () => this.#remoteFile(dest)) : listed)
      // An open (not a create) of a name the kernel knew, gone since (deleted or moved elsewhere), which the
      // listing no longer shows. The kernel passes no O_CREAT on an open, so only it can tell `>` from an open
      // that must fail: ESTALE has it look the name up again and repeat the open (or truncate), which then
      // creates the file with O_CREAT and fails with ENOENT without, as on a local disk. (A caller that does
      // pass O_CREAT on an open gets the new file here.)
      if (!node && !create && (flags & fsConstants.O_CREAT) === 0) {
        throw new VfsError('ESTALE', `open ${localPath} for writing: deleted or moved elsewhere since the kernel looked it up (it looks again)`, { level: 'info' })
      }
      if (!node) await this.#d.folders.assertExists(dest.folder, parentOf(dest.parentLocalPath)[1], `create ${localPath}`)
      const now = this.#d.clock.now()
      const filling = node !== undefined && !truncate && node.size > 0
      const { id, fh, filled } = await this.#spoolFiles.newFor(filling ? node : undefined)
      const base: RemoteBase | undefined = node ? remoteBaseOf(node) : undefined
      const file = new PendingFile(
        id, this.#dataFiles.path(id), dest.folder, dest.name, localPath, node?.ino ?? this.#d.inodes.allocate(),
        0, node ? (this.mtimeOf(node) ?? node.updatedAtMs) : now, node ? node.createdAtMs : now, base,
      )
      file.fd = fh
      try {
        if (filled) {
          file.size = node!.size
        } else if (filling) {
          // Filled at its first read, write or truncate (content.ts), as a server-side copy is: an open that
          // changes nothing (`touch`, which sets the time through it; a writability probe) downloads nothing.
          file.remoteContent = node
          file.size = node.size
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
      file.writers = 1
      this.#pending.add(file)
      if (!node) this.movedAside.created(file)
      return file
    })
  }

  /** The remote file at a destination (undefined when absent); the parent folder must exist. */
  async #remoteFile(dest: Destination): Promise<FileInode | undefined> {
    const node = await this.#listedChild(dest)
    if (!node) return undefined
    if (node.kind === 'dir') throw new VfsError('EISDIR', `open ${dest.localPath}: is a folder`)
    if (node.isVersion) throw new VfsError('EACCES', `open ${dest.localPath}: old versions are read-only`)
    return node
  }

  /** What the listing of a destination's folder shows at its name (a file or a folder); the parent folder must exist. */
  async #listedChild(dest: Destination): Promise<Inode | undefined> {
    const parent = await this.#d.resolver.resolveDir(dest.parentLocalPath)
    return (await this.#d.dirs.listing(parent)).children.get(dest.localName)
  }

  async #ensureFd(file: PendingFile): Promise<void> {
    if (!file.fd) file.fd = await open(file.dataPath, 'r+')
  }

  // ---- content (write/content.ts) ----

  /**
   * `'end'`: an O_APPEND write, at the end of the file (its size once the remote bytes are in). `syncs`: through
   * an O_SYNC or O_DSYNC handle, whose writes keep the file durably as they leave it (keepWritten).
   */
  async write(file: PendingFile, data: Buffer, position: number | 'end', syncs = false): Promise<number> {
    // A write into what a close committed and its record still promises: those bytes are kept apart first.
    // Not when a sync write's keep wrote that record: it promises the file as such writes leave it, and a
    // copy of the whole file at each write in place would make a database's O_DSYNC log cost its size per write.
    const from = position === 'end' ? file.size : position
    if (!(syncs && file.keptByWrite) && this.#committedCopies.neededFrom(file, from)) {
      await this.#fileLock.run(file.id, () => this.#keepCommittedFrom(file, from))
    }
    return this.#content.write(file, data, position)
  }

  /** After a write through an O_SYNC or O_DSYNC handle: the file as written, durable in the spool (Committer.keepWritten). */
  keepWritten(file: PendingFile): Promise<void> {
    return this.#committer.keepWritten(file)
  }

  read(file: PendingFile, length: number, position: number): Promise<Buffer> {
    return this.#content.read(file, length, position)
  }

  truncateOpen(file: PendingFile, size: number): Promise<void> {
    return this.#fileLock.run(file.id, async () => {
      await this.#keepCommittedFrom(file, size)
      await this.#content.truncateLocked(file, size)
    })
  }

  /**
   * Before a change from byte `from` on by a handle that was open when the file's content was committed (the
   * opener closed, a child that inherited the descriptor writes on; a duplicate was closed): the committed
   * bytes that change go aside first, as for an open that edits them (committed-copies.ts), so a crash before
   * the next close leaves the next mount what that close committed. The caller holds the file's lock.
   */
  async #keepCommittedFrom(file: PendingFile, from: number): Promise<void> {
    if (!this.#committedCopies.neededFrom(file, from)) return
    await this.#ensureFd(file)
    await this.#committedCopies.keep(file, false)
  }

  /** fallocate's growth (W16): to `size` if the file is smaller then, never shorter. */
  growOpen(file: PendingFile, size: number): Promise<void> {
    return this.#content.grow(file, size)
  }

  /** utimens of a pending file: shown at once, and kept for the version its upload stores. */
  setMtime(file: PendingFile, mtimeMs: number): void {
    file.mtimeMs = mtimeMs
    if (file.unsent || file.state === 'empty') {
      // Under the file's lock, as a retire is: a record rewritten after the retire removed it would outlive the file.
      void this.#fileLock.run(file.id, async () => {
        if (this.#pending.holds(file)) await this.#committer.persist(file)
      }).catch(() => undefined)
    }
    // Its bytes are a stored version's: stored by its upload ('clean'), or opened for writing and not changed
    // ('open'), as `touch -m` does, which sets the time through the descriptor it opened.
    if (!file.dirty && !file.unsent && (file.state === 'clean' || file.state === 'open')) {
      // The version its upload stored, which the listing may not show yet (the upload is still being noted in
      // the spool: the listed node is then the version before, and the time went with that one).
      if (file.base?.fileId && file.storedVersionId) return this.#mtimes.set(file.base.fileId, file.storedVersionId, mtimeMs)
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

  /** The time set through the mount on a folder (by its path: folders have no versions), if any. */
  folderMtimeOf(node: DirInode, isRoot: boolean): number | undefined {
    return this.#mtimes.getFolder(folderIdentityKey(node.remotePath), isRoot ? undefined : node.createdAtMs)
  }

  /** utimens of a folder: shown from now on, also after a re-list and a remount with this cache dir. */
  rememberFolderMtime(remotePath: string, mtimeMs: number): void {
    this.#mtimes.setFolder(folderIdentityKey(remotePath), mtimeMs, this.#d.clock.now())
  }

  /** A folder renamed through the mount takes its time, and its subfolders', along. */
  movedFolderMtimes(from: string, to: string): void {
    this.#mtimes.rekey(folderIdentityKey(from), folderIdentityKey(to), String(this.#d.clock.now()))
  }

  /** A folder deleted through the mount: its time goes (a folder made later at its path shows its own). */
  forgetFolderMtime(remotePath: string): void {
    this.#mtimes.forget(folderIdentityKey(remotePath))
  }

  /** A file was deleted remotely: no copy of its bytes stays in the spool, nor its time or its inode number. */
  async forgetStored(fileId: string): Promise<void> {
    this.#mtimes.forget(fileId)
    this.#d.inodes.forget(fileIdentityKey(fileId))
    await this.#recent.drop(fileId)
  }

  #landedNode(file: PendingFile): FileInode | undefined {
    const localName = this.#d.codec.toLocal(file.name)
    const node = localName === undefined ? undefined : this.#d.dirs.peek(file.folder)?.children.get(localName)
    return node?.kind === 'file' && node.fileId === file.base?.fileId ? node : undefined
  }

  // ---- server-side copies (copy_file_range, write/server-copy.ts) ----

  /** W15: the whole of a stored file copied into `file`, just created for it, by ImageKit's copy API (server-copy.ts). */
  copyStored(file: PendingFile, source: FileInode): Promise<boolean> {
    return copyStored(this.#serverCopyDeps, file, source)
  }

  /** The server-side copy's bytes into the file's spool copy, if they are not there yet. */
  fetchContent(file: PendingFile): Promise<void> {
    return this.#content.fetchContent(file)
  }

  // ---- closing (write/committer.ts) ----

  flush(file: PendingFile, writable = true): Promise<void> {
    return this.#committer.flush(file, writable)
  }

  /** Whether a flush of a writable handle of the file would upload it now (Committer.flush). */
  commitsAtClose(file: PendingFile): boolean {
    return this.#committer.commitsAtClose(file)
  }

  fsync(file: PendingFile): Promise<void> {
    return this.#committer.fsync(file)
  }

  /**
   * A handle went away. The last one of a changed file commits in the background (release cannot report
   * errors; flush already did for close(2)); otherwise the spool file is closed and dropped before returning.
   * A file left unfit by a failed write goes back instead to what its last good close left (failed-write.ts).
   */
  /** `writable`: the handle was opened for writing (openForWrite), not for reading (openForRead). */
  async release(file: PendingFile, writable: boolean): Promise<void> {
    file.openCount--
    if (writable) file.writers--
    if (file.openCount > 0) return
    if (file.failedWrite && this.#committer.needsCommit(file)) {
      return revertFailedWrite({
        log: this.#d.log, streamer: this.#streamer, uploader: this.#uploader, fileLock: this.#fileLock,
        drop: (dropped, fd) => this.#spoolFiles.drop(dropped, fd),
      }, file)
    }
    if (!this.#committer.needsCommit(file)) {
      // A rename or unlink that quiesced the file while a reader had it open could not queue its upload again.
      this.#requeueIfIdle(file)
      return this.#closeIdle(file)
    }
    this.#track((async () => {
      try {
        await this.#committer.commit(file, 'close')
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
      // A rename, unlink or put-back working on it (quiesced) decides what becomes of it: retired when it ends (requeue).
      if (!file.mustKeep && !file.quiesced) await this.#spoolFiles.retire(file, fd)
      else await fd?.close().catch(() => undefined)
    })
  }

  /** Path-based truncate: fill, truncate, close (uploads like a close). */
  async truncatePath(localPath: string, size: number): Promise<void> {
    const file = await this.openForWrite(localPath, size === 0 ? fsConstants.O_TRUNC : 0)
    try {
      await this.truncateOpen(file, size)
      await this.flush(file)
    } finally {
      await this.release(file, true)
    }
  }

  #track(p: Promise<void>): void {
    this.#background.add(p)
    void p.finally(() => this.#background.delete(p))
  }

  /**
   * setxattr of tags or metadata on a file whose upload is still to come: kept with it (and its spool record)
   * and set once the upload lands. False when the file has no upload to come (its bytes are stored): the
   * caller changes the stored file.
   */
  async want(file: PendingFile, wanted: WantedDetails): Promise<boolean> {
    return this.#fileLock.run(file.id, async () => {
      await file.inflight?.catch(() => undefined)
      if (!this.#pending.holds(file) || file.unlinked) return false
      if (!file.uploadToCome) return false
      file.wanted = mergeWanted(file.wanted, wanted)
      await this.#committer.persist(file)
      return true
    })
  }

  /** A pending file not in the map was retired or dropped already (a quiesce, a rename). */
  async #retireIfIdle(file: PendingFile): Promise<void> {
    if (this.#isIdleAndStored(file) && this.#pending.holds(file)) await this.#spoolFiles.retire(file)
  }

  #isIdleAndStored(file: PendingFile): boolean {
    return file.openCount === 0 && !file.fd && !file.dirty && !file.unsent && file.state !== 'empty'
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
      if (!this.#pending.holds(file)) return false
      // Stored and idle: its landed upload would retire it any moment (upload-attempt.ts); done now, so the answer holds.
      if (this.#isIdleAndStored(file)) {
        await this.#spoolFiles.retire(file)
        return false
      }
      this.#markQuiesced(file)
      return true
    })
  }

  #markQuiesced(file: PendingFile): void {
    if (file.quiesced) return
    let end!: () => void
    const ended = new Promise<void>((resolve) => { end = resolve })
    file.quiesced = { ended, end }
  }

  // ---- put-backs of saves that moved the original aside (W17, put-back.ts) ----

  /**
   * A stored file's bytes made a pending file again at its path, quiesced: from the spool's kept copy of its
   * upload (else downloaded), durable with its journal record before this returns, shown with its inode number.
   */
  async respool(source: FileInode, dest: Destination): Promise<PendingFile> {
    return this.#pathLock.run(dest.remotePath, async () => {
      if (this.#pending.at(dest.remotePath)) throw new VfsError('EBUSY', `${dest.localPath}: opened for writing meanwhile`, { level: 'debug' })
      const { id, fh, filled } = await this.#spoolFiles.newFor(source)
      const file = new PendingFile(
        id, this.#dataFiles.path(id), dest.folder, dest.name, dest.localPath, source.ino, 0,
        this.mtimeOf(source) ?? source.updatedAtMs, source.createdAtMs, remoteBaseOf(source),
      )
      file.fd = fh
      try {
        if (filled) file.size = source.size
        else await this.#content.fill(file, source)
        file.unsent = true
        file.state = 'waiting'
        await this.#committer.persist(file)
      } catch (e) {
        await this.#journal.remove(id).catch(() => undefined)
        await removeUnrecorded(this.#journal, this.#dataFiles, id, file.fd)
        throw e
      }
      const fd = file.fd
      file.fd = undefined
      await fd?.close().catch(() => undefined)
      this.#markQuiesced(file)
      this.#pending.add(file)
      return file
    })
  }

  /**
   * Points a quiesced file's upload at `base`, with the put-back it waits for noted (durably, before this
   * returns). Bytes stored under its own id (a file still open, whose release has not come) go up again, with
   * the tags and metadata set on that stored file (`ownStored`) over the base's.
   */
  async rebase(file: PendingFile, base: RemoteBase | undefined, putBack: PutBackNote | undefined, ownStored?: FileInode): Promise<void> {
    await this.#fileLock.run(file.id, async () => {
      const was = { base: file.base, putBack: file.putBack, storedVersionId: file.storedVersionId, unsent: file.unsent, state: file.state, attempts: file.attempts, wanted: file.wanted }
      const carried = ownStored && carriedDetails(ownStored, this.#d.options.uploadTags)
      if (carried) file.wanted = mergeWanted(carried, file.wanted ?? {})
      if (!file.unsent) {
        file.unsent = true
        file.state = file.openCount > 0 ? 'open' : 'waiting'
        file.attempts = 0
      }
      file.base = base
      file.putBack = putBack
      file.storedVersionId = undefined
      try {
        await this.#committer.persist(file)
      } catch (e) {
        Object.assign(file, was)
        throw e
      }
    })
  }

  /** The put-back a file waited for is over (`outcome`: where the original is): its note goes. */
  endPutBack(file: PendingFile, outcome: PutBackOutcome): Promise<void> {
    return this.#fileLock.run(file.id, () => endPutBack({ log: this.#d.log, persist: (f) => this.#committer.persist(f) }, file, outcome))
  }

  /** A put-back's file goes on to its upload: stored before this returns, unless `--write-back` leaves it for later. */
  async uploadAfterPutBack(file: PendingFile): Promise<void> {
    this.requeue(file)
    if (this.#d.options.writeBackDelayMs > 0 || !file.unsent) return
    // Also while the kernel's release of the close that committed it has not come (it then has nothing to commit).
    await this.#committer.commit(file, 'sync').catch((e: unknown) => {
      this.#d.log.warn({ path: file.localPath, err: e }, 'upload after a put-back failed; the file stays in the spool and is retried')
    })
  }

  /** A put-back the library did not answer: finished in the background, the file's upload waiting until then. */
  settlePutBackLater(file: PendingFile): void {
    this.#track(settlePutBack({
      api: this.#d.api, clock: this.#d.clock, log: this.#d.log, closing: this.#closing.signal,
      persist: (f) => this.#fileLock.run(f.id, () => this.#committer.persist(f)),
      requeue: (f) => this.requeue(f), expire: (folder) => this.#d.dirs.expire(folder),
    }, file))
  }

  // ---- folder rename notes (write/folder-move-notes.ts) ----

  folderMoveFrom(remotePath: string, file = false): FolderMove {
    return this.#folderMoveNotes.from(remotePath, file)
  }

  noteFolderMove(move: FolderMove, toPath: string): void {
    this.#folderMoveNotes.note(move, toPath)
  }

  endFolderMove(move: FolderMove): void {
    this.#folderMoveNotes.end(move)
  }

  /**
   * The end of the delete under way at `remotePath` (PendingDeletes.endAt), for the uploader and the committer, who
   * ask for it before they know whether they wait for it (a close of an empty file, of one unlinked meanwhile, or
   * with an upload in flight does not): it rejects at unmount while the delete is not done, and one nobody awaited
   * was an unhandled rejection, which ends the daemon (cli/crash-report.ts) in the middle of its stop. Whoever
   * awaits it still sees the rejection.
   */
  #deleteEndAt(remotePath: string): Promise<void> | undefined {
    const end = this.deletes.endAt(remotePath)
    end?.catch(() => undefined)
    return end
  }

  /**
   * Queues the upload of a file that has one to come and nothing else will queue it: no upload in flight or
   * scheduled, no namespace op holding it (whose end requeues it), no handle (whose close commits). True if queued.
   */
  #requeueIfIdle(file: PendingFile): boolean {
    if (!file.unsent || file.inflight || file.quiesced !== undefined || file.nextAttemptAtMs !== undefined || file.waitsForDelete) return false
    if (file.openCount > 0 || file.state === 'rejected' || file.unlinked) return false
    this.requeue(file)
    return true
  }

  /** Re-queues a quiesced file's upload (a namespace op failed or moved it). */
  requeue(file: PendingFile): void {
    this.#endQuiesce(file)
    if (file.unsent && file.openCount === 0 && file.state !== 'rejected' && !file.unlinked) {
      this.#uploader.schedule(file, this.#d.options.writeBackDelayMs)
    } else if (this.#isIdleAndStored(file)) {
      this.#track(this.#fileLock.run(file.id, () => this.#retireIfIdle(file))) // its last release came while quiesced
    }
  }

  #endQuiesce(file: PendingFile): void {
    file.quiesced?.end()
    file.quiesced = undefined
  }

  /**
   * Notes in the file's record, before an unlink deletes its stored file, that the unlink is under way (or, with
   * `false`, that it failed and the file stays): a crash after that delete then does not upload the file back.
   * `unlinkedVersionId`: the version of its stored file the unlink saw current (JournalRecord.unlinkedVersionId).
   */
  async markUnlinking(file: PendingFile, unlinking: boolean, unlinkedVersionId?: string): Promise<void> {
    const was = file.unlinkedVersionId
    file.unlinking = unlinking
    file.unlinkedVersionId = unlinking ? unlinkedVersionId : undefined
    // Also the record of the content a close committed that is kept aside while the file is written again.
    const committed = this.#committedCopies.hasCommitted(file)
    try {
      if (committed) await this.#committedCopies.follow(file)
      else await this.#journal.noteUnlinking(file.id, unlinking, file.unlinkedVersionId) // the record of an upload in flight at a close: as it was
    } catch (e) {
      file.unlinking = !unlinking // not noted: the record on disk still says what it said
      file.unlinkedVersionId = was
      throw e
    }
  }

  /** Forgets a pending file (unlink, or replaced by a rename): no upload, spool bytes removed once closed. */
  async discard(file: PendingFile): Promise<void> {
    this.#streamer.stop(file, 'unlinked')
    file.unlinked = true
    file.dirty = false
    file.unsent = false
    this.#endQuiesce(file)
    this.#uploader.cancel(file)
    await this.#spoolFiles.drop(file)
  }

  /** A rename of a quiesced pending file (write/retarget.ts). */
  retarget(file: PendingFile, dest: Destination, base: RemoteBase | undefined, ino: number | undefined, stored?: FileInode): Promise<void> {
    return retarget({
      log: this.#d.log, uploadTags: this.#d.options.uploadTags, writeBackDelayMs: this.#d.options.writeBackDelayMs,
      streamer: this.#streamer, committedCopies: this.#committedCopies, pending: this.#pending, committer: this.#committer,
      requeue: (requeued) => this.requeue(requeued),
    }, file, dest, base, ino, stored)
  }

  /**
   * Uploads `source`'s remote bytes as a new version of the file at `dest` (atomic-save rename onto an
   * existing file), with the tags and metadata `source` has of its own (carriedDetails). Nothing stays behind
   * on failure.
   */
  async uploadCopy(source: FileInode, dest: Destination, base: RemoteBase, ino: number): Promise<void> {
    const { id, fh, filled } = await this.#spoolFiles.newFor(source)
    const now = this.#d.clock.now()
    const file = new PendingFile(id, this.#dataFiles.path(id), dest.folder, dest.name, dest.localPath, ino, 0, now, now, base)
    file.fd = fh
    file.wanted = carriedDetails(source, this.#d.options.uploadTags)
    try {
      if (filled) file.size = source.size
      else await this.#content.fill(file, source)
      file.dirty = true
      file.mtimeMs = this.mtimeOf(source) ?? source.updatedAtMs // the new version keeps the source's time
      await this.#committer.commit(file, 'sync')
    } catch (e) {
      await this.discard(file)
      await file.fd?.close().catch(() => undefined)
      file.fd = undefined
      throw e
    }
    const fd = file.fd
    file.fd = undefined
    await this.#spoolFiles.retire(file, fd)
  }

  // ---- lifecycle ----

  /** The library's API, whose stores of a file wait for a delete under way at its path (`deletes`). */
  get api(): ImageKitApi {
    return this.#d.api
  }

  async close(): Promise<void> {
    // The fetches for readers were stopped first (vfs.ts): the deletes get their current attempt.
    await this.deletes.close()
    this.#closing.abort()
    this.#streamer.close()
    await Promise.allSettled([...this.#background])
    await this.#uploader.drain()
    this.#uploader.close()
    await this.#streamer.settled()
    for (const file of this.#pending.all()) {
      const fd = file.fd
      file.fd = undefined
      await fd?.close().catch(() => undefined)
    }
    await this.#journal.close().catch(() => undefined)
    this.#mtimes.close({ compact: true })
    await this.#recent.close()
    await this.#dataFiles.close()
    this.#spool.unlock()
  }
}

