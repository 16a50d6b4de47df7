/**
 * W14: a write into the spool that fails (its disk full) leaves the file unfit to store until that offset is
 * written again or truncated away; its last close then fails the same way, stores nothing, and the file goes
 * back to what its last good close left. The failure is injected into the spool's writes.
 */
import { constants, readdirSync } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FakeImageKit } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, waitFor, type Harness } from './helpers.js'

/** While set, spool writes at or past this offset fail with ENOSPC, as on a full disk. */
let failFrom: number | undefined
/** While set and true, every positioned write fails with ENOSPC (the disk full until something gives way). */
let fullWhile: (() => boolean) | undefined
const full = (position: unknown): boolean =>
  typeof position === 'number' && ((failFrom !== undefined && position >= failFrom) || fullWhile?.() === true)

const diskFull = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 })

// Writes near a file's start go to the spool synchronously (write/content.ts); the journal's appends name no position.
vi.mock('node:fs', async (original) => {
  const real = await original<typeof import('node:fs')>()
  const writeSync = (...args: unknown[]): number => {
    if (full(args[4])) throw diskFull()
    return (real.writeSync as (...a: unknown[]) => number)(...args)
  }
  return { ...real, writeSync, default: { ...real, writeSync } }
})

beforeEach(async () => {
  const probePath = join(tmpdir(), `ikfs-probe-${process.pid}`)
  const probe = await open(probePath, 'w')
  const proto = Object.getPrototypeOf(probe) as FileHandle
  await probe.close()
  await rm(probePath, { force: true })
  const write = proto.write
  vi.spyOn(proto, 'write').mockImplementation(function (this: FileHandle, ...args: unknown[]) {
    if (full(args[3])) return Promise.reject(diskFull())
    return (write as (...a: unknown[]) => Promise<unknown>).apply(this, args)
  } as FileHandle['write'])
})

afterEach(() => {
  vi.restoreAllMocks()
  failFrom = undefined
  fullWhile = undefined
})

function rw(api: FakeImageKit): Harness {
  return makeVfs(api, { readOnly: false, cacheDir: join(scratchDir('wfail'), 'cache'), libraryId: 'https://ik.example.test/demo' })
}

const CREATE = constants.O_CREAT | constants.O_WRONLY
const bytes = (n: number, fill = 0x61) => Buffer.alloc(n, fill)

/** Writes 10 bytes into the open file `fh`, then fills the disk: the next 10 bytes fail with ENOSPC. */
async function writeThenFail(h: Harness, path: string, fh: number): Promise<void> {
  expect(await h.vfs.write(path, fh, bytes(10), 0)).toBe(10)
  failFrom = 10
  await expectCode(h.vfs.write(path, fh, bytes(10, 0x62), 10), 'ENOSPC')
}

describe('W14: a failed spool write', () => {
  it('a new file: close fails with ENOSPC, nothing is uploaded, and the name goes', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/new.bin', 0o644, CREATE)
    await writeThenFail(h, '/new.bin', fh)
    await expectCode(h.vfs.flush('/new.bin', fh), 'ENOSPC')
    await h.vfs.release('/new.bin', fh)
    await expectCode(h.vfs.getattr('/new.bin'), 'ENOENT')
    expect(api.writeCalls.uploadFile ?? 0).toBe(0)
    expect(h.lines.join('\n')).toMatch(/closed after a failed write: not stored, and dropped from the spool/)
    await h.vfs.close()
  })

  it('an existing file: its stored version stays, and the mount shows it again', async () => {
    const api = new FakeImageKit()
    api.addFile('/old.bin', 5)
    const h = rw(api)
    const fh = await h.vfs.open('/old.bin', constants.O_WRONLY | constants.O_TRUNC)
    failFrom = 0
    await expectCode(h.vfs.write('/old.bin', fh, bytes(100), 0), 'ENOSPC')
    await expectCode(h.vfs.fsync('/old.bin', fh, false), 'ENOSPC')
    await expectCode(h.vfs.flush('/old.bin', fh), 'ENOSPC')
    await h.vfs.release('/old.bin', fh)
    expect((await h.vfs.getattr('/old.bin')).size).toBe(5)
    expect(api.writeCalls.uploadFile ?? 0).toBe(0)
    await h.vfs.close()
  })

  it('writing the failed offset again, or truncating below it, makes the file whole: it is stored', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const rewritten = await h.vfs.create('/again.bin', 0o644, CREATE)
    await writeThenFail(h, '/again.bin', rewritten)
    failFrom = undefined // room again: the program writes the rest once more, from a little before
    expect(await h.vfs.write('/again.bin', rewritten, bytes(12, 0x62), 8)).toBe(12)
    await h.vfs.flush('/again.bin', rewritten)
    await h.vfs.release('/again.bin', rewritten)
    expect(api.fileAt('/again.bin')!.bytes).toEqual(Buffer.concat([bytes(8), bytes(12, 0x62)]))

    const cut = await h.vfs.create('/cut.bin', 0o644, CREATE)
    await writeThenFail(h, '/cut.bin', cut)
    await h.vfs.ftruncate('/cut.bin', cut, 10)
    await h.vfs.flush('/cut.bin', cut)
    await h.vfs.release('/cut.bin', cut)
    expect(api.fileAt('/cut.bin')!.bytes).toEqual(bytes(10))

    // A write past the failed offset leaves the hole: still not stored.
    const holed = await h.vfs.create('/holed.bin', 0o644, CREATE)
    failFrom = 0
    await expectCode(h.vfs.write('/holed.bin', holed, bytes(10), 0), 'ENOSPC')
    failFrom = undefined
    await h.vfs.write('/holed.bin', holed, bytes(10), 20)
    await expectCode(h.vfs.flush('/holed.bin', holed), 'ENOSPC')
    await h.vfs.release('/holed.bin', holed)
    expect(api.fileAt('/holed.bin')).toBeUndefined()
    await h.vfs.close()
  })

  it("a reader that closes last does not get the writer's error; the file still goes", async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const writer = await h.vfs.create('/shared.bin', 0o644, CREATE)
    const reader = await h.vfs.open('/shared.bin', constants.O_RDONLY)
    await writeThenFail(h, '/shared.bin', writer)
    await h.vfs.flush('/shared.bin', writer) // not the last handle: nothing to report yet
    await h.vfs.release('/shared.bin', writer)
    await h.vfs.flush('/shared.bin', reader)
    await h.vfs.release('/shared.bin', reader)
    await expectCode(h.vfs.getattr('/shared.bin'), 'ENOENT')
    expect(api.writeCalls.uploadFile ?? 0).toBe(0)
    await h.vfs.close()
  })

  it('a file closed empty before (a duplicated descriptor closed first, as dd does) goes back to empty', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/dd.bin', 0o644, CREATE)
    await h.vfs.flush('/dd.bin', fh) // the first copy of the descriptor closed: an empty file (W5)
    await writeThenFail(h, '/dd.bin', fh)
    await expectCode(h.vfs.flush('/dd.bin', fh), 'ENOSPC')
    await h.vfs.release('/dd.bin', fh)
    await waitFor(() => h.lines.some((l) => l.includes('left empty as it was')))
    expect((await h.vfs.getattr('/dd.bin')).size).toBe(0)
    expect(api.fileAt('/dd.bin')).toBeUndefined()
    await h.vfs.close()
  })

  it('W3 before W8: the copy of a file unlinked while open for reading gives way to a write that finds the disk full', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.alloc(64 * 1024, 7))
    const h = rw(api)
    const player = await h.vfs.open('/played.bin', constants.O_RDONLY)
    await h.vfs.unlink('/played.bin') // its bytes fetched into the cache dir for the player, then its delete
    await waitFor(() => api.filePaths().length === 0)
    const kept = join(h.vfs.spoolDir!, 'kept')
    const copies = () => readdirSync(kept).filter((name) => name.startsWith('unlinked-'))
    expect(copies()).toHaveLength(1)
    fullWhile = () => copies().length > 0 // the copy filled the disk
    const fh = await h.vfs.create('/new.bin', 0o644, CREATE)
    expect(await h.vfs.write('/new.bin', fh, bytes(10), 0)).toBe(10)
    expect(copies()).toEqual([])
    await h.vfs.flush('/new.bin', fh)
    await h.vfs.release('/new.bin', fh)
    expect(api.fileAt('/new.bin')?.bytes).toEqual(bytes(10))
    expect(h.lines.join('\n')).toMatch(/copies of files unlinked while open for reading go/)
    await h.vfs.release('/played.bin', player)
    await h.vfs.close()
  })
})
