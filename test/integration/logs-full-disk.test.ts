/**
 * The spool's logs on a disk that is full (W14): a journal append the disk cannot take whole fails and leaves
 * no torn line behind (the next record would be glued onto it and lost at the next start), a rewrite that
 * cannot be written whole leaves the log as it was, and the mtimes log (W13) loses no time set after one that
 * did not fit; the emulator's journal neither, and the emulator says why it answers 500. On a small tmpfs of
 * its own (root, as every test here).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JOURNAL_LOG, Journal, type JournalRecord } from '../../src/vfs/spool/journal.js'
import { LocalMtimes, MTIMES_LOG } from '../../src/vfs/spool/mtimes.js'
import { Journal as EmulatorJournal, readJournal } from '../../src/emulator/journal.js'
import { startEmulator } from '../../src/emulator/server.js'
import { createLogger } from '../../src/log.js'

const isRoot = process.getuid?.() === 0
let fsDir = ''

beforeAll(() => {
  if (!isRoot) return
  fsDir = mkdtempSync(join(tmpdir(), 'ikfs-fullfs-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', fsDir])
})

afterAll(() => {
  if (!fsDir) return
  execFileSync('umount', ['-l', fsDir])
  rmSync(fsDir, { recursive: true, force: true })
})

/** `id` in hex, as the spool's ids are. */
function record(id: string): JournalRecord {
  // Long names, so that a line is a few hundred bytes and a block fills after a handful.
  return { v: 1, id, folder: '/f', name: `${id}-${'n'.repeat(200)}.bin`, localPath: `/f/${id}.bin`, size: 3, mtimeMs: 1, state: 'pending', attempts: 0 }
}

/** Fills the file system to its last byte; returns the filler's path. */
function fill(dir: string): string {
  const filler = join(dir, 'filler')
  const block = Buffer.alloc(4096, 1)
  let written = 0
  try {
    for (;;) {
      writeFileSync(filler, block, { flag: 'a' })
      written += block.length
    }
  } catch (e) {
    expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC')
  }
  expect(written).toBeGreaterThan(0)
  return filler
}

function logLines(dir: string, name = JOURNAL_LOG): string[] {
  return readFileSync(join(dir, name), 'utf8').split('\n').filter((l) => l !== '')
}

describe.skipIf(!isRoot)('the spool journal on a full disk (W14)', () => {
  it('an append that does not fit fails whole: no torn line, and every record acknowledged before or after comes back', () => {
    const dir = join(fsDir, 'append')
    execFileSync('mkdir', [dir])
    const journal = new Journal(dir, 'boot-1')
    journal.loadAll()
    journal.writeInflight(record('f0'))
    const filler = fill(fsDir)
    const acknowledged = ['f0']
    let failure: unknown
    for (let i = 0; i < 100 && failure === undefined; i++) {
      try {
        journal.writeInflight(record(`a${i.toString(16)}`))
        acknowledged.push(`a${i.toString(16)}`)
      } catch (e) {
        failure = e
      }
    }
    expect((failure as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC')
    const lines = logLines(dir)
    expect(lines).toHaveLength(acknowledged.length)
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
    expect(statSync(join(dir, JOURNAL_LOG)).size).toBe(lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0))

    unlinkSync(filler)
    journal.writeInflight(record('b0'))
    acknowledged.push('b0')
    expect(new Journal(dir, 'boot-1').loadAll().records.map((r) => r.id).sort()).toEqual(acknowledged.sort())
  })

  it('a rewrite that does not fit leaves the log as it was', () => {
    const dir = join(fsDir, 'rewrite')
    execFileSync('mkdir', [dir])
    const journal = new Journal(dir, 'boot-1')
    journal.loadAll()
    for (let i = 0; i < 20; i++) journal.writeInflight(record(`c${i.toString(16)}`))
    const before = readFileSync(join(dir, JOURNAL_LOG))
    const filler = fill(fsDir)
    // A start-up rewrites the log with its live records: here there is no room for the copy.
    expect(() => new Journal(dir, 'boot-1').loadAll()).toThrow(/ENOSPC/)
    expect(readFileSync(join(dir, JOURNAL_LOG)).equals(before)).toBe(true)
    unlinkSync(filler)
    expect(new Journal(dir, 'boot-1').loadAll().records).toHaveLength(20)
  })

  it('the mtimes log: a time that did not fit is reported, and every time set before or after it comes back', () => {
    const dir = join(fsDir, 'mtimes')
    execFileSync('mkdir', [dir])
    const errors: unknown[] = []
    const times = new LocalMtimes(dir, (e) => errors.push(e))
    times.set('before', 'v1', 7) // the log has a page, partly free, before the disk fills
    const kept = new Map<string, number>([['before', 7]])
    const filler = fill(fsDir)
    for (let i = 0; i < 200 && errors.length === 0; i++) {
      const fileId = `${'f'.repeat(300)}${i}` // long ids: a few lines fill a page
      times.set(fileId, 'v1', 1_000 + i)
      if (errors.length === 0) kept.set(fileId, 1_000 + i)
    }
    expect((errors[0] as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC')
    unlinkSync(filler)
    times.set('after', 'v1', 42)
    kept.set('after', 42)
    times.close()
    // What the disk took of the line that did not fit may stay, on a line of its own (skipped when read back).
    const lines = logLines(dir, MTIMES_LOG)
    expect(lines.filter((line) => { try { JSON.parse(line); return false } catch { return true } }).length).toBeLessThanOrEqual(1)
    expect(lines.length).toBeGreaterThanOrEqual(kept.size)
    const reloaded = new LocalMtimes(dir, () => undefined)
    for (const [fileId, mtime] of kept) expect(reloaded.get(fileId, 'v1')).toBe(mtime)
  })

  it("the emulator's journal: a change that did not fit is refused, and every change acknowledged before or after it comes back", async () => {
    const dir = join(fsDir, 'emulator')
    execFileSync('mkdir', [dir])
    const path = join(dir, 'journal.jsonl')
    const journal = new EmulatorJournal(path)
    const folder = (i: number) => ({ t: 'folder' as const, d: { folderId: `id${i}`, folderPath: `/${'d'.repeat(300)}${i}`, createdAt: i, updatedAt: i } })
    journal.append(folder(0))
    const acknowledged = ['id0']
    const filler = fill(fsDir)
    let failure: unknown
    for (let i = 1; i < 200 && failure === undefined; i++) {
      try {
        journal.append(folder(i))
        acknowledged.push(`id${i}`)
      } catch (e) {
        failure = e
      }
    }
    expect((failure as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC')
    unlinkSync(filler)
    journal.append(folder(999))
    acknowledged.push('id999')
    journal.close()
    const read: string[] = []
    for await (const entry of readJournal(path)) if (entry.t === 'folder') read.push(entry.d.folderId)
    expect(read).toEqual(acknowledged)
  })

  it('the emulator answers a change its full disk cannot journal with a 500, and logs why (not as a bug)', async () => {
    const dataDir = join(fsDir, 'emulator-data')
    let logged = ''
    const logger = createLogger({ level: 'error' }, { write: (line: string) => void (logged += line) })
    const emu = await startEmulator({ dataDir, privateKey: 'private_fulldisk', publicKey: 'public_fulldisk', rateLimit: { perSecond: 0 }, logger })
    const filler = fill(fsDir)
    try {
      const auth = `Basic ${Buffer.from('private_fulldisk:').toString('base64')}`
      let status = 0
      for (let i = 0; i < 200 && status !== 500; i++) {
        const res = await fetch(`${emu.url}/v1/folder`, {
          method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({ folderName: `${'f'.repeat(200)}${i}`, parentFolderPath: '/' }),
        })
        status = res.status
        await res.arrayBuffer()
      }
      expect(status).toBe(500)
      expect(logged).toContain('the disk of the data folder is full')
      expect(logged).not.toContain('emulator bug')
    } finally {
      unlinkSync(filler)
      await emu.close()
    }
  })
})
