/**
 * The VFS facade: one method per FUSE op, each a few lines delegating to the module that owns it.
 *
 *   names ............ name.ts (rclone `encoding`), versions.ts (--versions naming)
 *   metadata ......... dir-cache.ts (listing LRU, TTL, coalescing) → dir-node.ts (one listing) →
 *                      inode.ts / inode-table.ts (numbers, pins); resolver.ts walks paths;
 *                      attrs.ts, xattr.ts, statfs.ts answer from memory
 *   content .......... handles/ (fh table, ReadHandle) → reader/ (FileReader per version, RangeStream,
 *                      BlockCache) under budget.ts (global cap on buffered bytes)
 *   errors ........... from-imagekit-error.ts (the one ImageKitError → VfsError translation)
 *
 * Concurrency (one thread; every await lets another op in): shared maps (listing LRU, in-flight
 * listings, handle table, pins, reader pool) are only mutated in synchronous stretches. The one lock
 * is a KeyedMutex per fileId around the stale-content check, so concurrent reads of a changed file
 * ask the API once. No op holds it while taking another.
 *
 * Write ops are the next issue: they reject with EROFS (readOnly) or ENOSYS. The handle table is
 * generic so write handles can join ReadHandle.
 */
import { constants as fsConstants } from 'node:fs'
import { systemClock, type Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { Logger } from '../log.js'
import { dirAttr, fileAttr, type AttrOptions } from './attrs.js'
import { ByteBudget } from './budget.js'
import { DirCache } from './dir-cache.js'
import { isVfsError, VfsError } from './errors.js'
import { fromImageKitError } from './from-imagekit-error.js'
import { HandleTable } from './handles/handle-table.js'
import { ReadHandle } from './handles/read-handle.js'
import { DirInode, ROOT_INO, type FileInode, type Inode } from './inode.js'
import { InodeTable } from './inode-table.js'
import { KeyedMutex } from './lock.js'
import { EncodingError, NameCodec, splitLocalPath } from './name.js'
import { BlockCache } from './reader/block-cache.js'
import type { FileReader } from './reader/file-reader.js'
import { ReaderPool } from './reader/reader-pool.js'
import { Resolver } from './resolver.js'
import { Counters, type VfsStats } from './stats.js'
import { StatfsSource } from './statfs.js'
import type { Attr, DirEntry, OpenFlags, StatFs, Vfs, VfsOptions } from './types.js'
import { WarnOnce } from './warn-once.js'
import { getXattr, isKnownXattr, listXattrs } from './xattr.js'

export type { VfsStats } from './stats.js'

export interface VfsDeps {
  logger: Logger
  clock?: Clock
}

export type IkVfs = Vfs & {
  stats(): VfsStats
  /** Throws if inode bookkeeping is inconsistent (unit tests call it after each op). */
  checkInvariants(): void
}

const O_ACCMODE = 3

export function createVfs(api: ImageKitApi, options: VfsOptions, deps: VfsDeps): IkVfs {
  return new ImageKitVfs(api, options, deps)
}

class ImageKitVfs implements IkVfs {
  readonly #api: ImageKitApi
  readonly #options: VfsOptions
  readonly #log: Logger
  readonly #counters = new Counters()
  readonly #codec: NameCodec
  readonly #inodes = new InodeTable()
  readonly #root: DirInode
  readonly #dirs: DirCache
  readonly #resolver: Resolver
  readonly #attrOptions: AttrOptions
  readonly #statfs: StatfsSource
  readonly #budget: ByteBudget
  readonly #blocks: BlockCache
  readonly #readers: ReaderPool
  readonly #handles = new HandleTable<ReadHandle>()
  readonly #staleLock = new KeyedMutex()

  constructor(api: ImageKitApi, options: VfsOptions, deps: VfsDeps) {
    const clock = deps.clock ?? systemClock
    this.#api = api
    this.#options = options
    this.#log = deps.logger.child({ component: 'vfs' })
    this.#codec = new NameCodec(options.encoding)
    const mountTimeMs = clock.now()
    this.#root = new DirInode(ROOT_INO, '/', mountTimeMs, mountTimeMs)
    this.#attrOptions = { ...options, mountTimeMs }
    this.#dirs = new DirCache(
      api, clock, { codec: this.#codec, inodes: this.#inodes, warn: new WarnOnce(this.#log) }, this.#counters,
      {
        ttlMs: options.dirCacheTimeMs, maxDirs: options.maxCachedDirs, versions: options.versions,
        onListing: (folder, items, ms) => this.#log.debug({ folder, items, ms }, 'listing folder'),
      },
    )
    this.#resolver = new Resolver(this.#root, this.#dirs)
    this.#statfs = new StatfsSource(api, clock, this.#log, {
      totalBytes: options.statfsTotalBytes, cacheTimeMs: options.statfsCacheTimeMs,
    })
    this.#budget = new ByteBudget(options.maxBufferedBytes)
    this.#blocks = new BlockCache(options.blockCacheBytes)
    this.#readers = new ReaderPool({ api, cache: this.#blocks, budget: this.#budget, counters: this.#counters })
  }

  // ---- metadata ----

  async getattr(localPath: string): Promise<Attr> {
    return this.#attr(await this.#resolver.resolve(localPath))
  }

  async readdir(localPath: string): Promise<DirEntry[]> {
    const dir = await this.#resolver.resolveDir(localPath)
    const listing = await this.#dirs.listing(dir)
    const entries: DirEntry[] = []
    for (const [name, node] of listing.children) entries.push({ name, attr: this.#attr(node) })
    return entries
  }

  async statfs(_localPath: string): Promise<StatFs> {
    return this.#statfs.statfs(this.#dirs.entryCount + this.#inodes.pinnedCount)
  }

  async listxattr(localPath: string): Promise<string[]> {
    return listXattrs(await this.#resolver.resolve(localPath))
  }

  async getxattr(localPath: string, name: string): Promise<Buffer> {
    // Unknown names (security.capability before every write, ACLs ...) never cost a lookup.
    if (!isKnownXattr(name)) throw new VfsError('ENODATA', `no attribute ${name}`)
    return getXattr(await this.#resolver.resolve(localPath), name)
  }

  // ---- content ----

  async open(localPath: string, flags: OpenFlags): Promise<number> {
    if ((flags & O_ACCMODE) !== fsConstants.O_RDONLY || (flags & fsConstants.O_TRUNC) !== 0) {
      throw this.#writeRejected('open for writing', localPath)
    }
    const node = await this.#resolver.resolve(localPath)
    if (node.kind === 'dir') throw new VfsError('EISDIR', `open ${localPath}: is a folder`)
    // Synchronous from here: pin, reader and handle appear together.
    this.#inodes.pin(node)
    const reader = this.#readers.acquire({
      fileId: node.fileId, versionId: node.versionId, size: node.size,
      filePath: node.remotePath, url: node.url, isPrivateFile: node.isPrivateFile,
    })
    const handle = this.#handles.add((fh) => new ReadHandle(fh, node, reader, (n, r) => this.#onStale(n, r)))
    return handle.fh
  }

  async read(_localPath: string, fh: number, length: number, position: number): Promise<Buffer> {
    const handle = this.#handles.get(fh)
    try {
      return await handle.read(length, position)
    } catch (e) {
      // The file vanished remotely: the next lookup must re-list instead of trusting the cached listing.
      if (isVfsError(e) && e.code === 'ENOENT') this.#dirs.expire(parentRemotePath(handle.node.remotePath))
      throw e
    }
  }

  async release(_localPath: string, fh: number): Promise<void> {
    const handle = this.#handles.remove(fh)
    this.#readers.release(handle.reader)
    this.#inodes.unpin(handle.node)
  }

  /** A response disagreed with the listing: re-check the file once; retry only for the same version. */
  #onStale(node: FileInode, reader: FileReader): Promise<'retry' | VfsError> {
    return this.#staleLock.run(node.fileId, async () => {
      this.#dirs.expire(parentRemotePath(node.remotePath)) // new opens re-list and see what is current
      const changed = new VfsError('EIO', `read ${node.remotePath}: the file changed or its delivery is stale; reopen to read the current version`)
      if (node.isVersion) return changed
      try {
        const current = await this.#api.getFileDetails(node.fileId)
        if (current.versionInfo.id === node.versionId && current.size === node.size && current.url !== node.url) {
          reader.updateUrl(current.url)
          return 'retry'
        }
        this.#log.warn({ path: node.remotePath, fileId: node.fileId }, 'read refused: delivered size differs from the listing')
        return changed
      } catch (e) {
        return fromImageKitError(e, { op: 'read', target: node.remotePath, openHandle: true })
      }
    })
  }

  // ---- write side: issue 4 ----

  #writeRejected(op: string, localPath: string): VfsError {
    return this.#options.readOnly
      ? new VfsError('EROFS', `${op} ${localPath}: read-only mount`, { level: 'debug' })
      : new VfsError('ENOSYS', `${op} ${localPath}: writing is not implemented yet`, { level: 'debug' })
  }
  async create(localPath: string): Promise<number> {
    throw this.#writeRejected('create', localPath)
  }
  async write(localPath: string): Promise<number> {
    throw this.#writeRejected('write', localPath)
  }
  async flush(_localPath: string, fh: number): Promise<void> {
    this.#handles.get(fh) // read handles have nothing to flush
  }
  async fsync(_localPath: string, fh: number): Promise<void> {
    this.#handles.get(fh)
  }
  async truncate(localPath: string): Promise<void> {
    throw this.#writeRejected('truncate', localPath)
  }
  async ftruncate(localPath: string): Promise<void> {
    throw this.#writeRejected('ftruncate', localPath)
  }
  async unlink(localPath: string): Promise<void> {
    throw this.#writeRejected('unlink', localPath)
  }
  async mkdir(localPath: string): Promise<void> {
    throw this.#writeRejected('mkdir', localPath)
  }
  async rmdir(localPath: string): Promise<void> {
    throw this.#writeRejected('rmdir', localPath)
  }
  async rename(fromLocalPath: string): Promise<void> {
    throw this.#writeRejected('rename', fromLocalPath)
  }
  async utimens(localPath: string): Promise<void> {
    throw this.#writeRejected('utimens', localPath)
  }
  async chmod(localPath: string): Promise<void> {
    throw this.#writeRejected('chmod', localPath)
  }
  async chown(localPath: string): Promise<void> {
    throw this.#writeRejected('chown', localPath)
  }
  async setxattr(localPath: string): Promise<void> {
    throw this.#writeRejected('setxattr', localPath)
  }
  async removexattr(localPath: string): Promise<void> {
    throw this.#writeRejected('removexattr', localPath)
  }

  // ---- lifecycle ----

  forget(localPath?: string): void {
    if (localPath === undefined) return this.#dirs.forget()
    try {
      this.#dirs.forget(this.#remotePathOf(localPath))
    } catch (e) {
      if (!(e instanceof EncodingError)) throw e
      this.#dirs.forget() // an unrepresentable path cannot be cached: dropping all is still correct
    }
  }

  async close(): Promise<void> {
    this.#readers.closeAll()
    this.#handles.clear()
    this.#dirs.clear()
    this.#blocks.clear()
  }

  stats(): VfsStats {
    const c = this.#counters
    const looked = c.blockCacheHits + c.blockCacheMisses
    return {
      listingsFetched: c.listingsFetched,
      listingItems: c.listingItems,
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
      bufferedBytes: this.#budget.used,
      peakBufferedBytes: this.#budget.peak,
      openHandles: this.#handles.size,
      openReaders: this.#readers.size,
    }
  }

  checkInvariants(): void {
    this.#inodes.checkInvariants(this.#dirs.nodes())
    if (this.#budget.used < 0) throw new Error('negative buffered bytes')
  }

  // ---- helpers ----

  #attr(node: Inode): Attr {
    return node.kind === 'dir'
      ? dirAttr(node, this.#attrOptions, node === this.#root)
      : fileAttr(node, this.#attrOptions)
  }

  #remotePathOf(localPath: string): string {
    return '/' + splitLocalPath(localPath).map((n) => this.#codec.toRemote(n)).join('/')
  }
}

function parentRemotePath(remotePath: string): string {
  const i = remotePath.lastIndexOf('/')
  return i <= 0 ? '/' : remotePath.slice(0, i)
}
