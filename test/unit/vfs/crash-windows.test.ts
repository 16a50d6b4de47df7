// W3 across a kill -9 in the middle of a spool step: the step is stopped where it waits for the disk (a file
// open that never returns), and the next Vfs on the same cache dir must still find what a close committed.
import { constants } from 'node:fs'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { JOURNAL_LOG } from '../../../src/vfs/spool/journal.js'
import { FakeImageKit } from './fake-api.js'
import { makeVfs, waitFor, type Harness } from './helpers.js'

/** While set, the next exclusive create of a spool file (flags `wx+`) never returns: the process "dies" there. */
const stall = vi.hoisted(() => ({ nextExclusiveCreate: false }))

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>()
  const open: typeof fs.open = (path, flags, mode) => {
    if (flags === 'wx+' && stall.nextExclusiveCreate) {
      stall.nextExclusiveCreate = false
      return new Promise(() => undefined)
    }
    return fs.open(path, flags, mode)
  }
  return { ...fs, default: { ...fs, open }, open }
})

const dirs: string[] = []
afterEach(() => {
  stall.nextExclusiveCreate = false
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function rw(api: FakeImageKit, cacheDir?: string, overrides: Partial<VfsOptions> = {}): Harness & { cacheDir: string } {
  let dir = cacheDir
  if (dir === undefined) {
    const d = mkdtempSync(join(tmpdir(), 'ikfs-crash-'))
    dirs.push(d)
    dir = join(d, 'cache')
  }
  return { ...makeVfs(api, { readOnly: false, cacheDir: dir, libraryId: 'https://ik.example.test/demo', ...overrides }), cacheDir: dir }
}

const CREATE = constants.O_CREAT | constants.O_RDWR

/** How many lines the spool's journal holds (spool/journal.ts). */
function journalLines(cacheDir: string): number {
  return readdirSync(cacheDir, { recursive: true, encoding: 'utf8' })
    .filter((p) => p.endsWith(JOURNAL_LOG))
    .reduce((n, p) => n + readFileSync(join(cacheDir, p), 'utf8').split('\n').filter(Boolean).length, 0)
}

const CLOSED = 'closed: close() returned 0'

/** A file written and closed through `h` (committed: with --write-back, waiting for its upload). */
async function closedFile(h: Harness, path: string): Promise<void> {
  const fh = await h.vfs.create(path, 0o644, CREATE)
  await h.vfs.write(path, fh, Buffer.from(CLOSED), 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

/** After a kill -9 of `h` (never closed): the next Vfs on its cache dir stores `path`; its stored bytes. */
async function storedByNextMount(api: FakeImageKit, h: Harness & { cacheDir: string }, options: Partial<VfsOptions>, path: string): Promise<string> {
  const h2 = rw(api, h.cacheDir, options)
  h2.clock.advance(60_000)
  await waitFor(() => api.fileAt(path) !== undefined)
  expect(h2.records.filter((r) => (r.level as number) >= 50)).toEqual([]) // no "lost" errors
  await h2.vfs.close()
  return api.fileAt(path)!.bytes.toString()
}

describe('kill -9 in the middle of a spool step', () => {
  it('W3: reopening a file waiting for its write-back upload with O_TRUNC: what its close committed survives a crash while it is moved aside', async () => {
    const api = new FakeImageKit()
    const options = { writeBackDelayMs: 60_000, bootId: 'b1' }
    const h = rw(api, undefined, options)
    const fh = await h.vfs.create('/notes.txt', 0o644, CREATE)
    await h.vfs.write('/notes.txt', fh, Buffer.from('closed: close() returned 0'), 0)
    await h.vfs.flush('/notes.txt', fh)
    await h.vfs.release('/notes.txt', fh)
    stall.nextExclusiveCreate = true
    void h.vfs.open('/notes.txt', constants.O_WRONLY | constants.O_TRUNC) // an editor saving again; never returns
    await waitFor(() => !stall.nextExclusiveCreate)
    // kill -9 there: the first Vfs is never closed
    const h2 = rw(api, h.cacheDir, options)
    expect((await h2.vfs.getattr('/notes.txt')).size).toBe('closed: close() returned 0'.length)
    h2.clock.advance(60_000)
    await waitFor(() => api.fileAt('/notes.txt') !== undefined)
    expect(api.fileAt('/notes.txt')!.bytes.toString()).toBe('closed: close() returned 0')
    expect(h2.records.filter((r) => (r.level as number) >= 50)).toEqual([]) // no "lost" errors
    await h2.vfs.close()
  })

  it('W3: a writer\'s close while another writer still has the file open: what it left survives a crash, not the other\'s unclosed writes', async () => {
    const api = new FakeImageKit()
    const h = rw(api, undefined, { bootId: 'b1' })
    const a = await h.vfs.create('/log.txt', 0o644, CREATE)
    const b = await h.vfs.open('/log.txt', constants.O_RDWR)
    await h.vfs.write('/log.txt', a, Buffer.from(CLOSED), 0)
    await h.vfs.flush('/log.txt', a)
    await h.vfs.release('/log.txt', a)
    await h.vfs.write('/log.txt', b, Buffer.from('NOT CLOSED'), 0) // into what the close left
    // kill -9 there: the first Vfs is never closed
    expect(await storedByNextMount(api, h, { bootId: 'b1' }, '/log.txt')).toBe(CLOSED)
  })

  it.each([
    ['edited in place', constants.O_RDWR, 0],
    ['appended to', constants.O_WRONLY | constants.O_APPEND, CLOSED.length],
  ] as const)('W3: a file waiting for its write-back upload, %s and renamed while still open: a crash leaves what its close committed at the new name', async (_, flags, at) => {
    const api = new FakeImageKit()
    const options = { writeBackDelayMs: 60_000, bootId: 'b1' }
    const h = rw(api, undefined, options)
    await closedFile(h, '/app.log')
    const again = await h.vfs.open('/app.log', flags)
    await h.vfs.write('/app.log', again, Buffer.from('NOT CLOSED'), at)
    await h.vfs.rename('/app.log', '/app.log.1') // log rotation while the program still writes
    // kill -9 there: the first Vfs is never closed
    expect(await storedByNextMount(api, h, options, '/app.log.1')).toBe(CLOSED)
    expect(api.fileAt('/app.log')).toBeUndefined()
  })

  it('W3: a file edited again by a second handle after the first one\'s close committed its edit: a crash leaves that edit, not the first content nor a half-edited one', async () => {
    const api = new FakeImageKit()
    const options = { writeBackDelayMs: 60_000, bootId: 'b1' }
    const h = rw(api, undefined, options)
    await closedFile(h, '/doc.txt')
    const first = await h.vfs.open('/doc.txt', constants.O_RDWR)
    const second = await h.vfs.open('/doc.txt', constants.O_RDWR)
    await h.vfs.write('/doc.txt', first, Buffer.from('CLOSED'), 0)
    await h.vfs.flush('/doc.txt', first)
    await h.vfs.release('/doc.txt', first)
    await h.vfs.write('/doc.txt', second, Buffer.from('NOT CLOSED'), 0)
    // kill -9 there: the first Vfs is never closed
    expect(await storedByNextMount(api, h, options, '/doc.txt')).toBe('CLOSED: close() returned 0')
  })

  it.each([
    ['its time set (touch -m, futimens)', (h: Harness) => h.vfs.utimens('/doc.txt', 0, 1_500_000_000_000)],
    ['a tag set on it (setfattr)', (h: Harness) => h.vfs.setxattr('/doc.txt', 'user.imagekit.tags', Buffer.from('red'), 0)],
  ] as const)('W3: a file waiting for its write-back upload, edited while open and %s: a crash leaves what its close committed, not the half-edited bytes', async (_, change) => {
    const api = new FakeImageKit()
    const options = { writeBackDelayMs: 60_000, bootId: 'b1' }
    const h = rw(api, undefined, options)
    await closedFile(h, '/doc.txt')
    const again = await h.vfs.open('/doc.txt', constants.O_RDWR)
    await h.vfs.write('/doc.txt', again, Buffer.from('NOT CLOSED'), 0)
    const lines = journalLines(h.cacheDir)
    await change(h)
    await waitFor(() => journalLines(h.cacheDir) > lines) // utimens records in the background
    // kill -9 there: the first Vfs is never closed
    expect(await storedByNextMount(api, h, options, '/doc.txt')).toBe(CLOSED)
  })

  it('W8: a file waiting for its write-back upload, edited while open and unlinked: a crash after the remote delete does not upload it back', async () => {
    const api = new FakeImageKit()
    api.addFile('/doc.txt', Buffer.from('stored\n'))
    const options = { writeBackDelayMs: 60_000, bootId: 'b1' }
    const h = rw(api, undefined, options)
    const fh = await h.vfs.open('/doc.txt', constants.O_RDWR)
    await h.vfs.write('/doc.txt', fh, Buffer.from(CLOSED), 0)
    await h.vfs.flush('/doc.txt', fh)
    await h.vfs.release('/doc.txt', fh)
    const again = await h.vfs.open('/doc.txt', constants.O_RDWR)
    await h.vfs.write('/doc.txt', again, Buffer.from('NOT CLOSED'), 0)
    let deleted = false
    api.renameGate = async () => {
      api.removeFile('/doc.txt') // the library's delete is done; the daemon dies before its answer
      deleted = true
      await new Promise(() => undefined)
    }
    void h.vfs.unlink('/doc.txt')
    await waitFor(() => deleted)
    api.renameGate = undefined
    // kill -9 there: the first Vfs is never closed
    const h2 = rw(api, h.cacheDir, options)
    await waitFor(() => h2.lines.some((l) => l.includes('a file being unlinked when the daemon stopped: not uploaded')))
    h2.clock.advance(60_000)
    await h2.vfs.close()
    expect(api.fileAt('/doc.txt')).toBeUndefined()
  })
})

describe('kill -9 after an unlink that failed', () => {
  it('W3: a file a handle it inherited appended to while its close set its tags: a failed rm leaves its record as it was, so a crash then does not publish the appended bytes no close committed', async () => {
    const api = new FakeImageKit()
    const h = rw(api, undefined, { bootId: 'b1' })
    const fh = await h.vfs.create('/app.log', 0o644, CREATE)
    await h.vfs.write('/app.log', fh, Buffer.from(CLOSED), 0)
    await h.vfs.setxattr('/app.log', 'user.imagekit.tags', Buffer.from('red'), 0)
    let tagged!: () => void
    let tagging = false
    const update = api.updateFileDetails.bind(api)
    api.updateFileDetails = async (...args) => {
      tagging = true
      await new Promise<void>((resolve) => (tagged = resolve))
      return update(...args)
    }
    // A close of one copy of the descriptor (the shell's), the other (a child's) still open and writing.
    const closing = h.vfs.flush('/app.log', fh)
    await waitFor(() => tagging) // the bytes are stored; their tags are being set
    await h.vfs.write('/app.log', fh, Buffer.from(' NOT CLOSED'), CLOSED.length)
    api.updateFileDetails = update
    tagged()
    await closing
    api.failNext.set('deleteFile', new ImageKitError('IK_SERVER', 'DELETE file: 500', { status: 500 }))
    await expect(h.vfs.unlink('/app.log')).rejects.toThrow()
    // kill -9 there: the first Vfs is never closed
    const h2 = rw(api, h.cacheDir, { bootId: 'b1' })
    h2.clock.advance(1)
    await waitFor(() => h2.lines.some((l) => l.includes('upload finished') || l.includes('though its answer was an error')))
    await h2.vfs.close()
    expect(api.fileAt('/app.log')!.bytes.toString()).toBe(CLOSED)
  })
})
