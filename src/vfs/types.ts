/**
 * The contract between the FUSE adapter (src/fuse) and the VFS (src/vfs). Path-based, like libfuse's
 * high-level API that fuse-native binds: `localPath` is the kernel's path inside the mount ("/", "/a/b.jpg").
 * Every method either resolves or rejects with a VfsError; anything else is a bug (the adapter answers EIO).
 */

export type NodeKind = 'file' | 'dir'

export interface Attr {
  /** Stable while mounted (the mount uses `use_ino`). */
  ino: number
  kind: NodeKind
  /** Permission bits only (e.g. 0o644); the adapter adds S_IFREG/S_IFDIR. */
  perm: number
  size: number
  nlink: number
  uid: number
  gid: number
  atimeMs: number
  mtimeMs: number
  ctimeMs: number
  birthtimeMs: number
  blksize: number
  /** 512-byte blocks. */
  blocks: number
}

export interface StatFs {
  /** Block size in bytes; chosen large so that counts fit in uint32 (fuse-native limit). */
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  namemax: number
}

export interface DirEntry {
  name: string
  attr: Attr
}

/** open/create flags as the kernel passes them (O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC, O_APPEND ...). */
export type OpenFlags = number

/**
 * Where a read's bytes go: `set(bytes, at)` as on a Uint8Array (a Uint8Array is one), so a binding can copy
 * block memory straight into the kernel request's buffer instead of through memory of its own.
 */
export interface ReadDestination {
  readonly length: number
  set(bytes: Uint8Array, at: number): void
}

/**
 * Whether the caller of a read has given up (its deadline answered the kernel): an AbortSignal is one, and so
 * is the plain flag the FUSE adapter passes (an AbortController costs microseconds, on every read request).
 */
export interface ReadCancel {
  readonly aborted: boolean
}

export interface Vfs {
  /**
   * When set, extended attributes exist only under this prefix and getxattr of any other name is ENOTSUP:
   * a binding may answer those without calling getxattr (the kernel asks for one before every write(2)).
   */
  readonly xattrNamespace?: string
  getattr(localPath: string): Promise<Attr>
  /** The attributes of an open handle's file (one unlinked while open has no path left). */
  getattrOpen(fh: number): Promise<Attr>
  /** Children of a folder (without "." and ".."); also primes getattr for each child. */
  readdir(localPath: string): Promise<DirEntry[]>
  /** `caller`: the process opening it (thread group id), when the binding knows it (see flush). */
  open(localPath: string, flags: OpenFlags, caller?: number): Promise<number>
  /**
   * Another handle on what handle `fh` has open (a file unlinked while open has no path to open by), with open(2)'s
   * `flags` (read-only when not given): for writing only a file being written that lost its name, else ESTALE.
   */
  reopen(fh: number, flags?: number): Promise<number>
  /**
   * True when the handle `open` just answered must not read through the kernel's page cache (FOPEN_DIRECT_IO):
   * the cache holds another version's pages for a handle still open there (R5).
   */
  bypassesPageCache?(fh: number): boolean
  /**
   * True when the handle `open` just answered does nothing at close(2) (flush: a reader of a stored version),
   * so the kernel need not send one (FOPEN_NOFLUSH).
   */
  closesWithoutFlush?(fh: number): boolean
  /** True when handle `fh` reads an old version (R9), which no unlink or rename over it removes (EACCES). */
  readsOldVersion?(fh: number): boolean
  /** Up to `length` bytes at `position`; a shorter result means end of file. */
  read(localPath: string, fh: number, length: number, position: number): Promise<Buffer>
  /**
   * Like read, but copies into `dest` (up to its length) and returns the byte count: for a caller that
   * has its own memory (libfuse's request buffer). Cheaper: the reader's block memory is then reused.
   * After `signal` is aborted (the op's deadline answered the kernel) `dest` is never written again.
   */
  readInto?(localPath: string, fh: number, dest: ReadDestination, position: number, signal?: ReadCancel): Promise<number>
  /** Last close of a handle. */
  release(localPath: string, fh: number): Promise<void>
  statfs(localPath: string): Promise<StatFs>
  listxattr(localPath: string): Promise<string[]>
  /** ENODATA when the attribute does not exist. */
  getxattr(localPath: string, name: string): Promise<Buffer>

  // Write side (issue 4). A read-only VFS rejects each with EROFS.
  /**
   * `flags`: the create's open flags, or undefined when the binding does not pass them (fuse-native): what
   * each asks of a name that exists is in vfs/create-flags.ts (O_EXCL: EEXIST).
   */
  create(localPath: string, mode: number, flags: OpenFlags | undefined, caller?: number): Promise<number>
  /**
   * `data` is lent until the returned promise settles (the adapter reuses the buffer afterwards): the VFS
   * must not keep it. Returns bytes written. `pageWriteback` (when the binding says): true for pages of a
   * shared memory map written back by the kernel, false for a write(2); an O_APPEND handle's write(2) goes to
   * the end of the file.
   */
  write(localPath: string, fh: number, data: Buffer, position: number, pageWriteback?: boolean): Promise<number>
  /**
   * A close(2) of a descriptor of the handle: also of a copy that another process inherited (a shell's
   * children), which is not the last close. `caller`, when known, is the process closing it. `stillMapped`,
   * when the binding can tell, says whether that process still maps the file shared and writable: the close
   * is then not the last either (the map writes on; the release after the unmap commits).
   */
  flush(localPath: string, fh: number, caller?: number, stillMapped?: () => Promise<boolean>): Promise<void>
  fsync(localPath: string, fh: number, dataOnly: boolean): Promise<void>
  truncate(localPath: string, size: number): Promise<void>
  ftruncate(localPath: string, fh: number, size: number): Promise<void>
  /** fallocate(2) on an open file (W16); `mode`: its FALLOC_FL_* bits. */
  fallocate(fh: number, mode: number, offset: number, length: number): Promise<void>
  unlink(localPath: string): Promise<void>
  mkdir(localPath: string, mode: number): Promise<void>
  rmdir(localPath: string): Promise<void>
  rename(fromLocalPath: string, toLocalPath: string): Promise<void>
  /**
   * copy_file_range: the bytes copied, when the whole of a stored file went to a new file of the same name in
   * another folder by ImageKit's copy API; ENOTSUP otherwise (the kernel then copies by reads and writes).
   */
  copyFileRange(fhIn: number, offIn: number, fhOut: number, offOut: number, length: number): Promise<number>
  /** `mtimeMs` NaN: not known (a binding that cannot deliver it); the file only has to exist. */
  utimens(localPath: string, atimeMs: number, mtimeMs: number): Promise<void>
  chmod(localPath: string, mode: number): Promise<void>
  /** utimens through an open handle whose file has lost its name (see getattrOpen); `mtimeMs` NaN: unchanged. */
  utimensOpen(fh: number, atimeMs: number, mtimeMs: number): Promise<void>
  /** chmod through an open handle whose file has lost its name. */
  chmodOpen(fh: number, mode: number): Promise<void>
  /**
   * truncate(2) by the path of a file that has lost its name (/proc/PID/fd/N), through one of its handles: the
   * file being written that the handle has open; ESTALE for a stored file opened only for reading.
   */
  truncateOpen(fh: number, size: number): Promise<void>
  chown(localPath: string, uid: number, gid: number): Promise<void>
  /** chown through an open handle whose file has lost its name: as chown, EPERM for another owner. */
  chownOpen(fh: number, uid: number, gid: number): Promise<void>
  setxattr(localPath: string, name: string, value: Buffer, flags: number): Promise<void>
  removexattr(localPath: string, name: string): Promise<void>

  /** Drops cached listings under `localPath` (all when omitted): SIGHUP / `ikfs refresh`. */
  forget(localPath?: string): void
  /**
   * The files of the cached listings at or under `localPath` (all when omitted), by local folder: those whose
   * attributes the kernel may hold, which a refresh has it ask for again.
   */
  cachedFiles(localPath?: string): Map<string, string[]>
  /**
   * Local paths of the files programs have open with changes no close or fsync has committed: what a stop
   * waits for (after detaching the mount) before it ends the session, since those changes exist nowhere else.
   */
  filesBeingWritten(): string[]
  /** Of those, the files with writes no close or fsync committed yet (what ending the session now loses). */
  filesWithUncommittedWrites(): string[]
  /**
   * The session has ended (the last file open in the detached mount was closed), so the releases the kernel
   * still had queued were dropped: the files whose last change was followed by a close that left its commit
   * to such a release are committed now, as that release would have; their local paths.
   */
  commitClosedFiles(): string[]
  /**
   * A stop has begun (the mount is detached, but programs holding a folder or file in it still reach it):
   * creating a file or opening one for writing fails with EROFS from now on (the mount is read-only to
   * them: open(2) has no "not connected"), except for the files being written, so that waiting for those ends. Reads, and the namespace changes a save ends with, still work.
   */
  refuseNewWrites(): void
  /** Waits for in-flight work (uploads) and frees resources; called once before unmount completes. */
  close(): Promise<void>
}

/** Options the CLI derives from config for the VFS. Durations in milliseconds. */
export interface VfsOptions {
  readOnly: boolean
  /** Folder listings are trusted this long (rclone mount --dir-cache-time, default 5 min). */
  dirCacheTimeMs: number
  filePerm: number
  dirPerm: number
  uid: number
  gid: number
  umask: number
  /** Show old versions beside each file (rclone's `versions` option). */
  versions: boolean
  /** rclone `encoding` option value (e.g. "Slash,LtGt,DoubleQuote,..."). */
  encoding: string
  /** Max bytes of the in-memory block cache shared by readers. */
  blockCacheBytes: number
  /**
   * Memory for the bytes of small files just uploaded, read back from there (spool/recent-bytes.ts); 0: none.
   * Absent: that module's default.
   */
  writtenCacheBytes?: number
  /** Max bytes buffered by all in-flight reads together. */
  maxBufferedBytes: number
  /** Max number of cached directory listings (nodes held by open handles stay). */
  maxCachedDirs: number
  /** Subfolders of a folder read by readdir listed ahead in the background (dir-prefetch.ts); 0 or absent: none. */
  dirPrefetch?: number
  /** Total size reported by statfs (no API exposes the plan's limit). */
  statfsTotalBytes: number
  /** How long account usage (for statfs) is cached. */
  statfsCacheTimeMs: number
  /** Spool for files being written (private 0700); pending uploads found here at start are completed. */
  cacheDir: string
  /** 0: close() waits for the upload. >0: close() returns at once; the upload starts after this delay. */
  writeBackDelayMs: number
  /** Tags sent with every upload (rclone `upload_tags`). */
  uploadTags: string[]
  /** Uploads running at once. */
  maxParallelUploads: number
  /**
   * Upload a file written sequentially from empty while it is written (chunked body), once it is
   * `streamThresholdBytes` large; only without write-back. Default on.
   */
  streamUploads?: boolean
  /** Default STREAM_THRESHOLD_BYTES (4 MiB). */
  streamThresholdBytes?: number
  /** How much of a streamed file is read before it is dropped from the page cache: default TRIM_STEP_BYTES (64 MiB). */
  streamTrimStepBytes?: number
  /**
   * Reads bypass the kernel's page cache (--direct-io): no handle's bytes are kept for the others, so a handle
   * open on a version the listing no longer shows keeps reading it (R5).
   */
  directIo?: boolean
  /** Start fetching a file's first block when it is opened for reading (saves a round trip of time to first byte). */
  prefetchOnOpen?: boolean
  /** Names the library (its URL endpoint): the spool is `<cacheDir>/<hash of this>/`, so libraries never share one. */
  libraryId?: string
  /** This boot of the machine (tests simulate a reboot); read from /proc when omitted. */
  bootId?: string
}

/** One file in the upload queue, for `ikfs status` and /metrics. */
export interface UploadStatus {
  localPath: string
  size: number
  sentBytes: number
  /**
   * writing: open in a program for writing, with changes that its close (or an fsync) has still to commit, or
   * none yet and no upload under way. rejected: refused by the library for good (over the size limit, or another
   * 400 such as a file type the account refuses); not tried again until written again, renamed, or the next mount.
   */
  state: 'writing' | 'waiting' | 'uploading' | 'retrying' | 'failed' | 'rejected' | 'empty'
  attempts: number
  lastError?: string
  /** rejected: the library's answer that refused the file for good (its message, with the request id). */
  refusal?: string
  /**
   * rejected, and the next mount leaves it so (refused as over the size limit and as large still, W6): tried again
   * only once written again or renamed. A rejected file without it is tried once more by the next mount (W3).
   */
  keptRejectedAtMount?: true
  /** When the next attempt is due (epoch ms), for retrying/failed entries. */
  nextAttemptAtMs?: number
  /**
   * waiting: what the upload waits for besides a slot. `delete`: the library's delete of a file unlinked at this
   * path while a program had it open for reading (W8), which must come first (an upload there before it would be
   * a version of the file it deletes).
   */
  waitsFor?: 'delete'
}

/** What a running mount reports about itself (`ikfs status`, /metrics). Counters are monotonic. */
export interface VfsStatus {
  counters: Record<string, number>
  uploads: UploadStatus[]
}
