/**
 * The spool's memory of files whose newest bytes are not stored remotely yet: one append-only file of JSON
 * lines (`journal/journal.log`, 0600), `{"put":record}` when a file is committed or changes state and
 * `{"del":id}` once its upload landed. At start the live records are read back, those files shown and
 * their uploads queued. Records hold names, sizes, ids and the tags and metadata set through the mount: never
 * a key, a URL or an Authorization header.
 *
 * Two kinds of `put`:
 * - durable (`write`): appended and fdatasync'ed before it resolves. Used when close returns before the
 *   upload (write-back, empty files), for fsync, and once an upload failed. Removing a durable record is
 *   synced too, so a power loss never brings back a record whose data file is already gone.
 * - in flight (`writeInflight`): the upload runs inside close(2), so the record only has to outlive the
 *   process, not the machine: a synchronous append into the page cache (microseconds), no sync. After a
 *   kill -9 the next mount finishes the upload; after a crash of the machine (another boot id) the record
 *   is dropped, because neither it nor the bytes were ever synced and close had promised nothing.
 * Syncs are shared (group commit, group-sync.ts): a record appended while a sync is in flight waits for that one, and
 * every record appended meanwhile is then covered by one more sync, so N files closed together cost about
 * two syncs of the log, not N, and a removal's sync joins the next commit's. That one more sync syncs the log
 * as it is when it starts: a compaction since then replaced the file, but it synced every line it wrote (the
 * new file, then its name) itself, so only the lines appended to the new file are left to sync. (Synced lines
 * are not durable records: an in-flight record is rewritten as one, with its boot, and stays in flight.) A descriptor a compaction
 * replaces stays open while a sync on it runs (its number must not go to another file meanwhile).
 * A line is appended with one write(2) on an O_APPEND descriptor, synchronously (a page-cache write of a few
 * hundred bytes), so appends never overlap: a crash can only tear the last one, whose operation had then not
 * completed; unreadable lines are skipped. A write the disk cannot take whole (it is full) is cut off again
 * (ftruncate to the length before it) and fails, so no torn line is left for the next one to be glued onto.
 * A record leaves memory only once its del line is in the log. One whose del the log could not take (a full
 * disk), or whose del's sync failed (EIO, ENOSPC: the disk may not have it), is gone for the daemon all the same,
 * but noted as unremoved: its del goes in ahead of the next line appended (synced, for a durable record), or a
 * rewrite leaves its put out, and until then its data file stays (whenRemoved), so a crash meanwhile brings back
 * the record with its bytes, never one whose bytes were deleted (reported as a lost upload).
 *
 * The log is rewritten with only its live records (tmp file, fsync, rename, fsync of the folder) at start
 * and whenever its dead lines outweigh the live ones, so it grows with the files in flight, not with the
 * files ever written. A clean close leaves it compact too: removed when no record is left (after the final
 * sync, an unlink and a sync of the folder), else rewritten with its live records if it holds dead lines.
 * A rewrite while mounted (compaction or close) keeps each record as durable as it was: an in-flight one is
 * written with its boot again, as its data file was never synced (a crash of the machine must drop it, not
 * upload bytes that may be torn). Only start-up's makes them all durable, having synced those data files.
 * A crash anywhere in either leaves the old log, whose every line was synced by then, or the new one. Once
 * renamed, lines go to the new log even when the folder's sync then fails; that sync is retried with the log's
 * next one, and until it succeeds the rewrite removes nothing (unremoved records stay so). Before this log, each record was a file `journal/<id>.json`; those are still read
 * at start and folded into the log.
 */
import {
  closeSync, fdatasync, fstatSync, fsyncSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { isRecord, type JournalRecord } from './record.js'
import { currentBootId } from './owner.js'
import { fsyncDirSync, replaceWithLinesSync, WholeLines } from '../../full-disk.js'
import { DATA_FILE_MODE } from './spool.js'
import { GroupSync } from './group-sync.js'

export type { JournalRecord, RecordState } from './record.js'

export const JOURNAL_LOG = 'journal.log'
/** The log is compacted once it is this large and holds more dead lines than live ones. */
const COMPACT_MIN_BYTES = 256 * 1024

const fdatasyncAsync = promisify(fdatasync)

/** Makes what was written to a descriptor durable (fdatasync; tests count the calls). */
export type SyncFd = (fd: number) => Promise<void>

type Line = { put: JournalRecord; boot?: string } | { del: string }

interface Live {
  record: JournalRecord
  durable: boolean
  bytes: number
}

/** A record removed whose del line the log could not take (see #unremoved). */
interface Unremoved {
  durable: boolean
  /** true once the log no longer holds its put (whenRemoved). */
  done: Promise<boolean>
  settle(removed: boolean): void
}

const delLine = (id: string): string => JSON.stringify({ del: id } satisfies Line) + '\n'

export class Journal {
  readonly #path: string
  readonly #bootId: string
  readonly #live = new Map<string, Live>()
  #fd: number | undefined
  /** The log's length (for compaction): every append goes through #append, which keeps it. */
  #bytes = 0
  #liveBytes = 0
  readonly #syncFd: SyncFd
  /** The log's syncs, and the one running now with the descriptor it syncs. */
  readonly #syncs = new GroupSync(() => this.#syncLog())
  #syncing: { fd: number; done: Promise<void> } | undefined
  /** The last rewrite's rename may not be durable yet (its sync of the folder failed): see #syncLog. */
  #dirUnsynced = false
  /** After a rewrite failed (a full disk), the next is tried once the log has grown this long. */
  #compactAfterBytes = 0
  readonly #lines = new WholeLines()
  /**
   * Records removed whose del line the log could not take (its disk full): gone from the live records, but the
   * log's last word on them is still their put, which the next mount would find after a crash. Their del goes
   * in ahead of the next line appended, or a rewrite leaves them out; until then their data files must stay.
   */
  readonly #unremoved = new Map<string, Unremoved>()
  /** Rewrites of the log so far (each durable: a removal's del synced or not, its put is gone then). */
  #rewrites = 0

  constructor(readonly dir: string, bootId = currentBootId(), syncFd: SyncFd = fdatasyncAsync) {
    this.#path = join(dir, JOURNAL_LOG)
    this.#bootId = bootId
    this.#syncFd = syncFd
  }

  /** Files with a record. */
  get size(): number {
    return this.#live.size
  }

  /** Whether the file has a record (durable or not): the next mount would find it after a kill -9. */
  has(id: string): boolean {
    return this.#live.has(id)
  }

  /** Whether the file has a record that survives a power loss (its next commit must be durable too). */
  isDurable(id: string): boolean {
    return this.#live.get(id)?.durable === true
  }

  /** The file's record when it survives a power loss: what the next mount finds for it after a crash. */
  durableRecord(id: string): JournalRecord | undefined {
    const live = this.#live.get(id)
    return live?.durable === true ? live.record : undefined
  }

  /** Appends a record and syncs it: it survives a crash of the process or of the machine. */
  async write(record: JournalRecord): Promise<void> {
    this.#put(record, true)
    await this.#syncs.sync()
    this.#maybeCompact()
  }

  /** Appends a record that must only outlive the process (see above); never for a file with a durable record. */
  writeInflight(record: JournalRecord): void {
    if (this.isDurable(record.id)) throw new Error(`journal: ${record.id} has a durable record`)
    this.#put(record, false)
    this.#maybeCompact()
  }

  /**
   * Notes in a file's record that an upload attempt begun at `sinceMs` may store it (JournalRecord
   * mayBeStoredSinceMs), before the attempt is sent. Appended without a sync: the record keeps its durability,
   * and a power loss may take the note (the record is found as it was synced). No I/O when the file has no
   * record or it notes an attempt begun no later.
   */
  noteAttempt(id: string, sinceMs: number): void {
    const live = this.#live.get(id)
    const noted = live?.record.mayBeStoredSinceMs
    if (!live || (noted !== undefined && noted <= sinceMs)) return
    this.#put({ ...live.record, mayBeStoredSinceMs: sinceMs }, live.durable)
    this.#maybeCompact()
  }

  /**
   * Notes in a file's record that an unlink of it is under way (JournalRecord unlinking), or, `false`, that it
   * failed: the record stays what it was otherwise (never the file's state now, which may hold writes no close
   * committed), and as durable as it was (synced when it survives a power loss). No I/O when it has none.
   */
  async noteUnlinking(id: string, unlinking: boolean, unlinkedVersionId?: string): Promise<void> {
    const live = this.#live.get(id)
    if (!live) return
    const { unlinking: _, unlinkedVersionId: _version, ...record } = live.record
    this.#put(unlinking ? { ...record, unlinking: true, ...(unlinkedVersionId !== undefined ? { unlinkedVersionId } : {}) } : record, live.durable)
    if (live.durable) await this.#syncs.sync()
    this.#maybeCompact()
  }

  /**
   * Drops a file's record (no I/O when it has none): its del line first, then the record leaves memory. When the
   * line cannot be appended (the disk full), or a durable record's del cannot be synced, the record leaves the
   * live ones all the same (a rewrite leaves it out) but is noted as unremoved: its del goes in ahead of the next
   * line appended (isUnremoved, whenRemoved), and this rejects. The caller keeps the data file meanwhile: a crash before then
   * brings back the put, and its bytes must be there (else the next mount reports an upload lost that was not).
   */
  async remove(id: string): Promise<void> {
    const live = this.#live.get(id)
    if (!live) return
    try {
      this.#append(delLine(id))
    } catch (e) {
      this.#forget(id, live)
      this.#noteUnremoved(id, live.durable)
      throw e
    }
    this.#forget(id, live)
    if (live.durable) {
      const rewrites = this.#rewrites
      try {
        await this.#syncs.sync()
      } catch (e) {
        // A rewrite since left the put out, durably: removed all the same.
        if (this.#rewrites !== rewrites) return
        // The del is in the log, but its sync failed: a power loss may leave the put the last word, so the
        // data file must stay as for a del the log could not take (a del goes in again ahead of the next line,
        // synced; or a rewrite leaves the put out). Unless committed again meanwhile: its put is live again.
        if (!this.#live.has(id) && !this.#unremoved.has(id)) this.#noteUnremoved(id, true)
        throw e
      }
    }
    this.#maybeCompact()
  }

  #noteUnremoved(id: string, durable: boolean): void {
    let settle!: (removed: boolean) => void
    const done = new Promise<boolean>((resolve) => (settle = resolve))
    this.#unremoved.set(id, { durable, done, settle })
  }

  /** Whether the file's record was removed but the log still holds its put as its last word (see remove). */
  isUnremoved(id: string): boolean {
    return this.#unremoved.has(id)
  }

  /**
   * For a record whose removal the log could not take (remove rejected): true once it no longer holds its put (its
   * del appended, and synced for a durable one; or a rewrite left it out), false when it never will in this
   * process (committed again, a failed sync, closed). At once true for any other id.
   */
  whenRemoved(id: string): Promise<boolean> {
    return this.#unremoved.get(id)?.done ?? Promise.resolve(true)
  }

  async close(): Promise<void> {
    // Removals of in-flight records are not synced on their own; once unmounted they should stay removed.
    // The last sync comes after every one in flight or queued, so the descriptor is closed under no sync.
    let failed: { e: unknown } | undefined
    try {
      await this.#syncs.sync()
    } catch (e) {
      failed = { e } // the rewrite below writes the live records afresh, synced; this rejects all the same
    } finally {
      await this.#syncs.settled()
      const fd = this.#fd
      this.#fd = undefined
      if (fd !== undefined) closeSync(fd)
    }
    // The data files of records still unremoved stay, for the next start: it finds their put with its bytes, or
    // neither once the compaction below left them out (a leftover it deletes). Settled first: none is deleted
    // after this returns, as the data files are closed next. Also when the last sync failed: their handles
    // are closed then (removeUnrecorded).
    this.#settleUnremoved(false)
    this.#compactAtClose()
    if (failed) throw failed.e
  }

  /**
   * After the final sync: no log when no record is left, else one without dead lines (see above). One that
   * cannot be rewritten (a full disk) stays as it is, which is as correct: the next start compacts it.
   */
  #compactAtClose(): void {
    try {
      if (this.#live.size === 0) {
        try {
          unlinkSync(this.#path)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
          throw e
        }
        fsyncDirSync(this.dir)
      } else if (this.#bytes > this.#liveBytes) {
        this.#rewrite()
      }
    } catch {
      // left as it was
    }
  }

  /**
   * Start-up (synchronous): every live record, in the order they were last written (an order no user can set,
   * unlike a record's mtimeMs), and the names of unreadable legacy record files. The log is
   * rewritten with just these and synced, so from here on all of them are durable. `syncData` is called first
   * with the in-flight records of this boot (a process that crashed before their close returned): their bytes
   * were never synced either, and must be before their records become durable.
   */
  loadAll(syncData?: (inflight: JournalRecord[]) => void): { records: JournalRecord[]; broken: string[]; droppedUnsynced: number } {
    const byId = new Map<string, JournalRecord>()
    const broken: string[] = []
    /** In-flight records of an earlier boot: the machine went down before their close returned. */
    const dropped = new Set<string>()
    /** In-flight records of this boot. */
    const inflight = new Set<string>()
    try {
      for (const text of readFileSync(this.#path, 'utf8').split('\n')) {
        const line = parseLine(text)
        if (!line) continue
        if ('del' in line) {
          byId.delete(line.del)
          dropped.delete(line.del)
          inflight.delete(line.del)
        } else if (line.boot !== undefined && line.boot !== this.#bootId) {
          byId.delete(line.put.id)
          dropped.add(line.put.id)
          inflight.delete(line.put.id)
        } else {
          byId.delete(line.put.id) // to the end: the records in the order of their last put (see #set)
          byId.set(line.put.id, line.put)
          dropped.delete(line.put.id)
          if (line.boot === undefined) inflight.delete(line.put.id)
          else inflight.add(line.put.id)
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    const legacy: string[] = []
    for (const entry of readdirSync(this.dir)) {
      const path = join(this.dir, entry)
      if (entry.endsWith('.tmp')) {
        unlinkSync(path) // a rewrite or record that never completed: what it replaced is still there
      } else if (entry.endsWith('.json')) {
        try {
          const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
          if (isRecord(parsed)) byId.set(parsed.id, parsed)
          else broken.push(entry)
        } catch {
          broken.push(entry)
        }
        legacy.push(path)
      }
    }
    syncData?.([...inflight].map((id) => byId.get(id)!))
    this.#live.clear()
    this.#liveBytes = 0
    for (const record of byId.values()) this.#set(record, true, JSON.stringify({ put: record } satisfies Line) + '\n')
    this.#rewrite()
    for (const path of legacy) unlinkSync(path)
    return { records: [...byId.values()], broken, droppedUnsynced: dropped.size }
  }

  /** Appends a record's line (an in-flight one names this boot) and makes it the file's live record. */
  #put(record: JournalRecord, durable: boolean): void {
    const line: Line = durable ? { put: record } : { put: record, boot: this.#bootId }
    const text = JSON.stringify(line) + '\n'
    const unremoved = this.#unremoved.get(record.id)
    if (unremoved) {
      // Committed again: its del must not follow this put, and its data file is the record's again.
      this.#unremoved.delete(record.id)
      unremoved.settle(false)
    }
    this.#append(text)
    this.#set(record, durable, text)
  }

  #forget(id: string, live: Live): void {
    this.#live.delete(id)
    this.#liveBytes -= live.bytes
  }

  #settleUnremoved(removed: boolean): void {
    for (const { settle } of this.#unremoved.values()) settle(removed)
    this.#unremoved.clear()
  }

  #set(record: JournalRecord, durable: boolean, text: string): void {
    const bytes = Buffer.byteLength(text)
    const old = this.#live.get(record.id)
    this.#liveBytes += bytes - (old?.bytes ?? 0)
    // Last put last, also through a rewrite: loadAll lists the records in the order they were last written.
    this.#live.delete(record.id)
    this.#live.set(record.id, { record, durable, bytes })
  }

  #open(): number {
    this.#fd = openSync(this.#path, 'a', DATA_FILE_MODE)
    this.#bytes = fstatSync(this.#fd).size
    return this.#fd
  }

  /** Appends one line whole, or fails leaving the log as it was; the del lines of unremoved records first. */
  #append(text: string): void {
    const fd = this.#fd ?? this.#open()
    if (this.#unremoved.size > 0) this.#appendUnremoved(fd)
    this.#bytes += this.#lines.append(fd, text, 'journal append')
  }

  /** The del lines the log could not take before, while it takes them (see #unremoved). */
  #appendUnremoved(fd: number): void {
    const synced: Unremoved[] = []
    for (const [id, unremoved] of this.#unremoved) {
      try {
        this.#bytes += this.#lines.append(fd, delLine(id), 'journal append')
      } catch {
        break
      }
      this.#unremoved.delete(id)
      if (!unremoved.durable) unremoved.settle(true)
      else synced.push(unremoved)
    }
    if (synced.length === 0) return
    // Their dels are synced with the line appended next: a durable one's sync (begun before the next microtask)
    // covers them too, else one of their own begins then.
    this.#syncs.wrote()
    void Promise.resolve()
      .then(() => this.#syncs.covered())
      .then(() => true, () => false)
      .then((removed) => { for (const u of synced) u.settle(removed) })
  }

  /** One sync of the log as it is when it begins (group commit: see above). */
  async #syncLog(): Promise<void> {
    // None open: nothing was appended since the log was rewritten (synced) or closed (after its last sync).
    const fd = this.#fd
    // A rewrite whose sync of the folder failed: its rename is made durable with these lines.
    const dirToo = this.#dirUnsynced
    this.#dirUnsynced = false
    try {
      if (fd !== undefined) {
        const done = this.#syncFd(fd)
        this.#syncing = { fd, done }
        try {
          await done
        } finally {
          this.#syncing = undefined
        }
      }
      if (dirToo) fsyncDirSync(this.dir)
    } catch (e) {
      if (dirToo) this.#dirUnsynced = true
      throw e
    }
  }

  /**
   * Closes a descriptor the log no longer appends to; after the sync running on it, if any (see above). Never
   * throws: what it held is synced or replaced, and a failed close (EIO on some network filesystems) must neither
   * be an unhandled rejection (the daemon would exit) nor undo a compaction that succeeded.
   */
  #retire(fd: number): void {
    const close = (): void => {
      try {
        closeSync(fd)
      } catch {
        // nothing left to keep
      }
    }
    const syncing = this.#syncing
    if (syncing?.fd === fd) void syncing.done.catch(() => undefined).then(close)
    else close()
  }

  /** A rewrite that fails (a full disk) leaves the log as it was; it is tried again once the log has grown. */
  #maybeCompact(): void {
    if (this.#bytes < COMPACT_MIN_BYTES || this.#bytes < 2 * this.#liveBytes || this.#bytes < this.#compactAfterBytes) return
    try {
      this.#rewrite()
      this.#compactAfterBytes = 0
    } catch {
      this.#compactAfterBytes = this.#bytes + COMPACT_MIN_BYTES
    }
  }

  /**
   * Replaces the log with its live records, durably (synchronous: it holds a few lines per file in flight,
   * and appends must not land in the old file meanwhile). Each record is written as durable as it is: an
   * in-flight one again with its boot, as its data file was never synced (only start-up, which syncs those
   * first, makes every record durable, through #set).
   */
  #rewrite(): void {
    const lines = [...this.#live.values()].map((live) =>
      JSON.stringify((live.durable ? { put: live.record } : { put: live.record, boot: this.#bootId }) satisfies Line) + '\n')
    const bytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line), 0)
    replaceWithLinesSync(this.#path, lines, 'journal rewrite', { mode: DATA_FILE_MODE, sync: true })
    // Renamed: the file the descriptor names is no longer the log, whatever follows (a line appended to it
    // would be in no log the next mount reads).
    if (this.#fd !== undefined) this.#retire(this.#fd)
    this.#fd = undefined
    this.#bytes = bytes
    this.#liveBytes = bytes
    try {
      fsyncDirSync(this.dir)
    } catch (e) {
      // A power loss may bring back the old log until the folder is synced: the next sync of the log syncs
      // it too, and what only the new log leaves out (unremoved records) is not removed yet.
      this.#dirUnsynced = true
      throw e
    }
    this.#dirUnsynced = false
    this.#rewrites++
    this.#settleUnremoved(true) // left out, durably
  }
}

function parseLine(text: string): Line | undefined {
  if (text.trim() === '') return undefined
  let line: Partial<{ put: unknown; boot: unknown; del: unknown }>
  try {
    line = JSON.parse(text) as Partial<{ put: unknown; boot: unknown; del: unknown }>
  } catch {
    return undefined // only the last line can be torn, by a crash in the middle of its write
  }
  if (isRecord(line.put)) return typeof line.boot === 'string' ? { put: line.put, boot: line.boot } : { put: line.put }
  if (typeof line.del === 'string') return { del: line.del }
  return undefined
}

/** Appends a durable record synchronously, for tests that fabricate a crashed spool. */
export function writeRecordSync(dir: string, record: JournalRecord): void {
  const fd = openSync(join(dir, JOURNAL_LOG), 'a', DATA_FILE_MODE)
  try {
    writeSync(fd, JSON.stringify({ put: record } satisfies Line) + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
