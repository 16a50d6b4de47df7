/**
 * The spool's journal (one log of put/del lines: durable records survive a reboot, in-flight ones only a
 * crash of the process) and its data files (emptied files kept for reuse, never truncated through a stale
 * handle), and the modification times set through the mount.
 */
import { appendFileSync, fdatasync, fstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { open, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DataFiles, FREE_FILES_MAX, removeUnrecorded } from '../../../src/vfs/spool/data-files.js'
import { FolderMoves } from '../../../src/vfs/spool/folder-moves.js'
import { JOURNAL_LOG, Journal, type JournalRecord } from '../../../src/vfs/spool/journal.js'
import { LocalMtimes, MTIMES_LOG } from '../../../src/vfs/spool/mtimes.js'
import { RecentBytes } from '../../../src/vfs/spool/recent-bytes.js'
import { RECENT_COPIES_MAX, RecentCopies } from '../../../src/vfs/spool/recent-copies.js'
import { liveOwner, ownerLine } from '../../../src/vfs/spool/owner.js'
import { idleSpoolsWithFiles, Spool } from '../../../src/vfs/spool/spool.js'
import { recoverSpool } from '../../../src/vfs/spool/recover.js'
import { CommittedCopies } from '../../../src/vfs/spool/committed-copies.js'
import { PendingFile } from '../../../src/vfs/file-node.js'
import { descriptorsInto, memoryLogger, waitFor } from './helpers.js'
import { ManualClock } from '../../../src/clock.js'
import { WholeLines } from '../../../src/full-disk.js'
import * as fullDisk from '../../../src/full-disk.js'

const dirs: string[] = []
afterEach(() => {
  const made = dirs.splice(0)
  try {
    // A journal's own descriptor stays open where a test plays a kill -9 (no close); any other is a leak (a
    // FileHandle nobody closed is closed by the garbage collector, with Node's DEP0137 warning, if ever).
    const leaked = made.flatMap(descriptorsInto).filter((fd) => !/\/journal\.log( \(deleted\))?$/.test(fd))
    if (leaked.length > 0) throw new Error(`descriptors left open after the test:\n  ${leaked.join('\n  ')}`)
  } finally {
    for (const d of made) rmSync(d, { recursive: true, force: true })
  }
})

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ikfs-spool-'))
  dirs.push(d)
  return d
}

function record(id: string, extra: Partial<JournalRecord> = {}): JournalRecord {
  return { v: 1, id, folder: '/f', name: `${id}.bin`, localPath: `/f/${id}.bin`, size: 3, mtimeMs: 1, state: 'pending', attempts: 0, ...extra }
}

const ids = (records: JournalRecord[]): string[] => records.map((r) => r.id).sort()

/** A copy of the journal log in `dir`, in a temp dir of its own (a kill -9 read back without touching the log). */
function tempDirWith(dir: string): string {
  const copy = tempDir()
  writeFileSync(join(copy, JOURNAL_LOG), readFileSync(join(dir, JOURNAL_LOG)))
  return copy
}

describe('Journal', () => {
  it('in-flight records come back after a crash of the process (same boot), not after a reboot', () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    j.writeInflight(record('aa'))
    j.writeInflight(record('bb'))
    // "kill -9": no close; the next process reads what the page cache holds
    expect(ids(new Journal(dir, 'boot-1').loadAll().records)).toEqual(['aa', 'bb'])
  })

  it('in-flight records of this boot have their bytes synced before they become durable at start-up', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    j.writeInflight(record('aa'))
    j.writeInflight(record('bb'))
    await j.write(record('bb', { size: 4 })) // made durable meanwhile (its bytes were synced then)
    await j.write(record('cc'))
    const synced: string[] = []
    new Journal(dir, 'boot-1').loadAll((inflight) => synced.push(...inflight.map((r) => r.id)))
    expect(synced).toEqual(['aa'])
  })

  it('in-flight records written before a reboot are dropped and counted', () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    j.writeInflight(record('aa'))
    const after = new Journal(dir, 'boot-2').loadAll()
    expect(after.records).toEqual([])
    expect(after.droppedUnsynced).toBe(1)
  })

  it('durable records survive a reboot; a durable record replaces an in-flight one of the same file', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    j.writeInflight(record('aa', { size: 1 }))
    await j.write(record('aa', { size: 2, state: 'failed' }))
    await j.write(record('cc'))
    expect(j.isDurable('aa')).toBe(true)
    expect(() => j.writeInflight(record('aa'))).toThrow(/durable/)
    const after = new Journal(dir, 'boot-2').loadAll()
    expect(ids(after.records)).toEqual(['aa', 'cc'])
    expect(after.records.find((r) => r.id === 'aa')).toMatchObject({ size: 2, state: 'failed' })
    expect(after.droppedUnsynced).toBe(0)
  })

  it('an upload attempt is noted in the record without a sync: found after a kill -9, the record keeps its durability', async () => {
    const dir = tempDir()
    let syncs = 0
    const j = new Journal(dir, 'boot-1', async () => void syncs++)
    j.loadAll()
    j.writeInflight(record('aa'))
    await j.write(record('bb', { crc32: 7 }))
    syncs = 0
    j.noteAttempt('aa', 1000)
    j.noteAttempt('bb', 2000)
    j.noteAttempt('bb', 3000) // a later attempt: the earlier one may have stored it, and stays noted
    j.noteAttempt('never-written', 1000)
    expect(syncs).toBe(0)
    expect(j.isDurable('aa')).toBe(false)
    expect(j.isDurable('bb')).toBe(true)
    expect(j.durableRecord('bb')).toMatchObject({ crc32: 7, mayBeStoredSinceMs: 2000 }) // the rest as it was
    const byId = (rs: JournalRecord[]) => Object.fromEntries(rs.map((r) => [r.id, r.mayBeStoredSinceMs]))
    // "kill -9": the next process of this boot reads the notes from the page cache.
    expect(byId(new Journal(dir, 'boot-1').loadAll().records)).toEqual({ aa: 1000, bb: 2000 })
  })

  it('an attempt noted on an in-flight record is dropped with it after a reboot', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    j.writeInflight(record('aa'))
    j.noteAttempt('aa', 1000)
    await j.write(record('bb'))
    j.noteAttempt('bb', 1000)
    const after = new Journal(dir, 'boot-2').loadAll()
    expect(ids(after.records)).toEqual(['bb'])
    expect(after.droppedUnsynced).toBe(1)
  })

  it('removed records stay removed, in either form', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    j.writeInflight(record('aa'))
    await j.write(record('bb'))
    await j.remove('aa')
    await j.remove('bb')
    await j.remove('never-written')
    await j.close()
    expect(new Journal(dir, 'boot-1').loadAll().records).toEqual([])
  })

  it('a removal the log cannot take (its disk full) leaves the put the last word until the del goes in ahead of the next line; whenRemoved tells when the data file may go', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    await j.write(record('aa'))
    j.writeInflight(record('bb'))
    /** The records a kill -9 now would leave to the next mount (read from a copy: loadAll rewrites the log). */
    const afterKill = (): string[] => {
      const copy = tempDir()
      writeFileSync(join(copy, JOURNAL_LOG), readFileSync(join(dir, JOURNAL_LOG)))
      return ids(new Journal(copy, 'boot-1').loadAll().records)
    }
    const full = vi.spyOn(WholeLines.prototype, 'append').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, journal append'), { code: 'ENOSPC' })
    })
    try {
      await expect(j.remove('aa')).rejects.toMatchObject({ code: 'ENOSPC' })
      await expect(j.remove('bb')).rejects.toMatchObject({ code: 'ENOSPC' })
    } finally {
      full.mockRestore()
    }
    expect([j.has('aa'), j.size, j.isUnremoved('aa'), j.isUnremoved('bb'), j.isUnremoved('cc')]).toEqual([false, 0, true, true, false])
    expect(afterKill()).toEqual(['aa', 'bb']) // their data files must still be there
    const removed: Record<string, boolean> = {}
    for (const id of ['aa', 'bb']) void j.whenRemoved(id).then((r) => (removed[id] = r))
    await expect(j.whenRemoved('cc')).resolves.toBe(true)
    expect(removed).toEqual({})
    j.writeInflight(record('cc')) // the disk takes lines again: the dels go in first
    expect(afterKill()).toEqual(['cc'])
    await waitFor(() => removed.aa === true && removed.bb === true) // aa's once synced
    expect([j.isUnremoved('aa'), j.isUnremoved('bb')]).toEqual([false, false])
    await j.close()
    expect(ids(new Journal(dir, 'boot-1').loadAll().records)).toEqual(['cc'])
  })

  it('a removal whose sync fails (EIO, ENOSPC) leaves the record unremoved: its data file stays until a del is durable, and the next mount finds the put with its bytes or neither', async () => {
    const dir = tempDir()
    for (const sub of ['journal', 'data', 'free']) mkdirSync(join(dir, sub))
    let failNext = false
    const j = new Journal(join(dir, 'journal'), 'boot-1', async (fd) => {
      if (failNext) {
        failNext = false
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
      }
      await new Promise<void>((done, fail) => fdatasync(fd, (e) => (e ? fail(e) : done())))
    })
    j.loadAll()
    const dataFiles = new DataFiles(join(dir, 'data'), join(dir, 'free'))
    for (const id of ['aa', 'bb']) {
      writeFileSync(dataFiles.path(id), 'abc')
      await j.write(record(id))
    }
    failNext = true
    await expect(j.remove('aa')).rejects.toMatchObject({ code: 'EIO' })
    // Its del is in the log, but the disk may not have it: its put may be what a power loss leaves.
    expect([j.has('aa'), j.isUnremoved('aa')]).toEqual([false, true])
    await removeUnrecorded(j, dataFiles, 'aa') // what the callers do with the data file of a record they removed
    expect(readdirSync(join(dir, 'data')).sort()).toEqual(['aa', 'bb'])
    // A kill -9 now: the del was appended, so the next mount drops the record, and its bytes as a leftover.
    const afterKill = tempDir()
    for (const sub of ['journal', 'data', 'free']) mkdirSync(join(afterKill, sub))
    writeFileSync(join(afterKill, 'journal', JOURNAL_LOG), readFileSync(join(dir, 'journal', JOURNAL_LOG)))
    for (const id of ['aa', 'bb']) writeFileSync(join(afterKill, 'data', id), 'abc')
    const next = new Journal(join(afterKill, 'journal'), 'boot-1')
    const nextData = new DataFiles(join(afterKill, 'data'), join(afterKill, 'free'))
    expect(recoverSpool(next, nextData, memoryLogger().logger).map((f) => f.record.id)).toEqual(['bb'])
    await waitFor(() => readdirSync(join(afterKill, 'data')).join() === 'bb')
    await next.close()
    await nextData.close()
    // The next line appended brings a del again, synced this time: only then does the data file go.
    await j.write(record('cc'))
    await waitFor(() => !readdirSync(join(dir, 'data')).includes('aa'))
    expect(j.isUnremoved('aa')).toBe(false)
    // A failed sync of a removal that a compaction made durable meanwhile (it left the record out) is no failure.
    let release!: (e?: Error) => void
    const held = new Journal(join(dir, 'journal'), 'boot-1', () => new Promise<void>((done, fail) => (release = (e) => (e ? fail(e) : done()))))
    await j.close()
    held.loadAll()
    const removing = held.remove('bb')
    await churn(held, 3000, 'x') // a compaction: bb is left out, durably
    release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    await removing
    expect(held.isUnremoved('bb')).toBe(false)
    const closing = held.close()
    release()
    await closing
    await dataFiles.close()
  })

  it('an unremoved record is settled by a compaction that leaves it out, by a commit of the same id (its put the last word again), or at close (never: the data file stays for the next start)', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    for (const id of ['aa', 'bb', 'cc']) j.writeInflight(record(id))
    const only = (failing: string[]) => {
      const append = WholeLines.prototype.append
      return vi.spyOn(WholeLines.prototype, 'append').mockImplementation(function (this: WholeLines, fd, text, what) {
        if (failing.some((id) => text.includes(`"del":"${id}"`))) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
        return append.call(this, fd, text, what)
      })
    }
    let full = only(['aa', 'bb', 'cc'])
    try {
      for (const id of ['aa', 'bb', 'cc']) await expect(j.remove(id)).rejects.toMatchObject({ code: 'ENOSPC' })
      const bb = j.whenRemoved('bb')
      j.writeInflight(record('bb', { size: 4 })) // bb committed again
      await expect(bb).resolves.toBe(false)
      expect([j.has('bb'), j.isUnremoved('bb')]).toEqual([true, false])
      await churn(j, 3000, 'x') // enough for a runtime compaction: it leaves aa and cc out
    } finally {
      full.mockRestore()
    }
    await expect(j.whenRemoved('aa')).resolves.toBe(true)
    await expect(j.whenRemoved('cc')).resolves.toBe(true)
    expect(ids(new Journal(tempDirWith(dir), 'boot-1').loadAll().records)).toEqual(['bb'])
    j.writeInflight(record('dd'))
    full = only(['dd'])
    try {
      await expect(j.remove('dd')).rejects.toMatchObject({ code: 'ENOSPC' })
      const settled = j.whenRemoved('dd')
      await j.close()
      await expect(settled).resolves.toBe(false)
    } finally {
      full.mockRestore()
    }
  })

  it('a close whose last sync fails still settles the unremoved records (their data files stay for the next start) and rejects', async () => {
    const dir = tempDir()
    let failing = false
    const j = new Journal(dir, 'boot-1', async (fd) => {
      if (failing) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
      await new Promise<void>((done, fail) => fdatasync(fd, (e) => (e ? fail(e) : done())))
    })
    j.loadAll()
    await j.write(record('aa'))
    await j.write(record('bb'))
    failing = true
    await expect(j.remove('aa')).rejects.toMatchObject({ code: 'EIO' })
    let removed: boolean | undefined
    void j.whenRemoved('aa').then((r) => (removed = r))
    await expect(j.close()).rejects.toMatchObject({ code: 'EIO' })
    await new Promise(setImmediate) // promise callbacks only
    expect(removed).toBe(false) // was: never settled (the data file's handle left open)
    expect(ids(new Journal(dir, 'boot-1').loadAll().records)).toEqual(['bb'])
  })

  it('syncs are shared: records written while a sync runs wait for it and then share one more (group commit)', async () => {
    const dir = tempDir()
    const syncs: { lines: number; done: () => void; fail: (e: Error) => void }[] = []
    const linesNow = (): number => readFileSync(join(dir, JOURNAL_LOG), 'utf8').split('\n').filter(Boolean).length
    const j = new Journal(dir, 'boot-1', () => new Promise((done, fail) => syncs.push({ lines: linesNow(), done, fail })))
    j.loadAll()
    const settled: string[] = []
    const first = j.write(record('a0')).then(() => settled.push('a0'))
    const rest = ['b1', 'c2', 'd3'].map((id) => j.write(record(id)).then(() => settled.push(id)))
    await waitFor(() => syncs.length === 1)
    expect(syncs[0]!.lines).toBe(1) // started by the first write, before the others were appended
    syncs[0]!.done()
    await first
    // The three appended while it ran: one more sync, shared, started once the first one ended.
    await waitFor(() => syncs.length === 2)
    expect(syncs[1]!.lines).toBe(4)
    expect(settled).toEqual(['a0'])
    syncs[1]!.done()
    await Promise.all(rest)
    expect(settled.sort()).toEqual(['a0', 'b1', 'c2', 'd3'])
    expect(syncs).toHaveLength(2)
    // A failed sync fails those who shared it; the next write syncs anew.
    const failing = j.remove('a0')
    await waitFor(() => syncs.length === 3)
    syncs[2]!.fail(new Error('EIO: disk gone'))
    await expect(failing).rejects.toThrow(/disk gone/)
    const after = j.write(record('e4'))
    await waitFor(() => syncs.length === 4)
    syncs[3]!.done()
    await after
    // close syncs once more, after the sync in flight, and closes the log only then.
    const last = j.write(record('f5'))
    await waitFor(() => syncs.length === 5)
    let closed = false
    const closing = j.close().then(() => { closed = true })
    syncs[4]!.done()
    await last
    await waitFor(() => syncs.length === 6)
    expect(closed).toBe(false)
    syncs[5]!.done()
    await closing
    expect(ids(new Journal(dir, 'boot-2').loadAll().records)).toEqual(['b1', 'c2', 'd3', 'e4', 'f5'])
  })

  it('the log is compacted: it grows with the records alive, not with the records ever written', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    await j.write(record('a0a0', { state: 'failed' }))
    for (let i = 0; i < 5000; i++) {
      const id = i.toString(16).padStart(8, '0')
      j.writeInflight(record(id))
      await j.remove(id)
    }
    expect(statSync(join(dir, JOURNAL_LOG)).size).toBeLessThan(512 * 1024)
    expect(ids(new Journal(dir, 'boot-2').loadAll().records)).toEqual(['a0a0'])
  })

  it('compaction goes on while syncs are in flight or queued: a queued sync syncs the log as it is then, and no descriptor is closed under a sync', async () => {
    const dir = tempDir()
    const path = join(dir, JOURNAL_LOG)
    /** Each sync: the file its descriptor named when it began, and whether that file is the log then. */
    const syncs: { fd: number; ino: number; current: boolean; done: () => void }[] = []
    const j = new Journal(dir, 'boot-1', (fd) => new Promise((done) => {
      const { ino } = fstatSync(fd)
      syncs.push({ fd, ino, current: ino === statSync(path).ino, done })
    }))
    j.loadAll()
    const a = j.write(record('a0')) // its sync runs (held)
    await waitFor(() => syncs.length === 1)
    const b = j.write(record('b1')) // its sync is queued
    // Many files come and go meanwhile (uploads at close: in-flight records), enough to compact the log. (A
    // compaction keeps an in-flight record in flight: its removal is not synced either.)
    const removals: Promise<void>[] = []
    for (let i = 0; i < 5000; i++) {
      const id = i.toString(16).padStart(8, '0')
      j.writeInflight(record(id))
      removals.push(j.remove(id))
    }
    expect(statSync(path).size).toBeLessThan(512 * 1024)
    expect(statSync(path).ino).not.toBe(syncs[0]!.ino) // replaced (compacted) while a0's sync ran
    expect(fstatSync(syncs[0]!.fd).ino).toBe(syncs[0]!.ino) // whose descriptor is still the old log's
    const c = j.write(record('c2')) // appended to the new log while the old one's sync runs
    syncs[0]!.done()
    await a
    // One more sync, shared by b1 (in the log through the compaction) and c2: of the log as it is now.
    await waitFor(() => syncs.length === 2)
    expect(syncs[1]!.current).toBe(true)
    syncs[1]!.done()
    await Promise.all([b, c, ...removals])
    expect(syncs).toHaveLength(2)
    const closing = j.close()
    await waitFor(() => syncs.length === 3)
    syncs[2]!.done()
    await closing
    expect(ids(new Journal(dir, 'boot-2').loadAll().records)).toEqual(['a0', 'b1', 'c2'])
  })

  it('writers that keep committing share syncs: one that appends as a sync ends joins the one queued next, never one of its own', async () => {
    const dir = tempDir()
    let syncs = 0
    let running = 0
    let overlapped = false
    const j = new Journal(dir, 'boot-1', () => new Promise((done) => {
      syncs++
      overlapped ||= ++running > 1
      setImmediate(() => { running--; done() })
    }))
    j.loadAll()
    // Four files written at once, each committed and then stored, over and over (cp -r with --write-back).
    await Promise.all([0, 1, 2, 3].map(async (w) => {
      for (let i = 0; i < 50; i++) {
        await j.write(record(`${w}${i.toString(16)}`))
        await j.remove(`${w}${i.toString(16)}`)
      }
    }))
    expect(overlapped).toBe(false)
    expect(syncs).toBeLessThan(400 / 2) // 400 synced appends
    await j.close()
  })

  it('a torn last line (crash in the middle of a write) is skipped; the lines before it count', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    await j.write(record('aa'))
    await j.close()
    appendFileSync(join(dir, JOURNAL_LOG), '{"put":{"v":1,"id":"bb","fol')
    expect(ids(new Journal(dir, 'boot-1').loadAll().records)).toEqual(['aa'])
  })

  it('per-file records of earlier versions (journal/<id>.json) are read and folded into the log', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'aa.json'), JSON.stringify(record('aa')))
    writeFileSync(join(dir, 'bb.json'), '{not json')
    writeFileSync(join(dir, 'cc.json.tmp'), 'half')
    const loaded = new Journal(dir, 'boot-1').loadAll()
    expect(ids(loaded.records)).toEqual(['aa'])
    expect(loaded.broken).toEqual(['bb.json'])
    expect(readdirSync(dir).sort()).toEqual([JOURNAL_LOG])
    expect(ids(new Journal(dir, 'boot-2').loadAll().records)).toEqual(['aa'])
  })

  /** Records that come and go: `n` in-flight records, each removed again (below the size that compacts at once). */
  async function churn(j: Journal, n: number, prefix: string): Promise<void> {
    for (let i = 0; i < n; i++) {
      const id = `${prefix}${i.toString(16).padStart(6, '0')}`
      j.writeInflight(record(id))
      await j.remove(id)
    }
  }

  it('a compaction whose sync of the folder fails after its rename appends to the new log from then on, not to the file it replaced, and syncs the folder with the next sync', async () => {
    const dir = tempDir()
    let fileSyncs = 0
    const j = new Journal(dir, 'boot-1', async (fd) => {
      fileSyncs++
      await new Promise<void>((done, fail) => fdatasync(fd, (e) => (e ? fail(e) : done())))
    })
    j.loadAll()
    await j.write(record('aa'))
    const dirSyncs: string[] = []
    let dirFails = true
    const fsyncDir = fullDisk.fsyncDirSync
    const spied = vi.spyOn(fullDisk, 'fsyncDirSync').mockImplementation((d) => {
      dirSyncs.push(d)
      if (dirFails) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })
      fsyncDir(d)
    })
    try {
      await churn(j, 3000, 'a') // compacted meanwhile: the rename is done, its folder's sync fails
      expect(dirSyncs.length).toBeGreaterThan(0)
      expect(statSync(join(dir, JOURNAL_LOG)).size).toBeLessThan(256 * 1024)
      dirFails = false
      dirSyncs.length = 0
      await j.write(record('bb'))
      // A kill -9 now: the log at the path has bb (it was appended to a file no longer in the folder).
      expect(ids(new Journal(tempDirWith(dir), 'boot-1').loadAll().records)).toEqual(['aa', 'bb'])
      // The rename may not survive a power loss yet: the sync that makes bb durable syncs the folder too.
      expect(dirSyncs.filter((d) => d === dir)).toEqual([dir])
      dirSyncs.length = 0
      const before = fileSyncs
      await j.write(record('cc'))
      expect([dirSyncs, fileSyncs - before]).toEqual([[], 1]) // synced once: the folder's sync is not repeated
    } finally {
      spied.mockRestore()
    }
    await j.close()
    expect(ids(new Journal(dir, 'boot-2').loadAll().records)).toEqual(['aa', 'bb', 'cc'])
  })

  it('a clean close leaves no log when no record is left: the dead lines of files uploaded meanwhile do not stay', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    await churn(j, 900, 'a')
    expect(statSync(join(dir, JOURNAL_LOG)).size).toBeGreaterThan(150 * 1024) // only dead lines
    await j.close()
    expect(readdirSync(dir)).toEqual([])
    expect(new Journal(dir, 'boot-1').loadAll().records).toEqual([])
  })

  it('a clean close leaves only the live records, each as durable as it was: an in-flight one stays in flight', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    await j.write(record('dd', { state: 'failed' }))
    await churn(j, 250, 'a')
    j.writeInflight(record('ff'))
    await churn(j, 250, 'b')
    await j.close()
    const lines = readFileSync(join(dir, JOURNAL_LOG), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown)
    expect(lines).toEqual([{ put: record('dd', { state: 'failed' }) }, { put: record('ff'), boot: 'boot-1' }])
    expect(readdirSync(dir)).toEqual([JOURNAL_LOG]) // no .tmp left
    // After a reboot the in-flight record goes (its bytes were never synced); after a restart both come back.
    const copy = tempDir()
    writeFileSync(join(copy, JOURNAL_LOG), readFileSync(join(dir, JOURNAL_LOG)))
    const rebooted = new Journal(copy, 'boot-2').loadAll()
    expect([ids(rebooted.records), rebooted.droppedUnsynced]).toEqual([['dd'], 1])
    expect(ids(new Journal(dir, 'boot-1').loadAll().records)).toEqual(['dd', 'ff'])
  })

  it('a compaction while a record is in flight leaves it in flight: after a crash of the machine it is dropped, not uploaded', async () => {
    const dir = tempDir()
    for (const sub of ['journal', 'data', 'free']) mkdirSync(join(dir, sub))
    const j = new Journal(join(dir, 'journal'), 'boot-1')
    j.loadAll()
    const dataFiles = new DataFiles(join(dir, 'data'), join(dir, 'free'))
    writeFileSync(dataFiles.path('ff'), 'abc') // never synced: its upload runs inside close
    j.writeInflight(record('ff'))
    await churn(j, 3000, 'a') // enough dead lines for the log to be compacted at runtime
    const lines = readFileSync(join(dir, 'journal', JOURNAL_LOG), 'utf8').split('\n').filter(Boolean)
    expect(lines.length).toBeLessThan(3000) // it was compacted
    expect(lines).toContainEqual(JSON.stringify({ put: record('ff'), boot: 'boot-1' }))
    expect(j.isDurable('ff')).toBe(false)
    expect(() => j.writeInflight(record('ff', { size: 4 }))).not.toThrow() // still in flight: its next commit may be too
    // Another boot id: the machine crashed; the record was never made durable, nor were its bytes.
    const { logger, records: logged } = memoryLogger()
    const recovered = recoverSpool(new Journal(join(dir, 'journal'), 'boot-2'), dataFiles, logger)
    expect(recovered).toEqual([])
    expect(logged.map((r) => String(r.msg))).toEqual([expect.stringContaining('were dropped')])
    expect(readdirSync(join(dir, 'data'))).toEqual([])
    await dataFiles.close()
  })

  it('a log a kill -9 left with dead lines is compacted at start', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    await j.write(record('dd'))
    await churn(j, 500, 'a')
    // kill -9: no close
    const j2 = new Journal(dir, 'boot-1')
    expect(ids(j2.loadAll().records)).toEqual(['dd'])
    expect(readFileSync(join(dir, JOURNAL_LOG), 'utf8')).toBe(JSON.stringify({ put: record('dd') }) + '\n')
    await j2.close()
    expect(readFileSync(join(dir, JOURNAL_LOG), 'utf8')).toBe(JSON.stringify({ put: record('dd') }) + '\n')
  })

  it('holds names and sizes only, in a private file', async () => {
    const dir = tempDir()
    const j = new Journal(dir, 'boot-1')
    j.loadAll()
    await j.write(record('aa'))
    expect(statSync(join(dir, JOURNAL_LOG)).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(dir, JOURNAL_LOG), 'utf8')).not.toMatch(/private|authorization|https?:/i)
  })
})

describe('FolderMoves', () => {
  it('a note outlives the process, holds the latest route, and goes when ended', () => {
    const dir = tempDir()
    const moves = new FolderMoves(dir)
    moves.note({ id: 'aa', route: ['/old', '/ikfs-move-1'] })
    moves.note({ id: 'aa', route: ['/old', '/ikfs-move-1', '/x/new'] })
    moves.note({ id: 'bb', route: ['/c/f.txt', '/d/f.txt'], file: true })
    expect(new FolderMoves(dir).loadAll().sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'aa', route: ['/old', '/ikfs-move-1', '/x/new'] },
      { id: 'bb', route: ['/c/f.txt', '/d/f.txt'], file: true },
    ])
    moves.end('aa')
    moves.end('aa')
    expect(new FolderMoves(dir).loadAll()).toEqual([{ id: 'bb', route: ['/c/f.txt', '/d/f.txt'], file: true }])
  })

  it('a note a crash left half-written is removed at start; the one it was replacing still counts', () => {
    const dir = tempDir()
    new FolderMoves(dir).note({ id: 'aa', route: ['/old', '/new'] })
    writeFileSync(join(dir, 'aa.json.tmp'), '{"v":1,"route":["/old","/new","/ot')
    writeFileSync(join(dir, 'bb.json'), '{"v":1,"rou')
    expect(new FolderMoves(dir).loadAll()).toEqual([{ id: 'aa', route: ['/old', '/new'] }])
    expect(readdirSync(dir)).toEqual(['aa.json'])
  })
})

describe('DataFiles', () => {
  /** Names the handles whose truncate (the thread pool's) gets called, in order. */
  function truncatesThroughPool(handles: Record<string, FileHandle>): string[] {
    const truncates: string[] = []
    for (const [name, fh] of Object.entries(handles)) {
      const truncate = fh.truncate.bind(fh)
      fh.truncate = (len?: number) => (truncates.push(name), truncate(len))
    }
    return truncates
  }

  function setup(): { files: DataFiles; data: string; free: string } {
    const root = tempDir()
    const data = join(root, 'data')
    const free = join(root, 'free')
    mkdirSync(data)
    mkdirSync(free)
    return { files: new DataFiles(data, free), data, free }
  }

  it('a removed file is emptied, kept open in free/, and reused by the next create', async () => {
    const { files, data, free } = setup()
    const a = await files.create()
    await a.fh.write(Buffer.from('hello'), 0, 5, 0)
    const inode = statSync(files.path(a.id)).ino
    await files.remove(a.id, a.fh)
    expect(readdirSync(data)).toEqual([])
    expect(readdirSync(free)).toEqual([a.id])
    const b = await files.create()
    expect(b.id).not.toBe(a.id)
    expect(readdirSync(data)).toEqual([b.id])
    expect(statSync(files.path(b.id))).toMatchObject({ ino: inode, size: 0 })
    await b.fh.close()
    await files.close()
  })

  it('a file removed while the spool closes (its open or truncate still under way) is closed and deleted, not kept open for ever', async () => {
    const { files, data, free } = setup()
    const a = await files.create()
    await a.fh.close()
    const fds = () => readdirSync('/proc/self/fd').length
    const before = fds()
    const removing = files.remove(a.id) // opens the file first: closing meanwhile
    await files.close()
    await removing
    expect(readdirSync(data)).toEqual([])
    expect(readdirSync(free)).toEqual([])
    expect(fds()).toBe(before) // was before + 1: a FileHandle left for the garbage collector (DEP0137)
  })

  it('a small removed file is emptied at once, without a thread-pool round trip; a large one through the pool', async () => {
    const { files, free } = setup()
    const small = await files.create()
    const large = await files.create()
    await small.fh.write(Buffer.alloc(64 * 1024, 1), 0, 64 * 1024, 0)
    await large.fh.truncate(8 * 1024 * 1024)
    const truncates = truncatesThroughPool({ small: small.fh, large: large.fh })
    await files.remove(small.id, small.fh)
    await files.remove(large.id, large.fh)
    expect(truncates).toEqual(['large'])
    expect(statSync(join(free, small.id)).size).toBe(0)
    expect(statSync(join(free, large.id)).size).toBe(0)
    await files.close()
  })

  it('a small file whose bytes were synced is emptied through the pool: freeing its blocks waits for the disk', async () => {
    const { files, free } = setup()
    const synced = await files.create()
    const unsynced = await files.create()
    for (const { fh } of [synced, unsynced]) await fh.write(Buffer.alloc(64 * 1024, 1), 0, 64 * 1024, 0)
    await synced.fh.datasync()
    files.noteSynced(synced.id)
    const truncates = truncatesThroughPool({ synced: synced.fh, unsynced: unsynced.fh })
    await files.remove(synced.id, synced.fh)
    await files.remove(unsynced.id, unsynced.fh)
    expect(truncates).toEqual(['synced'])
    expect(statSync(join(free, synced.id)).size).toBe(0)
    // Reused, it starts unsynced again: emptied at once the next time.
    const again = await files.create()
    await again.fh.write(Buffer.alloc(1024, 2), 0, 1024, 0)
    const againTruncates = truncatesThroughPool({ again: again.fh })
    await files.remove(again.id, again.fh)
    expect(againTruncates).toEqual([])
    await files.close()
  })

  it('ids are unique, hex (as journal records want them), and drawn without asking the system for random bytes each', () => {
    const { files } = setup()
    const other = setup().files
    const made = Array.from({ length: 1000 }, () => files.newId())
    expect(new Set([...made, ...Array.from({ length: 1000 }, () => other.newId())]).size).toBe(2000)
    for (const id of made) expect(id).toMatch(/^[0-9a-f]{17,}$/)
    expect(new Set(made.map((id) => id.slice(0, 16))).size).toBe(1) // one random prefix per spool, then a counter
  })

  it('removing an id twice (a stale handle) never empties the file someone reused', async () => {
    const { files } = setup()
    const a = await files.create()
    const stale = a.fh
    await files.remove(a.id) // reopened by path and recycled
    const b = await files.create()
    await b.fh.write(Buffer.from('keep me'), 0, 7, 0)
    await files.remove(a.id, stale)
    expect(readFileSync(files.path(b.id), 'utf8')).toBe('keep me')
    await b.fh.close()
    await files.close()
  })

  it(`keeps at most ${FREE_FILES_MAX} files; start-up deletes what a crash left in free/`, async () => {
    const { files, data, free } = setup()
    const made = []
    for (let i = 0; i < FREE_FILES_MAX + 3; i++) made.push(await files.create())
    for (const m of made) await files.remove(m.id, m.fh)
    expect(readdirSync(free)).toHaveLength(FREE_FILES_MAX)
    expect(readdirSync(data)).toEqual([])
    new DataFiles(data, free) // a new process on the same spool
    expect(readdirSync(free)).toEqual([])
    await files.close()
  })
})

describe('recoverSpool (start-up)', () => {
  /** A spool whose journal holds `records`, each with a data file of the given content (none: no file). */
  async function spoolWith(files: { record: JournalRecord; bytes?: string }[], leftovers: string[] = []) {
    const dir = tempDir()
    for (const sub of ['journal', 'data', 'free']) mkdirSync(join(dir, sub))
    const journal = new Journal(join(dir, 'journal'), 'boot-1')
    journal.loadAll()
    const dataFiles = new DataFiles(join(dir, 'data'), join(dir, 'free'))
    for (const { record: r, bytes } of files) {
      if (bytes !== undefined) writeFileSync(dataFiles.path(r.id), bytes)
      await journal.write(r)
    }
    for (const id of leftovers) writeFileSync(dataFiles.path(id), 'never committed')
    return { dir, dataFiles, journal: new Journal(join(dir, 'journal'), 'boot-1') }
  }

  it('keeps records whose bytes are whole; refuses, forgets and says why for the others; deletes leftovers', async () => {
    const good = record('a1', { size: 3 })
    const { dir, dataFiles, journal } = await spoolWith([
      { record: good, bytes: 'abc' },
      { record: record('b2', { size: 3 }) }, // no data file
      { record: record('c3', { size: 9 }), bytes: 'abc' }, // shorter than its record
      { record: record('d4', { size: 3, crc32: 1 }), bytes: 'abc' }, // bytes that do not match the record's checksum
    ], ['e5'])
    const { logger, records: logged } = memoryLogger()
    const recovered = recoverSpool(journal, dataFiles, logger)
    expect(recovered).toEqual([{ record: good, size: 3 }])
    const messages = logged.map((r) => String(r.msg))
    expect(messages).toEqual(expect.arrayContaining([
      'journal record without its data file: the pending upload is lost',
      expect.stringContaining('shorter than its record'),
      expect.stringContaining('does not match its record'),
    ]))
    await waitFor(() => readdirSync(join(dir, 'data')).join() === 'a1') // the refused ones' once their dels are synced
    await waitFor(() => ids(new Journal(join(dir, 'journal'), 'boot-1').loadAll().records).join() === 'a1')
    await journal.close()
    await dataFiles.close() // the refused ones' files, kept for reuse
  })

  it("a kept copy's record whose bytes were dropped (its del not written: the disk full) is no lost upload; a refused record whose del is not written keeps its bytes", async () => {
    const { dir, dataFiles, journal } = await spoolWith([
      { record: record('a1', { committedCopy: true }) }, // its bytes dropped with it (committed-copies.ts drop)
      { record: record('c3', { size: 9 }), bytes: 'abc' }, // shorter than its record
    ])
    const full = vi.spyOn(WholeLines.prototype, 'append').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
    })
    const { logger, records: logged } = memoryLogger()
    try {
      expect(recoverSpool(journal, dataFiles, logger)).toEqual([])
    } finally {
      full.mockRestore()
    }
    expect(logged.filter((r) => (r.level as number) >= 50).map((r) => String(r.msg))).toEqual([expect.stringContaining('shorter than its record')])
    expect(logged.map((r) => String(r.msg))).toContain('a kept copy of committed content whose bytes were dropped: nothing to upload')
    expect(readdirSync(join(dir, 'data'))).toEqual(['c3']) // its put is still the log's last word on it
    await journal.write(record('d4')) // the disk takes lines again: the dels go in first, and c3's bytes go
    await waitFor(() => readdirSync(join(dir, 'data')).length === 0)
    expect(ids(new Journal(tempDirWith(join(dir, 'journal')), 'boot-1').loadAll().records)).toEqual(['d4'])
    await journal.close()
    await dataFiles.close()
  })

  it('a refused record\'s data file goes only once its del is synced: a power loss before then finds the put with its bytes, not a lost upload', async () => {
    const older = record('a1', { name: 'same.bin' })
    const newer = record('b2', { name: 'same.bin' })
    const { dir, dataFiles } = await spoolWith([
      { record: older, bytes: 'old' }, { record: newer, bytes: 'new' },
      { record: record('c3', { size: 3, crc32: 1 }), bytes: 'abc' }, // bytes that do not match the record's checksum
    ])
    /** The journal's syncs: held, failed or done at once. */
    let syncs: 'hold' | 'fail' | 'ok' = 'hold'
    const held: { done: () => void; fail: (e: Error) => void }[] = []
    const eio = (): Error => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
    const journal = new Journal(join(dir, 'journal'), 'boot-1', () => new Promise<void>((done, fail) => {
      if (syncs === 'fail') fail(eio())
      else if (syncs === 'ok') done()
      else held.push({ done, fail })
    }))
    expect(recoverSpool(journal, dataFiles, memoryLogger().logger).map((f) => f.record.id)).toEqual(['b2'])
    // Their dels are appended, not synced yet: a power loss now may leave their puts the log's last word.
    await waitFor(() => held.length > 0)
    expect(readdirSync(join(dir, 'data')).sort()).toEqual(['a1', 'b2', 'c3'])
    syncs = 'fail'
    for (const h of held.splice(0)) h.fail(eio())
    await waitFor(() => journal.isUnremoved('a1') && journal.isUnremoved('c3'))
    expect(readdirSync(join(dir, 'data')).sort()).toEqual(['a1', 'b2', 'c3']) // still not durable
    syncs = 'ok'
    await journal.write(record('d4')) // the dels go in again, and are synced with it
    await waitFor(() => readdirSync(join(dir, 'data')).join() === 'b2')
    await journal.close()
    await dataFiles.close()
  })

  it('of two records for one path, the one written last wins and the older one goes, whatever their times say (touch -d, rsync -t)', async () => {
    const older = record('a1', { name: 'same.bin', mtimeMs: 2 })
    const newer = record('b2', { name: 'same.bin', mtimeMs: 1 }) // its time set back after it was written
    const other = record('c3', { mtimeMs: 3 })
    const { dir, dataFiles, journal } = await spoolWith([{ record: older, bytes: 'old' }, { record: newer, bytes: 'new' }, { record: other, bytes: 'abc' }])
    const recovered = recoverSpool(journal, dataFiles, memoryLogger().logger)
    expect(recovered.map((f) => f.record.id)).toEqual(['b2', 'c3'])
    await waitFor(() => readdirSync(join(dir, 'data')).sort().join() === 'b2,c3') // a1's once its del is synced
    await waitFor(() => ids(new Journal(join(dir, 'journal'), 'boot-1').loadAll().records).join() === 'b2,c3')
    await journal.close()
    await dataFiles.close() // the refused ones' files, kept for reuse
  })

  it('a record written again counts as written then, also after the log was compacted', async () => {
    const first = record('a1', { name: 'same.bin', mtimeMs: 1 })
    const second = record('b2', { name: 'same.bin', mtimeMs: 2 })
    const { dir, dataFiles } = await spoolWith([{ record: first, bytes: 'new' }, { record: second, bytes: 'old' }])
    const live = new Journal(join(dir, 'journal'), 'boot-1')
    live.loadAll()
    await live.write({ ...first, localPath: '/f/same.bin' }) // a1 written again, after b2
    // Enough files come and go for the log to be compacted (rewritten from its live records) in this process.
    for (let i = 0; i < 2000; i++) {
      live.writeInflight(record(`f${i.toString(16)}`))
      await live.remove(`f${i.toString(16)}`)
    }
    await live.close()
    const dels = readFileSync(join(dir, 'journal', JOURNAL_LOG), 'utf8').split('\n').filter((l) => l.startsWith('{"del"'))
    expect(dels.length).toBeLessThan(2000) // it was compacted
    const recovered = recoverSpool(new Journal(join(dir, 'journal'), 'boot-1'), dataFiles, memoryLogger().logger)
    expect(recovered.map((f) => f.record.id)).toEqual(['a1'])
  })
})

describe('CommittedCopies', () => {
  it.each([['copied (an edit)', false], ['moved (a truncate)', true]])('a kept copy whose folder sync fails leaves no record without its data file, and the file\'s own record whole: %s', async (_, truncate) => {
    const { dir, journal, dataFiles, id, fh, file } = await committedFile()
    dataFiles.syncNames = () => Promise.reject(Object.assign(new Error('EIO: fsync of data/'), { code: 'EIO' }))
    const { logger, records: logged } = memoryLogger()
    await new CommittedCopies(dataFiles, journal, logger).keep(file, truncate)
    expect(logged.map((r) => String(r.msg))).toEqual([expect.stringContaining('cannot keep the last committed content')])
    expect(file.committedCopy).toBeUndefined()
    await fh.close()
    await journal.close()
    // The next start finds the file's own record and its bytes, and nothing lost.
    const { logger: startLog, records: started } = memoryLogger()
    const recovered = recoverSpool(new Journal(join(dir, 'journal'), 'boot-1'), dataFiles, startLog)
    expect(started.map((r) => String(r.msg))).toEqual([])
    expect(recovered.map((f) => f.record.id)).toEqual([id])
    expect(readFileSync(dataFiles.path(id), 'utf8')).toBe('abc')
    expect(readdirSync(join(dir, 'data'))).toEqual([id])
    await dataFiles.close() // the emptied files it keeps open for reuse
  })

  /** A spool with one file whose last close committed 'abc' (durably: the content a truncating opener must keep). */
  async function committedFile() {
    const dir = tempDir()
    for (const sub of ['journal', 'data', 'free']) mkdirSync(join(dir, sub))
    const journal = new Journal(join(dir, 'journal'), 'boot-1')
    journal.loadAll()
    const dataFiles = new DataFiles(join(dir, 'data'), join(dir, 'free'))
    const { id, fh } = await dataFiles.create()
    await fh.writeFile('abc')
    const file = new PendingFile(id, dataFiles.path(id), '/f', 'a.bin', '/f/a.bin', 2, 3, 1, 1, undefined)
    file.fd = fh
    file.unsent = true
    await journal.write(file.record())
    return { dir, journal, dataFiles, id, fh, file }
  }

  it('a truncating opener\'s move whose removal of the file\'s own record fails (its append: the disk full) still gives the file its fresh empty file: no descriptor left behind, and a crash keeps the committed content', async () => {
    const { dir, journal, dataFiles, id, fh, file } = await committedFile()
    const append = WholeLines.prototype.append
    const full = vi.spyOn(WholeLines.prototype, 'append').mockImplementation(function (this: WholeLines, fd, text, what) {
      if (text.includes(`"del":"${id}"`)) throw Object.assign(new Error(`ENOSPC: no space left on device, ${what}`), { code: 'ENOSPC' })
      return append.call(this, fd, text, what)
    })
    const { logger, records: logged } = memoryLogger()
    try {
      await new CommittedCopies(dataFiles, journal, logger).keep(file, true)
    } finally {
      full.mockRestore()
    }
    expect(logged.map((r) => String(r.msg))).toEqual([expect.stringContaining('the journal could not note')])
    const copy = file.committedCopy!
    expect(file.fd).not.toBe(fh) // the fresh file, open; the old handle closed
    expect(descriptorsInto(dir).filter((fd) => fd.includes('/data/'))).toEqual([expect.stringMatching(new RegExp(`/data/${id}$`))])
    expect(readFileSync(dataFiles.path(id), 'utf8')).toBe('')
    expect(readFileSync(dataFiles.path(copy), 'utf8')).toBe('abc')
    expect(readdirSync(join(dir, 'data')).sort()).toEqual([id, copy].sort())
    await file.fd!.close()
    // A kill -9 now: the file's own record is still in the log (its del line never written), and refused, as its
    // data file is shorter than it; the kept copy's record speaks for the committed content.
    const { logger: startLog, records: started } = memoryLogger()
    const recovered = recoverSpool(new Journal(join(dir, 'journal'), 'boot-1'), dataFiles, startLog)
    expect(started.map((r) => String(r.msg))).toEqual([expect.stringContaining('shorter than its record')])
    expect(recovered.map((f) => f.record.id)).toEqual([copy])
    expect(readFileSync(dataFiles.path(copy), 'utf8')).toBe('abc')
    await dataFiles.close()
  })

  it('a truncating opener\'s move whose rename fails closes and removes the fresh file, and gives the file back its own record: its kept copy, a second name of its bytes, goes by name and is never emptied', async () => {
    const { dir, journal, dataFiles, id, fh, file } = await committedFile()
    const remove = Journal.prototype.remove
    const spied = vi.spyOn(Journal.prototype, 'remove').mockImplementation(async function (this: Journal, removed) {
      await remove.call(this, removed)
      if (removed !== id) return
      // The rename onto the file's data name will fail (EISDIR): the data file moves aside, a folder takes its name.
      renameSync(file.dataPath, `${file.dataPath}.aside`)
      mkdirSync(file.dataPath)
      writeFileSync(join(file.dataPath, 'x'), '')
    })
    try {
      await expect(new CommittedCopies(dataFiles, journal, memoryLogger().logger).keep(file, true)).rejects.toMatchObject({ code: 'EISDIR' })
    } finally {
      spied.mockRestore()
    }
    expect(file.fd).toBe(fh)
    expect(file.committedCopy).toBeUndefined()
    expect(descriptorsInto(dir).filter((fd) => fd.includes('/data/'))).toEqual([expect.stringMatching(new RegExp(`/data/${id}\\.aside$`))])
    expect(readdirSync(join(dir, 'data')).sort()).toEqual([id, `${id}.aside`])
    expect(readFileSync(`${file.dataPath}.aside`, 'utf8')).toBe('abc') // not emptied with the copy
    expect(journal.durableRecord(id)).toMatchObject({ size: 3 })
    expect(journal.size).toBe(1)
    await fh.close()
    await journal.close()
    await dataFiles.close()
  })
})

describe('LocalMtimes', () => {
  const noErrors = (e: unknown) => {
    throw e
  }

  it('a time belongs to the version it was set on, and comes back after a restart', () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors)
    m.set('file1', 'v1', 1_000)
    m.set('file2', 'file2', 2_000)
    expect(m.get('file1', 'v1')).toBe(1_000)
    expect(m.get('file1', 'v2')).toBeUndefined() // a newer version shows its own updatedAt
    expect(m.get('file3', 'file3')).toBeUndefined()
    m.set('file1', 'v2', 3_000) // one time per file: the current version's
    expect(m.get('file1', 'v1')).toBeUndefined()
    m.close()
    const again = new LocalMtimes(dir, noErrors)
    expect([again.get('file1', 'v2'), again.get('file2', 'file2'), again.get('file1', 'v1')]).toEqual([3_000, 2_000, undefined])
    again.close()
  })

  it('keeps the newest maxEntries times; a torn or foreign line is skipped', () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors, 3)
    for (let i = 1; i <= 5; i++) m.set(`f${i}`, 'v', i)
    expect([1, 2, 3, 4, 5].map((i) => m.get(`f${i}`, 'v'))).toEqual([undefined, undefined, 3, 4, 5])
    m.close()
    appendFileSync(join(dir, MTIMES_LOG), '{"f":"x","v":"v"}\n{"f":"f6","v":"v","m":6}\n{"f":"to')
    const again = new LocalMtimes(dir, noErrors, 3)
    expect([3, 4, 5, 6].map((i) => again.get(`f${i}`, 'v'))).toEqual([undefined, 4, 5, 6])
    expect(again.get('x', 'v')).toBeUndefined()
    again.close()
  })

  it('after a crash that tore the last line, the next time or deletion written is a line of its own', () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors)
    m.set('deleted', 'v', 1)
    m.close()
    appendFileSync(join(dir, MTIMES_LOG), '{"f":"torn","v":"v","m')
    const after = new LocalMtimes(dir, noErrors)
    after.forget('deleted')
    after.set('kept', 'v', 2)
    after.close()
    const again = new LocalMtimes(dir, noErrors)
    expect([again.get('deleted', 'v'), again.get('kept', 'v'), again.get('torn', 'v')]).toEqual([undefined, 2, undefined])
    again.close()
  })

  it('the log is rewritten with its live entries once mostly dead, in a private file', () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors)
    for (let i = 0; i < 25_000; i++) m.set('same', `v${i}`, i)
    m.close()
    const lines = readFileSync(join(dir, MTIMES_LOG), 'utf8').split('\n').filter(Boolean)
    expect(lines.length).toBeLessThan(11_000)
    expect(statSync(join(dir, MTIMES_LOG)).mode & 0o777).toBe(0o600)
    expect(new LocalMtimes(dir, noErrors).get('same', 'v24999')).toBe(24_999)
  })

  it('a rewrite while mounted replaces the log only with a copy synced first: a power loss right after leaves the old log or the new one, never one emptied', () => {
    const dir = tempDir()
    const replace = fullDisk.replaceWithLinesSync
    const rewrites: { sync?: boolean }[] = []
    const spied = vi.spyOn(fullDisk, 'replaceWithLinesSync').mockImplementation((path, lines, what, options = {}) => {
      if (what === 'mtimes rewrite') rewrites.push(options)
      replace(path, lines, what, options)
    })
    try {
      const m = new LocalMtimes(dir, noErrors)
      for (let i = 0; i < 25_000; i++) m.set('same', `v${i}`, i)
      m.close()
    } finally {
      spied.mockRestore()
    }
    expect(rewrites.length).toBeGreaterThan(0)
    expect(rewrites.filter((o) => o.sync !== true)).toEqual([])
  })

  it('a rewrite the disk cannot take (full) still appends the time that called for it, reports it once, and is tried again only after as many lines more', () => {
    const dir = tempDir()
    const errors: unknown[] = []
    const m = new LocalMtimes(dir, (e) => errors.push(e))
    for (let i = 0; i < 10_000; i++) m.set('same', `v${i}`, i)
    let tries = 0
    const spied = vi.spyOn(fullDisk, 'replaceWithLinesSync').mockImplementation(() => {
      tries++
      throw Object.assign(new Error('ENOSPC: no space left on device, mtimes rewrite'), { code: 'ENOSPC' })
    })
    try {
      for (let i = 10_000; i < 10_100; i++) m.set('same', `v${i}`, i) // past the slack: a rewrite is due
      m.set('other', 'v1', 7)
    } finally {
      spied.mockRestore()
    }
    expect([tries, errors.length]).toEqual([1, 1])
    const again = new LocalMtimes(dir, noErrors) // a kill -9: the log as it is
    expect([again.get('same', 'v10099'), again.get('other', 'v1')]).toEqual([10_099, 7])
    m.close()
  })

  it('the time of a deleted file is forgotten, after a restart too; files that come and go leave a bounded log', () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors)
    m.set('kept', 'v', 1)
    for (let i = 0; i < 25_000; i++) {
      m.set(`gone${i}`, 'v', i)
      m.forget(`gone${i}`)
    }
    m.forget('never-set') // nothing to forget: nothing written
    expect([m.size, m.get('gone24999', 'v'), m.get('kept', 'v')]).toEqual([1, undefined, 1])
    m.close()
    const lines = readFileSync(join(dir, MTIMES_LOG), 'utf8').split('\n').filter(Boolean)
    expect(lines.length).toBeLessThan(11_000)
    const again = new LocalMtimes(dir, noErrors)
    expect([again.size, again.get('gone24999', 'v'), again.get('kept', 'v')]).toEqual([1, undefined, 1])
    again.close()
  })

  it("rekey moves a key's time and those of the keys under it (a folder renamed, with its subfolders), also after a restart", () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors)
    m.set('d:/a', '', 1)
    m.set('d:/a/sub', '', 2)
    m.set('d:/ab', '', 3) // a sibling whose name only begins the same: not under /a
    m.rekey('d:/a', 'd:/b')
    const shown = (t: LocalMtimes) => ['d:/a', 'd:/a/sub', 'd:/b', 'd:/b/sub', 'd:/ab'].map((k) => t.get(k, ''))
    expect(shown(m)).toEqual([undefined, undefined, 1, 2, 3])
    m.close()
    const again = new LocalMtimes(dir, noErrors)
    expect(shown(again)).toEqual([undefined, undefined, 1, 2, 3])
    again.close()
  })

  it('a clean close (compact) leaves only the live times, in a private file; a log without dead lines is left as it was, and a close without compact (a read-only mount\'s) writes nothing', () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors)
    for (let i = 0; i < 200; i++) {
      m.set(`f${i}`, 'v', i) // a file copied in: its time, then its folder's
      m.setFolder('d:/', i, 1_000 + i)
    }
    for (let i = 0; i < 50; i++) m.forget(`f${i}`)
    m.close()
    const log = join(dir, MTIMES_LOG)
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toHaveLength(450) // only a compacting close rewrites it
    const again = new LocalMtimes(dir, noErrors)
    again.close({ compact: true })
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown)
    expect(lines).toEqual([
      ...Array.from({ length: 150 }, (_, i) => ({ f: `f${i + 50}`, v: 'v', m: i + 50 })),
      { f: 'd:/', v: '1199', m: 199 },
    ])
    expect(statSync(log).mode & 0o777).toBe(0o600)
    expect(readdirSync(dir)).toEqual([MTIMES_LOG]) // no .tmp left
    const third = new LocalMtimes(dir, noErrors)
    expect([third.size, third.get('f49', 'v'), third.get('f199', 'v'), third.getFolder('d:/', undefined)]).toEqual([151, undefined, 199, 199])
    const { ino } = statSync(log)
    third.set('f199', 'v', 199) // no change: no line
    third.close({ compact: true })
    expect(statSync(log).ino).toBe(ino) // not rewritten: no dead line
  })

  it('a clean close (compact) leaves no log when no time is kept; a torn last line counts as dead', () => {
    const dir = tempDir()
    const m = new LocalMtimes(dir, noErrors)
    for (let i = 0; i < 100; i++) m.set(`f${i}`, 'v', i)
    for (let i = 0; i < 100; i++) m.forget(`f${i}`)
    m.close({ compact: true })
    expect(readdirSync(dir)).toEqual([])
    new LocalMtimes(dir, noErrors).close({ compact: true }) // none to remove
    expect(readdirSync(dir)).toEqual([])
    const torn = new LocalMtimes(dir, noErrors)
    torn.set('kept', 'v', 1)
    torn.close()
    appendFileSync(join(dir, MTIMES_LOG), '{"f":"torn","v":"v","m')
    new LocalMtimes(dir, noErrors).close({ compact: true })
    expect(readFileSync(join(dir, MTIMES_LOG), 'utf8')).toBe('{"f":"kept","v":"v","m":1}\n')
  })

  it('the mount that writes the log compacts it at start (a kill -9 skipped the close that would have); a read-only one only reads it', () => {
    const dir = tempDir()
    const log = join(dir, MTIMES_LOG)
    const m = new LocalMtimes(dir, noErrors)
    for (let i = 0; i < 200; i++) m.set(`f${i}`, 'v', i)
    for (let i = 0; i < 150; i++) m.forget(`f${i}`)
    m.close() // its descriptor: a kill -9 closes it too, without compacting
    appendFileSync(log, '{"f":"torn","v":"v","m') // kill -9 in the middle of a line: no close
    const readOnly = new LocalMtimes(dir, noErrors)
    readOnly.close()
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toHaveLength(351)
    const writer = new LocalMtimes(dir, noErrors)
    writer.compactAtStart()
    expect(readFileSync(log, 'utf8')).toBe(Array.from({ length: 50 }, (_, i) => JSON.stringify({ f: `f${i + 150}`, v: 'v', m: i + 150 }) + '\n').join(''))
    expect(readdirSync(dir)).toEqual([MTIMES_LOG]) // no .tmp left
    expect(statSync(log).mode & 0o777).toBe(0o600)
    writer.set('new', 'v', 7) // appended to the new log, on a line of its own
    writer.close()
    const again = new LocalMtimes(dir, noErrors)
    expect([again.size, again.get('f149', 'v'), again.get('f199', 'v'), again.get('new', 'v')]).toEqual([51, undefined, 199, 7])
    const { ino } = statSync(log)
    again.compactAtStart() // no dead line: left as it is
    expect(statSync(log).ino).toBe(ino)
    again.close()
    // Every time forgotten: no log is left.
    const gone = new LocalMtimes(dir, noErrors)
    for (const f of ['new', ...Array.from({ length: 50 }, (_, i) => `f${i + 150}`)]) gone.forget(f)
    const next = new LocalMtimes(dir, noErrors)
    next.compactAtStart()
    expect(readdirSync(dir)).toEqual([])
    next.close()
    gone.close()
  })

  it('a log that cannot be written is reported; the time is still kept in memory', () => {
    const dir = join(tempDir(), 'gone') // the spool folder vanished: writes fail
    const errors: unknown[] = []
    const m = new LocalMtimes(dir, (e) => errors.push(e))
    m.set('f', 'v', 7)
    expect(m.get('f', 'v')).toBe(7)
    expect(errors).toHaveLength(1)
    expect((errors[0] as NodeJS.ErrnoException).code).toBe('ENOENT')
  })
})

describe('RecentCopies', () => {
  const spools: DataFiles[] = []
  afterEach(async () => {
    for (const files of spools.splice(0)) await files.close() // the emptied files it keeps open for reuse
  })

  /** A spool with data/, free/ and kept/, and `n` data files of `size` bytes each. */
  async function spool(n: number, size: number) {
    const root = tempDir()
    for (const d of ['data', 'free', 'kept']) mkdirSync(join(root, d))
    const files = new DataFiles(join(root, 'data'), join(root, 'free'))
    spools.push(files)
    const ids: string[] = []
    for (let i = 0; i < n; i++) {
      const { id, fh } = await files.create()
      await fh.write(Buffer.alloc(size, i))
      await fh.close()
      ids.push(id)
    }
    const ls = (d: string) => readdirSync(join(root, d)).sort()
    /** The copies kept in kept/: an evicted one is emptied where it is, for the next create to take from there. */
    const copies = () => ls('kept').filter((name) => statSync(join(root, 'kept', name)).size > 0)
    return { root, files, ids, ls, copies }
  }

  it('keeps the newest copies within count, bytes and age; take hands one back into data/', async () => {
    const { root, files, ids, ls, copies } = await spool(5, 10)
    const clock = new ManualClock()
    const recent = new RecentCopies(files, join(root, 'kept'), clock, { maxCopies: 3, maxBytes: 25, ttlMs: 1000 })
    for (const [i, id] of ids.entries()) await recent.keep(`file${i}`, 'v1', { id, fh: undefined, size: 10 })
    // 3 copies would be 30 bytes: only the 2 newest stay
    expect(copies()).toEqual([ids[3], ids[4]].sort())
    expect(ls('data')).toEqual([])
    expect([recent.count, recent.bytes]).toEqual([2, 20])
    expect(recent.take('file4', 'v2', 10)).toBeUndefined() // another version
    expect(recent.take('file4', 'v1', 11)).toBeUndefined() // another size
    const copy = recent.take('file4', 'v1', 10)
    expect(copy?.id).toBe(ids[4])
    expect(readFileSync(files.path(ids[4]!))).toEqual(Buffer.alloc(10, 4))
    expect(recent.take('file4', 'v1', 10)).toBeUndefined() // taken once
    await recent.keep('file4', 'v2', { id: copy!.id, fh: copy!.fh, size: 10 }) // with the descriptor take handed back
    await recent.drop('file4') // deleted: no version of it stays
    expect(copies()).toEqual([ids[3]])
    clock.advance(1000)
    expect(recent.take('file3', 'v1', 10)).toBeUndefined() // expired
    await recent.close()
    expect(copies()).toEqual([])
    await files.close()
    expect([ls('kept'), ls('free'), ls('data')]).toEqual([[], [], []]) // the emptied files go at unmount
  })

  it('an evicted copy is emptied in kept/ and the next create takes it from there: one rename per reuse, none into free/', async () => {
    const { root, files, ids, ls, copies } = await spool(2, 10)
    const recent = new RecentCopies(files, join(root, 'kept'), new ManualClock(), { maxCopies: 1 })
    const evicted = statSync(join(root, 'data', ids[0]!)).ino
    await recent.keep('f0', 'v1', { id: ids[0]!, fh: undefined, size: 10 })
    await recent.keep('f1', 'v1', { id: ids[1]!, fh: undefined, size: 10 }) // f0's copy goes
    expect(copies()).toEqual([ids[1]])
    expect(ls('free')).toEqual([])
    expect(statSync(join(root, 'kept', ids[0]!))).toMatchObject({ ino: evicted, size: 0 })
    const next = await files.create()
    expect(statSync(files.path(next.id))).toMatchObject({ ino: evicted, size: 0 })
    expect(ls('kept')).toEqual([ids[1]])
    await next.fh.close()
    await recent.close()
  })

  it('a file over the byte limit is not kept; start-up deletes what a crash left in kept/', async () => {
    const { root, files, ids, ls } = await spool(2, 10)
    const recent = new RecentCopies(files, join(root, 'kept'), new ManualClock(), { maxBytes: 5 })
    await recent.keep('big', 'v1', { id: ids[0]!, fh: undefined, size: 10 })
    expect(ls('kept')).toEqual([])
    const roomy = new RecentCopies(files, join(root, 'kept'), new ManualClock())
    await roomy.keep('f', 'v1', { id: ids[1]!, fh: undefined, size: 10 })
    expect(ls('kept')).toEqual([ids[1]])
    // "crash": no close; the next mount's RecentCopies starts empty
    const next = new RecentCopies(files, join(root, 'kept'), new ManualClock())
    expect(ls('kept')).toEqual([])
    expect(next.take('f', 'v1', 10)).toBeUndefined()
    await roomy.close() // the descriptor it kept, which the kernel would have closed with a crashed process
  })

  it('readAt (R4, R5): the bytes of a kept version, only while it stays kept; a copy taken back or removed during the read answers false', async () => {
    const { root, files, ids } = await spool(3, 10)
    const clock = new ManualClock()
    // The copies on disk only: those in memory (tested below) never change under a read.
    const recent = new RecentCopies(files, join(root, 'kept'), clock, { ttlMs: 1000, memory: { maxBytes: 0 } })
    await recent.keep('f0', 'v1', { id: ids[0]!, fh: undefined, size: 10 })
    await recent.keep('f1', 'v1', { id: ids[1]!, fh: await open(join(root, 'data', ids[1]!), 'r+'), size: 10 })
    await recent.keep('f2', 'v1', { id: ids[2]!, fh: undefined, size: 10 })
    const dest = Buffer.alloc(4)
    expect(recent.has('f0', 'v1', 10)).toBe(true)
    expect(await recent.readAt('f0', 'v1', 10, dest, 6)).toBe(true)
    expect(dest).toEqual(Buffer.alloc(4, 0))
    expect(await recent.readAt('f1', 'v1', 10, dest, 0)).toBe(true) // through the descriptor it was kept with
    expect(dest).toEqual(Buffer.alloc(4, 1))
    for (const [fileId, versionId, size, at] of [['f0', 'v2', 10, 0], ['f0', 'v1', 11, 0], ['f0', 'v1', 10, 7]] as const) {
      expect(recent.has(fileId, versionId, size) && at + 4 <= size, `${fileId} ${versionId} ${size} ${at}`).toBe(false)
      expect(await recent.readAt(fileId, versionId, size, dest, at)).toBe(false) // another version, another size, past the end
    }
    // Taken back (a rename over another file: the taker may write it) while the read runs.
    const reading = recent.readAt('f1', 'v1', 10, Buffer.alloc(4), 0)
    const taken = recent.take('f1', 'v1', 10)
    expect(taken).toBeDefined()
    expect(await reading).toBe(false)
    await taken!.fh!.close()
    // Removed (a delete) while the read runs.
    const removed = recent.readAt('f2', 'v1', 10, Buffer.alloc(4), 0)
    await recent.drop('f2')
    expect(await removed).toBe(false)
    clock.advance(1000)
    expect([recent.has('f0', 'v1', 10), await recent.readAt('f0', 'v1', 10, dest, 0)]).toEqual([false, false]) // expired
    await recent.close()
  })

  it('giveWay (a full disk) removes every kept copy, but not one taken back while it runs', async () => {
    const { root, files, ids, ls, copies } = await spool(3, 10)
    const recent = new RecentCopies(files, join(root, 'kept'), new ManualClock())
    expect(await recent.giveWay()).toBe(false) // nothing kept: no room to make
    for (const [i, id] of ids.entries()) {
      const fh = await open(join(root, 'data', id), 'r+')
      await recent.keep(`file${i}`, 'v1', { id, fh, size: 10 })
    }
    expect(ls('kept')).toEqual([...ids].sort())
    const giving = recent.giveWay()
    // The first removal is under way; the last copy is taken back (a rename over another file) meanwhile.
    const taken = recent.take('file2', 'v1', 10)
    expect(taken?.id).toBe(ids[2])
    expect(await giving).toBe(true)
    expect(copies()).toEqual([])
    expect(ls('kept')).toHaveLength(2) // emptied (their disk space given back), kept open for reuse
    expect([recent.count, recent.bytes]).toEqual([0, 0])
    // The taker's copy is whole, and its descriptor still open.
    expect(readFileSync(files.path(ids[2]!))).toEqual(Buffer.alloc(10, 2))
    expect((await taken!.fh!.stat()).size).toBe(10)
    await taken!.fh!.close()
  })

  /** Data files of `sizes`, each filled with its index + 1 (a distinct byte). */
  async function dataFilesOf(sizes: number[]) {
    const root = tempDir()
    for (const d of ['data', 'free', 'kept']) mkdirSync(join(root, d))
    const files = new DataFiles(join(root, 'data'), join(root, 'free'))
    spools.push(files)
    const made = async (i: number) => {
      const { id, fh } = await files.create()
      await fh.write(Buffer.alloc(sizes[i]!, i + 1), 0, sizes[i]!, 0) // at 0: a reused file's descriptor is past its old end
      return { id, fh, size: sizes[i]! }
    }
    return { root, files, made }
  }

  it('R4: reads of many more versions than the copies on disk are served from memory, their data files reused at once', async () => {
    const n = RECENT_COPIES_MAX * 3
    const { root, files, made } = await dataFilesOf(Array.from({ length: n }, (_, i) => 1000 + i))
    const recent = new RecentCopies(files, join(root, 'kept'), new ManualClock())
    const copies = []
    for (let i = 0; i < n; i++) copies.push(await made(i))
    for (const [i, copy] of copies.entries()) await recent.keep(`f${i}`, 'v1', copy)
    expect(recent.count).toBe(RECENT_COPIES_MAX) // on disk, as before
    // Emptied for reuse at once, where they were kept.
    expect(readdirSync(join(root, 'kept')).filter((name) => statSync(join(root, 'kept', name)).size === 0)).toHaveLength(n - RECENT_COPIES_MAX)
    for (let i = 0; i < n; i++) {
      const dest = Buffer.alloc(100)
      expect(recent.has(`f${i}`, 'v1', 1000 + i), `f${i}`).toBe(true)
      expect(await recent.readAt(`f${i}`, 'v1', 1000 + i, dest, 900 + i), `f${i}`).toBe(true)
      expect(dest.equals(Buffer.alloc(100, i + 1)), `f${i}`).toBe(true)
      expect(recent.has(`f${i}`, 'v2', 1000 + i) || recent.has(`f${i}`, 'v1', 1001 + i)).toBe(false) // another version, another size
    }
    expect(recent.inMemory).toEqual({ count: n, bytes: n * 1000 + (n * (n - 1)) / 2 })
    await recent.close()
    expect([recent.has('f0', 'v1', 1000), recent.inMemory.count]).toEqual([false, 0])
  })

  it('R5: a file stored again or deleted is never read from the copy of its older version', async () => {
    const { root, files, made } = await dataFilesOf([10, 10, 10, 10, 2 * 1024 * 1024])
    const recent = new RecentCopies(files, join(root, 'kept'), new ManualClock(), { maxCopies: 0 }) // memory only
    const read = async (fileId: string, versionId: string) => {
      const dest = Buffer.alloc(10)
      return (await recent.readAt(fileId, versionId, 10, dest, 0)) ? dest[0] : undefined
    }
    await recent.keep('f', 'v1', await made(0))
    await recent.keep('f', 'v2', await made(1)) // written again, as many bytes
    expect([await read('f', 'v1'), await read('f', 'v2')]).toEqual([undefined, 2])
    await recent.keep('g', 'v1', await made(2))
    await recent.drop('g') // deleted
    expect(await read('g', 'v1')).toBeUndefined()
    const big = await made(4) // larger than a copy in memory may be
    await recent.keep('f', 'v3', big)
    expect([recent.has('f', 'v3', big.size), await read('f', 'v2')]).toEqual([false, undefined])
    await recent.keep('f', 'v4', await made(3))
    expect(await read('f', 'v4')).toBe(4)
    expect(recent.inMemory).toEqual({ count: 1, bytes: 10 })
    await recent.close()
  })

  it('a lap of the ring starts over where the end of the last one is still kept: that end goes first, being older', async () => {
    const bytes = new RecentBytes(new ManualClock(), { maxBytes: 100, maxFileBytes: 50, ttlMs: 1000 })
    const path = join(tempDir(), 'data')
    const sizes: Record<string, number> = { a: 30, b: 30, c: 30, d: 20, e: 35, f: 50 }
    for (const [i, id] of Object.keys(sizes).entries()) {
      writeFileSync(path, Buffer.alloc(sizes[id]!, i + 1))
      const fh = await open(path, 'r')
      bytes.keep(id, 'v1', sizes[id]!, fh)
      await fh.close()
    }
    // a@0 b@30 c@60; d wraps to 0 (a goes); e@20 (b goes); f wraps again: c, beyond the head, is older than d and e
    expect(Object.keys(sizes).map((id) => bytes.get(id, 'v1', sizes[id]!)?.[0])).toEqual([undefined, undefined, undefined, undefined, undefined, 6])
    expect([bytes.count, bytes.bytes]).toEqual([1, 50])
    bytes.close()
  })

  it('the copies in memory share one ring: each lap overwrites only the oldest copies in its way, the others read back exact', async () => {
    const ringBytes = 4096
    const bytes = new RecentBytes(new ManualClock(), { maxBytes: ringBytes, maxFileBytes: 1000, ttlMs: 1000 })
    const root = tempDir()
    let seed = 7
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
    const written = new Map<string, { versionId: string; content: Buffer; at: number }>()
    let total = 0 // bytes stored in the ring so far, copies dropped or replaced since included
    for (let i = 0; i < 400; i++) {
      const fileId = `f${random(40)}`
      const content = Buffer.alloc(1 + random(1000), i % 251)
      writeFileSync(join(root, 'data'), content)
      const fh = await open(join(root, 'data'), 'r')
      bytes.keep(fileId, `v${i}`, content.length, fh)
      await fh.close()
      total += content.length
      if (random(10) === 0) {
        bytes.drop(fileId)
        written.delete(fileId)
      } else written.set(fileId, { versionId: `v${i}`, content, at: total - content.length })
      // Every copy still kept reads back exact; an older version never does.
      let kept = 0
      for (const [id, { versionId, content: expected }] of written) {
        const got = bytes.get(id, versionId, expected.length)
        if (got) {
          kept++
          expect(got.equals(expected), `${id} ${versionId}`).toBe(true)
        }
        expect(bytes.get(id, `v${i + 1}`, expected.length)).toBeUndefined()
      }
      expect(kept).toBe(bytes.count)
      // A copy stays while the copies stored since, itself included, fit in the ring (a lap leaves less than
      // one copy's room unused at its end).
      for (const [id, { versionId, content: expected, at }] of written) {
        if (total - at <= ringBytes - 1000) expect(bytes.get(id, versionId, expected.length), `recent ${id}`).toBeDefined()
      }
    }
    bytes.close()
  })

  it('the copies in memory are bounded by bytes (oldest out first), by a file\'s size and by age', async () => {
    const { root, files, made } = await dataFilesOf([10, 10, 10, 31, 10])
    const clock = new ManualClock()
    const recent = new RecentCopies(files, join(root, 'kept'), clock, { maxCopies: 0, memory: { maxBytes: 25, maxFileBytes: 30, ttlMs: 1000 } })
    for (const i of [0, 1, 2, 3]) await recent.keep(`f${i}`, 'v1', await made(i))
    // 30 bytes would not fit: f0 went; f3 is larger than a file may be
    expect(['f0', 'f1', 'f2', 'f3'].map((f) => recent.has(f, 'v1', f === 'f3' ? 31 : 10))).toEqual([false, true, true, false])
    expect(recent.inMemory).toEqual({ count: 2, bytes: 20 })
    clock.advance(500)
    await recent.keep('f4', 'v1', await made(4)) // evicts f1 (20 + 10 > 25)
    clock.advance(500)
    expect(['f2', 'f4'].map((f) => recent.has(f, 'v1', 10))).toEqual([false, true]) // f2's time is up
    clock.advance(500)
    expect(recent.has('f4', 'v1', 10)).toBe(false)
    await recent.close()
  })
})

describe('Spool lock', () => {
  const LIBRARY = 'https://ik.example.test/demo'
  const children: ChildProcess[] = []
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL')
  })
  /** A live process other than this one (its pid, once it runs). */
  async function liveProcess(command = 'exec sleep 30'): Promise<{ pid: number; out: () => string }> {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'] })
    children.push(child)
    let out = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    await new Promise((resolve) => child.once('spawn', resolve))
    return { pid: child.pid!, out: () => out }
  }
  const lockOf = (spool: Spool) => join(spool.dir, 'lock')
  /** Writes `text` as the lock of a fresh spool folder, then opens the spool there again. */
  function reopenWithLock(root: string, text: string): Spool {
    const first = new Spool(root, LIBRARY)
    first.unlock()
    writeFileSync(lockOf(first), text)
    return new Spool(root, LIBRARY)
  }

  it('a live mount of the same library keeps others out, saying which process holds it', async () => {
    const owner = await liveProcess()
    const root = tempDir()
    const first = new Spool(root, LIBRARY)
    first.unlock()
    writeFileSync(lockOf(first), ownerLine(owner.pid))
    expect(() => new Spool(root, LIBRARY)).toThrow(new RegExp(`in use by process ${owner.pid} `))
    // The pid-only form of older versions: judged by the pid.
    writeFileSync(lockOf(first), `${owner.pid}\n`)
    expect(() => new Spool(root, LIBRARY)).toThrow(/in use by process/)
  })

  it('the lock of a process that is gone, a zombie, another process by now, or an earlier boot is taken over', async () => {
    const root = tempDir()
    const gone = spawnSync('true').pid!
    reopenWithLock(root, ownerLine(gone)).unlock()
    // A zombie: the shell's background child exits, and `sleep` (the shell, exec'ed) never reaps it. The child
    // outlives the exec: one that ended before it could be reaped by the shell itself (dash reaps finished jobs
    // between commands), leaving no zombie and no /proc entry.
    const parent = await liveProcess('sleep 0.3 & echo $!; exec sleep 30')
    await waitFor(() => parent.out().trim() !== '')
    const zombie = Number(parent.out().trim())
    await waitFor(() => readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'))
    expect(liveOwner(`${zombie}\n`)).toBeUndefined()
    reopenWithLock(root, `${zombie}\n`).unlock()
    // A live pid with another start time: the pid was reused.
    const reused = await liveProcess()
    const [pid, , boot] = ownerLine(reused.pid).trim().split(' ')
    expect(liveOwner(ownerLine(reused.pid))).toBe(reused.pid)
    reopenWithLock(root, `${pid} 1 ${boot}\n`).unlock()
    // Written before a reboot (another boot id), whatever runs under that pid now.
    reopenWithLock(root, `${reused.pid} - 00000000-0000-0000-0000-000000000000\n`).unlock()
  })
})

describe('Spool folder', () => {
  it("names its library; another library's spool in the cache dir with files not stored and no live mount is found", async () => {
    const root = tempDir()
    const typo = new Spool(root, 'https://ik.example.test/acem')
    writeFileSync(join(typo.dataDir, '0123456789abcdef'), 'not stored yet')
    typo.unlock()
    const stored = new Spool(root, 'https://ik.example.test/done')
    stored.unlock()
    const busy = new Spool(root, 'https://ik.example.test/busy')
    writeFileSync(join(busy.dataDir, 'fedcba9876543210'), 'being written by a live mount')
    const own = new Spool(root, 'https://ik.example.test/acme')
    writeFileSync(join(own.dataDir, 'aaaaaaaaaaaaaaaa'), 'ours')
    mkdirSync(join(root, 'not-a-spool', 'data'), { recursive: true })
    writeFileSync(join(root, 'not-a-spool', 'data', 'x'), 'x')
    expect(readFileSync(join(own.dir, 'library'), 'utf8')).toBe('https://ik.example.test/acme\n')
    expect(idleSpoolsWithFiles(root, own.dir)).toEqual([{ dir: typo.dir, library: 'https://ik.example.test/acem', files: 1 }])
    own.unlock()
    busy.unlock()
  })


  it('is made level by level, and a cache dir that cannot hold folders fails at once with the reason', () => {
    const root = tempDir()
    const spool = new Spool(join(root, 'a', 'b', 'c'), 'https://ik.example.test/demo')
    expect(statSync(spool.dataDir).mode & 0o777).toBe(0o700)
    spool.unlock()
    // mkdir under /proc answers ENOENT although /proc exists: Node's recursive mkdir loops there for ever.
    expect(() => new Spool('/proc/ikfs-no-such-cache', 'https://ik.example.test/demo')).toThrow(/cannot use the spool folder .*ENOENT/)
  })
})
