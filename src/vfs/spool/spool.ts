/**
 * The spool: a private folder `<cacheDir>/<library id>/` holding the bytes of files being written
 * (`data/<id>`, 0600, see data-files.ts; emptied ones kept for reuse in `free/`, or in `kept/` where a kept copy
 * was emptied) and their journal (`journal/journal.log`, see journal.ts); folder renames in progress (`moves/`, see folder-moves.ts);
 * copies of files just stored, kept a while (`kept/`, see recent-copies.ts); modification times set through
 * the mount (`mtimes.log`, see mtimes.ts). The library id is a short hash of the URL endpoint, so mounts of
 * two libraries never share a spool while the same library finds its pending files again after a restart.
 *
 * A lock file (`lock`, created with O_EXCL, holding the pid) keeps two daemons off one spool; a lock
 * left by a dead process is taken over. Set up synchronously: it runs once, before the mount answers.
 */
import { createHash } from 'node:crypto'
import {
  chmodSync, closeSync, constants as fsConstants, existsSync, openSync, readdirSync, readFileSync, statSync, unlinkSync,
  writeFileSync, writeSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { fsyncDirSync } from '../../full-disk.js'
import { makeDirs } from '../../make-dirs.js'
import { VfsError } from '../errors.js'
import { liveOwner, ownerLine } from './owner.js'

const DIR_MODE = 0o700
export const DATA_FILE_MODE = 0o600
/** 12 hex digits of SHA-256: collisions between a user's libraries are not a concern at 48 bits. */
const LIBRARY_ID_HEX = 12

export function libraryIdOf(urlEndpoint: string): string {
  return createHash('sha256').update(urlEndpoint).digest('hex').slice(0, LIBRARY_ID_HEX)
}

/** What names a library's spool: VfsOptions.libraryId, or one shared default for a mount that gives none. */
export function libraryKeyOf(libraryId: string | undefined): string {
  return libraryId ?? 'default'
}

/** The spool folder of one library in `cacheDir` (one per library, so two libraries never share one). */
export function spoolDirOf(cacheDir: string, libraryKey: string): string {
  return join(cacheDir, libraryIdOf(libraryKey))
}

/** In each spool: the key of the library it belongs to (its URL endpoint), for messages about other spools. */
const LIBRARY_FILE = 'library'
const SPOOL_DIR_NAME = new RegExp(`^[0-9a-f]{${LIBRARY_ID_HEX}}$`)

/** A spool of another library in the same cache dir, with files written through a mount and not yet stored. */
export interface OtherSpool {
  dir: string
  /** Its library's key (the URL endpoint); undefined for a spool made before spools recorded it. */
  library: string | undefined
  /** Data files in it: files written and not yet stored (an upper bound: recovery drops any without a record). */
  files: number
}

/**
 * Spools in `cacheDir` other than `ownDir` that hold files not yet stored and that no live mount uses: the
 * files of a library that is mounted with another --endpoint now (a typo put right, a CNAME), stored only
 * when that library is mounted again. Best effort: a spool that cannot be read is passed over.
 */
export function idleSpoolsWithFiles(cacheDir: string, ownDir: string): OtherSpool[] {
  const found: OtherSpool[] = []
  let names: string[]
  try {
    names = readdirSync(cacheDir)
  } catch {
    return found
  }
  for (const name of names) {
    const dir = join(cacheDir, name)
    if (!SPOOL_DIR_NAME.test(name) || dir === ownDir) continue
    try {
      const files = readdirSync(join(dir, 'data')).length
      if (files === 0) continue
      const lock = readOptional(join(dir, 'lock'))
      if (lock !== undefined && liveOwner(lock) !== undefined) continue
      found.push({ dir, library: readOptional(join(dir, LIBRARY_FILE))?.trim() || undefined, files })
    } catch {
      // not a spool, or not readable: nothing to say about it
    }
  }
  return found
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

/**
 * mkdir -p with mode 0700, and chmod 0700 when it already existed with other modes. The name of each folder it
 * makes is synced (its parent folder's fsync), so that what the spool syncs inside survives a power loss too.
 */
function privateDir(path: string): void {
  const made: string[] = []
  for (let at = path; !existsSync(at) && dirname(at) !== at; at = dirname(at)) made.push(at)
  makeDirs(path, DIR_MODE)
  if ((statSync(path).mode & 0o777) !== DIR_MODE) chmodSync(path, DIR_MODE)
  for (const dir of made) syncName(dir)
}

/** Best effort: a parent folder this user may write but not read (mode 0333) cannot be opened to be synced. */
function syncName(dir: string): void {
  try {
    fsyncDirSync(dirname(dir))
  } catch {
    // left to the file system's own writeback, as before
  }
}

export class Spool {
  readonly dir: string
  readonly dataDir: string
  readonly freeDir: string
  readonly keptDir: string
  readonly journalDir: string
  readonly movesDir: string
  /** Deletes answered before they were done (pending-deletes.ts). */
  readonly deletesDir: string
  readonly #lockFile: string
  #locked = false

  constructor(cacheDir: string, libraryKey: string) {
    this.dir = spoolDirOf(cacheDir, libraryKey)
    this.dataDir = join(this.dir, 'data')
    this.freeDir = join(this.dir, 'free')
    this.keptDir = join(this.dir, 'kept')
    this.journalDir = join(this.dir, 'journal')
    this.movesDir = join(this.dir, 'moves')
    this.deletesDir = join(this.dir, 'deletes')
    this.#lockFile = join(this.dir, 'lock')
    try {
      privateDir(cacheDir)
      privateDir(this.dir)
      privateDir(this.dataDir)
      privateDir(this.freeDir)
      privateDir(this.keptDir)
      privateDir(this.journalDir)
      privateDir(this.movesDir)
      privateDir(this.deletesDir)
    } catch (e) {
      throw new VfsError('EACCES', `cannot use the spool folder ${this.dir}: ${(e as Error).message}`, { cause: e, level: 'error' })
    }
    this.#lock()
    this.#recordLibrary(libraryKey)
  }

  /** Best effort: the file only names the library in messages about this spool. */
  #recordLibrary(libraryKey: string): void {
    const path = join(this.dir, LIBRARY_FILE)
    try {
      if (readOptional(path) !== `${libraryKey}\n`) writeFileSync(path, `${libraryKey}\n`, { mode: DATA_FILE_MODE })
    } catch {
      // a spool whose library is not named is still a spool
    }
  }

  #lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.#lockFile, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, DATA_FILE_MODE)
        writeSync(fd, ownerLine())
        closeSync(fd)
        this.#locked = true
        return
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const pid = liveOwner(readFileSync(this.#lockFile, 'utf8'))
      // Our own pid: a previous Vfs of this process that was not closed (tests simulate crashes so).
      if (pid !== undefined && pid !== process.pid) {
        throw new VfsError('EBUSY', `spool ${this.dir} is in use by process ${pid} (another ikfs mount of this library)`, { level: 'error' })
      }
      unlinkSync(this.#lockFile) // stale: its process is gone (or is another one by now)
    }
    throw new VfsError('EBUSY', `cannot lock the spool ${this.dir}`, { level: 'error' })
  }

  unlock(): void {
    if (!this.#locked) return
    this.#locked = false
    try {
      unlinkSync(this.#lockFile)
    } catch {
      // already gone: nothing to release
    }
  }
}
