/**
 * Modification times of the versions written or touched through the mount (the last write, or a time set by
 * utimens: `touch -m`, `cp -p`, `rsync -a`, `tar x`), remembered on this machine for the version of the file
 * they belong to. ImageKit keeps no such time (a file's updatedAt is when it was uploaded or last changed),
 * so without this a re-listed file shows its upload time again: `rsync -a` finds every file changed and sends
 * it once more on each run, a new version each time, and an editor that saved a file finds it changed since.
 *
 * Keyed by file id and version id (`versionInfo.id`): a new version of the file, written here or anywhere
 * else, no longer matches and shows its own updatedAt; renames and moves keep both ids, and so the time.
 * One time per file: only the current version's matters. A folder's is kept by its identity key (`d:` and its
 * remote path, never a file id) with, as its version, when it was set (ImageKit has no versions of folders):
 * a folder the API says was created later than that is another one made at that path (deleted and made again
 * by another client or through the API), and shows its own time (getFolder).
 *
 * Kept in one append-only file of JSON lines (`mtimes.log` in the library's spool folder, 0600), read back
 * at start and rewritten with only its live entries once mostly dead (a small file copied in writes two lines,
 * its time and its folder's, the folder's dead at the next file), from a copy synced before its rename. Appends
 * are not synced: a power loss loses only the times set last, never data. A clean unmount (close with `compact`) leaves the log compact: removed when no
 * time is kept, else rewritten with its live entries if it holds dead lines, crash-safe (tmp, fsync, rename,
 * fsync of the folder; an unlink and a sync of the folder), so a crash or power loss in between leaves the
 * old log or the new one, never one emptied by a rename whose data was not yet on disk. The mount that writes
 * the log does the same at start (compactAtStart), for a log a kill -9 or a crash left with its dead lines. A file deleted through the mount takes its time with it (a `{"f","gone"}`
 * line), so files that come and go do not fill memory and the log; past MAX_ENTRIES (files deleted
 * elsewhere stay until then) the times set longest ago are forgotten.
 */
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { DATA_FILE_MODE } from './spool.js'
import { fsyncDirSync, replaceWithLinesSync, WholeLines } from '../../full-disk.js'

export const MTIMES_LOG = 'mtimes.log'
/** About 100 bytes of memory each: 100 MB at the most. */
export const MAX_ENTRIES = 1_000_000
/**
 * How much later than its time was set a folder's createdAt may be and still be that folder: the API's clock
 * and this machine's differ (doctor fails beyond 30 s), and a folder made here is created when the API answers.
 */
export const FOLDER_CREATED_SLACK_MS = 2 * 60_000
/** The log is rewritten once it has this many more lines than live entries. */
const COMPACT_SLACK_LINES = 10_000

interface Entry {
  v: string
  m: number
}

function isLine(x: unknown): x is { f: string; v: string; m: number } {
  const l = x as { f?: unknown; v?: unknown; m?: unknown } | null
  return typeof l === 'object' && l !== null && typeof l.f === 'string' && typeof l.v === 'string' && Number.isFinite(l.m)
}

/** The line of a file deleted through the mount (mounts from before it skip it, as any foreign line). */
function isGoneLine(x: unknown): x is { f: string; gone: true } {
  const l = x as { f?: unknown; gone?: unknown } | null
  return typeof l === 'object' && l !== null && typeof l.f === 'string' && l.gone === true
}

export class LocalMtimes {
  readonly #dir: string
  readonly #path: string
  /** fileId → the version the time was set on, and the time; in the order they were set. */
  readonly #entries = new Map<string, Entry>()
  #fd: number | undefined
  #lines = 0
  /** After a rewrite failed (a full disk), the next is tried once the log has this many lines. */
  #compactAfterLines = 0
  readonly #writer = new WholeLines()

  /** `onError`: told when the log cannot be written (the time is still kept in memory). */
  constructor(dir: string, readonly onError: (e: unknown) => void, readonly maxEntries = MAX_ENTRIES) {
    this.#dir = dir
    this.#path = join(dir, MTIMES_LOG)
    this.#load()
  }

  /** The time set on this version of the file, if one was. */
  get(fileId: string, versionId: string): number | undefined {
    const e = this.#entries.get(fileId)
    return e !== undefined && e.v === versionId ? e.m : undefined
  }

  /**
   * The time set on the folder kept under `key` (set with setFolder), unless the folder there now, created at
   * `createdAtMs` (undefined: one that cannot have been made again, the root), is a newer one.
   */
  getFolder(key: string, createdAtMs: number | undefined): number | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    // '' : set by an ikfs that did not keep when; the folder's own then.
    const setAtMs = e.v === '' ? undefined : Number(e.v)
    if (setAtMs !== undefined && createdAtMs !== undefined && createdAtMs > setAtMs + FOLDER_CREATED_SLACK_MS) return undefined
    return e.m
  }

  /** A folder's time, set at `nowMs`. */
  setFolder(key: string, mtimeMs: number, nowMs: number): void {
    this.set(key, String(nowMs), mtimeMs)
  }

  set(fileId: string, versionId: string, mtimeMs: number): void {
    const e = this.#entries.get(fileId)
    if (e !== undefined && e.v === versionId && e.m === mtimeMs) return
    this.#entries.delete(fileId) // re-inserted last: the newest entry
    this.#entries.set(fileId, { v: versionId, m: mtimeMs })
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!)
    this.#log({ f: fileId, v: versionId, m: mtimeMs })
  }

  /** Files with a time kept. */
  get size(): number {
    return this.#entries.size
  }

  /** The file was deleted: its time goes (a file id is never used again). */
  forget(fileId: string): void {
    if (this.#entries.delete(fileId)) this.#log({ f: fileId, gone: true })
  }

  /**
   * Moves the times kept under `from` to `to`: the key itself, and the keys continuing it with '/' (a folder
   * renamed, kept by its path, takes its subfolders' times along). `version`, when given, replaces theirs (a
   * folder's: when it was moved, as the folders at the new path may be created then).
   */
  rekey(from: string, to: string, version?: string): void {
    const moved = [...this.#entries].filter(([k]) => k === from || k.startsWith(`${from}/`))
    for (const [k, e] of moved) {
      this.forget(k)
      this.set(to + k.slice(from.length), version ?? e.v, e.m)
    }
  }

  /**
   * `compact`: a clean unmount of the mount that writes the log (never a read-only one: it holds no spool lock)
   * leaves it compact (see above). A log that cannot be rewritten (a full disk) stays as it was, and is reported.
   */
  close(options: { compact?: boolean } = {}): void {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
    if (options.compact === true) this.#leaveCompact()
  }

  /**
   * Called by the mount that writes the log (it holds the spool lock; a read-only one only reads it), before its
   * first change: a log a kill -9 or a crash left with dead lines (no clean close compacted it) is compacted as
   * a clean close would, so it does not keep them until the next clean unmount or 10,000 more lines.
   */
  compactAtStart(): void {
    this.#leaveCompact()
  }

  /** No log when no time is kept, else one with the live entries only if it holds dead lines; crash-safe (see above). */
  #leaveCompact(): void {
    try {
      if (this.#entries.size === 0) {
        if (this.#lines === 0) return // none written, or an empty one
        if (this.#fd !== undefined) closeSync(this.#fd)
        this.#fd = undefined
        unlinkSync(this.#path)
        fsyncDirSync(this.#dir)
        this.#lines = 0
      } else if (this.#lines > this.#entries.size) {
        this.#compact(true)
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(e)
    }
  }

  #load(): void {
    let text: string
    try {
      text = readFileSync(this.#path, 'utf8')
    } catch {
      return // none yet (or unreadable: the times are lost, nothing else)
    }
    // A crash mid-append left a partial last line: the next line must not be glued onto it (and lost with it).
    if (text !== '' && !text.endsWith('\n')) this.#writer.endsTorn()
    for (const line of text.split('\n')) {
      if (line === '') continue
      this.#lines++
      try {
        const l: unknown = JSON.parse(line)
        if (isGoneLine(l)) this.#entries.delete(l.f)
        if (!isLine(l)) continue
        this.#entries.delete(l.f)
        this.#entries.set(l.f, { v: l.v, m: l.m })
      } catch {
        // a line torn by a crash: skipped
      }
    }
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!)
  }

  /**
   * Appends the line of a change, or rewrites the log instead once mostly dead. A rewrite that fails (a full
   * disk) is reported, the line appended all the same, and the next rewrite tried only COMPACT_SLACK_LINES later
   * (not at every line: each would write the whole log again).
   */
  #log(line: object): void {
    if (this.#lines - this.#entries.size > COMPACT_SLACK_LINES && this.#lines >= this.#compactAfterLines) {
      try {
        this.#compact()
        return
      } catch (e) {
        this.#compactAfterLines = this.#lines + COMPACT_SLACK_LINES
        this.onError(e)
      }
    }
    try {
      this.#append(JSON.stringify(line) + '\n')
    } catch (e) {
      this.onError(e)
    }
  }

  #append(text: string): void {
    this.#fd ??= openSync(this.#path, 'a', DATA_FILE_MODE)
    this.#writer.append(this.#fd, text, 'mtimes append')
    this.#lines++
  }

  /**
   * Rewrites the log with the live entries only: a temporary file, synced, renamed over it (a rename of a copy
   * not synced yet may leave an empty log after a power loss, on filesystems that do not flush it first: every
   * time lost, not only the last ones appended). `durably` (see close): the folder is synced too, so the dead
   * lines do not come back either.
   */
  #compact(durably = false): void {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
    // A copy that does not fit leaves the log as it was: it would lose the times that did not fit.
    replaceWithLinesSync(this.#path, this.#entryLines(), 'mtimes rewrite', { mode: DATA_FILE_MODE, sync: true })
    this.#lines = this.#entries.size
    this.#compactAfterLines = 0
    if (durably) fsyncDirSync(this.#dir)
  }

  *#entryLines(): Generator<string> {
    for (const [f, { v, m }] of this.#entries) yield JSON.stringify({ f, v, m }) + '\n'
  }
}
