/**
 * The spool's data files (`data/<id>`, 0600): one per file being written, removed once its upload landed.
 *
 * A removed file is kept for reuse instead, up to FREE_FILES_MAX of them: emptied, still open, moved to
 * `free/`. Creating and deleting a file per upload costs more than uploading a small file on some
 * filesystems (ext4 without a journal scans the recently freed inodes of a block group on every create,
 * about a millisecond each after a few thousand deletes), and every create or delete is a thread-pool round
 * trip; a reused file costs one rename. Files in `free/` are empty and belong to nobody: start-up deletes
 * whatever a crash left there. A kept copy's file (`kept/`, recent-copies.ts) is emptied where it is when it
 * goes, and renamed from there at its reuse: `kept/` is emptied at start-up too. The renames are synchronous: metadata only, microseconds. So is emptying a
 * small file (its pages dropped, its few blocks freed): a thread-pool round trip cost several times more
 * CPU than the truncate itself, once per small file copied in. A large file is emptied in the thread pool,
 * and so is one whose bytes were synced (noteSynced): its blocks are on disk then, and freeing them waits for
 * the filesystem's journal, about a millisecond per file on ext4 while other syncs run (`cp -r` with
 * --write-back synced every file, and each truncate stopped the daemon for that long).
 *
 * Ids are this process's random prefix and a counter: unique without asking the system for random bytes
 * for every file.
 *
 * A name new in `data/` (a create, a rename or link into it) survives a power loss only once the folder is
 * synced, whatever the file's own fsync did (ext4 often saves it; xfs, btrfs and others need not): a record
 * promising the file's bytes is only worth its sync once `syncNames()` resolved. Shared like the journal's
 * syncs (group-sync.ts): one fsync of the folder covers every name placed before it, and none runs when no
 * name is new.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fstatSync, fsync, ftruncateSync, openSync, readdirSync, renameSync, unlinkSync } from 'node:fs'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { DATA_FILE_MODE } from './spool.js'
import { GroupSync } from './group-sync.js'
import type { Journal } from './journal.js'

const fsyncAsync = promisify(fsync)

/** Enough for every upload in flight to leave its file behind for the next one (transfers is at most 64). */
export const FREE_FILES_MAX = 64
/** Files up to this size are emptied synchronously when kept for reuse. */
const SYNC_TRUNCATE_MAX_BYTES = 1024 * 1024

export class DataFiles {
  /** Emptied files kept open for reuse, where they are (in free/, or where their owner left them: `owned`). */
  readonly #free: { path: string; fh: FileHandle }[] = []
  /** Data files whose bytes were fdatasync'ed: their blocks are allocated on disk. */
  readonly #bytesSynced = new Set<string>()
  readonly #idPrefix = randomBytes(8).toString('hex')
  #ids = 0
  /** `data/` itself, opened for its first sync and kept open for the next (see above). */
  #dirFd: number | undefined
  /** Set by close(): no file is kept for reuse from then on. */
  #closed = false
  /** Syncs of `data/`, covering the names placed there. */
  readonly #names = new GroupSync(async () => {
    this.#dirFd ??= openSync(this.dataDir, 'r')
    await fsyncAsync(this.#dirFd)
  })

  constructor(readonly dataDir: string, readonly freeDir: string) {
    for (const name of readdirSync(freeDir)) unlinkSync(join(freeDir, name))
  }

  /** A name was placed in `data/` (created, renamed or linked there): the next syncNames syncs the folder. */
  placed(): void {
    this.#names.wrote()
  }

  /** Resolves once every name placed in `data/` before the call survives a power loss (see above). */
  syncNames(): Promise<void> {
    return this.#names.covered()
  }

  /** A fresh id for a data file + journal record. */
  newId(): string {
    return `${this.#idPrefix}${(++this.#ids).toString(16)}`
  }

  path(id: string): string {
    return join(this.dataDir, id)
  }

  /** A new, empty data file, open for reading and writing. */
  async create(): Promise<{ id: string; fh: FileHandle }> {
    const id = this.newId()
    const free = this.#free.pop()
    if (free) {
      try {
        renameSync(free.path, this.path(id))
        this.placed()
        return { id, fh: free.fh }
      } catch {
        await free.fh.close().catch(() => undefined)
      }
    }
    const fh = await open(this.path(id), 'wx+', DATA_FILE_MODE)
    this.placed()
    return { id, fh }
  }

  /** The bytes of data file `id` were synced to disk (emptying it costs a wait for the disk's journal then). */
  noteSynced(id: string): void {
    this.#bytesSynced.add(id)
  }

  /**
   * Removes a data file nobody needs any more (`fh`: its handle, when still open; `at`: where it is, when not
   * in data/); kept for reuse while there is room. Safe to call twice for one id: whoever moves the file away
   * first owns it, and only then empties it, so a stale handle can never truncate a file that already belongs
   * to someone else. `owned`: the caller owns the file at `at` already, and nobody else can reach it there (a
   * spool copy recent-copies.ts evicts, out of its map before this is called, in `kept/`, which a start-up
   * empties): it is emptied where it is, without a rename, and the next create renames it from there into
   * data/. So a small file copied in costs two renames (into data/, then into kept/), not three.
   */
  async remove(id: string, fh?: FileHandle, at = this.path(id), owned = false): Promise<void> {
    const synced = this.#bytesSynced.delete(id)
    let path = at
    if (this.#free.length < FREE_FILES_MAX && !this.#closed) {
      try {
        fh ??= await open(at, 'r+')
        if (!owned) {
          renameSync(at, join(this.freeDir, id))
          path = join(this.freeDir, id)
        }
        if (!synced && fstatSync(fh.fd).size <= SYNC_TRUNCATE_MAX_BYTES) ftruncateSync(fh.fd, 0)
        else await fh.truncate(0)
        if (!this.#closed) {
          this.#free.push({ path, fh })
          return
        }
        // Closed while this waited (unmount): kept now, it would never be closed (node closes it when collected,
        // with a DEP0137 warning); closed and deleted below, as close() does with those kept before.
      } catch {
        // gone already, or not reusable: closed and deleted below
      }
    }
    await fh?.close().catch(() => undefined)
    await unlink(path).catch(() => undefined)
  }

  /** Closes and deletes the kept files (unmount). */
  async close(): Promise<void> {
    this.#closed = true
    await this.#names.settled()
    if (this.#dirFd !== undefined) closeSync(this.#dirFd)
    this.#dirFd = undefined
    for (const { path, fh } of this.#free.splice(0)) {
      await fh.close().catch(() => undefined)
      await unlink(path).catch(() => undefined)
    }
  }
}

/**
 * Removes the data file of a record the journal dropped (Journal.remove, resolved or not) once the log no
 * longer holds the record's put: at once, or, when the log could not take the removal yet (its disk full),
 * after it did (Journal.whenRemoved). Never before: a crash would bring back the record without its bytes, and
 * the next mount would report an upload lost. `fh` (the file's handle, given up by the caller) is closed either way.
 */
export async function removeUnrecorded(journal: Journal, dataFiles: DataFiles, id: string, fh?: FileHandle): Promise<void> {
  if (!journal.isUnremoved(id)) return dataFiles.remove(id, fh)
  void journal.whenRemoved(id)
    .then((removed) => (removed ? dataFiles.remove(id, fh) : fh?.close()))
    .catch(() => undefined)
}
