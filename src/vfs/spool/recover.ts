/**
 * Start-up: which journal records still describe a file to show and upload. A record goes when its data
 * file is missing, shorter than the record, or does not match the record's checksum (the machine went down
 * between the record's sync and its bytes'); of two records for one path, the one written last wins. Data
 * files without a surviving record are leftovers of files that were never committed (a crash while open).
 * Bytes past the record's size were written after its close and never committed (a program still writing
 * when the daemon died): they are cut off, so no half-written file is published (a record of a file closed
 * empty, as `dd` does before writing, stays empty).
 */
import { closeSync, existsSync, fdatasyncSync, openSync, readdirSync, statSync, truncateSync, unlinkSync } from 'node:fs'
import { fsyncDirSync } from '../../full-disk.js'
import type { Logger } from '../../log.js'
import { joinRemote } from '../name.js'
import { crc32Of } from './checksum.js'
import { removeUnrecorded, type DataFiles } from './data-files.js'
import type { Journal, JournalRecord } from './journal.js'

export interface Recovered {
  record: JournalRecord
  /** The record's size, to which the data file is cut back. */
  size: number
}

/**
 * Oldest first; removes what it refuses (records and data files: a data file once its record's removal is
 * durable, see Journal.remove; after this returns). A record of a file being unlinked is never
 * uploaded; when `unlinking` is given, one whose remote delete may be unfinished is handed to it (its record
 * kept, its data file removed) instead of being forgotten.
 */
export function recoverSpool(journal: Journal, dataFiles: DataFiles, log: Logger, unlinking?: Unlinking): Recovered[] {
  const { records, broken, droppedUnsynced } = journal.loadAll((inflight) => {
    for (const r of inflight) syncFile(dataFiles.path(r.id))
    if (inflight.length > 0) fsyncDirSync(dataFiles.dataDir) // and their names: their records become durable next
  })
  for (const name of broken) log.warn({ record: name }, 'unreadable journal record ignored')
  if (droppedUnsynced > 0) {
    log.warn({ files: droppedUnsynced }, 'uploads interrupted by a crash of the machine before close returned were dropped (their bytes were never synced)')
  }
  /** Records refused, and their removals: their data files go once those are durable (removeUnrecorded). */
  const forgotten = new Map<string, Promise<void>>()
  const forget = (r: JournalRecord): void => void forgotten.set(r.id, journal.remove(r.id).catch(() => undefined))
  const byPath = new Map<string, Recovered>()
  // A kept committed copy first: the record of the same file's newer commit, if valid, replaces it. Otherwise
  // the record written last wins (loadAll's order; never the mtimeMs, which `touch -d` or rsync -t set back).
  const order = (r: JournalRecord): number => (r.committedCopy === true ? 0 : 1)
  for (const r of records.sort((a, b) => order(a) - order(b))) {
    if (r.unlinking === true) {
      log.info({ path: r.localPath }, 'a file being unlinked when the daemon stopped: not uploaded')
      if (unlinking?.wanted(r)) unlinking.take(r)
      else forget(r)
      continue
    }
    const dataPath = dataFiles.path(r.id)
    if (!existsSync(dataPath)) {
      // A kept copy's bytes go with it once its file's newer content is stored or the file went, also when its
      // del could not be written then (a full disk): its put alone promises nothing (committed-copies.ts drop).
      if (r.committedCopy === true) log.info({ path: r.localPath }, 'a kept copy of committed content whose bytes were dropped: nothing to upload')
      else log.error({ path: r.localPath }, 'journal record without its data file: the pending upload is lost')
      forget(r)
      continue
    }
    const size = statSync(dataPath).size
    if (size < r.size) {
      // Only after a power loss: the record was synced, the data not yet (close had not returned).
      log.error({ path: r.localPath, size, expected: r.size }, 'spooled data is shorter than its record (power loss before close returned): not uploaded')
      forget(r)
      continue
    }
    if (r.crc32 !== undefined && crc32Of(dataPath, r.size) !== r.crc32) {
      log.error({ path: r.localPath, size: r.size }, 'spooled data does not match its record (power loss before close returned): not uploaded')
      forget(r)
      continue
    }
    if (size > r.size) {
      truncateSync(dataPath, r.size)
      log.warn({ path: r.localPath, size: r.size, dropped: size - r.size }, 'bytes written after the last close of a pending upload were never committed (the daemon stopped while the file was open): dropped')
    }
    const remotePath = joinRemote(r.folder, r.name)
    const older = byPath.get(remotePath)
    if (older) forget(older.record) // its data file goes with the leftovers below
    byPath.set(remotePath, { record: r, size: r.size })
  }
  const kept = new Set([...byPath.values()].map((f) => f.record.id))
  for (const name of readdirSync(dataFiles.dataDir)) {
    if (kept.has(name)) continue
    // A record refused: its bytes stay while its put may be the log's last word after a power loss (its del not
    // synced yet, or not taken: a full disk, a failed sync). Any other file has no record: a leftover.
    const removal = forgotten.get(name)
    if (removal) void removal.then(() => removeUnrecorded(journal, dataFiles, name)).catch(() => undefined)
    else unlinkSync(dataFiles.path(name))
  }
  return [...byPath.values()]
}

/** Who finishes the remote part of unlinks the daemon stopped in (write/interrupted-unlink.ts). */
export interface Unlinking {
  wanted(r: JournalRecord): boolean
  take(r: JournalRecord): void
}

/** fdatasync of a data file, if it is there (a missing one is reported with its record below). */
function syncFile(path: string): void {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return
  }
  try {
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
