/**
 * The VFS facade: one method per FUSE op, each a few lines delegating to the module that owns it.
 *
 *   names ............ name.ts (rclone `encoding`), versions.ts (--versions naming)
 *   metadata ......... dir-cache.ts (listing LRU, TTL, coalescing) → dir-node.ts (one listing) →
 *                      inode.ts / inode-table.ts (numbers, pins); resolver.ts walks paths;
 *                      attrs.ts, xattr.ts, statfs.ts answer from memory; dir-prefetch.ts lists
 *                      subfolders ahead (--dir-prefetch); metadata-edit.ts sets tags, coordinates and
 *                      custom metadata (setxattr), kept until the upload of a file being written lands
 *                      (wanted-details.ts); listed-details.ts completes a just uploaded file's
 *                      node from its details when an attribute asks
 *   content .......... handles/ (fh table, ReadHandle) → reader/ (FileReader per version, RangeStream,
 *                      BlockCache) under budget.ts (global cap on buffered bytes)
 *   errors ........... from-imagekit-error.ts (the one ImageKitError → VfsError translation)
 *
 *   writing .......... write-path.ts (a written file's life from open to landed upload; destination.ts maps
 *                      a local path to its remote folder and name) → write/ (pending-files.ts: the
 *                      overlay over listings; content.ts: writes, reads and truncates of the spool copy,
 *                      filled by remote-fill.ts from the stored bytes; committer.ts: durable commit and
 *                      upload at close or fsync; server-copy.ts: copy_file_range as the copy API) →
 *                      file-node.ts (PendingFile, shared by the handles of one file) → spool/ (0700 folder, journal log, reused data files, recover.ts at start)
 *                      → upload/uploader.ts (queue, write-back, retries), upload/streamer.ts (large
 *                      sequential files uploaded while written), upload/set-details.ts (tags and
 *                      metadata set once the upload lands); namespace.ts (mkdir, rmdir, unlink, rename)
 *
 * Concurrency (one thread; every await lets another op in): shared maps (listing LRU, in-flight
 * listings, handle table, pins, reader pool, pending files) are only mutated in synchronous stretches.
 *
 * Lock order (take left before right, never the reverse; never hold one while waiting for a listing
 * lock that is not in this list):
 *   Namespace path locks (`ns:<remotePath>`, two-path ops take both in sorted order)
 *     → WritePath path lock (per remote path; creating the PendingFile of a path)
 *       → WritePath file lock (per PendingFile id; content changes vs. uploads)
 *   staleLock (per fileId, read side) is taken alone.
 * An upload in flight holds no lock: ops that must not overlap it wait for `file.inflight` under the
 * file lock, and the upload itself never waits for a lock.
 */
import { constants as fsConstants } from 'node:fs'
import { systemClock, type Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import { hasImageKitCode } from '../imagekit/errors.js'
import type { FileObject } from '../imagekit/types.js'
import type { Logger } from '../log.js'
import { dirAttr, fileAttr, pendingAttr, type AttrOptions } from './attrs.js'
import { ByteBudget } from './budget.js'
import { createIntent } from './create-flags.js'
import { DirCache } from './dir-cache.js'
import { DirPrefetcher } from './dir-prefetch.js'
import { isVfsError, VfsError } from './errors.js'
import { fromImageKitError } from './from-imagekit-error.js'
import { HandleTable } from './handles/handle-table.js'
import { ReadHandle, type Unserved } from './handles/read-handle.js'
import { ReadersByName } from './handles/readers-by-name.js'
import { WriteHandle } from './handles/write-handle.js'
import type { PendingFile } from './file-node.js'
import { ListedDetails } from './listed-details.js'
import { MetadataEditor } from './metadata-edit.js'
import { FolderPresence } from './folder-presence.js'
import { Namespace } from './namespace.js'
import { WritePath } from './write-path.js'
import { DirInode, ROOT_INO, folderIdentityKey, type FileInode, type Inode } from './inode.js'
import { InodeTable } from './inode-table.js'
import { KeyedMutex } from './lock.js'
import { Destinations } from './destination.js'
import { NameCodec, parentOf } from './name.js'
import { BlockCache } from './reader/block-cache.js'
import { BlockPool } from './reader/block-pool.js'
import { BLOCK_BYTES, readAheadBlocks, type FileReader } from './reader/file-reader.js'
import { ReaderPool } from './reader/reader-pool.js'
import { eitherCopy, UnlinkedCopies } from './reader/unlinked-copies.js'
import { Resolver } from './resolver.js'
import { LocalMtimes } from './spool/mtimes.js'
import type { DropCachedPages } from './spool/page-trim.js'
import { libraryKeyOf, spoolDirOf } from './spool/spool.js'
import { Counters, type VfsStats } from './stats.js'
import { StatfsSource } from './statfs.js'
import type { Attr, DirEntry, OpenFlags, ReadCancel, ReadDestination, StatFs, Vfs, VfsOptions, VfsStatus } from './types.js'
import { WarnOnce } from './warn-once.js'
import { getXattr, isKnownXattr, isSupportedXattrNamespace, listXattrs, showsListedDetails, XATTR_NAMESPACE } from './xattr.js'

export type { VfsStats } from './stats.js'

export interface VfsDeps {
  logger: Logger
  clock?: Clock
  /** From the page-cache addon (native/page-cache.ts), when it is built: see spool/page-trim.ts. */
  dropCachedPages?: DropCachedPages | undefined
}

export type IkVfs = Vfs & {
  stats(): VfsStats
  /** Counters and the upload queue, for `ikfs status` and /metrics. */
  status(): VfsStatus
  /** The spool folder of this library (undefined on a read-only mount). */
  readonly spoolDir: string | undefined
  /** Throws if inode bookkeeping is inconsistent (unit tests call it after each op). */
  checkInvariants(): void
  /** How many entries each structure the VFS keeps holds: tests check that churn leaves them bounded. */
  sizes(): Record<string, number>
}

const O_ACCMODE = 3
/** fallocate(2): reserve space without changing the size. */
const FALLOC_FL_KEEP_SIZE = 1
/** chown's "leave unchanged": -1, as the kernel passes it through fuse-native (uint32). */
const UNCHANGED_IDS = new Set([-1, 0xffff_ffff])

export function createVfs(api: ImageKitApi, options: VfsOptions, deps: VfsDeps): IkVfs {
  return new ImageKitVfs(api, options, deps)
}

class ImageKitVfs implements IkVfs {
  readonly xattrNamespace = XATTR_NAMESPACE
  readonly #api: ImageKitApi
  readonly #options: VfsOptions
  readonly #log: Logger
  readonly #counters = new Counters()
  readonly #codec: NameCodec
  readonly #inodes = new InodeTable()
  readonly #root: DirInode
  readonly #dirs: DirCache
  readonly #resolver: Resolver
  readonly #destinations: Destinations
  readonly #attrOptions: AttrOptions
  readonly #statfs: StatfsSource
  readonly #budget: ByteBudget
  readonly #blocks: BlockCache
  readonly #blockPool = new BlockPool(BLOCK_BYTES)
  readonly #readers: ReaderPool
  readonly #handles = new HandleTable<ReadHandle | WriteHandle>()
  /** The read handles by the name the kernel knows each by (R5: the page cache and size of a name are theirs). */
  readonly #readersByName = new ReadersByName()
  readonly #staleLock = new KeyedMutex()
  /** Undefined on a read-only mount (no spool is created). */
  readonly #writes: WritePath | undefined
  /** --read-only: the times kept by earlier mounts of this library in the cache dir (W13), read at start. */
  readonly #keptMtimes: LocalMtimes | undefined
  readonly #namespace: Namespace | undefined
  /** Bytes of stored files unlinked while open for reading (W8); undefined on a read-only mount. */
  readonly #unlinked: UnlinkedCopies | undefined
  readonly #metadata: MetadataEditor | undefined
  readonly #listedDetails: ListedDetails
  readonly #prefetch: DirPrefetcher | undefined
  readonly #clock: Clock

  constructor(api: ImageKitApi, options: VfsOptions, deps: VfsDeps) {
    const clock = deps.clock ?? systemClock
    this.#clock = clock
    this.#api = api
    this.#options = options
    this.#log = deps.logger.child({ component: 'vfs' })
    this.#codec = new NameCodec(options.encoding)
    const mountTimeMs = clock.now()
    this.#root = new DirInode(ROOT_INO, '/', mountTimeMs, mountTimeMs)
    this.#attrOptions = { ...options, mountTimeMs }
    this.#dirs = new DirCache(
      api, clock,
      // A file whose delete is under way (an unlink answered before it, W8) is gone from every listing.
      { codec: this.#codec, inodes: this.#inodes, warn: new WarnOnce(this.#log), deleting: (fileId) => this.#writes?.deletes.has(fileId) === true },
      this.#counters,
      {
        ttlMs: options.dirCacheTimeMs, maxDirs: options.maxCachedDirs, versions: options.versions,
        onListing: (folder, items, ms) => this.#log.debug({ folder, items, ms }, 'listing folder'),
        onStaleServed: (folder, err) => this.#log.warn({ folder, err }, 'the API cannot be reached: showing the last listing of this folder'),
      },
    )
    this.#resolver = new Resolver(this.#root, this.#dirs)
    this.#destinations = new Destinations(this.#codec, this.#resolver, this.#dirs)
    this.#listedDetails = new ListedDetails({ api, dirs: this.#dirs, destinations: this.#destinations, log: this.#log })
    this.#prefetch = options.dirPrefetch ? new DirPrefetcher(this.#dirs, clock, this.#log, options.dirPrefetch) : undefined
    this.#statfs = new StatfsSource(api, clock, this.#log, {
      totalBytes: options.statfsTotalBytes, cacheTimeMs: options.statfsCacheTimeMs,
    })
    this.#budget = new ByteBudget(options.maxBufferedBytes)
    this.#blocks = new BlockCache(options.blockCacheBytes, (block) => this.#blockPool.release(block))
    if (options.readOnly) {
      this.#writes = undefined
      this.#namespace = undefined
      this.#metadata = undefined
      // Only read: a read-only mount never writes the log (utimens is EROFS), and takes no spool lock.
      this.#keptMtimes = new LocalMtimes(spoolDirOf(options.cacheDir, libraryKeyOf(options.libraryId)), () => undefined)
      this.#unlinked = undefined
    } else {
      this.#keptMtimes = undefined
      const folders = new FolderPresence({ api, clock, log: this.#log, dirs: this.#dirs })
      const shared = { api, clock, log: this.#log, codec: this.#codec, destinations: this.#destinations, inodes: this.#inodes, dirs: this.#dirs, resolver: this.#resolver, folders }
      const uploadLog = deps.logger.child({ component: 'vfs.upload' }) // not a child of #log: one component key
      this.#writes = new WritePath({
        ...shared, uploadLog, counters: this.#counters, options, dropCachedPages: deps.dropCachedPages,
        versionStored: (fileId) => this.#readers.stopSettling(fileId),
      })
      const recent = this.#writes.recentCopies
      const unlinked = this.#unlinked = new UnlinkedCopies(recent.keptDir, api, this.#log)
      recent.shareDisk(unlinked) // a full disk takes its copies first: written files come first (W3, W8)
      this.#namespace = new Namespace({
        ...shared, api: this.#writes.api, writes: this.#writes,
        // Best effort: the delete is what the user asked for, so it goes on without the copy (too large, or the
        // CDN not answering), and the readers then get errors once past what the block cache holds.
        keepForReaders: async (node) => {
          if (!this.#readers.isOpen(node.fileId, node.versionId)) return
          const target = { path: node.remotePath, size: node.size }
          const kept = await unlinked.keep(node, recent, this.#readers.etagOf(node.fileId, node.versionId)).catch((e: unknown) => {
            this.#log.warn({ ...target, err: e }, 'delete of a file open for reading (an unlink, or a rename over another file): could not fetch its bytes first; its readers read on what the CDN still serves of that version, and get errors after')
            return true
          })
          if (!kept) this.#log.info({ ...target, maxBytes: unlinked.maxBytes, heldBytes: unlinked.bytes }, 'delete of a file open for reading (an unlink, or a rename over another file): too large to fetch first (with the copies held for other readers, or for the free space of the cache dir); its readers get errors once past what is cached')
          // The last reader may have gone while the bytes came (its release found no copy to drop).
          if (!this.#readers.isOpen(node.fileId, node.versionId)) await unlinked.drop(node.fileId, node.versionId).catch(() => undefined)
        },
        readersHold: (node) => this.#readers.isOpen(node.fileId, node.versionId),
      })
      this.#metadata = new MetadataEditor({ api, log: this.#log, resolver: this.#resolver, dirs: this.#dirs, destinations: this.#destinations, writes: this.#writes, clock })
    }
    this.#readers = new ReaderPool({
      api, cache: this.#blocks, pool: this.#blockPool, budget: this.#budget, counters: this.#counters,
      maxWindowBlocks: readAheadBlocks(options.blockCacheBytes),
      // A file read right after its upload: the spool still holds that version's bytes (R4); one unlinked while
      // open for reading: fetched before its delete (W8).
      localCopies: this.#writes ? eitherCopy(this.#writes.recentCopies, this.#unlinked) : undefined,
    })
  }

  get spoolDir(): string | undefined {
    return this.#writes?.spoolDir
  }

  // ---- metadata ----

  async getattr(localPath: string): Promise<Attr> {
    const pending = this.#writes?.pendingAtLocal(localPath)
    if (pending) return pendingAttr(pending, this.#attrOptions)
    const node = await this.#resolver.resolve(localPath)
    return this.#attr(node.kind === 'file' ? this.#heldLongerAt(localPath, node) ?? node : node)
  }

  async getattrOpen(fh: number): Promise<Attr> {
    const handle = this.#handles.get(fh)
    if (handle.kind === 'write') return pendingAttr(handle.file, this.#attrOptions)
    return handle.mtimeMs === undefined ? this.#attr(handle.node) : fileAttr(handle.node, this.#attrOptions, handle.mtimeMs)
  }

  async readdir(localPath: string): Promise<DirEntry[]> {
    const dir = await this.#resolver.resolveDir(localPath)
    const listing = await this.#dirs.listing(dir)
    this.#prefetch?.after(dir, listing)
    const entries: DirEntry[] = []
    const readersHere = this.#options.directIo ? undefined : this.#readersByName.in(localPath) // see #heldLongerAt
    const overlay = new Map<string, PendingFile>()
    for (const { name: remoteName, file } of this.#writes?.pendingIn(dir.remotePath) ?? []) {
      const name = this.#codec.toLocal(remoteName)
      if (name !== undefined) overlay.set(name, file)
    }
    for (const [name, node] of listing.children) {
      const f = overlay.get(name)
      if (f && node.kind === 'dir') overlay.delete(name) // a folder wins, as in listings
      const readers = f ? undefined : readersHere?.get(name)
      const held = readers && node.kind === 'file' ? heldLonger(readers, node) : undefined
      entries.push({ name, attr: f ? pendingAttr(f, this.#attrOptions) : this.#attr(held ?? node) })
      overlay.delete(name)
    }
    for (const [name, f] of overlay) entries.push({ name, attr: pendingAttr(f, this.#attrOptions) })
    return entries
  }

  async statfs(_localPath: string): Promise<StatFs> {
    return this.#statfs.statfs(this.#dirs.entryCount + this.#inodes.pinnedCount)
  }

  async listxattr(localPath: string): Promise<string[]> {
    return listXattrs(await this.#xattrNode(localPath))
  }

  async getxattr(localPath: string, name: string): Promise<Buffer> {
    // Unknown names (security.capability before every write, ACLs ...) never cost a lookup.
    if (!isSupportedXattrNamespace(name)) throw new VfsError('ENOTSUP', `no ${name.split('.')[0]}.* attributes here`, { level: 'debug' })
    if (!isKnownXattr(name)) throw new VfsError('ENODATA', `no attribute ${name}`)
    const node = await this.#xattrNode(localPath)
    return getXattr(node.kind === 'file' && showsListedDetails(name) ? await this.#listedDetails.complete(localPath, node) : node, name)
  }

  /** A file whose upload is still to come shows what its upload keeps and what was set on it since (R10). */
  async #xattrNode(localPath: string): Promise<Inode> {
    const pending = this.#writes?.pendingAtLocal(localPath)
    if (pending?.uploadToCome) return this.#metadata!.pendingView(localPath, pending)
    return this.#resolver.resolve(localPath)
  }

  // ---- content ----

  async open(localPath: string, flags: OpenFlags, caller?: number): Promise<number> {
    if ((flags & O_ACCMODE) !== fsConstants.O_RDONLY || (flags & fsConstants.O_TRUNC) !== 0) {
      const file = await this.#writable('open for writing', localPath).openForWrite(localPath, flags)
      const append = (flags & fsConstants.O_APPEND) !== 0
      // Appends leave what a reader has as the start of the file (tail -f while >> appends, each append stored
      // as a longer version): it reads on. Not a reader of a longer version than the one appended to (stored
      // elsewhere since it opened, shorter; the name shows the reader's size, #heldLongerAt): the appended bytes
      // would land in the page cache where its own are, and be read as such.
      const listed = (flags & fsConstants.O_TRUNC) === 0 ? this.#resolver.peek(localPath) : undefined
      if (!append) this.#outdateReadersAt(localPath, listed?.kind === 'file' ? listed : undefined)
      else if (listed?.kind === 'file') this.#outdateReadersAt(localPath, listed, { longerOnly: true })
      const handle = this.#handles.add((fh) => new WriteHandle(fh, file, true, caller, append))
      handle.mapsWritable = (flags & O_ACCMODE) === fsConstants.O_RDWR
      handle.syncsWrites = syncsWrites(flags)
      return handle.fh
    }
    const pending = await this.#writes?.openForRead(localPath)
    if (pending) {
      const bypass = !this.#options.directIo && pending.uploadToCome && this.#outdateReadersAt(localPath)
      return this.#handles.add((fh) => Object.assign(new WriteHandle(fh, pending, false), { bypassesPageCache: bypass })).fh
    }
    const node = await this.#resolver.resolve(localPath)
    if (node.kind === 'dir') throw new VfsError('EISDIR', `open ${localPath}: is a folder`)
    // Its pages would be served to a handle still reading another version there, and that one's to it (R5).
    const bypass = !this.#options.directIo && this.#outdateReadersAt(localPath, node)
    const handle = this.#addReadHandle(node, localPath, (h) => {
      h.bypassesPageCache = bypass
    })
    if (this.#options.prefetchOnOpen) handle.reader.prefetchStart()
    return handle.fh
  }

  /** Synchronous: pin, reader and handle appear together. */
  #addReadHandle(node: FileInode, localPath: string | undefined, setUp: (handle: ReadHandle) => void, sharing?: FileReader): ReadHandle {
    this.#inodes.pin(node)
    // A reopen shares its handle's reader as it is: the handle's node may name where the file was (renamed since).
    const reader = sharing ? this.#readers.share(sharing) : this.#readers.acquire({
      fileId: node.fileId, versionId: node.versionId, size: node.size,
      filePath: node.remotePath, url: node.url, isPrivateFile: node.isPrivateFile,
    })
    return this.#handles.add((fh) => {
      const h = new ReadHandle(fh, node, reader, (n, r, why, seen) => this.#onStale(n, r, why, seen))
      this.#readersByName.name(h, localPath)
      setUp(h)
      return h
    })
  }

  /**
   * It shares the kernel's page cache of the file with `fh`, so it reads through it as `fh` does (R5). For
   * writing (truncate(1) of /proc/PID/fd/N, a program writing on through it) only a file being written that is
   * unlinked: a stored file opened for reading has no spool file to take the writes, and a file with a name
   * is opened by it.
   */
  async reopen(fh: number, flags: number = fsConstants.O_RDONLY): Promise<number> {
    const handle = this.#handles.get(fh)
    const { bypassesPageCache } = handle
    if ((flags & O_ACCMODE) !== fsConstants.O_RDONLY || (flags & fsConstants.O_TRUNC) !== 0) {
      const writes = this.#writable('open for writing', `handle ${fh}`)
      if (handle.kind !== 'write' || !handle.file.unlinked) {
        throw new VfsError('ESTALE', `open of handle ${fh} for writing: its file has no name to open by, nor a spool file to write`, { level: 'debug' })
      }
      await writes.reopenForWrite(handle.file, flags)
      const append = (flags & fsConstants.O_APPEND) !== 0
      return this.#handles.add((newFh) => Object.assign(new WriteHandle(newFh, handle.file, true, undefined, append), { bypassesPageCache })).fh
    }
    if (handle.kind === 'write') {
      this.#writes!.reopenForRead(handle.file)
      return this.#handles.add((newFh) => Object.assign(new WriteHandle(newFh, handle.file, false), { bypassesPageCache })).fh
    }
    // The same kernel file: the same name, if it still has one.
    return this.#addReadHandle(handle.node, handle.localPath, (h) => {
      h.bypassesPageCache = bypassesPageCache
      h.outdated = handle.outdated
      h.mtimeMs = handle.mtimeMs // a time set since it lost its name (utimensOpen)
    }, handle.reader).fh
  }

  bypassesPageCache(fh: number): boolean {
    return this.#handles.get(fh).bypassesPageCache
  }

  closesWithoutFlush(fh: number): boolean {
    return this.#handles.get(fh).kind === 'read' // see flush
  }

  readsOldVersion(fh: number): boolean {
    const handle = this.#handles.peek(fh)
    return handle?.kind === 'read' && handle.node.isVersion
  }

  /**
   * A program opens `localPath` for `node` (undefined: for other bytes than any stored version). The handles
   * still open there on another version share the kernel's page cache of that name with it: from now on
   * their reads would leave their bytes to it and to the programs that open the file later (auto_cache keeps
   * the pages of an unchanged file), so they are refused (R5). True when there are such handles.
   * `longerOnly`: only those on versions longer than `node` (an append to it, see open).
   */
  #outdateReadersAt(localPath: string, node?: FileInode, only?: { longerOnly: boolean }): boolean {
    if (this.#options.directIo) return false // no page cache is shared
    let found = false
    for (const h of this.#readersByName.at(localPath)) {
      if (only?.longerOnly && node && h.node.size <= node.size) continue
      if (!h.bypassesPageCache && (!node || !sameVersion(h.node, node))) {
        h.outdated = true
        found = true
      }
    }
    return found
  }

  /**
   * The version a program is still reading at `localPath` through the kernel's page cache, when `listed` (what
   * the listing shows there now, stored elsewhere since it opened) is another, shorter one: the name goes on
   * showing the version read until that program closes it or one here opens the file as `listed` (which
   * outdates it, #outdateReadersAt). The kernel keeps one size per file, taken from whatever a stat of the
   * name answers, and ends reads through the page cache at it without asking: given the shorter size, it
   * would end that program's reads there, an end of file where there is none (R5).
   *
   * Only a version stored elsewhere holds the size: one made here, through the mount, is the file changing
   * under its readers, as on a local disk. A program writing the file here opened it for writing, which
   * outdated the readers of any other version than the one it writes over (all of them, when it truncated
   * the file at open; an appender, those of longer versions); writes only make the file the others read
   * longer, and a longer version holds nothing.
   * So a truncate here, by name or through a descriptor, is what ends a reader's hold (ReadHandle.truncatedHere).
   */
  #heldLongerAt(localPath: string, listed: FileInode): FileInode | undefined {
    if (this.#options.directIo) return undefined // no page cache, no size to end reads at
    return heldLonger(this.#readersByName.at(localPath), listed)
  }

  async read(localPath: string, fh: number, length: number, position: number): Promise<Buffer> {
    const handle = this.#handles.get(fh)
    if (handle.kind === 'write') return this.#writes!.read(handle.file, length, position)
    return this.#reading(localPath, handle, position, () => handle.read(length, position))
  }

  async readInto(localPath: string, fh: number, dest: ReadDestination, position: number, signal?: ReadCancel): Promise<number> {
    const handle = this.#handles.get(fh)
    if (handle.kind === 'write') {
      const data = await this.#writes!.read(handle.file, dest.length, position)
      if (signal?.aborted) throw new VfsError('EINTR', 'read: the caller gave up', { level: 'debug' })
      dest.set(data, 0)
      return data.length
    }
    return this.#reading(localPath, handle, position, () => handle.readInto(dest, position, signal))
  }

  async #reading<T>(localPath: string, handle: ReadHandle, position: number, read: () => Promise<T>): Promise<T> {
    this.#readersByName.name(handle, localPath)
    // Its bytes would be kept as another version's (#outdateReadersAt); a read at its end still says so.
    if (handle.outdated && position < handle.node.size) {
      throw new VfsError('EIO', `read ${localPath}: the file was opened since as another version; reopen to read the current one`)
    }
    try {
      return await read()
    } catch (e) {
      // The file vanished remotely: the next lookup must re-list instead of trusting the cached listing.
      if (isVfsError(e) && e.code === 'ENOENT') this.#dirs.expire(parentOf(handle.node.remotePath)[0])
      throw e
    }
  }

  async release(_localPath: string, fh: number): Promise<void> {
    const handle = this.#handles.remove(fh)
    if (handle.kind === 'write') return await this.#writes!.release(handle.file, handle.writable)
    this.#readersByName.forget(handle)
    this.#readers.release(handle.reader)
    this.#inodes.unpin(handle.node)
    const { fileId, versionId } = handle.reader.target
    if (!this.#readers.isOpen(fileId, versionId)) await this.#unlinked?.drop(fileId, versionId)
  }

  /**
   * A response disagreed with the listing ('stale'), or the CDN answered 404 for it ('gone'): re-check the
   * file once; retry only for the same version, from where it is now. A 404 is what a file renamed or moved
   * (its folder too, here or elsewhere) gives once the CDN forgets the old name's URL: the version is then
   * found by its file id, at its new path, and the descriptor reads on as on a local disk. A version stored
   * over elsewhere (its path's URL delivers the new one once the CDN refreshes) is read on from its own URL,
   * as an older version of the file (R5). `relocationsBefore`: the reader's relocations when the read
   * started; another read's check that re-pointed it since answers this one too.
   */
  #onStale(node: FileInode, reader: FileReader, why: Unserved, relocationsBefore: number): Promise<'retry' | VfsError | undefined> {
    return this.#staleLock.run(node.fileId, async () => {
      if (reader.relocations !== relocationsBefore) return 'retry'
      this.#dirs.expire(parentOf(node.remotePath)[0]) // new opens re-list and see what is current
      const changed = new VfsError('EIO', `read ${reader.filePath}: the file changed or its delivery is stale; reopen to read the current version`)
      if (node.isVersion && why === 'stale') return changed
      try {
        const now = await this.#whereNow(node)
        if (now?.replaced) {
          // The ETag stays the version's: its own URL delivering other content is refused too.
          if (!reader.replaced) this.#log.info({ path: node.remotePath, fileId: node.fileId }, 'a file open for reading was stored over elsewhere: the version opened is read on from its own URL')
          reader.relocate(now.at, true)
          return 'retry'
        }
        // The same version: its URL may have changed (a details update, a rename), or the CDN gave another ETag
        // for the same bytes; one more try, through the current URL, from a fresh ETag.
        if (now) {
          reader.relocate(now.at, false)
          reader.forgetEtag()
          return 'retry'
        }
        if (why === 'gone') return undefined
        this.#log.warn({ path: node.remotePath, fileId: node.fileId }, 'read refused: the delivery serves other content than the listing shows (another size, or another ETag than earlier ranges)')
        return changed
      } catch (e) {
        if (why === 'gone' && hasImageKitCode(e, 'IK_NOT_FOUND')) return undefined // deleted: the 404 says so
        return fromImageKitError(e, { op: 'read', target: node.remotePath })
      }
    })
  }

  /**
   * Where the version `node` opened is now (undefined: deleted, or not found): the file's details when it is
   * still the current version (one call); else, or for an older version (--versions), among the file's
   * versions (one more call), `replaced` when `node` opened it as the current one (stored over since).
   */
  async #whereNow(node: FileInode): Promise<{ at: FileObject; replaced: boolean } | undefined> {
    const same = (f: FileObject) => f.versionInfo.id === node.versionId && f.size === node.size
    if (!node.isVersion) {
      const current = await this.#api.getFileDetails(node.fileId)
      if (same(current)) return { at: current, replaced: false }
    }
    const version = (await this.#api.listFileVersions(node.fileId)).find(same)
    return version && { at: version, replaced: !node.isVersion && version.type === 'file-version' }
  }

  // ---- write side ----

  /** The write path, or EROFS on a read-only mount. */
  #writable(op: string, localPath: string): WritePath {
    if (!this.#writes) throw new VfsError('EROFS', `${op} ${localPath}: read-only mount`, { level: 'debug' })
    return this.#writes
  }

  #ns(op: string, localPath: string): Namespace {
    this.#writable(op, localPath)
    return this.#namespace!
  }

  #writeHandle(op: string, fh: number): WriteHandle {
    const handle = this.#handles.get(fh)
    if (handle.kind !== 'write' || !handle.writable) throw new VfsError('EBADF', `${op}: handle ${fh} is not open for writing`)
    return handle
  }

  async create(localPath: string, _mode: number, flags: OpenFlags | undefined, caller?: number): Promise<number> {
    const intent = createIntent(flags)
    const file = await this.#writable('create', localPath).openForWrite(localPath, intent.flags, intent)
    this.#entriesChanged(localPath)
    const handle = this.#handles.add((fh) => new WriteHandle(fh, file, true, caller, (intent.flags & fsConstants.O_APPEND) !== 0))
    // A file made with O_EXCL is a temporary one (mkstemp: rsync's, git's objects and lock files) far more often
    // than a map's: its close is not worth a read of /proc/PID/maps (0.4 ms of CPU; rsync -a of small files 20%
    // more). A program that maps one costs one more version, what the file held at that close.
    handle.mapsWritable = (intent.flags & O_ACCMODE) === fsConstants.O_RDWR && (intent.flags & fsConstants.O_EXCL) === 0
    handle.syncsWrites = syncsWrites(intent.flags)
    return handle.fh
  }

  async write(_localPath: string, fh: number, data: Buffer, position: number, pageWriteback?: boolean): Promise<number> {
    const handle = this.#writeHandle('write', fh)
    // An O_APPEND write goes to the end (see WriteHandle.append); pages written back from a shared map keep
    // their offset, and a binding that cannot tell them apart gets the offset it was given.
    const written = await this.#writes!.write(handle.file, data, handle.append && pageWriteback === false ? 'end' : position, handle.syncsWrites)
    if (handle.syncsWrites) await this.#writes!.keepWritten(handle.file)
    return written
  }

  async flush(_localPath: string, fh: number, caller?: number, stillMapped?: () => Promise<boolean>): Promise<void> {
    const handle = this.#handles.get(fh) // read handles have nothing to flush
    if (handle.kind !== 'write') return
    // Another process's copy of the descriptor: the opener still has it, or the release after this close commits.
    // The same while the closing process maps the file shared and writable: numpy.memmap closes its file right
    // after mapping it, and this close would upload what the file held then (zeros) as a version of its own.
    // Not once the mount is stopping: it is detached, so the last close ends the session, and the kernel drops
    // the release it queued for it (it never reaches us). Every close then stores the file as written so far.
    if (!this.#writes!.stopping) {
      if (!handle.closesAsOpener(caller)) return this.#writes!.closedUncommitted(handle.file)
      if (handle.mapsWritable && stillMapped && this.#writes!.commitsAtClose(handle.file) && await stillMapped()) {
        return this.#writes!.closedWhileMapped(handle.file)
      }
    }
    await this.#writes!.flush(handle.file, handle.writable)
  }

  async fsync(_localPath: string, fh: number): Promise<void> {
    const handle = this.#handles.get(fh)
    if (handle.kind === 'write') await this.#writes!.fsync(handle.file)
  }

  async truncate(localPath: string, size: number): Promise<void> {
    const writes = this.#writable('truncate', localPath)
    if (size < 0) throw new VfsError('EINVAL', `truncate ${localPath}: negative size`)
    await writes.truncatePath(localPath, size)
    this.#truncatedHere(localPath)
  }

  async ftruncate(_localPath: string, fh: number, size: number): Promise<void> {
    if (size < 0) throw new VfsError('EINVAL', 'ftruncate: negative size')
    const file = this.#writeHandle('ftruncate', fh).file
    await this.#writes!.truncateOpen(file, size)
    if (this.#writes!.pendingAt(file.remotePath) === file) this.#truncatedHere(file.localPath) // it still has its name
  }

  /**
   * The file at `localPath` was truncated through this mount: the kernel cut the page cache of the name, and the
   * reads through it, at the new size, as a local disk's inode would, also for the programs still reading the
   * version they opened there (the writers of the same version, and appenders, leave them reading on). The name
   * shows the size set here from now on, not the longer version such a program holds (R5, #heldLongerAt).
   */
  #truncatedHere(localPath: string): void {
    for (const h of this.#readersByName.at(localPath)) h.truncatedHere = true
  }

  /**
   * truncate(2) of a file that has lost its name, by its /proc/PID/fd/N path: the kernel checked the caller may
   * write it, whatever the handle it came through was opened for. A file being written (its spool file) is
   * truncated as ftruncate would; a stored file opened only for reading has nothing here to truncate (its bytes
   * are the library's, or a read-only copy of them): ESTALE, as an open of it for writing (W8).
   */
  async truncateOpen(fh: number, size: number): Promise<void> {
    const writes = this.#writable('truncate', `handle ${fh}`)
    if (size < 0) throw new VfsError('EINVAL', 'truncate: negative size')
    const handle = this.#handles.get(fh)
    if (handle.kind !== 'write') throw new VfsError('ESTALE', `truncate of handle ${fh}: a stored file opened for reading only, whose name is gone`, { level: 'debug' })
    await writes.truncateOpen(handle.file, size)
  }

  /**
   * W16: mode 0 grows the file to offset + length (zeros, as truncate does; the spool file stays sparse);
   * FALLOC_FL_KEEP_SIZE only reserves space, which a library has no use for: accepted, nothing to do. The
   * other modes (punching, zeroing, collapsing or inserting ranges) are refused, as on filesystems without them.
   */
  async fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    const file = this.#writeHandle('fallocate', fh).file
    if (offset < 0 || length <= 0) throw new VfsError('EINVAL', 'fallocate: bad range')
    if (mode === FALLOC_FL_KEEP_SIZE) return
    if (mode !== 0) throw new VfsError('ENOTSUP', `fallocate: mode ${mode} is not supported (only growing a file)`, { level: 'debug' })
    await this.#writes!.growOpen(file, offset + length)
  }

  async unlink(localPath: string): Promise<void> {
    await this.#ns('unlink', localPath).unlink(localPath)
    this.#entriesChanged(localPath)
    this.#readersByName.rename(localPath, undefined)
  }

  async mkdir(localPath: string): Promise<void> {
    await this.#ns('mkdir', localPath).mkdir(localPath)
    this.#entriesChanged(localPath)
  }

  async rmdir(localPath: string): Promise<void> {
    await this.#ns('rmdir', localPath).rmdir(localPath)
    this.#entriesChanged(localPath)
  }

  async rename(fromLocalPath: string, toLocalPath: string): Promise<void> {
    await this.#ns('rename', fromLocalPath).rename(fromLocalPath, toLocalPath)
    this.#entriesChanged(fromLocalPath, toLocalPath)
    // The kernel's names of open files follow it at once, not at their next read: a file renamed (or in a renamed
    // folder) is known by its new name, one renamed over has none left, and with it no page cache shared with
    // what is opened at its old name since. So #outdateReadersAt finds the handles that share the page cache of
    // a name, and only those.
    this.#readersByName.rename(toLocalPath, undefined) // renamed over
    this.#readersByName.rename(fromLocalPath, toLocalPath)
  }

  /** W15: a server-side copy (write-path.ts copyStored), or ENOTSUP for the kernel to copy by reads and writes. */
  async copyFileRange(fhIn: number, offIn: number, fhOut: number, offOut: number, length: number): Promise<number> {
    const source = this.#handles.get(fhIn)
    const target = this.#writeHandle('copy_file_range', fhOut)
    const whole = source.kind === 'read' && offIn === 0 && offOut === 0 && length >= source.node.size
    if (whole && (await this.#writes!.copyStored(target.file, source.node))) return source.node.size
    throw new VfsError('ENOTSUP', 'copy_file_range: not a whole stored file to a new same-named file; copied by reads and writes', { level: 'debug' })
  }

  /**
   * ImageKit stores no modification time: it is kept on this machine for the file's current version
   * (spool/mtimes.ts), and a pending file keeps it for the version its upload stores. Old versions accept it unchanged.
   * A folder's is kept by its path (`rsync -a`, `tar x` and `cp -a` set it once they have filled it).
   */
  async utimens(localPath: string, _atimeMs: number, mtimeMs: number): Promise<void> {
    const writes = this.#writable('utimens', localPath)
    const pending = writes.pendingAtLocal(localPath)
    if (pending) return Number.isNaN(mtimeMs) ? undefined : writes.setMtime(pending, mtimeMs)
    const node = await this.#resolver.resolve(localPath)
    if (Number.isNaN(mtimeMs)) return
    if (node.kind === 'file' && !node.isVersion && mtimeMs !== (writes.mtimeOf(node) ?? node.updatedAtMs)) writes.rememberMtime(node, mtimeMs)
    if (node.kind === 'dir' && mtimeMs !== this.#attr(node).mtimeMs) writes.rememberFolderMtime(node.remotePath, mtimeMs)
  }

  /**
   * futimens of a file that has lost its name (unlinked, or renamed over, while open; getattrOpen): the time is
   * the open file's, shown by fstat, and not kept anywhere else (the file is gone, or another is at its name).
   * The kernel sends it through any of the file's handles (the latest opened), and asks fstat of any other: a
   * stored file's time goes to every handle open on it (reopen passes it on), so it lasts until the last close.
   * A file being written that still has its name here (a save over it kept it, W9) takes it as utimens would.
   */
  async utimensOpen(fh: number, _atimeMs: number, mtimeMs: number): Promise<void> {
    const writes = this.#writable('utimens', `handle ${fh}`)
    const handle = this.#handles.get(fh)
    if (Number.isNaN(mtimeMs)) return
    if (handle.kind === 'read') {
      for (const h of this.#handles.values()) if (h.kind === 'read' && h.node === handle.node) h.mtimeMs = mtimeMs
    } else if (writes.pendingAt(handle.file.remotePath) === handle.file) writes.setMtime(handle.file, mtimeMs)
    else handle.file.mtimeMs = mtimeMs
  }

  /** fchmod of a file that has lost its name: accepted, as chmod is (W10). */
  async chmodOpen(fh: number): Promise<void> {
    this.#writable('chmod', `handle ${fh}`)
    this.#handles.get(fh)
  }

  /** Modes come from the mount options; accepted so `cp -p`, `rsync -a` and `tar x` work. */
  async chmod(localPath: string): Promise<void> {
    await this.#exists(this.#writable('chmod', localPath), localPath)
  }

  async chown(localPath: string, uid: number, gid: number): Promise<void> {
    await this.#exists(this.#writable('chown', localPath), localPath)
    this.#sameOwner(localPath, uid, gid)
  }

  /** fchown of a file that has lost its name: as chown, accepted for the mount's owner only. */
  async chownOpen(fh: number, uid: number, gid: number): Promise<void> {
    this.#writable('chown', `handle ${fh}`)
    this.#handles.get(fh)
    this.#sameOwner(`handle ${fh}`, uid, gid)
  }

  #sameOwner(what: string, uid: number, gid: number): void {
    const sameUid = UNCHANGED_IDS.has(uid) || uid === this.#options.uid
    const sameGid = UNCHANGED_IDS.has(gid) || gid === this.#options.gid
    if (!sameUid || !sameGid) throw new VfsError('EPERM', `chown ${what}: files belong to the mount's owner`, { level: 'debug' })
  }

  async #exists(writes: WritePath, localPath: string): Promise<void> {
    if (!writes.pendingAtLocal(localPath)) await this.#resolver.resolve(localPath)
  }

  async setxattr(localPath: string, name: string, value: Buffer, flags: number): Promise<void> {
    this.#writable('setxattr', localPath)
    await this.#metadata!.set(localPath, name, value, flags)
  }

  async removexattr(localPath: string, name: string): Promise<void> {
    this.#writable('removexattr', localPath)
    await this.#metadata!.remove(localPath, name)
  }

  // ---- lifecycle ----

  cachedFiles(localPath?: string): Map<string, string[]> {
    const byFolder = new Map<string, string[]>()
    let remotePath: string | undefined
    try {
      remotePath = localPath === undefined ? undefined : this.#remotePathOf(localPath)
    } catch (e) {
      if (!isVfsError(e)) throw e // unrepresentable: all of them, as forget() then drops all
    }
    for (const listing of this.#dirs.listingsUnder(remotePath)) {
      const folder = this.#localPathOf(listing.remotePath)
      if (folder === undefined) continue
      const names = [...listing.children].filter(([, node]) => node.kind === 'file').map(([name]) => name)
      if (names.length > 0) byFolder.set(folder, names)
    }
    return byFolder
  }

  forget(localPath?: string): void {
    if (localPath === undefined) return this.#dirs.forget()
    try {
      this.#dirs.forget(this.#remotePathOf(localPath))
    } catch (e) {
      if (!isVfsError(e)) throw e
      this.#dirs.forget() // an unrepresentable path cannot be cached: dropping all is still correct
    }
  }

  filesBeingWritten(): string[] {
    return this.#writes?.filesBeingWritten() ?? []
  }

  filesWithUncommittedWrites(): string[] {
    return this.#writes?.filesWithUncommittedWrites() ?? []
  }

  commitClosedFiles(): string[] {
    return this.#writes?.commitClosedFiles() ?? []
  }

  refuseNewWrites(): void {
    this.#writes?.refuseNewWrites()
  }

  async close(): Promise<void> {
    this.#prefetch?.close()
    // No reader is left for the copies of files unlinked while open for reading: their fetches stop, and the
    // unlinks still waiting for them go on to the delete.
    await this.#unlinked?.close()
    await this.#writes?.close() // waits for uploads in flight and due
    this.#keptMtimes?.close()
    this.#readers.closeAll()
    for (const h of this.#handles.values()) if (h.kind === 'read') this.#readersByName.forget(h)
    this.#handles.clear()
    this.#dirs.clear()
    this.#blocks.clear()
    this.#blockPool.close()
  }

  stats(): VfsStats {
    const c = this.#counters
    const looked = c.blockCacheHits + c.blockCacheMisses
    return {
      listingsFetched: c.listingsFetched,
      listingItems: c.listingItems,
      staleListingsServed: c.staleListingsServed,
      dirCacheHits: c.dirCacheHits,
      dirCacheMisses: c.dirCacheMisses,
      cachedDirs: this.#dirs.size,
      knownInodes: this.#dirs.entryCount + this.#inodes.pinnedCount,
      rangeRequests: c.rangeRequests,
      bytesReadFromNetwork: c.bytesReadFromNetwork,
      staleResponses: c.staleResponses,
      streamResumes: c.streamResumes,
      blockCacheBytes: this.#blocks.bytes,
      blockCacheBlocks: this.#blocks.blocks,
      blockCacheHits: c.blockCacheHits,
      blockCacheMisses: c.blockCacheMisses,
      blockCacheHitRate: looked === 0 ? 0 : c.blockCacheHits / looked,
      writtenCacheBytes: this.#writes?.recentCopies.inMemory.bytes ?? 0,
      writtenCacheFiles: this.#writes?.recentCopies.inMemory.count ?? 0,
      bufferedBytes: this.#budget.used,
      peakBufferedBytes: this.#budget.peak,
      openHandles: this.#handles.size,
      openReaders: this.#readers.size,
    }
  }

  status(): VfsStatus {
    const { blockCacheHitRate: _rate, ...stats } = this.stats()
    const c = this.#counters
    return {
      counters: {
        ...stats,
        uploadsStarted: c.uploadsStarted,
        uploadsSucceeded: c.uploadsSucceeded,
        uploadsFailed: c.uploadsFailed,
        uploadsRetried: c.uploadsRetried,
        bytesUploaded: c.bytesUploaded,
      },
      uploads: this.#writes?.uploads() ?? [],
    }
  }

  sizes(): Record<string, number> {
    return {
      cachedDirs: this.#dirs.size, cachedEntries: this.#dirs.entryCount, pinnedInodes: this.#inodes.pinnedCount,
      rememberedInodes: this.#inodes.rememberedCount, handles: this.#handles.size, readers: this.#readers.held,
      namedReadHandles: this.#readersByName.size, readHandleFolders: this.#readersByName.folders,
      blockVersions: this.#blocks.versions, staleLocks: this.#staleLock.size,
      ...this.#writes?.sizes(),
    }
  }

  checkInvariants(): void {
    this.#inodes.checkInvariants(this.#dirs.nodes())
    this.#readersByName.checkAgainst([...this.#handles.values()].filter((h): h is ReadHandle => h.kind === 'read'))
    if (this.#budget.used < 0) throw new Error('negative buffered bytes')
  }

  // ---- helpers ----

  #attr(node: Inode): Attr {
    return node.kind === 'dir'
      ? dirAttr(node, this.#attrOptions, node === this.#root,
        this.#writes?.folderMtimeOf(node, node === this.#root) ??
          this.#keptMtimes?.getFolder(folderIdentityKey(node.remotePath), node === this.#root ? undefined : node.createdAtMs))
      : fileAttr(node, this.#attrOptions, this.#writes?.mtimeOf(node) ?? this.#keptMtimes?.get(node.fileId, node.versionId))
  }

  /**
   * The folders of these paths had an entry made, removed or renamed through the mount: each shows the time
   * of that change from now on, as on a local disk (W13). git's untracked cache, make and file managers take
   * an unchanged folder time to mean unchanged entries; ImageKit's folder updatedAt does not move with them.
   */
  #entriesChanged(...localPaths: string[]): void {
    const now = this.#clock.now()
    for (const parent of new Set(localPaths.map((p) => parentOf(p)[0]))) {
      const folder = this.#resolver.peek(parent)
      if (folder?.kind === 'dir') this.#writes!.rememberFolderMtime(folder.remotePath, now)
    }
  }

  #remotePathOf(localPath: string): string {
    return this.#destinations.knownRemotePath(localPath)
  }

  /** The local path of a remote folder; undefined when a name in it is not shown locally. */
  #localPathOf(remotePath: string): string | undefined {
    const names = remotePath.split('/').filter(Boolean).map((n) => this.#codec.toLocal(n))
    return names.some((n) => n === undefined) ? undefined : '/' + names.join('/')
  }
}

/** The longest version `readers` (open at one name) read through the page cache, when longer than `listed` and not it. */
function heldLonger(readers: Iterable<ReadHandle>, listed: FileInode): FileInode | undefined {
  let held: FileInode | undefined
  for (const h of readers) {
    if (h.bypassesPageCache || h.outdated || h.truncatedHere || h.node.isVersion || sameVersion(h.node, listed) || h.node.size <= listed.size) continue
    if (!held || h.node.size > held.size) held = h.node
  }
  return held
}

function sameVersion(a: FileInode, b: FileInode): boolean {
  return a.fileId === b.fileId && a.versionId === b.versionId
}

/** O_SYNC and O_DSYNC (Linux's O_SYNC is O_DSYNC plus a bit of its own): writes are durable when they return. */
function syncsWrites(flags: OpenFlags): boolean {
  return (flags & fsConstants.O_DSYNC) !== 0
}
