import { constants } from 'node:fs'
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { VfsError } from '../../../src/vfs/errors.js'
import { leftInSpool } from '../../../src/cli/left-in-spool.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { LOST_JOB_DEADLINE_MS } from '../../../src/vfs/folder-job.js'
import { CONFIRM_MS } from '../../../src/vfs/folder-presence.js'
import { NameCodec } from '../../../src/vfs/name.js'
import { Journal } from '../../../src/vfs/spool/journal.js'
import { SpoolFiles } from '../../../src/vfs/write/spool-files.js'
import { WholeLines } from '../../../src/full-disk.js'
import { Spool } from '../../../src/vfs/spool/spool.js'
import { RECENT_COPIES_MAX, RECENT_COPY_TTL_MS } from '../../../src/vfs/spool/recent-copies.js'
import { fsRequestsDuring } from '../../helpers/fs-requests.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, MiB, scratchDir, waitFor, type Harness } from './helpers.js'

function tempCache(): string {
  return join(scratchDir('write'), 'cache')
}

function rw(api: FakeImageKit, cacheDir = tempCache(), overrides: Partial<VfsOptions> = {}): Harness & { cacheDir: string } {
  return { ...makeVfs(api, { readOnly: false, cacheDir, libraryId: 'https://ik.example.test/demo', ...overrides }), cacheDir }
}

/**
 * A stored file of `size` bytes, opened for reading and read at `readAt`, then renamed from `from` to `to`
 * through the mount; the CDN forgets the old name's URL.
 */
async function openThenRename(size: number, seed: number, from: string, to: string, readAt: number) {
  const api = new FakeImageKit()
  const data = patternBytes(size, seed)
  const file = api.addFile(from, data)
  const h = rw(api)
  const fh = await h.vfs.open(from, constants.O_RDONLY)
  await h.vfs.read(from, fh, 4096, readAt)
  await h.vfs.rename(from, to)
  api.forgetUrls(file.url.split('?')[0]!)
  return { api, data, h, fh }
}

const W = constants.O_WRONLY
const CREATE = constants.O_CREAT | constants.O_RDWR

/** Writes a new file as `cp`, `tar x` and git do: O_EXCL, so the create asks the library nothing (unlisted-file.ts). */
async function writeFile(h: Harness, path: string, data: Buffer | string): Promise<void> {
  const fh = await h.vfs.create(path, 0o644, CREATE | constants.O_EXCL)
  await h.vfs.write(path, fh, Buffer.from(data), 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

/** Writes over a file the mount knows as `>` does: an open with O_TRUNC (a create with O_EXCL would be EEXIST). */
async function overwriteFile(h: Harness, path: string, data: Buffer | string): Promise<void> {
  const fh = await h.vfs.open(path, W | constants.O_TRUNC)
  await h.vfs.write(path, fh, Buffer.from(data), 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

/** A new file written with `text` and fsynced while the upload fails once: a retry is scheduled, the file stays open. */
async function failedFsync(api: FakeImageKit, h: Harness, path: string, text: string, flags = CREATE): Promise<number> {
  const fh = await h.vfs.create(path, 0o644, flags)
  await h.vfs.write(path, fh, Buffer.from(text), 0)
  api.failNext.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
  await expectCode(h.vfs.fsync(path, fh, false), 'EIO')
  return fh
}

/** A new file the library refuses as too large: created, `data` written (11 bytes, one over the tests' api.maxUploadBytes = 10), its close failing with EFBIG. */
async function writtenTooLarge(h: Harness, path = '/big', data: Buffer = Buffer.alloc(11, 1)): Promise<void> {
  const fh = await h.vfs.create(path, 0o644, CREATE)
  await h.vfs.write(path, fh, data, 0)
  await expectCode(h.vfs.flush(path, fh), 'EFBIG')
  await h.vfs.release(path, fh)
}

/**
 * An upload gate for a mount killed during its upload: the upload hangs until `release()`, which a test calls
 * once done, so that the teardown's close of the dead mount can end.
 */
function hungUpload(): { gate: () => Promise<void>; release: () => void } {
  let release!: () => void
  const hung = new Promise<void>((resolve) => {
    release = resolve
  })
  return { gate: () => hung, release }
}

async function readAll(h: Harness, path: string): Promise<Buffer> {
  const fh = await h.vfs.open(path, constants.O_RDONLY)
  const buf = await h.vfs.read(path, fh, 1 << 20, 0)
  await h.vfs.release(path, fh)
  return Buffer.from(buf)
}

/**
 * A read-write mount where /u is being written (`written`: "unlinked bytes", nothing if `empty`) and the stored
 * /stored.txt ("stored bytes") is open for reading (`stored`), both then unlinked while open; `more` opens
 * other handles after /u's write, before /stored.txt's open.
 */
async function unlinkedWhileOpen<T = undefined>(options: { empty?: boolean; more?: (h: Harness) => Promise<T> } = {}) {
  const api = new FakeImageKit()
  api.addFile('/stored.txt', Buffer.from('stored bytes'))
  const h = rw(api)
  const written = await h.vfs.create('/u', 0o644, CREATE)
  if (!options.empty) await h.vfs.write('/u', written, Buffer.from('unlinked bytes'), 0)
  const more = (await options.more?.(h)) as T
  const stored = await h.vfs.open('/stored.txt', constants.O_RDONLY)
  await h.vfs.unlink('/u')
  await h.vfs.unlink('/stored.txt')
  return { api, h, written, stored, more }
}

function spoolFiles(h: Harness & { cacheDir: string }, sub: 'data' | 'journal'): string[] {
  return readdirSync(join(h.vfs.spoolDir!, sub))
}

/** The copies the spool keeps in kept/ (recent-copies.ts): files with bytes; one that went is emptied there for reuse. */
function keptCopies(h: Harness & { cacheDir: string }): string[] {
  const kept = join(h.vfs.spoolDir!, 'kept')
  return readdirSync(kept).filter((name) => statSync(join(kept, name)).size > 0)
}

/** The live records of the spool's journal (a log of put/del lines): what a restart would resume. */
function spoolRecords(h: Harness & { cacheDir: string }): { id: string; name: string }[] {
  const live = new Map<string, { id: string; name: string }>()
  let text = ''
  try {
    text = readFileSync(join(h.vfs.spoolDir!, 'journal', 'journal.log'), 'utf8')
  } catch {
    return []
  }
  for (const line of text.split('\n').filter(Boolean)) {
    const entry = JSON.parse(line) as { put?: { id: string; name: string }; del?: string }
    if (entry.put) live.set(entry.put.id, entry.put)
    else if (entry.del) live.delete(entry.del)
  }
  return [...live.values()]
}

/** /played.bin held open for reading, then unlinked while the library fails every delete (503): its first tried. */
async function unlinkedWhilePlayedAndDeleteFails() {
  const api = new FakeImageKit()
  api.addFile('/played.bin', Buffer.from('played bytes'))
  const h = rw(api)
  const player = await h.vfs.open('/played.bin', constants.O_RDONLY)
  api.failAlways.set('deleteFile', new ImageKitError('IK_SERVER', 'DELETE file: 503', { status: 503 }))
  await h.vfs.unlink('/played.bin')
  await waitFor(() => api.writeCalls.deleteFile === 1)
  return { api, h, player }
}

describe('writing files (W1, W2)', () => {
  it('create, write, close uploads the exact bytes; stat and reads show them at once', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/new.txt', 'hello world')
    expect(api.fileAt('/new.txt')!.bytes.toString()).toBe('hello world')
    expect((await h.vfs.getattr('/new.txt')).size).toBe(11)
    expect((await readAll(h, '/new.txt')).toString()).toBe('hello world')
    expect(spoolRecords(h)).toEqual([])
    expect(spoolFiles(h, 'data')).toEqual([])
    expect(h.vfs.status().counters.uploadsSucceeded).toBe(1)
    h.vfs.checkInvariants()
  })

  it('a close that uploads asks whether its process maps the file (numpy.memmap), unless the file was made with O_EXCL (mkstemp)', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const asked: string[] = []
    for (const [path, flags] of [['/plain.bin', CREATE], ['/tmp.XXXXXX', CREATE | constants.O_EXCL]] as const) {
      const fh = await h.vfs.create(path, 0o644, flags)
      await h.vfs.write(path, fh, Buffer.from('bytes'), 0)
      await h.vfs.flush(path, fh, undefined, async () => (asked.push(path), false))
      await h.vfs.release(path, fh)
      expect(api.fileAt(path)!.bytes.toString()).toBe('bytes')
    }
    expect(asked).toEqual(['/plain.bin'])
  })

  it('writes within a file\'s first MiB go to the spool without a thread-pool round trip; later ones through the pool', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/big.bin', 0o644, CREATE | constants.O_EXCL)
    const chunk = patternBytes(128 * 1024, 3)
    const early = await fsRequestsDuring(async () => {
      for (let at = 0; at < MiB; at += chunk.length) await h.vfs.write('/big.bin', fh, chunk, at)
    })
    const later = await fsRequestsDuring(() => h.vfs.write('/big.bin', fh, chunk, MiB))
    expect(early).toEqual([])
    expect(later.length).toBeGreaterThan(0)
    await h.vfs.flush('/big.bin', fh)
    await h.vfs.release('/big.bin', fh)
    // equals, not toEqual: vitest compares a MiB Buffer element by element (seconds; 20 s under load)
    expect(api.fileAt('/big.bin')!.bytes.equals(Buffer.concat(Array.from({ length: 9 }, () => chunk)))).toBe(true)
  })

  it('with nothing being written, opening and reading a stored file encodes no name to look for a pending one', async () => {
    const api = new FakeImageKit()
    api.addFile('/stored.txt', Buffer.from('stored'))
    const h = rw(api)
    expect((await readAll(h, '/stored.txt')).toString()).toBe('stored') // listed and compiled once
    const encode = vi.spyOn(NameCodec.prototype, 'toRemote')
    try {
      expect((await readAll(h, '/stored.txt')).toString()).toBe('stored')
      expect(encode).not.toHaveBeenCalled()
      await writeFile(h, '/new.txt', 'new') // a pending file is still found while it exists
      expect(encode).toHaveBeenCalled()
    } finally {
      encode.mockRestore()
    }
  })

  it('only a reader of a stored version closes without a flush (FOPEN_NOFLUSH): one of a file waiting for its upload, and a writer, need it', async () => {
    const api = new FakeImageKit()
    api.addFile('/stored.txt', Buffer.from('stored'))
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000 })
    const reader = await h.vfs.open('/stored.txt', constants.O_RDONLY)
    expect(h.vfs.closesWithoutFlush?.(reader)).toBe(true)
    await writeFile(h, '/waiting.txt', 'not uploaded yet')
    const pendingReader = await h.vfs.open('/waiting.txt', constants.O_RDONLY)
    expect(h.vfs.closesWithoutFlush?.(pendingReader)).toBe(false)
    const writer = await h.vfs.open('/stored.txt', W)
    expect(h.vfs.closesWithoutFlush?.(writer)).toBe(false)
    for (const [path, fh] of [['/stored.txt', reader], ['/waiting.txt', pendingReader], ['/stored.txt', writer]] as const) {
      await h.vfs.release(path, fh)
    }
  })

  it("W2: a reader's close that is the last starts the upload and returns: the upload's retries and failure are not the reader's (the writer's close was answered)", async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const writer = await h.vfs.create('/shared.txt', 0o644, CREATE)
    const reader = await h.vfs.open('/shared.txt', constants.O_RDONLY) // a poll, a thumbnailer
    await h.vfs.write('/shared.txt', writer, Buffer.from('shared bytes'), 0)
    await h.vfs.flush('/shared.txt', writer) // not the last: kept in the spool, durably
    await h.vfs.release('/shared.txt', writer)
    api.failAlways.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    await h.vfs.flush('/shared.txt', reader) // no EIO, no wait for the retries
    await h.vfs.release('/shared.txt', reader)
    expect(api.fileAt('/shared.txt')).toBeUndefined()
    expect(h.vfs.status().uploads.map((u) => u.localPath)).toEqual(['/shared.txt'])
    api.failAlways.delete('uploadFile')
    await waitFor(() => {
      h.clock.advance(60_000) // the background retries' pauses
      return api.fileAt('/shared.txt')?.bytes.toString() === 'shared bytes'
    })
    await h.vfs.close()
  })

  it("a close by a process that inherited the descriptor uploads nothing; the opener's close, or the release after the last close, does", async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const shell = 100
    const child = 200
    // A shell opens the file, the commands it starts write through their copy and close it when they exit.
    const fh = await h.vfs.create('/loop.log', 0o644, CREATE, shell)
    await h.vfs.write('/loop.log', fh, Buffer.from('one\n'), 0)
    await h.vfs.flush('/loop.log', fh, child)
    await h.vfs.write('/loop.log', fh, Buffer.from('two\n'), 4)
    await h.vfs.flush('/loop.log', fh, child + 1)
    expect(api.uploads).toEqual([])
    await h.vfs.flush('/loop.log', fh, shell)
    await h.vfs.release('/loop.log', fh)
    expect(api.uploads.map((u) => u.filePath)).toEqual(['/loop.log'])
    expect(api.fileAt('/loop.log')!.bytes.toString()).toBe('one\ntwo\n')

    // The opener closes first; a child closes last: its release uploads what the child wrote.
    const fh2 = await h.vfs.open('/loop.log', W | constants.O_APPEND, shell)
    await h.vfs.write('/loop.log', fh2, Buffer.from('three\n'), 8)
    await h.vfs.flush('/loop.log', fh2, shell)
    expect(api.fileAt('/loop.log')!.bytes.toString()).toBe('one\ntwo\nthree\n')
    await h.vfs.write('/loop.log', fh2, Buffer.from('four\n'), 14)
    await h.vfs.flush('/loop.log', fh2, child)
    expect(api.uploads.length).toBe(2)
    await h.vfs.release('/loop.log', fh2)
    await waitFor(() => api.fileAt('/loop.log')!.bytes.toString() === 'one\ntwo\nthree\nfour\n')
    expect(api.uploads.length).toBe(3)

    // A binding that does not name the process (fuse-native): every close may be the last, as before.
    const fh3 = await h.vfs.open('/loop.log', W | constants.O_TRUNC)
    await h.vfs.write('/loop.log', fh3, Buffer.from('five\n'), 0)
    await h.vfs.flush('/loop.log', fh3, child)
    expect(api.fileAt('/loop.log')!.bytes.toString()).toBe('five\n')
    await h.vfs.release('/loop.log', fh3)
    h.vfs.checkInvariants()
  })

  it('an O_APPEND write goes to the end of the file, whatever offset the kernel names (opened or created so); written-back map pages keep theirs', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/app.log', 'first\nsecond\n')
    const fh = await h.vfs.open('/app.log', W | constants.O_APPEND)
    // The kernel's idea of the size was lowered by a reader's short read: it names the old end.
    expect(await h.vfs.write('/app.log', fh, Buffer.from('third\n'), 6, false)).toBe(6)
    expect(await h.vfs.write('/app.log', fh, Buffer.from('FIRST\n'), 0, true)).toBe(6) // a shared map's page
    await h.vfs.flush('/app.log', fh)
    await h.vfs.release('/app.log', fh)
    expect(api.fileAt('/app.log')!.bytes.toString()).toBe('FIRST\nsecond\nthird\n')

    // A logger that starts the log (exec 3>>new.log) creates it with O_APPEND.
    const created = await h.vfs.create('/new.log', 0o644, CREATE | constants.O_APPEND)
    for (const line of ['one\n', 'two\n']) expect(await h.vfs.write('/new.log', created, Buffer.from(line), 0, false)).toBe(4)
    await h.vfs.flush('/new.log', created)
    await h.vfs.release('/new.log', created)
    expect(api.fileAt('/new.log')!.bytes.toString()).toBe('one\ntwo\n')
    h.vfs.checkInvariants()
  })

  it('upload log lines name their component once (vfs.upload), not once per parent logger', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/logged.txt', 'hello')
    const uploadLines = h.lines.filter((l) => l.includes('"vfs.upload"'))
    expect(uploadLines.length).toBeGreaterThan(0)
    for (const line of h.lines) expect(line.match(/"component":/g)?.length ?? 0).toBeLessThanOrEqual(1)
  })

  it('an upload logs one info line when stored, and a failed attempt one warning; starts, retries\' too, are debug', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/quiet.txt', 'hello')
    const levelsOf = (msg: string): unknown[] => h.records.filter((r) => r.msg === msg && String(r.path).endsWith('quiet.txt')).map((r) => r.level)
    expect(levelsOf('upload started')).toEqual([20])
    expect(levelsOf('upload finished')).toEqual([30])

    api.failNext.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    const fh = await h.vfs.open('/quiet.txt', W | constants.O_TRUNC)
    await h.vfs.write('/quiet.txt', fh, Buffer.from('again'), 0)
    await expectCode(h.vfs.flush('/quiet.txt', fh), 'EIO')
    await h.vfs.release('/quiet.txt', fh)
    expect(levelsOf('upload failed; the file stays in the spool and will be retried')).toEqual([40])
    h.clock.advance(60_000) // the background retrier's turn
    await waitFor(() => levelsOf('upload finished').length === 2)
    // A failing upload retried for hours logs one line per attempt (its failure, which says when the next comes).
    expect(levelsOf('upload started')).toEqual([20, 20, 20])
    expect(h.records.filter((r) => r.msg === 'upload finished').map((r) => r.attempt)).toEqual([1, 2])
    expect(api.fileAt('/quiet.txt')!.bytes.toString()).toBe('again')
  })

  it('spool folder is 0700, data files 0600, journal holds no secrets', async () => {
    const api = new FakeImageKit()
    api.failNext.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    const h = rw(api)
    const fh = await h.vfs.create('/a.bin', 0o644, CREATE)
    await h.vfs.write('/a.bin', fh, Buffer.from('xyz'), 0)
    expect(statSync(h.vfs.spoolDir!).mode & 0o777).toBe(0o700)
    expect(statSync(h.cacheDir).mode & 0o777).toBe(0o700)
    for (const f of spoolFiles(h, 'data')) expect(statSync(join(h.vfs.spoolDir!, 'data', f)).mode & 0o777).toBe(0o600)
    await expectCode(h.vfs.flush('/a.bin', fh), 'EIO')
    await h.vfs.release('/a.bin', fh)
    expect(spoolRecords(h)).toMatchObject([{ name: 'a.bin' }])
    const [log] = spoolFiles(h, 'journal')
    const text = readFileSync(join(h.vfs.spoolDir!, 'journal', log!), 'utf8')
    expect(statSync(join(h.vfs.spoolDir!, 'journal', log!)).mode & 0o777).toBe(0o600)
    expect(text).toContain('"name":"a.bin"')
    expect(text).not.toMatch(/private|authorization|https?:/i)
  })

  it('appending fills from the remote bytes first and makes a new version with the same fileId', async () => {
    const api = new FakeImageKit()
    const orig = api.addFile('/doc.txt', Buffer.from('abc'), { tags: ['keep'], isPrivateFile: true })
    const h = rw(api)
    const fh = await h.vfs.open('/doc.txt', W | constants.O_APPEND)
    await h.vfs.write('/doc.txt', fh, Buffer.from('def'), 3)
    await h.vfs.flush('/doc.txt', fh)
    await h.vfs.release('/doc.txt', fh)
    const now = api.fileAt('/doc.txt')!
    expect(now.bytes.toString()).toBe('abcdef')
    expect(now.obj.fileId).toBe(orig.fileId)
    expect(now.versions).toBe(2)
    expect(now.obj.tags).toEqual(['keep'])
    expect(now.obj.isPrivateFile).toBe(true)
    expect(api.uploads.at(-1)).toMatchObject({ keepExistingMetadata: true, isPrivateFile: true })
    expect((await h.vfs.getattr('/doc.txt')).size).toBe(6)
    expect((await readAll(h, '/doc.txt')).toString()).toBe('abcdef')
  })

  it('W1: an append after another machine stored a new version or deleted the file (the cached listing is older) starts from what the library holds', async () => {
    const api = new FakeImageKit()
    const orig = api.addFile('/log.txt', Buffer.from('one\n'))
    api.addFile('/gone.txt', Buffer.from('deleted elsewhere\n'))
    const h = rw(api)
    expect((await h.vfs.getattr('/log.txt')).size).toBe(4)
    api.overwrite('/log.txt', Buffer.from('one\ntwo\n'), '2030-01-01T00:00:00.000Z')
    api.removeFile('/gone.txt')
    const append = async (path: string, text: string) => {
      const fh = await h.vfs.open(path, W | constants.O_APPEND | constants.O_CREAT)
      await h.vfs.write(path, fh, Buffer.from(text), 0, false) // O_APPEND: at the end, whatever the offset
      await h.vfs.flush(path, fh)
      await h.vfs.release(path, fh)
    }
    await append('/log.txt', 'three\n')
    expect(api.fileAt('/log.txt')!.bytes.toString()).toBe('one\ntwo\nthree\n') // was one\nthree\n: two\n lost
    expect(api.fileAt('/log.txt')!.obj.fileId).toBe(orig.fileId)
    expect((await h.vfs.getattr('/log.txt')).size).toBe(14)
    await append('/gone.txt', 'new\n')
    expect(api.fileAt('/gone.txt')!.bytes.toString()).toBe('new\n')
    // An open without O_CREAT (as the kernel sends every open) of a name not listed: the kernel looks again (ESTALE).
    await expectCode(h.vfs.open('/log2.txt', W), 'ESTALE')
  })

  it('W1: an open for writing as the kernel sends it (no O_CREAT) of a file deleted or moved elsewhere is ESTALE, and the name is gone, so the kernel\'s repeated open creates it', async () => {
    const api = new FakeImageKit()
    for (const name of ['/app.log', '/saved.txt', '/moved.txt']) api.addFile(name, Buffer.from('theirs\n'))
    const h = rw(api)
    await h.vfs.readdir('/')
    api.removeFile('/app.log')
    api.removeFile('/saved.txt')
    api.removeFile('/moved.txt')
    api.addFile('/elsewhere.txt', Buffer.from('theirs\n'))
    // >> asks the library for the file at its open (W1); > only once a listing no longer shows it.
    await expectCode(h.vfs.open('/app.log', W | constants.O_APPEND), 'ESTALE') // was ENOENT: `>> app.log` failed
    h.vfs.forget('/')
    await expectCode(h.vfs.open('/saved.txt', W | constants.O_TRUNC), 'ESTALE')
    await expectCode(h.vfs.truncate('/moved.txt', 0), 'ESTALE')
    for (const path of ['/app.log', '/saved.txt', '/moved.txt']) {
      await expectCode(h.vfs.getattr(path), 'ENOENT') // the kernel's lookup again
      await writeFile(h, path, 'mine\n') // its create
      expect(api.fileAt(path)!.bytes.toString()).toBe('mine\n')
    }
  })

  it('W1: a create that keeps content (>>, touch, dd conv=notrunc) of a name stored after the cached listing starts from the stored file; one search, none for O_EXCL or O_TRUNC', async () => {
    const api = new FakeImageKit()
    api.addFile('/seen.txt', Buffer.from('seen\n'))
    const h = rw(api)
    await h.vfs.readdir('/')
    const log = api.addFile('/log.txt', Buffer.from('one\n'))
    const touched = api.addFile('/touched.txt', Buffer.from('theirs\n'))
    api.addFile('/copied.txt', Buffer.from('theirs, to be replaced\n'))
    api.addFile('/saved.txt', Buffer.from('theirs, to be replaced\n'))
    h.clock.advance(CONFIRM_MS) // the listing no longer vouches for names it lacks (unlisted-file.ts)
    const searches = () => api.listQueries.filter((q) => q.searchQuery !== undefined).length
    const listed = api.calls.listFiles

    const app = await h.vfs.create('/log.txt', 0o644, W | constants.O_CREAT | constants.O_APPEND)
    expect(searches()).toBe(1)
    await h.vfs.write('/log.txt', app, Buffer.from('two\n'), 0, false)
    await h.vfs.release('/log.txt', app)
    await waitFor(() => api.fileAt('/log.txt')!.versions === 2)
    expect(api.fileAt('/log.txt')!.bytes.toString()).toBe('one\ntwo\n') // was two\n: one\n only in an old version
    expect(api.fileAt('/log.txt')!.obj.fileId).toBe(log.fileId)

    const uploads = api.uploads.length
    await h.vfs.release('/touched.txt', await h.vfs.create('/touched.txt', 0o644, W | constants.O_CREAT))
    expect((await h.vfs.getattr('/touched.txt')).size).toBe(7) // was 0: an empty file shown over theirs
    expect((await readAll(h, '/touched.txt')).toString()).toBe('theirs\n')
    expect(api.uploads.length).toBe(uploads)
    expect(api.fileAt('/touched.txt')!.obj.fileId).toBe(touched.fileId)
    expect(searches()).toBe(2)

    for (const [path, flags] of [['/copied.txt', constants.O_EXCL], ['/saved.txt', constants.O_TRUNC]] as const) {
      const fh = await h.vfs.create(path, 0o644, W | constants.O_CREAT | flags)
      await h.vfs.write(path, fh, Buffer.from('mine\n'), 0)
      await h.vfs.flush(path, fh)
      await h.vfs.release(path, fh)
      expect(api.fileAt(path)!.bytes.toString()).toBe('mine\n')
    }
    const fh = await h.vfs.create('/new.log', 0o644, W | constants.O_CREAT | constants.O_APPEND)
    await h.vfs.write('/new.log', fh, Buffer.from('new\n'), 0, false)
    await h.vfs.flush('/new.log', fh)
    await h.vfs.release('/new.log', fh)
    expect(api.fileAt('/new.log')!.bytes.toString()).toBe('new\n')
    expect(searches()).toBe(3) // the two appends and touch: not cp (O_EXCL) nor > (O_TRUNC)
    expect(api.calls.listFiles).toBe(listed + 3)
  })

  it('W1: a create with O_EXCL of a name the listing shows, or one being written, fails with EEXIST and changes nothing; one of a name stored but unlisted asks nothing and replaces it', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await h.vfs.readdir('/')
    // The kernel was told these names are missing, then another machine stored them and the folder was listed again.
    const theirs = api.addFile('/x.bin', patternBytes(MiB, 3))
    api.addFolder('/dir')
    h.vfs.forget('/')
    await h.vfs.readdir('/')
    const excl = W | constants.O_CREAT | constants.O_EXCL
    await expectCode(h.vfs.create('/x.bin', 0o644, excl), 'EEXIST') // cp wrote its bytes over the head of theirs
    await expectCode(h.vfs.create('/dir', 0o644, excl), 'EEXIST') // was EISDIR
    expect(spoolFiles(h, 'data')).toEqual([])
    expect(api.fileAt('/x.bin')!.versions).toBe(1)
    expect(api.fileAt('/x.bin')!.bytes.equals(patternBytes(MiB, 3))).toBe(true)
    expect(api.calls.readRange).toBe(0)
    // Being written here (a lock file held by another program): the same.
    const held = await h.vfs.create('/index.lock', 0o644, excl)
    await expectCode(h.vfs.create('/index.lock', 0o644, excl), 'EEXIST')
    await h.vfs.write('/index.lock', held, Buffer.from('mine\n'), 0)
    await h.vfs.flush('/index.lock', held)
    await h.vfs.release('/index.lock', held)
    expect(api.fileAt('/index.lock')!.bytes.toString()).toBe('mine\n')
    // Stored since the listing and not in it: O_EXCL holds only as far as the listing knows; no search per file,
    // and the new file holds only its own bytes (theirs become an old version).
    h.clock.advance(CONFIRM_MS)
    api.addFile('/late.bin', patternBytes(MiB, 4))
    const searches = api.listQueries.filter((q) => q.searchQuery !== undefined).length
    await writeFile(h, '/late.bin', 'copied\n')
    expect(api.listQueries.filter((q) => q.searchQuery !== undefined).length).toBe(searches)
    expect(api.fileAt('/late.bin')!.bytes.toString()).toBe('copied\n')
    expect(theirs.fileId).toBe(api.fileAt('/x.bin')!.obj.fileId)
  })

  it('W1: a create whose flags the binding does not pass (fuse-native) opens a listed name as it is, and takes an unlisted one as new without asking', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await h.vfs.readdir('/')
    api.addFile('/x.bin', Buffer.from('theirs\n'))
    h.vfs.forget('/')
    await h.vfs.readdir('/')
    h.clock.advance(CONFIRM_MS)
    api.addFile('/late.bin', Buffer.from('late\n'))
    const searches = api.listQueries.filter((q) => q.searchQuery !== undefined).length
    for (const path of ['/x.bin', '/late.bin']) {
      const fh = await h.vfs.create(path, 0o644, undefined)
      await h.vfs.write(path, fh, Buffer.from('MINE'), 0)
      await h.vfs.flush(path, fh)
      await h.vfs.release(path, fh)
    }
    expect(api.fileAt('/x.bin')!.bytes.toString()).toBe('MINErs\n')
    expect(api.fileAt('/late.bin')!.bytes.toString()).toBe('MINE')
    expect(api.listQueries.filter((q) => q.searchQuery !== undefined).length).toBe(searches)
  })

  it('W1: a create that keeps content fails when the library cannot say whether the name is stored (an outage); one that replaces goes on', async () => {
    const api = new FakeImageKit()
    api.addFile('/seen.txt', Buffer.from('seen\n'))
    const h = rw(api)
    await h.vfs.readdir('/')
    api.addFile('/log.txt', Buffer.from('one\n'))
    h.clock.advance(CONFIRM_MS) // the listing no longer vouches for names it lacks (unlisted-file.ts)
    api.failAlways.set('listFiles', new ImageKitError('IK_NETWORK', 'network down'))
    await expectCode(h.vfs.create('/log.txt', 0o644, W | constants.O_CREAT | constants.O_APPEND), 'EIO')
    expect(spoolFiles(h, 'data')).toEqual([])
    const fh = await h.vfs.create('/other.txt', 0o644, W | constants.O_CREAT | constants.O_TRUNC)
    api.failAlways.delete('listFiles')
    await h.vfs.release('/other.txt', fh)
    expect(api.fileAt('/log.txt')!.bytes.toString()).toBe('one\n')
  })

  it('W1: a listing the library gave less than CONFIRM_MS ago vouches for the names it lacks: touch right after ls asks nothing, later it asks, and a listing kept through an outage never vouches', async () => {
    const api = new FakeImageKit()
    api.addFile('/seen.txt', Buffer.from('seen\n'))
    const h = rw(api)
    const searches = () => api.listQueries.filter((q) => q.searchQuery !== undefined).length
    const touch = async (path: string) => h.vfs.release(path, await h.vfs.create(path, 0o644, W | constants.O_CREAT))
    await h.vfs.readdir('/')
    for (const name of ['/t1', '/t2', '/t3']) await touch(name)
    expect(searches()).toBe(0)
    h.clock.advance(CONFIRM_MS)
    await touch('/t4')
    expect(searches()).toBe(1)
    // An outage: an expired listing is served as it was and counted fresh for a while (with a short
    // --dir-cache-time, from a moment that has not come yet), but it vouches for nothing.
    const short = rw(api, undefined, { dirCacheTimeMs: 1_000 })
    await short.vfs.readdir('/')
    short.clock.advance(CONFIRM_MS)
    api.failAlways.set('listFiles', new ImageKitError('IK_NETWORK', 'network down'))
    expect((await short.vfs.readdir('/')).map((e) => e.name)).toContain('seen.txt')
    await expectCode(short.vfs.create('/t5', 0o644, W | constants.O_CREAT), 'EIO')
    api.failAlways.delete('listFiles')
  })

  it('W2: an overwrite of an unpublished (draft) file stores a draft version: the upload does not publish it', async () => {
    const api = new FakeImageKit()
    api.addFile('/draft.txt', Buffer.from('abc'), { isPublished: false })
    api.addFile('/public.txt', Buffer.from('abc'))
    const h = rw(api)
    for (const path of ['/draft.txt', '/public.txt']) {
      const fh = await h.vfs.open(path, W | constants.O_TRUNC)
      await h.vfs.write(path, fh, Buffer.from('new'), 0)
      await h.vfs.flush(path, fh)
      await h.vfs.release(path, fh)
    }
    expect(api.fileAt('/draft.txt')!.bytes.toString()).toBe('new')
    expect(api.fileAt('/draft.txt')!.obj.isPublished).toBe(false)
    expect(api.uploads.find((u) => u.filePath === '/draft.txt')).toMatchObject({ isPublished: false })
    expect(api.fileAt('/public.txt')!.obj.isPublished).toBe(true)
    expect(api.uploads.find((u) => u.filePath === '/public.txt')?.isPublished).toBeUndefined()
    expect((await h.vfs.getxattr('/draft.txt', 'user.imagekit.is-published')).toString()).toBe('false')
  })

  it('W3: bytes written while a background retry sends older ones are uploaded too: a close then does not report them stored', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await failedFsync(api, h, '/log.txt', 'v1')
    let answer!: () => void
    api.answerGate = () => new Promise<void>((resolve) => (answer = resolve))
    h.clock.advance(h.vfs.status().uploads[0]!.nextAttemptAtMs! - h.clock.now()) // the retry starts...
    await waitFor(() => api.bodiesRead === 1) // ...and has sent v1
    await h.vfs.write('/log.txt', fh, Buffer.from('v2, the final content'), 0) // the program writes on
    const closing = h.vfs.flush('/log.txt', fh) // and closes
    await new Promise((resolve) => setTimeout(resolve, 10))
    api.answerGate = undefined
    answer() // the retry lands: v1
    await closing
    await h.vfs.release('/log.txt', fh)
    expect(api.fileAt('/log.txt')!.bytes.toString()).toBe('v2, the final content')
    await waitFor(() => h.vfs.status().uploads.length === 0)
    expect(spoolRecords(h)).toEqual([])
  })

  it('a fill whose download is cut short resumes where it stopped; a server that keeps cutting fails the write that needs it', async () => {
    const api = new FakeImageKit()
    const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251))
    api.addFile('/big.bin', content)
    api.addFile('/cut.bin', content)
    api.chunkBytes = 16 * 1024
    api.dropAfterBytes = 100_000
    api.dropCount = 2 // the first two responses are cut 100,000 bytes in: progress each time
    const h = rw(api)
    const fh = await h.vfs.open('/big.bin', W | constants.O_APPEND)
    await h.vfs.write('/big.bin', fh, Buffer.from('tail'), content.length)
    await h.vfs.flush('/big.bin', fh)
    await h.vfs.release('/big.bin', fh)
    expect(api.fileAt('/big.bin')!.bytes.equals(Buffer.concat([content, Buffer.from('tail')]))).toBe(true)
    expect(api.ranges.map((r) => r.start)).toEqual([0, 100_000, 200_000])

    api.dropAfterBytes = 0 // every response is cut before its first byte: no progress
    api.dropCount = 100
    const cut = await h.vfs.open('/cut.bin', W | constants.O_APPEND)
    await expectCode(h.vfs.write('/cut.bin', cut, Buffer.from('tail'), content.length), 'EIO')
    await h.vfs.flush('/cut.bin', cut)
    await h.vfs.release('/cut.bin', cut)
    expect(api.fileAt('/cut.bin')!.bytes.equals(content)).toBe(true) // nothing stored over it
    expect(api.writeCalls.uploadFile).toBe(1) // big.bin's
  })

  it('in-place edit (O_RDWR, write in the middle) keeps the rest', async () => {
    const api = new FakeImageKit()
    api.addFile('/f', Buffer.from('0123456789'))
    const h = rw(api)
    const fh = await h.vfs.open('/f', constants.O_RDWR)
    await h.vfs.write('/f', fh, Buffer.from('XY'), 4)
    expect((await h.vfs.read('/f', fh, 100, 0)).toString()).toBe('0123XY6789')
    await h.vfs.flush('/f', fh)
    await h.vfs.release('/f', fh)
    expect(api.fileAt('/f')!.bytes.toString()).toBe('0123XY6789')
  })

  it('truncate by path down and up; ftruncate on a handle', async () => {
    const api = new FakeImageKit()
    api.addFile('/t', Buffer.from('abcdefgh'))
    const h = rw(api)
    await h.vfs.truncate('/t', 3)
    expect(api.fileAt('/t')!.bytes.toString()).toBe('abc')
    await h.vfs.truncate('/t', 5)
    expect(api.fileAt('/t')!.bytes).toEqual(Buffer.from([97, 98, 99, 0, 0]))
    const fh = await h.vfs.open('/t', constants.O_RDWR)
    await h.vfs.ftruncate('/t', fh, 1)
    expect((await h.vfs.getattr('/t')).size).toBe(1)
    await h.vfs.flush('/t', fh)
    await h.vfs.release('/t', fh)
    expect(api.fileAt('/t')!.bytes.toString()).toBe('a')
  })

  it('fallocate grows an open file with zeros (mode 0), accepts KEEP_SIZE, refuses other modes and read-only handles', async () => {
    const api = new FakeImageKit()
    api.addFile('/a', Buffer.from('abc'))
    const h = rw(api)
    const fh = await h.vfs.open('/a', constants.O_RDWR)
    await h.vfs.fallocate(fh, 0, 2, 6) // 2 + 6 = 8 > 3: grows
    expect((await h.vfs.getattr('/a')).size).toBe(8)
    await h.vfs.fallocate(fh, 0, 0, 4) // inside the file: nothing changes
    await h.vfs.fallocate(fh, 1, 0, 100) // FALLOC_FL_KEEP_SIZE
    expect((await h.vfs.getattr('/a')).size).toBe(8)
    await expectCode(h.vfs.fallocate(fh, 3, 0, 2), 'ENOTSUP') // PUNCH_HOLE | KEEP_SIZE
    await expectCode(h.vfs.fallocate(fh, 0x10, 0, 2), 'ENOTSUP') // ZERO_RANGE
    await expectCode(h.vfs.fallocate(fh, 0, 0, 0), 'EINVAL')
    await h.vfs.flush('/a', fh)
    await h.vfs.release('/a', fh)
    expect(api.fileAt('/a')!.bytes).toEqual(Buffer.from([97, 98, 99, 0, 0, 0, 0, 0]))
    const ro = await h.vfs.open('/a', constants.O_RDONLY)
    await expectCode(h.vfs.fallocate(ro, 0, 0, 100), 'EBADF')
    await h.vfs.release('/a', ro)
    expect(api.fileAt('/a')!.bytes.length).toBe(8)
  })

  it('O_TRUNC then write replaces the content', async () => {
    const api = new FakeImageKit()
    api.addFile('/r', Buffer.from('old content'))
    const h = rw(api)
    const fh = await h.vfs.open('/r', W | constants.O_TRUNC)
    await h.vfs.write('/r', fh, Buffer.from('new'), 0)
    await h.vfs.flush('/r', fh)
    await h.vfs.release('/r', fh)
    expect(api.fileAt('/r')!.bytes.toString()).toBe('new')
    expect(api.calls.readRange).toBe(0) // no fill with O_TRUNC
  })

  it('W1: an open for writing fills the file at its first read, write or truncate, so touch downloads nothing', async () => {
    const api = new FakeImageKit()
    const stored = patternBytes(3 * MiB)
    api.addFile('/big.bin', stored)
    const h = rw(api)
    // touch: open(O_WRONLY | O_CREAT), futimens, close.
    const touched = await h.vfs.open('/big.bin', W | constants.O_CREAT)
    await h.vfs.utimens('/big.bin', NaN, Date.parse('2001-02-03T04:05:06Z'))
    expect((await h.vfs.getattrOpen(touched)).size).toBe(stored.length)
    await h.vfs.flush('/big.bin', touched)
    await h.vfs.release('/big.bin', touched)
    expect(api.calls.readRange).toBe(0)
    expect(api.writeCalls.uploadFile).toBe(0)
    expect((await h.vfs.getattr('/big.bin')).mtimeMs).toBe(Date.parse('2001-02-03T04:05:06Z'))
    // Written in the middle: the rest is the stored bytes.
    const fh = await h.vfs.open('/big.bin', constants.O_RDWR)
    await h.vfs.write('/big.bin', fh, Buffer.from('patch'), MiB)
    expect(await h.vfs.read('/big.bin', fh, 5, MiB)).toEqual(Buffer.from('patch'))
    await h.vfs.flush('/big.bin', fh)
    await h.vfs.release('/big.bin', fh)
    const want = Buffer.from(stored)
    want.write('patch', MiB)
    expect(api.fileAt('/big.bin')!.bytes.equals(want)).toBe(true)
    expect(spoolFiles(h, 'data')).toEqual([])
    await h.vfs.close()
  })
})

describe('files being written (what a stop waits for)', () => {
  it('lists the files open for writing, also once a close stored what they had (the program may write on), and shows them in the status as writing', async () => {
    const api = new FakeImageKit()
    api.addFile('/kept.txt', Buffer.from('stored'))
    api.addFile('/read.txt', Buffer.from('read'))
    const h = rw(api)
    const fresh = await h.vfs.create('/new.bin', 0o644, CREATE)
    const untouched = await h.vfs.open('/kept.txt', constants.O_RDWR)
    expect(h.vfs.filesBeingWritten().sort()).toEqual(['/kept.txt', '/new.bin']) // unchanged yet, but open for writing
    await h.vfs.write('/kept.txt', untouched, Buffer.from('S'), 0)
    expect(h.vfs.status().uploads.filter((u) => u.state === 'writing').map((u) => u.localPath).sort()).toEqual(['/kept.txt', '/new.bin'])
    await h.vfs.write('/new.bin', fresh, Buffer.from('new'), 0)
    await h.vfs.flush('/new.bin', fresh) // a duplicate's close (bash: echo one >&3) stores what it has so far ...
    expect(api.fileAt('/new.bin')!.bytes.toString()).toBe('new')
    expect(h.vfs.filesBeingWritten().sort()).toEqual(['/kept.txt', '/new.bin']) // ... and the program goes on writing
    await h.vfs.unlink('/kept.txt')
    expect(h.vfs.filesBeingWritten()).toEqual(['/new.bin']) // unlinked: its bytes are not stored anyway
    await h.vfs.release('/new.bin', fresh)
    const reader = await h.vfs.open('/new.bin', constants.O_RDONLY) // a reader of a pending file writes nothing
    expect(h.vfs.filesBeingWritten()).toEqual([])
    await h.vfs.release('/new.bin', reader)
    await h.vfs.release('/kept.txt', untouched)
    await h.vfs.close()
  })
})

describe('a stop (refuseNewWrites)', () => {
  it('serves the files being written, refuses to start writing any other (EROFS), and still reads', async () => {
    const api = new FakeImageKit()
    api.addFile('/stored.txt', Buffer.from('stored'))
    const h = rw(api)
    const writing = await h.vfs.create('/writing.bin', 0o644, CREATE)
    await h.vfs.write('/writing.bin', writing, Buffer.from('first'), 0)
    h.vfs.refuseNewWrites()
    await expectCode(h.vfs.create('/new.bin', 0o644, CREATE), 'EROFS')
    await expectCode(h.vfs.open('/stored.txt', W), 'EROFS')
    await expectCode(h.vfs.truncate('/stored.txt', 1), 'EROFS')
    expect((await readAll(h, '/stored.txt')).toString()).toBe('stored')
    const second = await h.vfs.open('/writing.bin', W) // the file being written: another handle on it is fine
    await h.vfs.write('/writing.bin', writing, Buffer.from(' and last'), 5)
    await h.vfs.release('/writing.bin', second)
    await h.vfs.flush('/writing.bin', writing)
    await h.vfs.release('/writing.bin', writing)
    expect(api.fileAt('/writing.bin')!.bytes.toString()).toBe('first and last')
    expect(api.fileAt('/new.bin')).toBeUndefined()
    await h.vfs.close()
  })

  it("a close by a process that inherited the descriptor stores the file once the mount is stopping: the session's end may drop its release (R12, W2)", async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const shell = 100
    const child = 200
    const fh = await h.vfs.create('/bg.log', 0o644, CREATE, shell)
    await h.vfs.write('/bg.log', fh, Buffer.from('started\n'), 0)
    await h.vfs.flush('/bg.log', fh, shell) // `cmd > bg.log &`, and the shell closes its copy first
    h.vfs.refuseNewWrites() // SIGTERM: detached, serving the file until the child closes it
    await h.vfs.write('/bg.log', fh, Buffer.from('done\n'), 8)
    // The child's close is the last: once it is through, nothing holds the detached mount, and the kernel ends
    // the session, dropping the release it had queued (it never reaches the daemon).
    await h.vfs.flush('/bg.log', fh, child)
    expect(api.fileAt('/bg.log')!.bytes.toString()).toBe('started\ndone\n')
    await h.vfs.close()
  })

  it("a close by a process that inherited the descriptor, just before the stop began, whose release the session's end dropped: stored as that close left it (R12, W2)", async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const shell = 100
    const child = 200
    const fh = await h.vfs.create('/bg.log', 0o644, CREATE, shell)
    await h.vfs.flush('/bg.log', fh, shell) // `cmd > bg.log &`: the shell closes its copy at once
    await h.vfs.write('/bg.log', fh, Buffer.from('all the output\n'), 0)
    // The child's close reaches the daemon as the mount detaches, before the stop began: its commit is left to
    // the release that follows, which the kernel drops when it ends the session (nothing holds the mount).
    await h.vfs.flush('/bg.log', fh, child)
    const other = await h.vfs.create('/half.bin', 0o644, CREATE, shell)
    await h.vfs.flush('/half.bin', other, child)
    await h.vfs.write('/half.bin', other, Buffer.from('written after that close'), 0) // still being written
    h.vfs.refuseNewWrites()
    expect(api.fileAt('/bg.log')).toBeUndefined()
    expect(h.vfs.commitClosedFiles()).toEqual(['/bg.log'])
    await h.vfs.close()
    expect(api.fileAt('/bg.log')!.bytes.toString()).toBe('all the output\n')
    expect(api.fileAt('/half.bin')).toBeUndefined()
  })
})

describe('empty files (W5)', () => {
  it('exist in the spool, are listed, survive a remount, upload once they have content', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/empty', '')
    expect(api.writeCalls.uploadFile).toBe(0)
    expect((await h.vfs.getattr('/empty')).size).toBe(0)
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toContain('empty')
    expect(h.vfs.status().uploads).toMatchObject([{ localPath: '/empty', state: 'empty' }])
    await h.vfs.close()
    const h2 = rw(api, h.cacheDir)
    expect((await h2.vfs.getattr('/empty')).size).toBe(0)
    const fh = await h2.vfs.open('/empty', W)
    await h2.vfs.write('/empty', fh, Buffer.from('now'), 0)
    await h2.vfs.flush('/empty', fh)
    await h2.vfs.release('/empty', fh)
    expect(api.fileAt('/empty')!.bytes.toString()).toBe('now')
    expect(spoolRecords(h2)).toEqual([])
  })

  it('unlink of a file that another machine deleted and stored again after the cached listing deletes the one there now', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    api.addFile('/d/f.txt', Buffer.from('listed'))
    api.addFile('/d/keep.txt', Buffer.from('keep'))
    const h = rw(api)
    expect((await h.vfs.readdir('/d')).map((e) => e.name).sort()).toEqual(['f.txt', 'keep.txt'])
    api.removeFile('/d/f.txt')
    api.addFile('/d/f.txt', Buffer.from('stored again elsewhere'))
    await h.vfs.unlink('/d/f.txt')
    expect(api.filePaths()).toEqual(['/d/keep.txt']) // was: still there, back in the listing once it expired
    await expectCode(h.vfs.getattr('/d/f.txt'), 'ENOENT')
    api.removeFile('/d/keep.txt') // only deleted elsewhere: unlink succeeds, nothing else goes
    await h.vfs.unlink('/d/keep.txt')
    expect(api.filePaths()).toEqual([])
    await h.vfs.close()
  })

  it('a file unlinked while open, reopened from its handle (/proc/PID/fd), reads what the handle has after that one goes', async () => {
    const { api, h, written, stored } = await unlinkedWhileOpen()
    const writtenAgain = await h.vfs.reopen(written)
    const storedAgain = await h.vfs.reopen(stored)
    await h.vfs.release('/u', written)
    await h.vfs.release('/stored.txt', stored)
    expect((await h.vfs.getattrOpen(writtenAgain)).size).toBe(14)
    expect((await h.vfs.read('/u', writtenAgain, 64, 0)).toString()).toBe('unlinked bytes')
    expect((await h.vfs.read('/stored.txt', storedAgain, 64, 0)).toString()).toBe('stored bytes')
    expect(spoolFiles(h, 'data')).toHaveLength(1) // the last handle keeps the spool file
    await h.vfs.release('/u', writtenAgain)
    await h.vfs.release('/stored.txt', storedAgain)
    expect(spoolFiles(h, 'data')).toEqual([])
    await waitFor(() => api.filePaths().length === 0) // the delete follows the fetch for the reader (W8)
    expect(api.filePaths()).toEqual([])
    await h.vfs.close()
  })

  it('W8: fchown through a handle of a file unlinked while open succeeds for the mount\'s owner (-1: unchanged), EPERM for another', async () => {
    const { api, h, written, stored } = await unlinkedWhileOpen({ empty: true })
    await h.vfs.chownOpen(stored, 1000, 1000)
    await h.vfs.chownOpen(written, -1, 1000)
    await expectCode(h.vfs.chownOpen(stored, 0, 0), 'EPERM')
    await expectCode(h.vfs.chownOpen(written, 1000, 0), 'EPERM')
    await h.vfs.release('/u', written)
    await h.vfs.release('/stored.txt', stored)
    await waitFor(() => api.filePaths().length === 0) // the delete follows the fetch for the reader (W8)
    await h.vfs.close()
  })

  it('W8: truncate by the /proc path of a file unlinked while being written goes through any of its handles, a read-only one too; a stored file opened for reading is ESTALE', async () => {
    const { api, h, written, stored, more: reader } = await unlinkedWhileOpen({ more: (h) => h.vfs.open('/u', constants.O_RDONLY) })
    await h.vfs.truncateOpen(reader, 8)
    expect((await h.vfs.getattrOpen(written)).size).toBe(8)
    expect((await h.vfs.read('/u', written, 64, 0)).toString()).toBe('unlinked')
    await expectCode(h.vfs.truncateOpen(stored, 4), 'ESTALE')
    expect((await h.vfs.read('/stored.txt', stored, 64, 0)).toString()).toBe('stored bytes')
    for (const fh of [reader, written]) await h.vfs.release('/u', fh)
    await h.vfs.release('/stored.txt', stored)
    await waitFor(() => api.filePaths().length === 0) // the delete follows the fetch for the reader (W8)
    expect(api.writeCalls.uploadFile).toBe(0)
    await h.vfs.close()
  })

  it('W8: a file being written that was unlinked while open is reopened for writing from its handle (truncate -s of /proc/PID/fd/N); a stored file opened for reading, or a file with a name, is ESTALE', async () => {
    const { api, h, written, stored, more: named } = await unlinkedWhileOpen({
      more: async (h) => {
        const named = await h.vfs.create('/n', 0o644, CREATE)
        await h.vfs.write('/n', named, Buffer.from('named'), 0)
        return named
      },
    })
    await expectCode(h.vfs.reopen(stored, constants.O_WRONLY), 'ESTALE')
    await expectCode(h.vfs.reopen(named, constants.O_WRONLY), 'ESTALE')
    const again = await h.vfs.reopen(written, constants.O_WRONLY | constants.O_TRUNC)
    expect((await h.vfs.getattrOpen(written)).size).toBe(0)
    await h.vfs.write('/u', again, Buffer.from('again'), 0)
    await h.vfs.release('/u', written)
    expect((await h.vfs.read('/u', again, 64, 0)).toString()).toBe('again')
    await h.vfs.flush('/u', again)
    await h.vfs.release('/u', again)
    await h.vfs.release('/stored.txt', stored)
    await h.vfs.flush('/n', named)
    await h.vfs.release('/n', named)
    await waitFor(() => api.filePaths().join() === '/n') // the stored one's delete follows the fetch for its reader (W8)
    expect(api.filePaths()).toEqual(['/n']) // nothing of the unlinked file
    await h.vfs.close()
  })

  it('W8: a time set through one handle of a stored file unlinked while open shows through its other handles, also after that one closes and through a reopen', async () => {
    const api = new FakeImageKit()
    api.addFile('/stored.txt', Buffer.from('stored bytes'))
    api.addFile('/other.txt', Buffer.from('other bytes'))
    const h = rw(api)
    const first = await h.vfs.open('/stored.txt', constants.O_RDONLY)
    const second = await h.vfs.open('/stored.txt', constants.O_RDONLY)
    const other = await h.vfs.open('/other.txt', constants.O_RDONLY)
    await h.vfs.unlink('/stored.txt')
    await h.vfs.unlink('/other.txt')
    const otherMtime = (await h.vfs.getattrOpen(other)).mtimeMs
    const T = Date.parse('2020-01-01T12:00:00Z')
    await h.vfs.utimensOpen(second, NaN, T)
    await h.vfs.release('/stored.txt', second)
    expect((await h.vfs.getattrOpen(first)).mtimeMs).toBe(T)
    const again = await h.vfs.reopen(first)
    await h.vfs.release('/stored.txt', first)
    expect((await h.vfs.getattrOpen(again)).mtimeMs).toBe(T)
    expect((await h.vfs.getattrOpen(other)).mtimeMs).toBe(otherMtime) // another file keeps its own
    await h.vfs.release('/stored.txt', again)
    await h.vfs.release('/other.txt', other)
    await h.vfs.close()
  })

  it('W1: an open without O_TRUNC cut to nothing by ftruncate (truncate -s 0) downloads nothing', async () => {
    const api = new FakeImageKit()
    api.addFile('/big.bin', patternBytes(3 * MiB))
    const h = rw(api)
    const fh = await h.vfs.open('/big.bin', W | constants.O_CREAT)
    await h.vfs.ftruncate('/big.bin', fh, 0)
    await h.vfs.write('/big.bin', fh, Buffer.from('new'), 0)
    await h.vfs.flush('/big.bin', fh)
    await h.vfs.release('/big.bin', fh)
    expect(api.calls.readRange).toBe(0)
    expect(api.fileAt('/big.bin')!.bytes.toString()).toBe('new')
    await h.vfs.close()
  })

  it('W1: an open without O_TRUNC cut to the size it has (truncate -s SIZE) downloads and uploads nothing; a later write still builds on the stored bytes', async () => {
    const api = new FakeImageKit()
    const stored = patternBytes(3 * MiB)
    api.addFile('/big.bin', stored)
    const h = rw(api)
    const fh = await h.vfs.open('/big.bin', W | constants.O_CREAT)
    await h.vfs.ftruncate('/big.bin', fh, 3 * MiB)
    await h.vfs.flush('/big.bin', fh)
    await h.vfs.release('/big.bin', fh)
    await h.vfs.truncate('/big.bin', 3 * MiB) // by path (os.truncate)
    expect(api.calls.readRange).toBe(0)
    expect(api.fileAt('/big.bin')!.versions).toBe(1)
    const again = await h.vfs.open('/big.bin', W)
    await h.vfs.ftruncate('/big.bin', again, 3 * MiB)
    await h.vfs.write('/big.bin', again, Buffer.from('new'), 0)
    await h.vfs.flush('/big.bin', again)
    await h.vfs.release('/big.bin', again)
    expect(api.fileAt('/big.bin')!.bytes.equals(Buffer.concat([Buffer.from('new'), stored.subarray(3)]))).toBe(true)
    expect(api.fileAt('/big.bin')!.versions).toBe(2)
    await h.vfs.close()
  })

  it('W8: a stored file open for writing and not yet filled keeps its bytes when unlinked: the descriptor reads and writes on', async () => {
    const api = new FakeImageKit()
    api.addFile('/edited.txt', Buffer.from('stored bytes'))
    const h = rw(api)
    const fh = await h.vfs.open('/edited.txt', constants.O_RDWR)
    await h.vfs.unlink('/edited.txt')
    expect(api.filePaths()).toEqual([])
    api.forgetUrls('') // deleted with all its versions: the CDN has its bytes no more (the emulator: 404 at once)
    expect(await h.vfs.write('/edited.txt', fh, Buffer.from('S'), 0)).toBe(1)
    expect((await h.vfs.read('/edited.txt', fh, 64, 0)).toString()).toBe('Stored bytes')
    await h.vfs.flush('/edited.txt', fh)
    await h.vfs.release('/edited.txt', fh)
    expect(api.filePaths()).toEqual([])
    expect(api.writeCalls.uploadFile).toBe(0)
    await h.vfs.close()
  })

  it('W8: a stored file open for reading is fetched before its unlink and read on; a CDN that does not answer does not stop the unlink', async () => {
    const api = new FakeImageKit()
    api.addFile('/kept.txt', Buffer.from('kept bytes'))
    api.addFile('/lost.txt', Buffer.from('lost bytes'))
    const h = rw(api)
    const kept = await h.vfs.open('/kept.txt', constants.O_RDONLY)
    await h.vfs.unlink('/kept.txt')
    await waitFor(() => !api.filePaths().includes('/kept.txt')) // the delete follows the fetch for the reader (W8)
    api.forgetUrls('')
    expect((await h.vfs.read('/kept.txt', kept, 64, 0)).toString()).toBe('kept bytes')
    await h.vfs.release('/kept.txt', kept)
    const lost = await h.vfs.open('/lost.txt', constants.O_RDONLY)
    api.failAlways.set('readRange', new ImageKitError('IK_NETWORK', 'GET delivery: connection refused'))
    await h.vfs.unlink('/lost.txt')
    await waitFor(() => api.filePaths().length === 0) // the delete follows the fetch for the reader (W8)
    expect(api.filePaths()).toEqual([])
    expect(h.lines.join('\n')).toMatch(/could not fetch its bytes first/)
    await h.vfs.release('/lost.txt', lost)
    await h.vfs.close()
  })

  it('W8: a file open for reading whose version the spool still holds (just written) is copied from there before its unlink, not fetched', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 5, 'ab') // kept on disk only (over 1 MiB), in more than one chunk
    await writeFile(h, '/saved.bin', bytes)
    const fh = await h.vfs.open('/saved.bin', constants.O_RDONLY)
    await h.vfs.unlink('/saved.bin')
    await waitFor(() => api.filePaths().length === 0) // the delete follows the fetch for the reader (W8)
    expect(api.calls.readRange).toBe(0)
    expect(api.filePaths()).toEqual([])
    expect((await h.vfs.read('/saved.bin', fh, 64, bytes.length - 64)).equals(bytes.subarray(bytes.length - 64))).toBe(true)
    expect(api.calls.readRange).toBe(0)
    await h.vfs.release('/saved.bin', fh)
    await h.vfs.close()
  })

  it('W8: a reader released while its file\'s bytes are fetched for the unlink leaves no copy in the cache dir', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.alloc(64 * 1024, 7))
    const h = rw(api)
    const player = await h.vfs.open('/played.bin', constants.O_RDONLY)
    let open!: () => void
    const held = new Promise<void>((resolve) => { open = resolve })
    api.gate = () => held
    const unlinked = h.vfs.unlink('/played.bin')
    await waitFor(() => api.calls.readRange === 1)
    await h.vfs.release('/played.bin', player) // the player stops while rm waits for the fetch
    open()
    await unlinked
    await waitFor(() => api.filePaths().length === 0) // the delete follows the fetch for the reader (W8)
    expect(readdirSync(join(h.vfs.spoolDir!, 'kept'))).toEqual([])
    await h.vfs.close()
  })

  it('W8: an unmount while the bytes of a file unlinked under its reader are still fetched stops the fetch and makes the delete', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.alloc(64 * 1024, 7))
    const h = rw(api)
    await h.vfs.open('/played.bin', constants.O_RDONLY) // released never: the unmount detaches the mount
    api.gate = () => new Promise<void>(() => undefined) // the CDN never sends the bytes
    const unlinked = h.vfs.unlink('/played.bin') // fetches the bytes for the reader before the delete
    await waitFor(() => api.calls.readRange === 1)
    await h.vfs.close() // no reader is left to read the copy: waited for the fetch (forever) before
    await unlinked
    expect(api.filePaths()).toEqual([])
    expect(readdirSync(join(h.vfs.spoolDir!, 'kept'))).toEqual([])
  })

  /** The CDN holds back the bytes until the returned function is called. */
  function stallDelivery(api: FakeImageKit): () => void {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    api.gate = () => held
    return release
  }
  const names = async (h: Harness) => (await h.vfs.readdir('/')).map((e) => e.name).sort()

  it('W8: an unlink of a file open for reading answers before its bytes are fetched: listings made meanwhile leave it out, and a file made at its name is stored after the delete, as a file of its own', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.alloc(64 * 1024, 7))
    api.addFile('/other.txt', Buffer.from('other'))
    const h = rw(api)
    const oldId = api.fileAt('/played.bin')!.obj.fileId
    const player = await h.vfs.open('/played.bin', constants.O_RDONLY)
    const deliver = stallDelivery(api)
    await h.vfs.unlink('/played.bin') // answered while the CDN holds the bytes back (it waited for them before)
    expect(api.writeCalls.deleteFile).toBe(0)
    expect(api.fileAt('/played.bin')?.obj.fileId).toBe(oldId)
    // The folder listed anew (its listing expired): the library still answers with the file, which stays gone.
    h.clock.advance(61_000)
    expect(await names(h)).toEqual(['other.txt'])
    await expectCode(h.vfs.getattr('/played.bin'), 'ENOENT')
    // A file made at the name: its open, writes, close and listing go on; its upload waits for the delete (stored
    // before it, it would be a version of the file the delete takes), after its close: the file is durable in the
    // spool, and status says what it waits for.
    const fh = await h.vfs.create('/played.bin', 0o644, CREATE)
    await h.vfs.write('/played.bin', fh, Buffer.from('a new file'), 0)
    await h.vfs.flush('/played.bin', fh)
    await h.vfs.release('/played.bin', fh)
    expect(await names(h)).toEqual(['other.txt', 'played.bin'])
    expect(h.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/played.bin', state: 'waiting', waitsFor: 'delete' })])
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(api.writeCalls.uploadFile).toBe(0)
    expect(api.fileAt('/played.bin')?.obj.fileId).toBe(oldId)
    deliver()
    await waitFor(() => h.vfs.status().uploads.length === 0)
    const stored = api.fileAt('/played.bin')!
    expect(stored.bytes.toString()).toBe('a new file')
    expect(stored.obj.fileId).not.toBe(oldId)
    expect(stored.versions).toBe(1)
    expect((await h.vfs.read('/played.bin', player, 16, 0)).equals(Buffer.alloc(16, 7))).toBe(true)
    await h.vfs.release('/played.bin', player)
    h.clock.advance(61_000)
    expect(await names(h)).toEqual(['other.txt', 'played.bin'])
    expect(readdirSync(join(h.vfs.spoolDir!, 'deletes'))).toEqual([])
    await h.vfs.close()
  })

  it('W8: a create that keeps what is at its name (>>, touch) of a file whose delete is under way starts empty: the library, asked for the name, still has the unlinked file, which stays gone', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.alloc(64 * 1024, 7))
    const h = rw(api)
    const oldId = api.fileAt('/played.bin')!.obj.fileId
    const player = await h.vfs.open('/played.bin', constants.O_RDONLY)
    const deliver = stallDelivery(api)
    await h.vfs.unlink('/played.bin')
    h.clock.advance(6_000) // the listing is no longer fresh enough to vouch for the name: the create asks the library
    const fh = await h.vfs.create('/played.bin', 0o644, constants.O_CREAT | constants.O_WRONLY | constants.O_APPEND)
    expect((await h.vfs.getattr('/played.bin')).size, 'a new file, as on a local disk after rm').toBe(0)
    await h.vfs.write('/played.bin', fh, Buffer.from('appended'), 0, false) // an O_APPEND write: at the end
    const closed = h.vfs.flush('/played.bin', fh).then(() => h.vfs.release('/played.bin', fh))
    deliver()
    await closed
    const stored = api.fileAt('/played.bin')!
    expect(stored.obj.fileId).not.toBe(oldId)
    expect(stored.bytes.toString()).toBe('appended')
    await h.vfs.release('/played.bin', player)
    await h.vfs.close()
  })

  it('W8: a delete that fails after the unlink of a file open for reading answered is tried again, the name staying gone', async () => {
    const { api, h, player } = await unlinkedWhilePlayedAndDeleteFails()
    h.clock.advance(61_000) // a retry (fails again), and the folder listed anew
    await waitFor(() => api.writeCalls.deleteFile === 2)
    expect(await names(h)).toEqual([])
    expect(api.filePaths()).toEqual(['/played.bin'])
    api.failAlways.delete('deleteFile')
    h.clock.advance(61_000)
    await waitFor(() => api.filePaths().length === 0)
    expect(h.lines.join('\n')).toMatch(/delete of a file unlinked while open for reading failed/)
    expect((await h.vfs.read('/played.bin', player, 64, 0)).toString()).toBe('played bytes')
    await h.vfs.release('/played.bin', player)
    await h.vfs.close()
  })

  it('W8: a kill -9 after the unlink of a file open for reading answered, before its delete: the next mount hides it and deletes it', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.alloc(64 * 1024, 7))
    const h = rw(api)
    await h.vfs.open('/played.bin', constants.O_RDONLY)
    const deliver = stallDelivery(api)
    await h.vfs.unlink('/played.bin')
    expect(api.filePaths()).toEqual(['/played.bin'])
    // "kill -9": the first Vfs is never closed (its fetch waits on); the next finds the delete noted.
    const h2 = rw(api, h.cacheDir)
    expect(await names(h2)).toEqual([])
    await waitFor(() => api.filePaths().length === 0)
    expect(h2.lines.join('\n')).toMatch(/not deleted from the library yet: deleting it now/)
    await waitFor(() => readdirSync(join(h2.vfs.spoolDir!, 'deletes')).length === 0)
    deliver()
  })

  it('W8: an unmount while the delete after an unlink of a file open for reading keeps failing leaves it noted for the next mount', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.from('played bytes'))
    const h = rw(api)
    await h.vfs.open('/played.bin', constants.O_RDONLY)
    api.failAlways.set('deleteFile', new ImageKitError('IK_SERVER', 'DELETE file: 503', { status: 503 }))
    await h.vfs.unlink('/played.bin')
    await waitFor(() => api.writeCalls.deleteFile === 1)
    await h.vfs.close()
    expect(api.filePaths()).toEqual(['/played.bin'])
    api.failAlways.delete('deleteFile')
    const h2 = rw(api, h.cacheDir)
    expect(await names(h2)).toEqual([])
    await waitFor(() => api.filePaths().length === 0)
    await h2.vfs.close()
  })

  it('W8: an unmount while the delete at a path keeps failing, after an empty file was made there (touch), leaves no rejection unhandled (the daemon would crash at the stop)', async () => {
    const { api, h, player } = await unlinkedWhilePlayedAndDeleteFails()
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      // Its close asks for the end of the delete at the path, then has nothing to upload (an empty file, W5).
      const fh = await h.vfs.create('/played.bin', 0o644, CREATE)
      await h.vfs.flush('/played.bin', fh)
      await h.vfs.release('/played.bin', fh)
      await h.vfs.release('/played.bin', player)
      await h.vfs.close() // the delete is not done: the stores waiting for it fail, and the end of the delete given out rejects
      await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
    expect(unhandled).toEqual([])
    expect(api.filePaths()).toEqual(['/played.bin'])
  })

  it('W8: the copy of a file unlinked while open for reading goes with the unmount, its reader still open', async () => {
    const api = new FakeImageKit()
    api.addFile('/played.bin', Buffer.from('played bytes'))
    const h = rw(api)
    await h.vfs.open('/played.bin', constants.O_RDONLY) // released never: the unmount detaches the mount
    await h.vfs.unlink('/played.bin')
    await waitFor(() => api.filePaths().length === 0) // the delete follows the fetch for the reader (W8)
    expect(readdirSync(join(h.vfs.spoolDir!, 'kept'))).toHaveLength(1)
    await h.vfs.close()
    expect(readdirSync(join(h.vfs.spoolDir!, 'kept'))).toEqual([])
  })

  it('W8: a file written on after its unlink (a temporary file, SQLite\'s -shm) leaves no spool file at its last close', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/scratch', 0o644, CREATE)
    await h.vfs.write('/scratch', fh, Buffer.from('before'), 0)
    await h.vfs.unlink('/scratch')
    await h.vfs.write('/scratch', fh, Buffer.from(' and after the unlink'), 6)
    expect((await h.vfs.read('/scratch', fh, 64, 0)).toString()).toBe('before and after the unlink')
    await h.vfs.flush('/scratch', fh)
    await h.vfs.release('/scratch', fh)
    expect(spoolFiles(h, 'data')).toEqual([])
    expect(spoolRecords(h)).toEqual([])
    expect(api.writeCalls.uploadFile).toBe(0)
    await h.vfs.close()
  })

  it('unlink removes an empty spool file', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/e', '')
    await h.vfs.unlink('/e')
    await expectCode(h.vfs.getattr('/e'), 'ENOENT')
    expect(spoolRecords(h)).toEqual([])
    expect(spoolFiles(h, 'data')).toEqual([])
  })
})

describe('durability (W3, W4, W6)', () => {
  it('an upload failure makes close EIO, keeps the record, and the retrier succeeds later', async () => {
    const api = new FakeImageKit()
    api.failNext.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    const h = rw(api)
    const fh = await h.vfs.create('/x', 0o644, CREATE)
    await h.vfs.write('/x', fh, Buffer.from('data'), 0)
    await expectCode(h.vfs.flush('/x', fh), 'EIO')
    await h.vfs.release('/x', fh)
    expect(spoolRecords(h)).toHaveLength(1)
    expect((await h.vfs.getattr('/x')).size).toBe(4)
    const [st] = h.vfs.status().uploads
    expect(st).toMatchObject({ state: 'failed', attempts: 1 })
    expect(st!.nextAttemptAtMs).toBeGreaterThan(h.clock.now())
    h.clock.advance(st!.nextAttemptAtMs! - h.clock.now())
    await waitFor(() => h.vfs.status().counters.uploadsSucceeded === 1)
    expect(api.fileAt('/x')!.bytes.toString()).toBe('data')
    expect(h.vfs.status().counters).toMatchObject({ uploadsFailed: 1, uploadsRetried: 1, uploadsSucceeded: 1 })
    await waitFor(() => spoolRecords(h).length === 0)
  })

  it('a clean stop leaves a compact journal: none once every upload landed, else just the records of the files still waiting', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { bootId: 'b1' })
    for (let i = 0; i < 300; i++) await writeFile(h, `/f${i}.txt`, `file ${i}`) // each uploaded in its close
    const journal = join(h.vfs.spoolDir!, 'journal')
    expect(statSync(join(journal, 'journal.log')).size).toBeGreaterThan(0) // their put and del lines
    await h.vfs.close()
    expect(readdirSync(journal)).toEqual([])

    const h2 = rw(api, h.cacheDir, { bootId: 'b1' })
    for (let i = 0; i < 100; i++) await overwriteFile(h2, `/f${i}.txt`, `again ${i}`) // uploaded
    api.failAlways.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    for (let i = 0; i < 100; i++) { // not uploaded: each keeps its record, retried later
      const fh = await h2.vfs.open(`/f${i}.txt`, W | constants.O_TRUNC)
      await h2.vfs.write(`/f${i}.txt`, fh, Buffer.from(`third ${i}`), 0)
      await expectCode(h2.vfs.flush(`/f${i}.txt`, fh), 'EIO')
      await h2.vfs.release(`/f${i}.txt`, fh)
    }
    await h2.vfs.close()
    const lines = readFileSync(join(journal, 'journal.log'), 'utf8').split('\n').filter(Boolean)
    expect(lines.every((l) => l.startsWith('{"put"'))).toBe(true) // no dead line
    expect(spoolRecords(h2).map((r) => r.name).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `f${i}.txt`).sort())
    expect(lines).toHaveLength(100)

    api.failAlways.delete('uploadFile')
    const h3 = rw(api, h.cacheDir, { bootId: 'b1' })
    h3.clock.advance(0)
    await waitFor(() => h3.vfs.status().uploads.length === 0)
    for (let i = 0; i < 100; i++) expect(api.fileAt(`/f${i}.txt`)!.bytes.toString()).toBe(`third ${i}`)
    expect(h3.records.filter((r) => (r.level as number) >= 50)).toEqual([])
  })

  it('a clean stop leaves a compact mtimes.log: each small file copied in wrote two lines (its time, its folder\'s), half of them dead by then', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    for (let i = 0; i < 100; i++) {
      h.clock.advance(1000) // each file's create changes the folder's time too
      await writeFile(h, `/f${i}.txt`, `file ${i}`)
    }
    for (let i = 0; i < 20; i++) await h.vfs.unlink(`/f${i}.txt`)
    const log = join(h.vfs.spoolDir!, 'mtimes.log')
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toHaveLength(2 * 100 + 20) // and a gone line per unlink
    const shown = await Promise.all([20, 99].map(async (i) => (await h.vfs.getattr(`/f${i}.txt`)).mtimeMs))
    await h.vfs.close()
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { f: string })
    const left = Array.from({ length: 80 }, (_, i) => api.fileAt(`/f${i + 20}.txt`)!.obj.fileId)
    expect(lines.map((l) => l.f).sort()).toEqual([...left, 'd:/'].sort()) // the files left, and the folder
    const h2 = rw(api, h.cacheDir)
    expect(await Promise.all([20, 99].map(async (i) => (await h2.vfs.getattr(`/f${i}.txt`)).mtimeMs))).toEqual(shown)
    await h2.vfs.close()
  })

  it('a kill -9 leaves mtimes.log with its dead lines: the next mount compacts it at start', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    for (let i = 0; i < 100; i++) {
      h.clock.advance(1000)
      await writeFile(h, `/f${i}.txt`, `file ${i}`)
    }
    for (let i = 0; i < 20; i++) await h.vfs.unlink(`/f${i}.txt`)
    const log = join(h.vfs.spoolDir!, 'mtimes.log')
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toHaveLength(2 * 100 + 20)
    const shown = await Promise.all([20, 99].map(async (i) => (await h.vfs.getattr(`/f${i}.txt`)).mtimeMs))
    // "kill -9": the first Vfs is never closed
    const h2 = rw(api, h.cacheDir)
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { f: string })
    const left = Array.from({ length: 80 }, (_, i) => api.fileAt(`/f${i + 20}.txt`)!.obj.fileId)
    expect(lines.map((l) => l.f).sort()).toEqual([...left, 'd:/'].sort())
    expect(readdirSync(h2.vfs.spoolDir!)).not.toContain('mtimes.log.tmp')
    expect(await Promise.all([20, 99].map(async (i) => (await h2.vfs.getattr(`/f${i}.txt`)).mtimeMs))).toEqual(shown)
    await h2.vfs.close()
  })

  it('after a crash the next Vfs on the same cache dir finishes the pending upload', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/crash.bin', 0o644, CREATE)
    await h.vfs.write('/crash.bin', fh, Buffer.from('survive'), 0)
    api.failNext.set('uploadFile', new ImageKitError('IK_NETWORK', 'POST upload: reset'))
    await expectCode(h.vfs.flush('/crash.bin', fh), 'EIO')
    // "kill -9": the first Vfs is never closed
    const h2 = rw(api, h.cacheDir)
    expect((await h2.vfs.getattr('/crash.bin')).size).toBe(7)
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/crash.bin') !== undefined)
    expect(api.fileAt('/crash.bin')!.bytes.toString()).toBe('survive')
    await waitFor(() => h2.vfs.status().uploads.length === 0)
  })

  it('W1, W3: with --write-back, an append to a file stored after the cached listing is still stored as theirs plus ours after a crash', async () => {
    const api = new FakeImageKit()
    api.addFile('/seen.txt', Buffer.from('seen\n'))
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000 })
    await h.vfs.readdir('/')
    const log = api.addFile('/log.txt', Buffer.from('one\n'))
    h.clock.advance(CONFIRM_MS) // the listing no longer vouches for names it lacks (unlisted-file.ts)
    const fh = await h.vfs.create('/log.txt', 0o644, W | constants.O_CREAT | constants.O_APPEND)
    await h.vfs.write('/log.txt', fh, Buffer.from('two\n'), 0, false)
    await h.vfs.flush('/log.txt', fh)
    await h.vfs.release('/log.txt', fh)
    expect(api.fileAt('/log.txt')!.versions).toBe(1) // waits for the write-back delay
    // "kill -9": the spool record names the stored file the upload replaces, and holds its bytes and ours
    const h2 = rw(api, h.cacheDir)
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/log.txt')!.versions === 2)
    expect(api.fileAt('/log.txt')!.bytes.toString()).toBe('one\ntwo\n')
    expect(api.fileAt('/log.txt')!.obj.fileId).toBe(log.fileId)
    await waitFor(() => h2.vfs.status().uploads.length === 0)
  })

  it('a mount says when the cache dir holds files another library (another --endpoint) wrote and has not stored', async () => {
    const cacheDir = tempCache()
    const typo = new Spool(cacheDir, 'https://ik.example.test/dmeo')
    writeFileSync(join(typo.dataDir, '0123456789abcdef'), 'written through the mistyped endpoint')
    typo.unlock()
    const h = rw(new FakeImageKit(), cacheDir)
    const warning = h.records.find((r) => r.spool === typo.dir)
    expect(warning?.msg).toBe(
      'the cache dir holds up to 1 file(s) written through a mount of the library at https://ik.example.test/dmeo and not stored yet: ' +
        'they are stored when that library is mounted with this cache dir (--endpoint https://ik.example.test/dmeo)',
    )
    await h.vfs.close()
  })

  it('W3: after a crash, bytes written since the last close are not uploaded: a file half rewritten by dd keeps its stored version', async () => {
    const api = new FakeImageKit()
    const good = Buffer.alloc(100_000, 0x47)
    api.addFile('/photo.jpg', good)
    const h = rw(api)
    const fh = await h.vfs.open('/photo.jpg', W | constants.O_TRUNC)
    await h.vfs.flush('/photo.jpg', fh) // the shell's duplicated descriptor, closed before dd writes: the file is empty (W5)
    await h.vfs.write('/photo.jpg', fh, Buffer.alloc(30_000, 0x4e), 0) // dd is 30% through...
    // ... when the daemon is killed: the first Vfs is never closed, dd's close never comes
    const h2 = rw(api, h.cacheDir)
    h2.clock.advance(0)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(api.fileAt('/photo.jpg')!.bytes.equals(good)).toBe(true)
    expect(api.writeCalls.uploadFile).toBe(0)
    expect((await h2.vfs.getattr('/photo.jpg')).size).toBe(0) // what the last close left: an empty file, in the spool
    expect(h2.records.some((r) => String(r.msg).includes('never committed'))).toBe(true)
  })

  it('W3: what a close committed survives a crash while the file is written again (write-back): truncated, edited in place or appended to', async () => {
    const committed = 'first version, closed: close() returned 0'
    for (const { flags, change } of [
      { flags: W | constants.O_TRUNC, change: { at: 0, text: 'sec' } }, // an editor saving again
      { flags: constants.O_RDWR, change: { at: 6, text: 'EDITED' } }, // an edit in place
      { flags: W | constants.O_APPEND, change: { at: committed.length, text: ' and more' } }, // >>
    ]) {
      const api = new FakeImageKit()
      const h = rw(api, tempCache(), { writeBackDelayMs: 60_000, bootId: 'b1' })
      await writeFile(h, '/notes.txt', 'an earlier save') // W4: durable, uploaded later...
      const again = await h.vfs.open('/notes.txt', W | constants.O_TRUNC)
      await h.vfs.write('/notes.txt', again, Buffer.from(committed), 0)
      await h.vfs.flush('/notes.txt', again) // ...and replaced by this one before its upload
      await h.vfs.release('/notes.txt', again)
      const fh = await h.vfs.open('/notes.txt', flags)
      await h.vfs.write('/notes.txt', fh, Buffer.from(change.text), change.at)
      // kill -9 before that second close: the first Vfs is never closed
      const h2 = rw(api, h.cacheDir, { writeBackDelayMs: 60_000, bootId: 'b1' })
      expect((await h2.vfs.getattr('/notes.txt')).size).toBe(committed.length)
      h2.clock.advance(60_000)
      await waitFor(() => api.fileAt('/notes.txt') !== undefined)
      expect(api.fileAt('/notes.txt')!.bytes.toString()).toBe(committed)
      await waitFor(() => h2.vfs.status().uploads.length === 0)
      expect(spoolRecords(h2)).toEqual([])
      expect(h2.records.filter((r) => (r.level as number) >= 50)).toEqual([]) // no "lost" or "power loss" errors
      await h2.vfs.close()
    }
  })

  it('W3: what a close committed survives a crash while the same handle changes it (a child writing on after the opener closed, a duplicate closed)', async () => {
    const small = 'header: 0 records\nrecord one\n'
    const large = Buffer.alloc(1_500_000, 0x41) // past the size whose record carries a checksum
    for (const { committed, change } of [
      { committed: Buffer.from(small), change: async (h: Harness, fh: number) => void (await h.vfs.write('/out.dat', fh, Buffer.from('HEADER'), 0)) },
      { committed: large, change: async (h: Harness, fh: number) => void (await h.vfs.write('/out.dat', fh, Buffer.from('BB'), 0)) },
      { committed: Buffer.from(small), change: (h: Harness, fh: number) => h.vfs.ftruncate('/out.dat', fh, 4) },
      {
        committed: Buffer.from(small), // appended to first (the file is changed already), then edited in place
        change: async (h: Harness, fh: number) => {
          await h.vfs.write('/out.dat', fh, Buffer.from('record two\n'), small.length)
          await h.vfs.write('/out.dat', fh, Buffer.from('header: 2'), 0)
        },
      },
    ]) {
      const api = new FakeImageKit()
      const h = rw(api, tempCache(), { writeBackDelayMs: 60_000, bootId: 'b1' })
      const opener = 100
      const fh = await h.vfs.create('/out.dat', 0o644, CREATE, opener)
      await h.vfs.write('/out.dat', fh, committed, 0)
      await h.vfs.flush('/out.dat', fh, opener) // the opener's close returned 0: durable, uploaded later (W4)
      await change(h, fh) // the child that inherited the descriptor writes on...
      // ... when the daemon is killed: the first Vfs is never closed, the child's close never comes
      const h2 = rw(api, h.cacheDir, { writeBackDelayMs: 60_000, bootId: 'b1' })
      expect((await h2.vfs.getattr('/out.dat')).size).toBe(committed.length)
      h2.clock.advance(60_000)
      await waitFor(() => api.fileAt('/out.dat') !== undefined)
      expect(api.fileAt('/out.dat')!.bytes.equals(committed)).toBe(true)
      await waitFor(() => h2.vfs.status().uploads.length === 0)
      expect(spoolRecords(h2)).toEqual([])
      expect(h2.records.filter((r) => (r.level as number) >= 50)).toEqual([]) // no "lost" or "power loss" errors
      await h2.vfs.close()
    }
  })

  it('W3: a file written again after a committed close stores the new content, and what was kept for a crash goes', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000 })
    await writeFile(h, '/notes.txt', 'first')
    for (const flags of [W | constants.O_TRUNC, constants.O_RDWR]) {
      const fh = await h.vfs.open('/notes.txt', flags)
      await h.vfs.write('/notes.txt', fh, Buffer.from('second'), 0)
      await h.vfs.flush('/notes.txt', fh)
      await h.vfs.release('/notes.txt', fh)
    }
    h.clock.advance(60_000)
    await waitFor(() => api.fileAt('/notes.txt') !== undefined && h.vfs.status().uploads.length === 0)
    expect(api.fileAt('/notes.txt')!.bytes.toString()).toBe('second')
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(spoolRecords(h)).toEqual([])
    expect(spoolFiles(h, 'data')).toEqual([])
    await h.vfs.close()
  })

  it('close uploads without syncing anything, yet a kill -9 during that upload loses nothing', async () => {
    const api = new FakeImageKit()
    const hung = hungUpload()
    api.uploadGate = hung.gate // the first mount's upload never ends
    const h = rw(api, tempCache(), { bootId: 'boot-1' })
    const fh = await h.vfs.create('/inflight.bin', 0o644, CREATE)
    await h.vfs.write('/inflight.bin', fh, Buffer.from('in flight'), 0)
    void h.vfs.flush('/inflight.bin', fh).catch(() => undefined) // its caller dies with the mount
    await waitFor(() => api.uploadsInFlight === 1)
    expect(spoolRecords(h)).toMatchObject([{ name: 'inflight.bin' }])
    api.uploadGate = undefined
    // "kill -9": the first Vfs is never closed; the next one (same boot) resumes the upload
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-1' })
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/inflight.bin') !== undefined)
    expect(api.fileAt('/inflight.bin')!.bytes.toString()).toBe('in flight')
    hung.release() // the killed mount's upload: its teardown close may end
  })

  it('after a reboot, an upload that was running inside close (never synced, never promised) is dropped', async () => {
    const api = new FakeImageKit()
    const hung = hungUpload()
    api.uploadGate = hung.gate
    const h = rw(api, tempCache(), { bootId: 'boot-1' })
    const fh = await h.vfs.create('/unsynced.bin', 0o644, CREATE)
    await h.vfs.write('/unsynced.bin', fh, Buffer.from('maybe torn'), 0)
    void h.vfs.flush('/unsynced.bin', fh).catch(() => undefined) // its caller dies with the mount
    await waitFor(() => api.uploadsInFlight === 1)
    api.uploadGate = undefined
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-2' })
    h2.clock.advance(60_000)
    await expectCode(h2.vfs.getattr('/unsynced.bin'), 'ENOENT')
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(spoolFiles(h2, 'data')).toEqual([])
    expect(h2.records.some((r) => String(r.msg).includes('crash of the machine'))).toBe(true)
    hung.release()
  })

  it('a failed upload is made durable before close reports it: it survives a reboot', async () => {
    const api = new FakeImageKit()
    api.failNext.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    const h = rw(api, tempCache(), { bootId: 'boot-1' })
    const fh = await h.vfs.create('/kept.bin', 0o644, CREATE)
    await h.vfs.write('/kept.bin', fh, Buffer.from('kept'), 0)
    await expectCode(h.vfs.flush('/kept.bin', fh), 'EIO')
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-2' })
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/kept.bin') !== undefined)
    expect(api.fileAt('/kept.bin')!.bytes.toString()).toBe('kept')
  })

  it('two records for one path (a crash between two versions): the newer is uploaded once, the older is dropped for good', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000, bootId: 'boot-1' })
    await writeFile(h, '/dup.bin', 'old')
    const [older] = spoolRecords(h) as unknown as ({ id: string; mtimeMs: number } & Record<string, unknown>)[]
    const newerId = 'b'.repeat(16)
    const spool = h.vfs.spoolDir!
    writeFileSync(join(spool, 'data', newerId), 'new')
    const line = JSON.stringify({ put: { ...older!, id: newerId, mtimeMs: older!.mtimeMs + 1, crc32: undefined } })
    writeFileSync(join(spool, 'journal', 'journal.log'), readFileSync(join(spool, 'journal', 'journal.log'), 'utf8') + line + '\n')
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-1' })
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/dup.bin') !== undefined)
    h2.clock.advance(60_000)
    await waitFor(() => spoolRecords(h2).length === 0 && h2.vfs.status().counters.uploadsSucceeded === 1)
    expect(api.fileAt('/dup.bin')!.bytes.toString()).toBe('new')
    expect(h2.vfs.status().counters).toMatchObject({ uploadsStarted: 1, uploadsSucceeded: 1, uploadsFailed: 0 })
    expect(spoolFiles(h2, 'data')).toEqual([])
  })

  it('write-back: bytes and record are synced together, the record checksums the bytes; bytes that missed the disk are never uploaded', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000, bootId: 'boot-1' })
    await writeFile(h, '/kept.bin', 'twelve bytes')
    await writeFile(h, '/torn.bin', 'twelve bytes')
    const records = spoolRecords(h) as { id: string; name: string; crc32?: number }[]
    expect(records.map((r) => typeof r.crc32)).toEqual(['number', 'number'])
    // A power loss that kept the record of torn.bin but not its bytes (same size, other content).
    const torn = records.find((r) => r.name === 'torn.bin')!
    writeFileSync(join(h.vfs.spoolDir!, 'data', torn.id), 'twelve BYTES')
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-2' })
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/kept.bin') !== undefined)
    expect(api.fileAt('/kept.bin')!.bytes.toString()).toBe('twelve bytes')
    await expectCode(h2.vfs.getattr('/torn.bin'), 'ENOENT')
    expect(api.fileAt('/torn.bin')).toBeUndefined()
    expect(h2.records.some((r) => String(r.msg).includes('does not match its record'))).toBe(true)
  })

  it('spool files are reused: uploading many files leaves no data files behind and creates few', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const inodes = new Set<number>()
    for (let i = 0; i < 20; i++) {
      const fh = await h.vfs.create(`/r${i}`, 0o644, CREATE)
      for (const f of spoolFiles(h, 'data')) inodes.add(statSync(join(h.vfs.spoolDir!, 'data', f)).ino)
      await h.vfs.write(`/r${i}`, fh, Buffer.from(`file ${i}`), 0)
      await h.vfs.flush(`/r${i}`, fh)
      await h.vfs.release(`/r${i}`, fh)
    }
    expect(api.filePaths()).toHaveLength(20)
    expect(api.fileAt('/r7')!.bytes.toString()).toBe('file 7')
    expect(spoolFiles(h, 'data')).toEqual([])
    // The last few stay in kept/ a while (a rename over another file may reuse them); the rest are reused.
    expect(keptCopies(h)).toHaveLength(RECENT_COPIES_MAX)
    expect(inodes.size).toBe(RECENT_COPIES_MAX + 1)
  })

  it('after a power loss, spooled data shorter than its record is never uploaded as wrong bytes', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/torn.bin', 0o644, CREATE)
    await h.vfs.write('/torn.bin', fh, Buffer.from('twelve bytes'), 0)
    api.failNext.set('uploadFile', new ImageKitError('IK_NETWORK', 'POST upload: reset'))
    await expectCode(h.vfs.flush('/torn.bin', fh), 'EIO')
    // Simulate a power loss that kept the (synced) record but not all of the data.
    const [data] = spoolFiles(h, 'data')
    truncateSync(join(h.vfs.spoolDir!, 'data', data!), 5)
    const h2 = rw(api, h.cacheDir)
    h2.clock.advance(60_000)
    await expectCode(h2.vfs.getattr('/torn.bin'), 'ENOENT')
    expect(api.fileAt('/torn.bin')).toBeUndefined()
    expect(h2.records.some((r) => String(r.msg).includes('shorter than its record'))).toBe(true)
  })

  it('a file over the upload limit fails close with EFBIG and stays in the spool, not retried', async () => {
    const api = new FakeImageKit()
    api.maxUploadBytes = 10
    const h = rw(api)
    await writtenTooLarge(h)
    expect(h.vfs.status().uploads).toMatchObject([{ state: 'rejected', size: 11 }])
    h.clock.advance(60 * 60_000)
    await new Promise((r) => setImmediate(r))
    expect(api.writeCalls.uploadFile).toBe(1)
    // Said once (it was twice: the uploader's line and the close's), with where the bytes are.
    const loud = h.records.filter((r) => Number(r.level) >= 40 && r.path === '/big')
    expect(loud).toHaveLength(1)
    expect(loud[0]).toMatchObject({ level: 50, spoolFile: expect.stringContaining(h.cacheDir) })
    expect(String(loud[0]!.msg)).toContain('larger than the account allows')
  })

  it('W6: a file refused as over the upload limit is not sent again at the next mounts while as large; written again or renamed, it is tried again', async () => {
    const api = new FakeImageKit()
    api.maxUploadBytes = 10
    const h = rw(api)
    await writtenTooLarge(h)
    expect(api.writeCalls.uploadFile).toBe(1)
    // What the status and the line of a stop cut short say is what the next mounts do (one rule, keptRejectedAtMount).
    expect(h.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/big', state: 'rejected', keptRejectedAtMount: true })])
    expect(leftInSpool(h.vfs.status().uploads)).toContain('(not the rejected ones, over the size limit')
    await h.vfs.close()
    // Two mounts: neither sends it (each try would be a whole upload, refused alike); it stays listed as rejected.
    let last = h
    for (let mount = 0; mount < 2; mount++) {
      const again = rw(api, h.cacheDir)
      again.clock.advance(60 * 60_000)
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
      expect(api.writeCalls.uploadFile).toBe(1)
      expect(again.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/big', state: 'rejected', size: 11, lastError: 'IK_TOO_LARGE (HTTP 400)', keptRejectedAtMount: true })])
      expect((await readAll(again, '/big')).length).toBe(11) // the spool keeps the bytes
      const said = again.records.filter((r) => r.path === '/big' && Number(r.level) >= 40)
      expect(said).toEqual([expect.objectContaining({ level: 40, size: 11, msg: expect.stringContaining('not sent again at this mount') })])
      if (mount === 0) await again.vfs.close()
      last = again
    }
    // Written again: tried again (refused again, as large still).
    const more = await last.vfs.open('/big', W | constants.O_APPEND)
    await last.vfs.write('/big', more, Buffer.from('x'), 11)
    await expectCode(last.vfs.flush('/big', more), 'EFBIG')
    await last.vfs.release('/big', more)
    expect(api.writeCalls.uploadFile).toBe(2)
    // The account's limit raised: a rename tries it again, and it is stored.
    api.maxUploadBytes = 100
    await last.vfs.rename('/big', '/big.bin')
    last.clock.advance(0)
    await waitFor(() => api.fileAt('/big.bin') !== undefined)
    expect(api.fileAt('/big.bin')!.bytes.length).toBe(12)
    await waitFor(() => last.vfs.status().uploads.length === 0)
  })

  it('W6: a file refused as too large in a record without the note (an older ikfs wrote it) is tried once more at the next mount, as the status said', async () => {
    const api = new FakeImageKit()
    api.maxUploadBytes = 10
    const h = rw(api)
    await writtenTooLarge(h)
    await h.vfs.close()
    const log = join(h.vfs.spoolDir!, 'journal', 'journal.log')
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { put?: Record<string, unknown> })
    expect(lines.some((l) => l.put?.tooLarge !== undefined)).toBe(true)
    for (const l of lines) delete l.put?.tooLarge
    writeFileSync(log, lines.map((l) => JSON.stringify(l) + '\n').join(''))
    const again = rw(api, h.cacheDir)
    again.clock.advance(0)
    await waitFor(() => api.writeCalls.uploadFile === 2 && again.vfs.status().uploads[0]?.state === 'rejected')
    // Refused again: noted now, so the mount after this one leaves it (and the status says so).
    expect(again.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/big', state: 'rejected', keptRejectedAtMount: true })])
    await again.vfs.close()
  })

  it('W3: an upload the library refuses for good (a 400) fails close with EPERM, is not retried, and is tried again when written again, renamed, or at the next mount', async () => {
    const api = new FakeImageKit()
    const refusal = new ImageKitError('IK_BAD_REQUEST', 'POST /api/v1/files/upload: 400 A file can have at most 100 versions.', { status: 400, reason: 'VERSION_LIMIT_EXCEEDED' })
    api.failAlways.set('uploadFile', refusal)
    const h = rw(api)
    const fh = await h.vfs.create('/refused.txt', 0o644, CREATE)
    await h.vfs.write('/refused.txt', fh, Buffer.from('first'), 0)
    await expectCode(h.vfs.flush('/refused.txt', fh), 'EPERM')
    await h.vfs.release('/refused.txt', fh)
    expect(h.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/refused.txt', state: 'rejected', lastError: 'IK_BAD_REQUEST (HTTP 400)', refusal: refusal.message })])
    expect(h.vfs.status().uploads[0]!.nextAttemptAtMs).toBeUndefined()
    expect((await readAll(h, '/refused.txt')).toString()).toBe('first') // the spool keeps the bytes
    // No retry: not after the backoff's cap, nor hours later.
    const calls = api.writeCalls.uploadFile
    for (let i = 0; i < 12; i++) {
      h.clock.advance(10 * 60_000)
      await new Promise((r) => setImmediate(r))
    }
    expect(api.writeCalls.uploadFile).toBe(calls)
    const loud = h.records.filter((r) => Number(r.level) >= 40 && r.path === '/refused.txt')
    expect(loud, 'one line says why and where the bytes are').toHaveLength(1)
    expect(loud[0]).toMatchObject({ level: 50, spoolFile: expect.stringContaining(h.cacheDir), err: expect.objectContaining({ message: refusal.message }) })

    // Written again: tried again (and refused again: said once more).
    const again = await h.vfs.open('/refused.txt', W)
    await h.vfs.write('/refused.txt', again, Buffer.from('second'), 0)
    await expectCode(h.vfs.flush('/refused.txt', again), 'EPERM')
    await h.vfs.release('/refused.txt', again)
    expect(api.writeCalls.uploadFile).toBe(calls + 1)

    // The next mount with the cache dir tries it once; refused again, it waits as before.
    await h.vfs.close()
    const h2 = rw(api, h.cacheDir)
    h2.clock.advance(0)
    await waitFor(() => api.writeCalls.uploadFile === calls + 2 && h2.vfs.status().uploads[0]?.state === 'rejected')
    expect(h2.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/refused.txt', state: 'rejected', refusal: refusal.message })])
    h2.clock.advance(60 * 60_000)
    await new Promise((r) => setImmediate(r))
    expect(api.writeCalls.uploadFile).toBe(calls + 2)

    // A rename may change the answer: tried again at the new name, and stored once the library takes it.
    api.failAlways.delete('uploadFile')
    await h2.vfs.rename('/refused.txt', '/renamed.txt')
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/renamed.txt') !== undefined)
    expect(api.fileAt('/renamed.txt')!.bytes.toString()).toBe('second')
    await waitFor(() => h2.vfs.status().uploads.length === 0)
  })

  it('W3: an upload refused for good while the file was written meanwhile: close reports the refusal (EPERM) and says the close after those writes uploads the new content; nothing retries on a timer', async () => {
    const api = new FakeImageKit()
    const refusal = new ImageKitError('IK_BAD_REQUEST', 'POST /api/v1/files/upload: 400 A file can have at most 100 versions.', { status: 400, reason: 'VERSION_LIMIT_EXCEEDED' })
    const upload = api.uploadFile.bind(api)
    let answer!: () => void
    let refuse = true
    let refused = 0
    api.uploadFile = async (request) => {
      if (!refuse) return upload(request)
      refused++
      await new Promise<void>((resolve) => (answer = resolve))
      throw refusal
    }
    const h = rw(api)
    const fh = await h.vfs.create('/f.txt', 0o644, CREATE)
    await h.vfs.write('/f.txt', fh, Buffer.from('first'), 0)
    // close(2) of one descriptor while a duplicate (dup, a child's copy) stays open and writes on.
    const closing = h.vfs.flush('/f.txt', fh)
    await waitFor(() => refused === 1)
    await h.vfs.write('/f.txt', fh, Buffer.from('second'), 5)
    answer()
    const e = await closing.then(() => undefined, (err: unknown) => err as VfsError)
    expect(e?.code).toBe('EPERM') // what this close committed was refused for good (W3), not a failure retried
    expect(e?.message).not.toContain('retried in the background')
    expect(e?.level).toBe('warn') // not an error: no data at risk, the newer content goes with the next close
    expect(e?.message).toContain('the close or fsync after those writes uploads the new content')
    // No timer retries it: hours pass, nothing is sent.
    for (let i = 0; i < 12; i++) {
      h.clock.advance(10 * 60_000)
      await new Promise((r) => setImmediate(r))
    }
    expect([refused, api.writeCalls.uploadFile]).toEqual([1, 0])
    expect(h.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/f.txt', state: 'writing' })])
    // The last close uploads the new content.
    refuse = false
    await h.vfs.flush('/f.txt', fh)
    await h.vfs.release('/f.txt', fh)
    expect(api.fileAt('/f.txt')!.bytes.toString()).toBe('firstsecond')
  })

  it('W3, W6: a refused file opened for writing and closed with nothing written (touch, truncate -s to its size) is not sent again, and its close does not fail', async () => {
    const api = new FakeImageKit()
    api.maxUploadBytes = 10
    const h = rw(api)
    await writtenTooLarge(h, '/big', Buffer.from('twelve bytes'))
    const calls = api.writeCalls.uploadFile
    // touch: an open for writing, a time set through it, the close.
    const touched = await h.vfs.open('/big', W)
    await h.vfs.flush('/big', touched)
    await h.vfs.release('/big', touched)
    // truncate -s 12: an open for writing, a truncate to the size it has, the close; and a truncate by name.
    const cut = await h.vfs.open('/big', W)
    await h.vfs.ftruncate('/big', cut, 12)
    await h.vfs.flush('/big', cut)
    await h.vfs.release('/big', cut)
    await h.vfs.truncate('/big', 12)
    h.clock.advance(60 * 60_000)
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    expect(api.writeCalls.uploadFile, 'nothing written: the library would answer as before').toBe(calls)
    expect(h.vfs.status().uploads).toEqual([expect.objectContaining({ localPath: '/big', state: 'rejected', lastError: 'IK_TOO_LARGE (HTTP 400)' })])
    // Written again: tried again.
    const again = await h.vfs.open('/big', W)
    await h.vfs.write('/big', again, Buffer.from('!'), 12)
    await expectCode(h.vfs.flush('/big', again), 'EFBIG')
    await h.vfs.release('/big', again)
    expect(api.writeCalls.uploadFile).toBe(calls + 1)
  })

  it('write-back: close returns at once, the upload starts after the delay, reopening restarts it', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 5000 })
    await writeFile(h, '/wb', 'one')
    expect(api.writeCalls.uploadFile).toBe(0)
    expect(spoolRecords(h)).toHaveLength(1)
    h.clock.advance(4000)
    const fh = await h.vfs.open('/wb', W)
    await h.vfs.write('/wb', fh, Buffer.from('two'), 0)
    await h.vfs.flush('/wb', fh)
    await h.vfs.release('/wb', fh)
    h.clock.advance(4000) // the first timer would have fired here
    await new Promise((r) => setImmediate(r))
    expect(api.writeCalls.uploadFile).toBe(0)
    h.clock.advance(1000)
    await waitFor(() => api.fileAt('/wb') !== undefined)
    expect(api.fileAt('/wb')!.bytes.toString()).toBe('two')
    expect(api.writeCalls.uploadFile).toBe(1)
  })

  it('close() of the Vfs waits for write-back uploads (unmount)', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000 })
    await writeFile(h, '/later', 'bytes')
    expect(api.writeCalls.uploadFile).toBe(0)
    await h.vfs.close()
    expect(api.fileAt('/later')!.bytes.toString()).toBe('bytes')
  })

  it('fsync forces a write-back upload now', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000 })
    const fh = await h.vfs.create('/s', 0o644, CREATE)
    await h.vfs.write('/s', fh, Buffer.from('sync'), 0)
    await h.vfs.fsync('/s', fh, false)
    expect(api.fileAt('/s')!.bytes.toString()).toBe('sync')
    await h.vfs.release('/s', fh)
  })

  it('at most maxParallelUploads run at once', async () => {
    const api = new FakeImageKit()
    let open = true
    api.uploadGate = () => new Promise<void>((resolve) => {
      const poll = () => (open ? setImmediate(poll) : resolve())
      poll()
    })
    const h = rw(api, tempCache(), { maxParallelUploads: 2 })
    const closes = ['/1', '/2', '/3', '/4', '/5'].map((p) => writeFile(h, p, p))
    await waitFor(() => api.uploadsInFlight === 2)
    expect(h.vfs.status().uploads.filter((u) => u.state === 'uploading')).toHaveLength(2)
    open = false
    await Promise.all(closes)
    expect(api.maxUploadsInFlight).toBe(2)
    expect(api.filePaths()).toEqual(['/1', '/2', '/3', '/4', '/5'])
  })
})

describe('O_SYNC and O_DSYNC writes (W3)', () => {
  const SYNC_CREATE = { O_SYNC: CREATE | constants.O_SYNC, O_DSYNC: CREATE | constants.O_DSYNC }

  /** The `put` lines of the spool's journal for file `name`, live or not: one per record written. */
  function recordsWritten(h: Harness & { cacheDir: string }, name: string): number {
    const text = readFileSync(join(h.vfs.spoolDir!, 'journal', 'journal.log'), 'utf8')
    return text.split('\n').filter(Boolean).filter((line) => (JSON.parse(line) as { put?: { name: string } }).put?.name === name).length
  }

  /** FileHandle's prototype, whose datasync syncs the spool's data files. */
  async function fileHandles(h: Harness): Promise<{ datasync(): Promise<void> }> {
    const probe = await open(join(h.vfs.spoolDir!, 'library'), 'r')
    await probe.close()
    return Object.getPrototypeOf(probe) as { datasync(): Promise<void> }
  }

  /** Counts fdatasync calls on spool data files (FileHandle.datasync) while `fn` runs. */
  async function dataSyncsDuring(h: Harness, fn: () => Promise<unknown>): Promise<number> {
    const spy = vi.spyOn(await fileHandles(h), 'datasync')
    try {
      await fn()
      return spy.mock.calls.length
    } finally {
      spy.mockRestore()
    }
  }

  it.each(Object.entries(SYNC_CREATE))('a write through an %s handle is durable when it returns: after a crash of the machine the next mount stores it; nothing was uploaded per write', async (_, flags) => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { bootId: 'boot-1' })
    const fh = await h.vfs.create('/db.log', 0o644, flags)
    await h.vfs.write('/db.log', fh, Buffer.from('one|'), 0)
    await h.vfs.write('/db.log', fh, Buffer.from('two|'), 4)
    expect(api.writeCalls.uploadFile).toBe(0)
    // the machine goes down: only durable records count at the next boot (an in-flight one is dropped)
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-2' })
    h2.clock.advance(60_000)
    await waitFor(() => api.fileAt('/db.log') !== undefined)
    expect(api.fileAt('/db.log')!.bytes.toString()).toBe('one|two|')
    expect(h2.records.filter((r) => (r.level as number) >= 50)).toEqual([])
  })

  it('a write through a handle without O_SYNC or O_DSYNC syncs and records nothing', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const plain = await h.vfs.create('/plain.bin', 0o644, CREATE)
    const synced = await h.vfs.create('/synced.bin', 0o644, SYNC_CREATE.O_DSYNC)
    expect(await dataSyncsDuring(h, () => h.vfs.write('/plain.bin', plain, Buffer.from('plain'), 0))).toBe(0)
    expect(spoolRecords(h)).toEqual([])
    expect(await dataSyncsDuring(h, () => h.vfs.write('/synced.bin', synced, Buffer.from('synced'), 0))).toBe(1)
    expect(spoolRecords(h).map((r) => r.name)).toEqual(['synced.bin'])
  })

  it.each([['small', 0], ['over 1 MiB', 2 * MiB]])('O_DSYNC writes that wait together share their syncs (%s file), and each is durable', async (_, start) => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { bootId: 'boot-1' })
    const fh = await h.vfs.create('/wal', 0o644, SYNC_CREATE.O_DSYNC)
    const head = patternBytes(start, 7)
    if (start > 0) await h.vfs.write('/wal', fh, head, 0)
    const before = recordsWritten(h, 'wal')
    const entries = Array.from({ length: 8 }, (_, i) => Buffer.from(`entry ${i}|`))
    const syncs = await dataSyncsDuring(h, () => Promise.all(entries.map((entry, i) => h.vfs.write('/wal', fh, entry, start + i * entry.length))))
    expect(recordsWritten(h, 'wal') - before).toBeLessThanOrEqual(2) // was 8: one keep per write
    expect(syncs).toBeLessThanOrEqual(2)
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-2' })
    h2.clock.advance(60_000)
    await waitFor(() => api.fileAt('/wal') !== undefined)
    expect(api.fileAt('/wal')!.bytes.equals(Buffer.concat([head, ...entries]))).toBe(true) // (toEqual compares 2 MiB byte by byte, for seconds)
  })

  it('O_DSYNC writes in place (a database\'s log) copy nothing aside; after a crash the next mount stores the file as the last of them left it', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { bootId: 'boot-1' })
    const fh = await h.vfs.create('/ib_logfile', 0o644, SYNC_CREATE.O_DSYNC)
    const log = Buffer.alloc(64 * 1024, '.')
    await h.vfs.write('/ib_logfile', fh, log, 0)
    for (let i = 0; i < 20; i++) {
      const entry = Buffer.from(`entry ${i}|`)
      const at = (i * 3000) % (log.length - entry.length)
      await h.vfs.write('/ib_logfile', fh, entry, at)
      entry.copy(log, at)
    }
    const journal = readFileSync(join(h.vfs.spoolDir!, 'journal', 'journal.log'), 'utf8')
    expect(journal).not.toContain('committedCopy') // was a copy of the whole file before each write
    expect(spoolFiles(h, 'data')).toHaveLength(1)
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-2' })
    h2.clock.advance(60_000)
    await waitFor(() => api.fileAt('/ib_logfile') !== undefined)
    expect(api.fileAt('/ib_logfile')!.bytes.equals(log)).toBe(true)
  })

  it('O_DSYNC writes in place after an fsync whose upload failed (an outage) copy nothing aside either; the retry stores the file as they left it', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/ib_logfile', 0o644, SYNC_CREATE.O_DSYNC)
    const log = Buffer.alloc(64 * 1024, '.')
    await h.vfs.write('/ib_logfile', fh, log, 0)
    api.failNext.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    await expectCode(h.vfs.fsync('/ib_logfile', fh, false), 'EIO') // left for a retry: the spool's record promises it
    const entry = Buffer.from('entry after the fsync|')
    await h.vfs.write('/ib_logfile', fh, entry, 3000)
    entry.copy(log, 3000)
    const journal = readFileSync(join(h.vfs.spoolDir!, 'journal', 'journal.log'), 'utf8')
    expect(journal).not.toContain('committedCopy') // a copy of the whole file at the first write after each fsync
    expect(spoolFiles(h, 'data')).toHaveLength(1)
    await h.vfs.release('/ib_logfile', fh)
    h.clock.advance(5 * 60_000)
    await waitFor(() => api.fileAt('/ib_logfile') !== undefined)
    expect(api.fileAt('/ib_logfile')!.bytes.equals(log)).toBe(true)
    await h.vfs.close()
  })

  it('an O_SYNC write the spool cannot make durable fails with the disk\'s error; its bytes stay, and the close uploads them', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/failing.log', 0o644, SYNC_CREATE.O_SYNC)
    const spy = vi.spyOn(await fileHandles(h), 'datasync').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    try {
      await expectCode(h.vfs.write('/failing.log', fh, Buffer.from('not durable'), 0), 'EIO')
    } finally {
      spy.mockRestore()
    }
    expect(spoolRecords(h)).toEqual([])
    await h.vfs.flush('/failing.log', fh)
    await h.vfs.release('/failing.log', fh)
    expect(api.fileAt('/failing.log')!.bytes.toString()).toBe('not durable')
  })

  it('the last close after O_SYNC writes uploads the file once and its record goes', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/closed.log', 0o644, SYNC_CREATE.O_SYNC)
    for (let i = 0; i < 5; i++) await h.vfs.write('/closed.log', fh, Buffer.from(`${i}`), i)
    await h.vfs.flush('/closed.log', fh)
    await h.vfs.release('/closed.log', fh)
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.fileAt('/closed.log')!.bytes.toString()).toBe('01234')
    await waitFor(() => spoolRecords(h).length === 0)
  })
})

describe('namespace (W7-W10)', () => {
  it('mkdir creates, rmdir of a non-empty folder is ENOTEMPTY and deletes nothing, empty one is deleted', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await h.vfs.mkdir('/d', 0o755)
    expect(api.hasFolder('/d')).toBe(true)
    expect((await h.vfs.getattr('/d')).kind).toBe('dir')
    await expectCode(h.vfs.mkdir('/d', 0o755), 'EEXIST')
    api.addFile('/d/f.jpg', 5) // appeared remotely, not in the cached listing
    await expectCode(h.vfs.rmdir('/d'), 'ENOTEMPTY')
    expect(api.writeCalls.deleteFolder).toBe(0)
    expect(api.fileAt('/d/f.jpg')).toBeDefined()
    await h.vfs.unlink('/d/f.jpg')
    expect(api.fileAt('/d/f.jpg')).toBeUndefined()
    await h.vfs.rmdir('/d')
    expect(api.hasFolder('/d')).toBe(false)
    await expectCode(h.vfs.getattr('/d'), 'ENOENT')
  })

  it('W7: a repeat of an rmdir\'s delete (its first attempt failed) is not sent once a file was stored in the folder meanwhile', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await h.vfs.mkdir('/d', 0o755)
    await h.vfs.mkdir('/e', 0o755)
    api.deleteFolderRepeated.set('/d', () => api.addFile('/d/theirs.jpg', 5)) // another machine's upload
    await expectCode(h.vfs.rmdir('/d'), 'ENOTEMPTY')
    expect(api.fileAt('/d/theirs.jpg')).toBeDefined() // was deleted with the folder
    expect(api.writeCalls.deleteFolder).toBe(1)
    expect((await h.vfs.readdir('/d')).map((e) => e.name)).toEqual(['theirs.jpg'])
    api.deleteFolderRepeated.set('/e', () => undefined) // nothing stored meanwhile: the repeat is sent
    await h.vfs.rmdir('/e')
    expect(api.hasFolder('/e')).toBe(false)
    expect(api.writeCalls.deleteFolder).toBe(3)
    // The same for the empty folder a folder rename replaces.
    await h.vfs.mkdir('/s', 0o755)
    await h.vfs.mkdir('/t', 0o755)
    api.deleteFolderRepeated.set('/t', () => api.addFile('/t/theirs.jpg', 5))
    await expectCode(h.vfs.rename('/s', '/t'), 'ENOTEMPTY')
    expect(api.fileAt('/t/theirs.jpg')).toBeDefined()
    expect(api.hasFolder('/s')).toBe(true)
    expect(api.writeCalls.renameFolder).toBe(0)
  })

  it('a folder just made is listed by mkdir alone: creating files in it fetches no listing; rmdir still re-lists', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await h.vfs.readdir('/')
    const beforeMkdir = api.calls.listFiles
    await h.vfs.mkdir('/new', 0o755)
    expect(api.calls.listFiles).toBe(beforeMkdir + 1)
    const listings = api.calls.listFiles
    await expectCode(h.vfs.getattr('/new/a.txt'), 'ENOENT') // cp's lookup before its create
    await writeFile(h, '/new/a.txt', 'alpha')
    expect((await h.vfs.readdir('/new')).map((e) => e.name)).toEqual(['a.txt'])
    expect(api.calls.listFiles).toBe(listings)
    expect(api.fileAt('/new/a.txt')!.bytes.toString()).toBe('alpha')
    api.addFile('/new/other.jpg', 5) // put there by someone else
    await h.vfs.unlink('/new/a.txt')
    await expectCode(h.vfs.rmdir('/new'), 'ENOTEMPTY')
    expect(api.fileAt('/new/other.jpg')).toBeDefined()
  })

  it('W7: mkdir of a folder made elsewhere after the cached listing succeeds (ImageKit creates it anyway) and shows what is in it', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    const h = rw(api)
    expect(await h.vfs.readdir('/p')).toEqual([])
    api.addFile('/p/d/theirs.jpg', 5) // another machine: the cached listing of /p does not show d
    await h.vfs.mkdir('/p/d', 0o755)
    expect((await h.vfs.readdir('/p/d')).map((e) => e.name)).toEqual(['theirs.jpg'])
    expect((await h.vfs.getattr('/p/d/theirs.jpg')).size).toBe(5)
    await expectCode(h.vfs.rmdir('/p/d'), 'ENOTEMPTY')
    expect(api.fileAt('/p/d/theirs.jpg')).toBeDefined()
  })

  it('W7: a folder whose only entries cannot be shown locally is not empty: rmdir and a folder renamed onto it delete nothing', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const hidden = '/d/' + 'é'.repeat(130) + '.jpg' // 264 bytes: longer than NAME_MAX, hidden from listings
    api.addFile(hidden, 5)
    api.addFolder('/src')
    const h = rw(api)
    expect(await h.vfs.readdir('/d')).toEqual([])
    const refused = await h.vfs.rmdir('/d').then(() => undefined, (e: unknown) => e as Error & { code: string })
    expect(refused?.code).toBe('ENOTEMPTY')
    expect(refused?.message).toMatch(/holds 1 remote entries that cannot be shown locally/)
    await expectCode(h.vfs.rename('/src', '/d'), 'ENOTEMPTY')
    expect(api.writeCalls.deleteFolder).toBe(0)
    expect(api.fileAt(hidden)).toBeDefined()
  })

  it('rmdir sees files that only exist in the spool', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api)
    await writeFile(h, '/d/e', '')
    await expectCode(h.vfs.rmdir('/d'), 'ENOTEMPTY')
  })

  it('rename within and across folders keeps fileId and inode', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    const f = api.addFile('/a/x.jpg', Buffer.from('img'))
    const h = rw(api)
    const ino = (await h.vfs.getattr('/a/x.jpg')).ino
    await h.vfs.rename('/a/x.jpg', '/a/y.jpg')
    expect(api.fileAt('/a/y.jpg')!.obj.fileId).toBe(f.fileId)
    await h.vfs.rename('/a/y.jpg', '/b/z.jpg')
    expect(api.filePaths()).toEqual(['/b/z.jpg'])
    expect(api.fileAt('/b/z.jpg')!.obj.fileId).toBe(f.fileId)
    expect((await h.vfs.getattr('/b/z.jpg')).ino).toBe(ino)
    await expectCode(h.vfs.getattr('/a/x.jpg'), 'ENOENT')
    expect((await readAll(h, '/b/z.jpg')).toString()).toBe('img')
  })

  it('rename of a file only in the spool (write-back) changes nothing remote, so no listing is read again: git stores each object so', async () => {
    const api = new FakeImageKit()
    api.addFolder('/objects')
    api.addFolder('/objects/ab')
    const wb = rw(api, tempCache(), { writeBackDelayMs: 60_000 })
    await expectCode(wb.vfs.getattr('/objects/ab/1111'), 'ENOENT') // git: is the object there? (lists the folder)
    for (const name of ['1111', '2222', '3333']) {
      await expectCode(wb.vfs.getattr(`/objects/ab/${name}`), 'ENOENT')
      await writeFile(wb, '/objects/ab/tmp_obj', `object ${name}`)
      await wb.vfs.rename('/objects/ab/tmp_obj', `/objects/ab/${name}`)
    }
    expect(api.calls.listFiles).toBe(3) // /, /objects, /objects/ab: once each
    expect((await wb.vfs.readdir('/objects/ab')).map((e) => e.name).sort()).toEqual(['1111', '2222', '3333'])
    await wb.vfs.close() // unmount uploads what waits, each to its final name, once
    expect(api.filePaths()).toEqual(['/objects/ab/1111', '/objects/ab/2222', '/objects/ab/3333'])
    expect(api.fileAt('/objects/ab/2222')!.bytes.toString()).toBe('object 2222')
  })

  it('rename of a stored file puts it at its new name without listing the folder again: git stores each object so', async () => {
    const api = new FakeImageKit()
    api.addFolder('/objects')
    api.addFolder('/objects/ab')
    api.addFolder('/objects/cd')
    const h = rw(api)
    await expectCode(h.vfs.getattr('/objects/ab/1111'), 'ENOENT') // git: is the object there? (lists the folder)
    await expectCode(h.vfs.getattr('/objects/cd/1111'), 'ENOENT')
    for (const name of ['1111', '2222', '3333']) {
      await expectCode(h.vfs.getattr(`/objects/ab/${name}`), 'ENOENT')
      await writeFile(h, '/objects/ab/tmp_obj', `object ${name}`) // the close uploads it
      await h.vfs.rename('/objects/ab/tmp_obj', `/objects/ab/${name}`)
      expect((await readAll(h, `/objects/ab/${name}`)).toString()).toBe(`object ${name}`)
    }
    await h.vfs.rename('/objects/ab/3333', '/objects/cd/3333') // across folders too
    await h.vfs.rename('/objects/cd/3333', '/objects/cd/4444.moved')
    expect(api.calls.listFiles).toBe(4) // /, /objects, /objects/ab, /objects/cd: once each
    expect(api.writeCalls.uploadFile).toBe(3)
    expect((await h.vfs.readdir('/objects/ab')).map((e) => e.name).sort()).toEqual(['1111', '2222'])
    expect((await h.vfs.readdir('/objects/cd')).map((e) => e.name)).toEqual(['4444.moved'])
    expect((await readAll(h, '/objects/cd/4444.moved')).toString()).toBe('object 3333')
    expect(api.calls.listFiles).toBe(4)
    expect(api.filePaths()).toEqual(['/objects/ab/1111', '/objects/ab/2222', '/objects/cd/4444.moved'])
  })

  it('a file renamed while a handle reads it is read at its new name through its new URL, not the old name\'s (gone once the CDN forgets it)', async () => {
    const { api, data, h, fh: before } = await openThenRename(12 * MiB, 7, '/a.bin', '/b.bin', 0)
    const after = await h.vfs.open('/b.bin', constants.O_RDONLY)
    expect(Buffer.compare(await h.vfs.read('/b.bin', after, 4096, 2 * MiB), data.subarray(2 * MiB, 2 * MiB + 4096))).toBe(0)
    // The handle opened before the rename reads on too, through the new name's URL (past the range under way).
    expect(Buffer.compare(await h.vfs.read('/b.bin', before, 4096, 11 * MiB), data.subarray(11 * MiB, 11 * MiB + 4096))).toBe(0)
    expect(api.ranges.at(-1)!.url).toMatch(/\/b\.bin\?/)
    expect(api.calls.getFileDetails).toBe(0) // the open at the new name moved the shared reader: no 404 to recover from
    await h.vfs.release('/b.bin', after)
    await h.vfs.release('/a.bin', before)
    h.vfs.checkInvariants()
  })

  it('a file closed while the fetch its open started finishes, then renamed, is opened at the new name without fetching again (R14)', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(3 * MiB, 8)
    const file = api.addFile('/s.bin', data)
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    api.gate = () => held // the prefetch's bytes come only once the file is closed and renamed
    const h = rw(api, tempCache(), { prefetchOnOpen: true })
    await h.vfs.release('/s.bin', await h.vfs.open('/s.bin', constants.O_RDONLY)) // open, close: the reader settles
    await h.vfs.rename('/s.bin', '/t.bin')
    api.forgetUrls(file.url.split('?')[0]!)
    const fh = await h.vfs.open('/t.bin', constants.O_RDONLY)
    release()
    expect(Buffer.compare(await h.vfs.read('/t.bin', fh, 4096, 0), data.subarray(0, 4096))).toBe(0)
    expect(api.calls.readRange).toBe(1)
    await h.vfs.release('/t.bin', fh)
    h.vfs.checkInvariants()
  })

  it('a file open for reading and renamed over keeps its own page cache: later opens of the name neither refuse it nor bypass theirs (R5, W9)', async () => {
    const api = new FakeImageKit()
    const [old, next] = [patternBytes(3 * MiB, 40), patternBytes(3 * MiB, 41)]
    api.addFile('/b.bin', old)
    api.addFile('/a.bin', next)
    const h = rw(api)
    const player = await h.vfs.open('/b.bin', constants.O_RDONLY)
    await h.vfs.read('/b.bin', player, 4096, 0)
    await h.vfs.rename('/a.bin', '/b.bin') // the kernel's file the player has loses its name: its pages go with it
    const viewer = await h.vfs.open('/b.bin', constants.O_RDONLY)
    expect(h.vfs.bypassesPageCache!(viewer)).toBe(false)
    expect(Buffer.compare(await h.vfs.read('/b.bin', viewer, 4096, 0), next.subarray(0, 4096))).toBe(0)
    // The player reads on (the kernel names it by no path now), its own version.
    expect(Buffer.compare(await h.vfs.read('(unlinked while open)', player, 4096, 2 * MiB), old.subarray(2 * MiB, 2 * MiB + 4096))).toBe(0)
    await h.vfs.release('/b.bin', viewer)
    await h.vfs.release('(unlinked while open)', player)
  })

  it('a file open for reading and renamed is known by its new name at once: another version opened there outdates it (R5)', async () => {
    const api = new FakeImageKit()
    const [v1, v2] = [patternBytes(3 * MiB, 42), patternBytes(3 * MiB, 43)]
    api.addFolder('/f')
    api.addFile('/f/c.bin', v1)
    const h = rw(api)
    const player = await h.vfs.open('/f/c.bin', constants.O_RDONLY)
    await h.vfs.read('/f/c.bin', player, 4096, 0)
    await h.vfs.rename('/f', '/g') // its folder: the kernel's file is /g/c.bin from now on
    api.overwrite('/g/c.bin', v2, '2025-05-01T00:00:00.000Z') // elsewhere
    h.clock.advance(120_000)
    const viewer = await h.vfs.open('/g/c.bin', constants.O_RDONLY) // the new version, through the page cache the player shares
    expect(h.vfs.bypassesPageCache!(viewer)).toBe(true)
    await expectCode(h.vfs.read('/g/c.bin', player, 4096, 2 * MiB), 'EIO')
    await h.vfs.release('/g/c.bin', viewer)
    await h.vfs.release('/g/c.bin', player)
  })

  it('R5: a file held open whose folder is renamed shows the longer version it reads at its new name, and nothing of it at the old one', async () => {
    const api = new FakeImageKit()
    const [a, b, c] = [patternBytes(3 * MiB + 5, 47), patternBytes(MiB + 3, 48), patternBytes(MiB + 7, 49)]
    const [deep, deeper] = [patternBytes(2 * MiB + 1, 50), patternBytes(MiB + 9, 51)]
    api.addFolder('/f')
    api.addFolder('/f/sub')
    api.addFile('/f/clip.bin', a)
    api.addFile('/f/sub/deep.bin', deep)
    const h = rw(api)
    const player = await h.vfs.open('/f/clip.bin', constants.O_RDONLY)
    await h.vfs.read('/f/clip.bin', player, 4096, 0)
    const thumbnailer = await h.vfs.open('/f/sub/deep.bin', constants.O_RDONLY)
    await h.vfs.read('/f/sub/deep.bin', thumbnailer, 4096, 0)
    await h.vfs.rename('/f', '/g') // the kernel names them /g/clip.bin and /g/sub/deep.bin from now on
    h.vfs.checkInvariants()
    // Elsewhere: shorter versions at the new names, and shorter files at the old ones.
    api.overwrite('/g/clip.bin', b, '2025-05-01T00:00:00.000Z')
    api.overwrite('/g/sub/deep.bin', deeper, '2025-05-01T00:00:00.000Z')
    api.addFolder('/f')
    api.addFolder('/f/sub')
    api.addFile('/f/clip.bin', c)
    api.addFile('/f/sub/deep.bin', c)
    h.clock.advance(120_000)
    expect((await h.vfs.getattr('/g/clip.bin')).size).toBe(a.length)
    expect((await h.vfs.getattr('/g/sub/deep.bin')).size).toBe(deep.length)
    expect((await h.vfs.readdir('/g')).filter((e) => e.name !== 'sub').map((e) => [e.name, e.attr.size])).toEqual([['clip.bin', a.length]])
    expect((await h.vfs.readdir('/g/sub')).map((e) => [e.name, e.attr.size])).toEqual([['deep.bin', deep.length]])
    expect((await h.vfs.getattr('/f/clip.bin')).size).toBe(c.length)
    expect((await h.vfs.getattr('/f/sub/deep.bin')).size).toBe(c.length)
    expect((await h.vfs.readdir('/f')).filter((e) => e.name !== 'sub').map((e) => [e.name, e.attr.size])).toEqual([['clip.bin', c.length]])
    expect((await h.vfs.readdir('/f/sub')).map((e) => [e.name, e.attr.size])).toEqual([['deep.bin', c.length]])
    // An open of the old names is of another file: it outdates neither reader.
    await h.vfs.release('/f/clip.bin', await h.vfs.open('/f/clip.bin', constants.O_RDONLY))
    expect(Buffer.compare(await h.vfs.read('/g/clip.bin', player, 4096, 3 * MiB), a.subarray(3 * MiB, 3 * MiB + 4096))).toBe(0)
    await h.vfs.release('/g/clip.bin', player)
    await h.vfs.release('/g/sub/deep.bin', thumbnailer)
    expect((await h.vfs.getattr('/g/clip.bin')).size).toBe(b.length)
    expect((await h.vfs.getattr('/g/sub/deep.bin')).size).toBe(deeper.length)
    expect(h.vfs.sizes()).toMatchObject({ namedReadHandles: 0, readHandleFolders: 0 })
    h.vfs.checkInvariants()
  })

  it.each([
    ['truncated by name', async (h: Harness) => h.vfs.truncate('/log.bin', 3)],
    ['truncated through a descriptor open for writing there (O_RDWR, the version the reader has)', async (h: Harness) => {
      const writer = await h.vfs.open('/log.bin', constants.O_RDWR)
      await h.vfs.ftruncate('/log.bin', writer, 3)
      await h.vfs.flush('/log.bin', writer)
      await h.vfs.release('/log.bin', writer)
    }],
    ['truncated through a descriptor open for appending there', async (h: Harness) => {
      const writer = await h.vfs.open('/log.bin', constants.O_WRONLY | constants.O_APPEND)
      await h.vfs.ftruncate('/log.bin', writer, 3)
      await h.vfs.flush('/log.bin', writer)
      await h.vfs.release('/log.bin', writer)
    }],
  ])('R5: a file a program reads, %s through the mount, shows its new size once stored, not the version read: only versions stored elsewhere hold the size', async (_, shorten) => {
    const api = new FakeImageKit()
    const a = patternBytes(3 * MiB + 5, 52)
    api.addFile('/log.bin', a)
    const h = rw(api)
    const reader = await h.vfs.open('/log.bin', constants.O_RDONLY)
    await h.vfs.read('/log.bin', reader, 4096, 0)
    await shorten(h)
    await waitFor(() => h.vfs.sizes().pendingFiles === 0) // stored: the listing shows the new version
    expect((await h.vfs.getattr('/log.bin')).size).toBe(3)
    expect((await h.vfs.readdir('/')).map((e) => [e.name, e.attr.size])).toEqual([['log.bin', 3]])
    h.clock.advance(120_000) // listed anew
    expect((await h.vfs.getattr('/log.bin')).size).toBe(3)
    await h.vfs.release('/log.bin', reader)
    h.vfs.checkInvariants()
  })

  it('R5: >> to a file another machine stored anew, shorter, outdates a program still reading the longer version before (its pages would take the appended bytes); one reading the version appended to, or an earlier one of it, reads on', async () => {
    const api = new FakeImageKit()
    const [a, b] = [patternBytes(3 * MiB + 5, 53), patternBytes(MiB + 3, 54)]
    api.addFile('/app.log', a)
    const h = rw(api)
    const old = await h.vfs.open('/app.log', constants.O_RDONLY)
    await h.vfs.read('/app.log', old, 4096, 0)
    api.overwrite('/app.log', b, '2025-05-01T00:00:00.000Z') // elsewhere
    h.clock.advance(120_000)
    expect((await h.vfs.getattr('/app.log')).size).toBe(a.length) // the version read holds the size
    const appender = await h.vfs.open('/app.log', constants.O_WRONLY | constants.O_APPEND) // onto b
    await h.vfs.write('/app.log', appender, Buffer.from('zz'), b.length, false)
    await expectCode(h.vfs.read('/app.log', old, 4096, 2 * MiB), 'EIO') // was read on, through pages taking the appended bytes
    await h.vfs.flush('/app.log', appender)
    await h.vfs.release('/app.log', appender)
    await waitFor(() => h.vfs.sizes().pendingFiles === 0)
    expect((await h.vfs.getattr('/app.log')).size).toBe(b.length + 2) // was a.length: stored here, it holds nothing
    await h.vfs.release('/app.log', old)
    // tail -f while >> appends: the reader of the version appended to reads on.
    const tail = await h.vfs.open('/app.log', constants.O_RDONLY)
    await h.vfs.read('/app.log', tail, 4096, 0)
    const again = await h.vfs.open('/app.log', constants.O_WRONLY | constants.O_APPEND)
    await h.vfs.write('/app.log', again, Buffer.from('yy'), b.length + 2, false)
    expect(Buffer.compare(await h.vfs.read('/app.log', tail, 4096, 4096), b.subarray(4096, 8192))).toBe(0)
    await h.vfs.flush('/app.log', again)
    await h.vfs.release('/app.log', again)
    await waitFor(() => h.vfs.sizes().pendingFiles === 0)
    // And on, once that append is stored: its version is the start of the one appended to next.
    const third = await h.vfs.open('/app.log', constants.O_WRONLY | constants.O_APPEND)
    await h.vfs.write('/app.log', third, Buffer.from('xx'), b.length + 4, false)
    expect(Buffer.compare(await h.vfs.read('/app.log', tail, 4096, 8192), b.subarray(8192, 12288))).toBe(0)
    await h.vfs.flush('/app.log', third)
    await h.vfs.release('/app.log', third)
    await h.vfs.release('/app.log', tail)
    h.vfs.checkInvariants()
  })

  it('a handle reopened (/proc/PID/fd) reads from where its reader follows the file to, not from the name it was opened by', async () => {
    const { api, data, h, fh } = await openThenRename(20 * MiB, 44, '/x.bin', '/y.bin', 19 * MiB) // read to the end: no range left under way
    expect(Buffer.compare(await h.vfs.read('/y.bin', fh, 4096, 0), data.subarray(0, 4096))).toBe(0)
    expect(api.calls.getFileDetails).toBe(1) // the 404 at the old name's URL: found at the new one
    const again = await h.vfs.reopen(fh)
    // Past the range under way (it reads ahead from the start): a new range.
    expect(Buffer.compare(await h.vfs.read('/y.bin', again, 4096, 15 * MiB), data.subarray(15 * MiB, 15 * MiB + 4096))).toBe(0)
    expect(api.ranges.map((r) => r.start)).toEqual([19 * MiB, 0, 0, 15 * MiB])
    expect(api.calls.getFileDetails).toBe(1)
    await h.vfs.release('/y.bin', again)
    await h.vfs.release('/y.bin', fh)
    h.vfs.checkInvariants()
  })

  it('rename across folders with a new name, when both orders of move and rename would collide, goes through a free name', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    const f = api.addFile('/a/x.jpg', Buffer.from('moving'))
    api.addFile('/a/y.jpg', Buffer.from('stays in a')) // the new name, in the source folder
    api.addFile('/b/x.jpg', Buffer.from('stays in b')) // the old name, in the target folder
    const h = rw(api)
    const ino = (await h.vfs.getattr('/a/x.jpg')).ino
    await h.vfs.rename('/a/x.jpg', '/b/y.jpg')
    expect(api.filePaths().sort()).toEqual(['/a/y.jpg', '/b/x.jpg', '/b/y.jpg'])
    expect(api.fileAt('/b/y.jpg')!.obj.fileId).toBe(f.fileId)
    expect(api.fileAt('/b/y.jpg')!.versions).toBe(1)
    expect(api.fileAt('/a/y.jpg')!.bytes.toString()).toBe('stays in a')
    expect(api.fileAt('/b/x.jpg')!.bytes.toString()).toBe('stays in b')
    expect((await h.vfs.getattr('/b/y.jpg')).ino).toBe(ino)
    expect((await readAll(h, '/b/y.jpg')).toString()).toBe('moving')
    expect(await h.vfs.readdir('/a')).not.toContain('x.jpg')

    // Back the same way (/a has y.jpg, /b has x.jpg): a step that fails undoes the ones before it, so the file
    // is where it was, under its name, and no temporary name is left in either folder.
    const paths = api.filePaths().sort()
    api.failNext.set('moveFile', new ImageKitError('IK_SERVER', 'POST move: 500', { status: 500 }))
    await expectCode(h.vfs.rename('/b/y.jpg', '/a/x.jpg'), 'EIO')
    expect(api.filePaths().sort()).toEqual(paths)
    let renames = 0
    api.renameGate = async () => {
      if (++renames === 2) api.failNext.set('renameFile', new ImageKitError('IK_SERVER', 'PUT rename: 500', { status: 500 }))
    }
    await expectCode(h.vfs.rename('/b/y.jpg', '/a/x.jpg'), 'EIO')
    api.renameGate = undefined
    expect(renames).toBe(3) // to the free name, to the new name (failed), back to the old name
    expect(api.filePaths().sort()).toEqual(paths)
    expect(api.fileAt('/b/y.jpg')!.obj.fileId).toBe(f.fileId)
    expect((await readAll(h, '/b/y.jpg')).toString()).toBe('moving')
  })

  it('atomic save: rename over an existing file keeps the target fileId and adds a version', async () => {
    const api = new FakeImageKit()
    const target = api.addFile('/doc.txt', Buffer.from('v1'), { tags: ['t'] })
    const h = rw(api)
    await writeFile(h, '/doc.txt.tmp', 'v2 content')
    await h.vfs.rename('/doc.txt.tmp', '/doc.txt')
    const now = api.fileAt('/doc.txt')!
    expect(now.obj.fileId).toBe(target.fileId)
    expect(now.bytes.toString()).toBe('v2 content')
    expect(now.versions).toBe(2)
    expect(now.obj.tags).toEqual(['t'])
    expect(api.filePaths()).toEqual(['/doc.txt'])
    expect((await h.vfs.getattr('/doc.txt')).size).toBe(10)
    expect((await readAll(h, '/doc.txt')).toString()).toBe('v2 content')
  })

  it('atomic save (git\'s lock files renamed over the index and refs) lists the folder again only with --versions, whose old version then shows', async () => {
    for (const versions of [false, true]) {
      const api = new FakeImageKit()
      api.addFolder('/.git')
      api.addFile('/.git/index', Buffer.from('index v1'))
      const h = rw(api, tempCache(), { versions })
      expect((await h.vfs.getattr('/.git/index')).size).toBe(8)
      const listings = api.calls.listFiles
      for (const content of ['index v2', 'index v3, longer']) {
        await writeFile(h, '/.git/index.lock', content) // the close uploads it
        await h.vfs.rename('/.git/index.lock', '/.git/index') // a new version of index, from the spool's copy
        expect((await h.vfs.getattr('/.git/index')).size).toBe(content.length)
        expect((await readAll(h, '/.git/index')).toString()).toBe(content)
        await expectCode(h.vfs.getattr('/.git/index.lock'), 'ENOENT')
      }
      const names = (await h.vfs.readdir('/.git')).map((e) => e.name)
      expect(names.filter((n) => !n.startsWith('index-v'))).toEqual(['index'])
      // --versions: each save's old version shows (listed afresh, twice per save: versions are a second call).
      expect(names.filter((n) => n.startsWith('index-v')).length).toBe(versions ? 2 : 0)
      expect(api.calls.listFiles - listings).toBe(versions ? 4 : 0)
      expect(api.fileAt('/.git/index')!.versions).toBe(3)
    }
  })

  it('W9: rename of a file or folder deleted elsewhere after the cached listing is ENOENT, and the name goes from the listing', async () => {
    const api = new FakeImageKit()
    api.addFolder('/b')
    api.addFolder('/gone-folder')
    api.addFile('/gone.txt', Buffer.from('deleted elsewhere'))
    api.addFile('/also-gone.txt', Buffer.from('deleted elsewhere'))
    const h = rw(api)
    expect((await h.vfs.readdir('/')).map((e) => e.name).sort()).toEqual(['also-gone.txt', 'b', 'gone-folder', 'gone.txt'])
    api.removeFile('/gone.txt')
    api.removeFile('/also-gone.txt')
    await api.deleteFolder('/gone-folder')
    await expectCode(h.vfs.rename('/gone.txt', '/kept.txt'), 'ENOENT')
    await expectCode(h.vfs.rename('/also-gone.txt', '/b/also-gone.txt'), 'ENOENT')
    await expectCode(h.vfs.rename('/gone-folder', '/b/gone-folder'), 'ENOENT')
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toEqual(['b'])
    await expectCode(h.vfs.getattr('/gone.txt'), 'ENOENT')
  })

  it('atomic save onto a file added elsewhere that the cached listing does not show yet replaces it (no EEXIST)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    api.addFile('/doc.txt.tmp', Buffer.from('mine'))
    api.addFile('/a/x.txt', Buffer.from('moved'))
    const h = rw(api)
    await h.vfs.readdir('/') // cached: no doc.txt
    await h.vfs.readdir('/b')
    const target = api.addFile('/doc.txt', Buffer.from('theirs'), { tags: ['t'] }) // another machine saved it meanwhile
    api.addFile('/b/y.txt', Buffer.from('theirs too'))
    await h.vfs.rename('/doc.txt.tmp', '/doc.txt')
    expect(api.fileAt('/doc.txt')!.obj).toMatchObject({ fileId: target.fileId, tags: ['t'] })
    expect(api.fileAt('/doc.txt')!.bytes.toString()).toBe('mine')
    await h.vfs.rename('/a/x.txt', '/b/y.txt') // across folders under another name: move, then rename
    expect(api.fileAt('/b/y.txt')!.bytes.toString()).toBe('moved')
    expect(api.filePaths().sort()).toEqual(['/b/y.txt', '/doc.txt'])
    expect((await readAll(h, '/doc.txt')).toString()).toBe('mine')
    await expectCode(h.vfs.getattr('/doc.txt.tmp'), 'ENOENT')
    api.addFolder('/late') // a folder there is EISDIR, as a listed one is
    await expectCode(h.vfs.rename('/doc.txt', '/late'), 'EISDIR')
    expect(api.fileAt('/doc.txt')!.bytes.toString()).toBe('mine')
    await h.vfs.close()
  })

  it('atomic save: a source with tags or metadata of its own (cp -a, rsync -X) brings them; upload_tags alone do not', async () => {
    const api = new FakeImageKit()
    const target = api.addFile('/doc.txt', Buffer.from('v1'), { tags: ['theirs'], customMetadata: { kept: 1 } })
    const h = rw(api, tempCache(), { uploadTags: ['auto'] })
    await writeFile(h, '/doc.txt.tmp', 'v2')
    await h.vfs.rename('/doc.txt.tmp', '/doc.txt') // an editor's save: only the upload tags, the target keeps its own
    expect(api.fileAt('/doc.txt')!.obj).toMatchObject({ fileId: target.fileId, tags: ['theirs'], customMetadata: { kept: 1 } })
    await writeFile(h, '/doc.txt.tmp', 'v3')
    await h.vfs.setxattr('/doc.txt.tmp', 'user.imagekit.tags', Buffer.from('mine'), 0) // stored already: set on it
    await h.vfs.rename('/doc.txt.tmp', '/doc.txt')
    const now = api.fileAt('/doc.txt')!
    expect(now.obj).toMatchObject({ fileId: target.fileId, tags: ['mine'], customMetadata: { kept: 1 } })
    expect(now.bytes.toString()).toBe('v3')
    expect(await h.vfs.getxattr('/doc.txt', 'user.imagekit.tags')).toEqual(Buffer.from('mine'))
    // The same while the source is still waiting for its upload (write-back): its own stored tags come along.
    const wb = rw(api, tempCache(), { writeBackDelayMs: 3_600_000 })
    await writeFile(wb, '/other.txt', 'o1')
    const synced = await wb.vfs.open('/other.txt', constants.O_RDONLY)
    await wb.vfs.fsync('/other.txt', synced, false)
    await wb.vfs.release('/other.txt', synced)
    await wb.vfs.setxattr('/other.txt', 'user.imagekit.custom-metadata', Buffer.from('{"from":"other"}'), 0)
    const fh = await wb.vfs.open('/other.txt', constants.O_WRONLY | constants.O_TRUNC)
    await wb.vfs.write('/other.txt', fh, Buffer.from('o2'), 0)
    await wb.vfs.flush('/other.txt', fh)
    await wb.vfs.release('/other.txt', fh)
    await wb.vfs.rename('/other.txt', '/doc.txt')
    await wb.vfs.close() // unmount uploads what waits
    expect(api.fileAt('/doc.txt')!.obj).toMatchObject({ fileId: target.fileId, tags: ['mine'], customMetadata: { from: 'other' } })
    expect(api.fileAt('/doc.txt')!.bytes.toString()).toBe('o2')
    await h.vfs.close()
  })

  it('a rename over a file or a reopen right after an upload reuses its spool copy: nothing is downloaded again', async () => {
    const api = new FakeImageKit()
    api.addFile('/doc.txt', Buffer.from('v1'))
    const h = rw(api)
    await writeFile(h, '/doc.txt.tmp', 'v2 content')
    await h.vfs.rename('/doc.txt.tmp', '/doc.txt')
    expect(api.fileAt('/doc.txt')!.bytes.toString()).toBe('v2 content')
    // an append right after: filled from the copy of the version just stored
    const fh = await h.vfs.open('/doc.txt', constants.O_WRONLY | constants.O_APPEND)
    await h.vfs.write('/doc.txt', fh, Buffer.from('+more'), 10)
    await h.vfs.flush('/doc.txt', fh)
    await h.vfs.release('/doc.txt', fh)
    expect(api.fileAt('/doc.txt')!.bytes.toString()).toBe('v2 content+more')
    expect(api.calls.readRange).toBe(0)
    expect(api.fileAt('/doc.txt')!.versions).toBe(3)

    // kept a while only: later, the bytes come from the CDN again, and the copies are gone from the spool
    await writeFile(h, '/late.tmp', 'late')
    h.clock.advance(RECENT_COPY_TTL_MS)
    await h.vfs.rename('/late.tmp', '/doc.txt')
    expect(api.calls.readRange).toBe(1)
    expect(api.fileAt('/doc.txt')!.bytes.toString()).toBe('late')
    expect(keptCopies(h)).toHaveLength(1)
    await h.vfs.unlink('/doc.txt') // deleted: its bytes leave the spool at once
    expect(keptCopies(h)).toEqual([])
    await h.vfs.close()
    expect(spoolFiles(h, 'data')).toEqual([])
  })

  it('R4: a file read right after its upload is read from the spool\'s copy of the version stored, not the CDN; R5: a version stored elsewhere since is read from the CDN', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { dirCacheTimeMs: 1000 })
    const data = patternBytes(3 * MiB + 17, 7)
    await writeFile(h, '/new.bin', data)
    expect(api.fileAt('/new.bin')!.bytes.equals(data)).toBe(true)
    const fh = await h.vfs.open('/new.bin', constants.O_RDONLY)
    for (const at of [3 * MiB, 0, MiB - 5, 2 * MiB + 1]) {
      expect(Buffer.from(await h.vfs.read('/new.bin', fh, 64 * 1024, at)).equals(data.subarray(at, at + 64 * 1024)), `at ${at}`).toBe(true)
    }
    await h.vfs.release('/new.bin', fh)
    expect(api.calls.readRange).toBe(0)

    // Another machine stores a version of as many bytes; once the listing shows it, reads go to the CDN.
    const theirs = patternBytes(data.length, 8)
    api.overwrite('/new.bin', theirs, new Date(Date.now() + 60_000).toISOString())
    h.clock.advance(1001)
    const again = await h.vfs.open('/new.bin', constants.O_RDONLY)
    expect(Buffer.from(await h.vfs.read('/new.bin', again, 64 * 1024, 0)).equals(theirs.subarray(0, 64 * 1024))).toBe(true)
    await h.vfs.release('/new.bin', again)
    expect(api.calls.readRange).toBeGreaterThan(0)
    await h.vfs.close()
  })

  it('atomic save with write-back: the pending upload is retargeted, the temp name is never uploaded', async () => {
    const api = new FakeImageKit()
    const target = api.addFile('/doc.txt', Buffer.from('v1'))
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/doc.txt.tmp', 'v2')
    await h.vfs.rename('/doc.txt.tmp', '/doc.txt')
    expect((await h.vfs.getattr('/doc.txt')).size).toBe(2)
    await expectCode(h.vfs.getattr('/doc.txt.tmp'), 'ENOENT')
    h.clock.advance(1000)
    await waitFor(() => api.fileAt('/doc.txt')!.versions === 2)
    expect(api.fileAt('/doc.txt')!.obj.fileId).toBe(target.fileId)
    expect(api.uploads.map((u) => u.filePath)).toEqual(['/doc.txt'])
  })

  it('write-back: a file renamed while a reader has it open is uploaded after the delay, under its new name', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/a.txt', 'waiting')
    const reader = await h.vfs.open('/a.txt', constants.O_RDONLY)
    await h.vfs.rename('/a.txt', '/b.txt')
    await h.vfs.release('/b.txt', reader)
    h.clock.advance(1000)
    await waitFor(() => api.fileAt('/b.txt') !== undefined)
    expect(api.fileAt('/b.txt')!.bytes.toString()).toBe('waiting')
    expect(api.uploads.map((u) => u.filePath)).toEqual(['/b.txt'])
    // And one renamed with a reader open at unmount is uploaded by the unmount.
    await writeFile(h, '/c.txt', 'at unmount')
    const still = await h.vfs.open('/c.txt', constants.O_RDONLY)
    await h.vfs.rename('/c.txt', '/d.txt')
    await h.vfs.release('/d.txt', still)
    await h.vfs.close()
    expect(api.fileAt('/d.txt')!.bytes.toString()).toBe('at unmount')
  })

  it('a rename over a file that is open replaces it as on a local disk: the open handle keeps the old bytes', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/t.txt', 'old')
    const reader = await h.vfs.open('/t.txt', constants.O_RDONLY)
    await writeFile(h, '/t.txt.tmp', 'new')
    await h.vfs.rename('/t.txt.tmp', '/t.txt')
    expect((await h.vfs.read('/t.txt', reader, 100, 0)).toString()).toBe('old')
    expect((await readAll(h, '/t.txt')).toString()).toBe('new')
    await h.vfs.release('/t.txt', reader)
    h.clock.advance(1000)
    await waitFor(() => api.fileAt('/t.txt') !== undefined)
    expect(api.fileAt('/t.txt')!.bytes.toString()).toBe('new')
    expect(api.uploads.map((u) => u.filePath)).toEqual(['/t.txt'])
    await h.vfs.close()
    expect(spoolFiles(h, 'data')).toEqual([])
  })

  it('a file kept open after its upload, renamed over another, becomes that file\'s new version', async () => {
    const api = new FakeImageKit()
    const target = api.addFile('/t.txt', Buffer.from('target bytes'))
    const h = rw(api)
    const fh = await h.vfs.create('/s.txt', 0o644, CREATE)
    await h.vfs.write('/s.txt', fh, Buffer.from('source'), 0)
    await h.vfs.fsync('/s.txt', fh, false) // stored as /s.txt; the handle stays open
    await h.vfs.rename('/s.txt', '/t.txt')
    await h.vfs.flush('/t.txt', fh)
    await h.vfs.release('/t.txt', fh)
    expect(api.fileAt('/t.txt')!.bytes.toString()).toBe('source')
    expect(api.fileAt('/t.txt')!.obj.fileId).toBe(target.fileId)
    expect(api.filePaths()).toEqual(['/t.txt'])
    expect((await readAll(h, '/t.txt')).toString()).toBe('source')
    await h.vfs.close()
  })

  /** /a.txt stored as 'v1', open for writing with 'v2' written; `release()` lets the remote rename or delete in progress finish. */
  async function rewrittenWithRemoteOpHeld(): Promise<{ api: FakeImageKit; h: Harness; fh: number; release: () => void }> {
    const api = new FakeImageKit()
    api.addFile('/a.txt', Buffer.from('v1'))
    const h = rw(api)
    const fh = await h.vfs.open('/a.txt', constants.O_WRONLY | constants.O_TRUNC)
    await h.vfs.write('/a.txt', fh, Buffer.from('v2'), 0)
    let finish: (() => void) | undefined
    api.renameGate = () => new Promise((resolve) => { finish = resolve })
    return { api, h, fh, release: () => finish!() }
  }

  it('a file closed while it is being renamed is uploaded under its new name, not its old one', async () => {
    const { api, h, fh, release } = await rewrittenWithRemoteOpHeld()
    const renaming = h.vfs.rename('/a.txt', '/b.txt')
    await waitFor(() => api.writeCalls.renameFile === 1) // the remote rename runs
    let uploaded!: () => void
    api.uploadGate = () => new Promise((resolve) => { uploaded = resolve })
    const closing = h.vfs.flush('/a.txt', fh)
    await new Promise((resolve) => setTimeout(resolve, 20)) // the close commits and asks for its upload
    release()
    await renaming
    await waitFor(() => uploaded !== undefined)
    uploaded()
    await closing
    await h.vfs.release('/b.txt', fh)
    expect(api.filePaths()).toEqual(['/b.txt'])
    expect(api.fileAt('/b.txt')!.bytes.toString()).toBe('v2')
    await h.vfs.close()
  })

  it('a file closed while it is being unlinked is not uploaded, nor counted as an upload', async () => {
    const { api, h, fh, release } = await rewrittenWithRemoteOpHeld()
    const unlinking = h.vfs.unlink('/a.txt')
    await waitFor(() => api.writeCalls.deleteFile === 1)
    const closing = h.vfs.flush('/a.txt', fh) // its upload waits for the unlink
    await new Promise((resolve) => setTimeout(resolve, 20))
    release()
    await unlinking
    await closing
    await h.vfs.release('/a.txt', fh)
    expect(api.filePaths()).toEqual([])
    expect(api.writeCalls.uploadFile).toBe(0)
    expect(h.vfs.status().counters).toMatchObject({ uploadsSucceeded: 0, uploadsFailed: 0 })
    await h.vfs.close()
  })

  it('W8: a restart counts as resumed uploads only what it uploads, not a file that was being unlinked', async () => {
    const api = new FakeImageKit()
    api.addFile('/a.txt', Buffer.from('v1'))
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000, bootId: 'boot-1' })
    await overwriteFile(h, '/a.txt', 'v2') // both wait in the spool (write-back)
    await writeFile(h, '/b.txt', 'bee')
    let deleted!: () => void
    api.renameGate = () => {
      api.renameGate = undefined // this delete only: the next start's, which finishes the unlink, goes through
      return new Promise((resolve) => { deleted = resolve })
    }
    const unlinking = h.vfs.unlink('/a.txt')
    await waitFor(() => api.writeCalls.deleteFile === 1) // noted as being unlinked; the daemon dies now
    const h2 = rw(api, h.cacheDir, { bootId: 'boot-1' })
    const said = (msg: string) => h2.records.filter((r) => r.msg === msg)
    expect(said('a file being unlinked when the daemon stopped: not uploaded').map((r) => r.path)).toEqual(['/a.txt'])
    expect(said('pending uploads found in the spool; resuming').map((r) => r.files)).toEqual([1]) // was 2
    deleted()
    await unlinking
    h2.clock.advance(0)
    await waitFor(() => api.fileAt('/b.txt') !== undefined)
    expect(api.filePaths()).toEqual(['/b.txt'])
  })

  it('write-back: a rename that fails remotely leaves the upload queued', async () => {
    const api = new FakeImageKit()
    api.addFile('/a.txt', Buffer.from('v1'))
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await overwriteFile(h, '/a.txt', 'v2') // waits for its write-back delay
    api.failNext.set('renameFile', new ImageKitError('IK_SERVER', 'PUT rename: 500', { status: 500 }))
    await expectCode(h.vfs.rename('/a.txt', '/b.txt'), 'EIO')
    h.clock.advance(1000)
    await waitFor(() => api.fileAt('/a.txt')!.bytes.toString() === 'v2')
    await h.vfs.close()
  })

  it('a rename over a file that exists only in the spool (empty, or not uploaded yet) replaces it: an edit after it keeps the renamed bytes', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/g1', '') // empty: spool only (W5)
    const content = Buffer.alloc(300_000, 7)
    await writeFile(h, '/g1.tmp', content)
    await h.vfs.rename('/g1.tmp', '/g1')
    expect((await h.vfs.getattr('/g1')).size).toBe(300_000)
    const fh = await h.vfs.open('/g1', W) // in-place edit: fills from the renamed file, not the replaced empty one
    await h.vfs.write('/g1', fh, Buffer.from('XXXXXXXXXX'), 71_968)
    await h.vfs.flush('/g1', fh)
    await h.vfs.release('/g1', fh)
    const expected = Buffer.from(content)
    expected.write('XXXXXXXXXX', 71_968)
    expect(api.fileAt('/g1')!.bytes.equals(expected)).toBe(true)
    expect(spoolRecords(h)).toEqual([]) // the replaced empty file's record is gone: a restart brings nothing back

    // Write-back: a new file whose upload has not started is replaced by the rename, never uploaded.
    const wb = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(wb, '/h1', 'old, never stored')
    await writeFile(wb, '/h1.tmp', 'new')
    await wb.vfs.rename('/h1.tmp', '/h1')
    wb.clock.advance(1000)
    await waitFor(() => api.fileAt('/h1')?.bytes.toString() === 'new')
    await wb.vfs.close()
    expect(api.uploads.map((u) => u.filePath).filter((p) => p.startsWith('/h1'))).toEqual(['/h1'])
    expect(api.fileAt('/h1')!.bytes.toString()).toBe('new')
    expect(spoolRecords(wb)).toEqual([])
  })

  it('write-back: an open or a folder rename that waits for a landing upload keeps working on the file (no lost spool copy)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/d/a.txt', 'first')
    await writeFile(h, '/d/b.txt', 'second')
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    api.uploadGate = () => held
    h.clock.advance(1000) // both uploads start, and wait at the gate
    await waitFor(() => api.uploadsInFlight === 2)
    const opening = h.vfs.open('/d/a.txt', W | constants.O_APPEND) // reuses the pending file once its upload landed
    const renaming = h.vfs.rename('/d/b.txt', '/d/c.txt')
    release()
    const fh = await opening
    await h.vfs.write('/d/a.txt', fh, Buffer.from(' more'), 5)
    await h.vfs.release('/d/a.txt', fh)
    await renaming
    await h.vfs.rename('/d', '/e')
    const again = await h.vfs.open('/e/c.txt', W | constants.O_APPEND)
    await h.vfs.write('/e/c.txt', again, Buffer.from('!'), 6)
    await h.vfs.release('/e/c.txt', again)
    h.clock.advance(1000)
    await h.vfs.close()
    expect(api.fileAt('/e/a.txt')!.bytes.toString()).toBe('first more')
    expect(api.fileAt('/e/c.txt')!.bytes.toString()).toBe('second!')
    expect(api.filePaths().sort()).toEqual(['/e/a.txt', '/e/c.txt'])
  })

  it('a folder rename whose spool journal cannot note a file inside still uploads it, under the new path', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/d/a.txt', 'first') // waits in the spool for its write-back upload
    const write = vi.spyOn(Journal.prototype, 'write').mockRejectedValueOnce(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }))
    try {
      await h.vfs.rename('/d', '/e')
    } finally {
      write.mockRestore()
    }
    h.clock.advance(1000)
    await waitFor(() => api.fileAt('/e/a.txt') !== undefined)
    expect(api.fileAt('/e/a.txt')!.bytes.toString()).toBe('first')
    expect(h.records.some((r) => String(r.msg).includes('could not be updated in the spool journal'))).toBe(true)
    await h.vfs.close()
  })

  /**
   * A --write-back file whose upload lands while the spool's disk takes no journal line (its record's del does not
   * fit), retired then (its data file dealt with); `release()` frees the disk. The file's data file id, the harness.
   */
  async function landedWithoutDel() {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/t.txt', 'text') // its record durable, its upload waiting
    const dataDir = join(h.vfs.spoolDir!, 'data')
    const [id] = readdirSync(dataDir)
    const append = WholeLines.prototype.append
    const full = vi.spyOn(WholeLines.prototype, 'append').mockImplementation(function (this: WholeLines, fd, text, what) {
      if (what === 'journal append') throw Object.assign(new Error(`ENOSPC: no space left on device, ${what}`), { code: 'ENOSPC' })
      return append.call(this, fd, text, what)
    })
    const retire = SpoolFiles.prototype.retire
    let retired!: () => void
    const done = new Promise<void>((resolve) => (retired = resolve))
    const spied = vi.spyOn(SpoolFiles.prototype, 'retire').mockImplementation(async function (this: SpoolFiles, file, fd) {
      await retire.call(this, file, fd)
      retired()
    })
    try {
      h.clock.advance(1000)
      await waitFor(() => api.fileAt('/t.txt') !== undefined)
      await done
    } finally {
      spied.mockRestore()
    }
    expect(h.records.map((r) => String(r.msg))).toContain('uploaded, but the spool journal cannot note it yet (its disk full, or a failed sync)')
    return { api, h, id: id!, dataDir, release: () => full.mockRestore() }
  }

  it('an upload whose removal from the spool journal does not fit (its disk full) keeps its data file: a kill -9 then reports no lost upload, and the next mount stores the same bytes again', async () => {
    const { api, h, id, dataDir, release } = await landedWithoutDel()
    release()
    // The journal's last word on the file is still its put: its bytes are still there for it.
    expect(readdirSync(dataDir)).toContain(id)
    expect(spoolRecords(h).map((r) => r.id)).toEqual([id])
    // "kill -9": the first Vfs is never closed
    const h2 = rw(api, h.cacheDir)
    h2.clock.advance(0)
    await waitFor(() => h2.vfs.status().uploads.length === 0 && spoolRecords(h2).length === 0)
    expect(h2.records.filter((r) => (r.level as number) >= 50)).toEqual([]) // was: 'the pending upload is lost'
    expect(api.fileAt('/t.txt')!.bytes.toString()).toBe('text')
    await h2.vfs.close()
  })

  it('an upload whose removal from the spool journal did not fit: the removal goes in with the next line the journal takes, and the data file goes then', async () => {
    const { api, h, id, dataDir, release } = await landedWithoutDel()
    release()
    const uploads = api.uploads.length
    await writeFile(h, '/u.txt', 'next') // the disk takes lines again: t.txt's del goes in first
    await waitFor(() => !readdirSync(dataDir).includes(id))
    expect(spoolRecords(h).map((r) => r.name)).toEqual(['u.txt'])
    // "kill -9": the next mount finds only u.txt to store
    const h2 = rw(api, h.cacheDir)
    h2.clock.advance(0)
    await waitFor(() => h2.vfs.status().uploads.length === 0 && spoolRecords(h2).length === 0)
    expect(h2.records.filter((r) => (r.level as number) >= 50)).toEqual([])
    expect(api.uploads.slice(uploads).map((u) => u.filePath)).toEqual(['/u.txt'])
    await h2.vfs.close()
  })

  it('a time set while the upload is landing leaves no journal record behind the stored file (a restart finds nothing)', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/t.txt', 'text')
    let land!: () => void
    api.uploadGate = () => new Promise<void>((resolve) => (land = resolve))
    h.clock.advance(1000)
    await waitFor(() => api.uploadsInFlight === 1)
    const original = Journal.prototype.write
    let writeReleased!: () => void
    const held = new Promise<void>((resolve) => (writeReleased = resolve))
    let written = false
    const write = vi.spyOn(Journal.prototype, 'write').mockImplementation(async function (this: Journal, record) {
      await held // the record reaches the journal late: after the upload landed
      await original.call(this, record)
      written = true
    })
    try {
      await h.vfs.utimens('/t.txt', 1_000, 2_000)
      land()
      // Landed and done with: its record removed from the journal, and the file's retire queued.
      await waitFor(() => api.fileAt('/t.txt') !== undefined && h.vfs.status().uploads.length === 0)
      writeReleased()
      await waitFor(() => written)
    } finally {
      write.mockRestore()
    }
    await h.vfs.close() // waits for the retire
    expect(spoolRecords(h)).toEqual([])
  })

  it('a time set while a landed --write-back upload is being noted in the spool is kept for the version it stored (W13)', async () => {
    const api = new FakeImageKit()
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/t.txt', 'text')
    const original = Journal.prototype.remove
    let reached!: () => void
    const removing = new Promise<void>((resolve) => (reached = resolve))
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const remove = vi.spyOn(Journal.prototype, 'remove').mockImplementation(async function (this: Journal, id) {
      reached()
      await held // the upload landed; its record is still being removed from the journal
      await original.call(this, id)
    })
    try {
      h.clock.advance(1000)
      await removing
      await h.vfs.utimens('/t.txt', 1_000, 2_000)
      expect((await h.vfs.getattr('/t.txt')).mtimeMs).toBe(2_000)
      release()
      await waitFor(() => h.vfs.status().uploads.length === 0)
    } finally {
      remove.mockRestore()
    }
    expect((await h.vfs.getattr('/t.txt')).mtimeMs).toBe(2_000)
    h.vfs.forget()
    expect((await h.vfs.getattr('/t.txt')).mtimeMs).toBe(2_000)
    await h.vfs.close()
  })

  it('renaming a file that is still open and dirty sends the upload to the new name', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/draft', 0o644, CREATE)
    await h.vfs.write('/draft', fh, Buffer.from('text'), 0)
    await h.vfs.rename('/draft', '/final')
    await h.vfs.flush('/final', fh)
    await h.vfs.release('/final', fh)
    expect(api.filePaths()).toEqual(['/final'])
    expect(api.fileAt('/final')!.bytes.toString()).toBe('text')
  })

  it('a file rename or move whose repeat met its work done (404 after a lost answer) succeeds where the file is, and undoes nothing', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    const same = api.addFile('/a/same.txt', 3)
    const both = api.addFile('/a/both.txt', 3)
    api.addFile('/a/gone.txt', 3)
    const h = rw(api)
    await h.vfs.readdir('/a')
    await h.vfs.readdir('/b')
    api.repeatMeetsWorkDoneOf.add('renameFile')
    await h.vfs.rename('/a/same.txt', '/a/renamed.txt') // was ENOENT
    // Into another folder under another name: move, then rename; the rename's repeat meets it done.
    api.repeatMeetsWorkDoneOf.add('renameFile')
    await h.vfs.rename('/a/both.txt', '/b/both-new.txt') // was ENOENT, and the move undone
    expect(api.fileAt('/a/renamed.txt')?.obj.fileId).toBe(same.fileId)
    expect(api.fileAt('/b/both-new.txt')?.obj.fileId).toBe(both.fileId)
    expect((await h.vfs.readdir('/b')).map((e) => e.name)).toEqual(['both-new.txt'])
    // A source really gone is still ENOENT: the file is not where the rename was to put it.
    api.removeFile('/a/gone.txt')
    await expectCode(h.vfs.rename('/a/gone.txt', '/a/kept.txt'), 'ENOENT')
  })

  it('a folder rename whose job answer was lost is read from the folders: done when moved, EIO when it never happened', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFile('/a/x.txt', 3)
    api.addFolder('/dst')
    const h = rw(api)
    await h.vfs.readdir('/a')
    api.loseAnswerOf.add('renameFolder')
    await h.vfs.rename('/a', '/b')
    expect((await h.vfs.readdir('/b')).map((e) => e.name)).toEqual(['x.txt'])
    await expectCode(h.vfs.getattr('/a'), 'ENOENT')
    api.loseAnswerOf.add('moveFolder')
    await h.vfs.rename('/b', '/dst/b')
    expect(api.filePaths()).toEqual(['/dst/b/x.txt'])
    expect(h.records.filter((r) => r.msg === 'the answer to a folder job was lost; checking the folders for its outcome')).toHaveLength(2)

    // Accepted but never done (the folders never change): after the deadline, the lost answer is the error.
    api.loseAnswerUndoneOf.add('renameFolder')
    const renaming = expectCode(h.vfs.rename('/dst/b', '/dst/c'), 'EIO')
    let settled = false
    void renaming.then(() => (settled = true))
    for (let waited = 0; !settled && waited <= LOST_JOB_DEADLINE_MS + 10_000; waited += 1000) {
      await new Promise((resolve) => setImmediate(resolve))
      h.clock.advance(1000)
    }
    await renaming
    expect(api.filePaths()).toEqual(['/dst/b/x.txt'])
  })

  it('a folder rename whose job answer was lost keeps reading the folders when a look fails too (the same network trouble)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFile('/a/x.txt', 3)
    const h = rw(api)
    await h.vfs.readdir('/a')
    api.loseAnswerOf.add('renameFolder')
    let looks = 0
    api.listGate = async (q) => {
      if (q.type === 'folder' && looks++ === 0) throw new ImageKitError('IK_NETWORK', 'GET /v1/files: connection reset (after retries)')
    }
    const renaming = h.vfs.rename('/a', '/b')
    let settled = false
    void renaming.then(() => (settled = true), () => (settled = true))
    for (let waited = 0; !settled && waited <= LOST_JOB_DEADLINE_MS; waited += 250) {
      await new Promise((resolve) => setImmediate(resolve))
      h.clock.advance(250)
    }
    await renaming // was EIO: the first failed look ended the watch
    expect((await h.vfs.readdir('/b')).map((e) => e.name)).toEqual(['x.txt'])
  })

  it('a folder moved onto a folder added elsewhere that the cached listing does not show yet is ENOTEMPTY, not merged into it', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/a/proj')
    api.addFile('/a/proj/notes.txt', Buffer.from('mine'))
    api.addFolder('/b')
    const h = rw(api)
    expect(await h.vfs.readdir('/b')).toEqual([]) // cached: empty
    api.addFolder('/b/proj') // another machine made it meanwhile (ImageKit's move job would merge into it)
    const theirs = api.addFile('/b/proj/notes.txt', Buffer.from('theirs'))
    await expectCode(h.vfs.rename('/a/proj', '/b/proj'), 'ENOTEMPTY')
    expect(api.filePaths().sort()).toEqual(['/a/proj/notes.txt', '/b/proj/notes.txt'])
    expect(api.writeCalls.moveFolder + api.writeCalls.renameFolder).toBe(0)
    // Under another name: moving it first would land on theirs; renamed first, it moves beside it.
    await h.vfs.rename('/a/proj', '/b/other')
    expect(api.filePaths().sort()).toEqual(['/b/other/notes.txt', '/b/proj/notes.txt'])
    expect(api.fileAt('/b/other/notes.txt')!.bytes.toString()).toBe('mine')
    expect(api.fileAt('/b/proj/notes.txt')!.obj.fileId).toBe(theirs.fileId)
    expect(api.fileAt('/b/proj/notes.txt')!.bytes.toString()).toBe('theirs')
    await h.vfs.close()
  })

  it('folder rename (same parent and across parents) via bulk jobs, target non-empty is ENOTEMPTY', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    api.addFolder('/p/old')
    api.addFile('/p/old/a.jpg', 3)
    api.addFolder('/q')
    api.addFolder('/full')
    api.addFile('/full/x', 1)
    const h = rw(api)
    const ino = (await h.vfs.getattr('/p/old')).ino
    await h.vfs.rename('/p/old', '/p/new')
    expect(api.fileAt('/p/new/a.jpg')).toBeDefined()
    expect((await h.vfs.getattr('/p/new')).ino).toBe(ino)
    expect((await h.vfs.getattr('/p/new/a.jpg')).size).toBe(3)
    await h.vfs.rename('/p/new', '/q/moved')
    expect(api.fileAt('/q/moved/a.jpg')).toBeDefined()
    await expectCode(h.vfs.rename('/q/moved', '/full'), 'ENOTEMPTY')
    expect(api.fileAt('/q/moved/a.jpg')).toBeDefined()
  })

  it('rename across folders under a new name never steps onto a name a spooled file is about to upload to', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    const f = api.addFile('/a/x.jpg', Buffer.from('moving'))
    const h = rw(api, tempCache(), { writeBackDelayMs: 60_000 })
    await writeFile(h, '/b/x.jpg', 'spooled') // waits in the spool for its write-back upload
    // Between the two steps of the rename, the spooled file's upload runs. Had the file been moved to /b/x.jpg
    // first, that upload would have stored 'spooled' as a new version of the moving file.
    let first = true
    api.renameGate = async () => {
      if (!first) return
      first = false
      h.clock.advance(60_000)
      await waitFor(() => api.fileAt('/b/x.jpg') !== undefined)
    }
    await h.vfs.rename('/a/x.jpg', '/b/y.jpg')
    api.renameGate = undefined
    expect(api.filePaths().sort()).toEqual(['/b/x.jpg', '/b/y.jpg'])
    expect(api.fileAt('/b/y.jpg')!.obj.fileId).toBe(f.fileId)
    expect(api.fileAt('/b/y.jpg')!.bytes.toString()).toBe('moving')
    expect(api.fileAt('/b/y.jpg')!.versions).toBe(1)
    expect(api.fileAt('/b/x.jpg')!.bytes.toString()).toBe('spooled')
    expect(api.fileAt('/b/x.jpg')!.obj.fileId).not.toBe(f.fileId)
  })

  it('folder rename across parents under a new name lands on free names in any order: move first, rename first, or through a free name', async () => {
    const api = new FakeImageKit()
    for (const folder of ['/s', '/s/d', '/s/e', '/t', '/t/d', '/u']) api.addFolder(folder)
    api.addFile('/s/d/in.txt', Buffer.from('inside'))
    const h = rw(api)
    const ino = (await h.vfs.getattr('/s/d')).ino
    // /t has a d and /s has an e: neither order of the two jobs is free, so a third name carries it.
    await h.vfs.rename('/s/d', '/t/e')
    expect(api.filePaths()).toEqual(['/t/e/in.txt'])
    expect(api.writeCalls).toMatchObject({ renameFolder: 2, moveFolder: 1 })
    expect((await h.vfs.getattr('/t/e')).ino).toBe(ino)
    expect((await h.vfs.readdir('/s')).map((e) => e.name)).toEqual(['e'])
    expect((await h.vfs.readdir('/t')).map((e) => e.name).sort()).toEqual(['d', 'e'])
    // /u has no e: move first, then rename (renaming first, the only order tried before, collides with /t/d).
    await h.vfs.rename('/t/e', '/u/d')
    expect(api.filePaths()).toEqual(['/u/d/in.txt'])
    expect(api.writeCalls).toMatchObject({ renameFolder: 3, moveFolder: 2 })
    expect((await readAll(h, '/u/d/in.txt')).toString()).toBe('inside')
  })

  it('a folder renamed while a file inside is open: a reader keeps reading, a writer\'s file is uploaded under the new name', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api, tempCache(), { writeBackDelayMs: 1000 })
    await writeFile(h, '/d/a.txt', 'waiting') // not uploaded yet
    const reader = await h.vfs.open('/d/a.txt', constants.O_RDONLY)
    await h.vfs.rename('/d', '/e')
    expect((await h.vfs.read('/e/a.txt', reader, 100, 0)).toString()).toBe('waiting')
    await h.vfs.release('/e/a.txt', reader)
    h.clock.advance(1000)
    await waitFor(() => api.fileAt('/e/a.txt') !== undefined)
    expect(api.fileAt('/e/a.txt')!.bytes.toString()).toBe('waiting')

    // Written before, during and after the folder job, and closed while it runs.
    const fh = await h.vfs.create('/e/w.txt', 0o644, CREATE)
    await h.vfs.write('/e/w.txt', fh, Buffer.from('first,'), 0)
    let jobDone!: () => void
    api.renameGate = () => new Promise((resolve) => { jobDone = resolve })
    const renaming = h.vfs.rename('/e', '/f')
    await waitFor(() => api.writeCalls.renameFolder === 2)
    await h.vfs.write('/e/w.txt', fh, Buffer.from(' second'), 6)
    const syncing = h.vfs.fsync('/e/w.txt', fh, false) // asks for its upload while the job runs
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(api.writeCalls.uploadFile).toBe(1) // only a.txt: w.txt waits for the job
    jobDone()
    await renaming
    await syncing
    await h.vfs.write('/f/w.txt', fh, Buffer.from('!'), 13)
    await h.vfs.flush('/f/w.txt', fh)
    await h.vfs.release('/f/w.txt', fh)
    await h.vfs.close()
    expect(api.filePaths().sort()).toEqual(['/f/a.txt', '/f/w.txt'])
    expect(api.fileAt('/f/w.txt')!.bytes.toString()).toBe('first, second!')
  })

  it('chmod, utimens, chown to the owner succeed; chown elsewhere is EPERM; long names ENAMETOOLONG', async () => {
    const api = new FakeImageKit()
    api.addFile('/f', 3)
    const h = rw(api)
    await h.vfs.chmod('/f', 0o600)
    await h.vfs.utimens('/f', 1, 2)
    await h.vfs.chown('/f', 1000, 1000)
    await h.vfs.chown('/f', -1, 1000)
    await expectCode(h.vfs.chown('/f', 0, 0), 'EPERM')
    await expectCode(h.vfs.chmod('/nope', 0o600), 'ENOENT')
    await expectCode(h.vfs.create('/' + 'x'.repeat(256), 0o644, CREATE), 'ENAMETOOLONG')
    await writeFile(h, '/' + 'é'.repeat(127), 'ok') // 254 bytes
    expect(api.writeCalls.uploadFile).toBe(1)
  })

  it('a name whose stored form (the encoding) is longer than 255 bytes is ENAMETOOLONG at create, mkdir and rename, not a close that fails with EIO', async () => {
    // `#` is stored as `＃` (3 bytes): 224 bytes here, 264 in the library, which refuses the upload (a 400
    // that no retry changes) and the folder. Refused before anything is written, as for a local name.
    const api = new FakeImageKit()
    api.addFile('/f', 3)
    const h = rw(api)
    const long = 'b'.repeat(200) + '#'.repeat(20) + '.txt'
    await expectCode(h.vfs.create('/' + long, 0o644, CREATE), 'ENAMETOOLONG')
    await expectCode(h.vfs.mkdir('/' + long, 0o755), 'ENAMETOOLONG')
    await expectCode(h.vfs.rename('/f', '/' + long), 'ENAMETOOLONG')
    expect(api.fileAt('/f')).toBeDefined()
    const fits = 'b'.repeat(200) + '#'.repeat(17) + '.txt' // 255 bytes stored
    await writeFile(h, '/' + fits, 'ok')
    expect(api.fileAt('/' + 'b'.repeat(200) + '＃'.repeat(17) + '.txt')?.bytes.toString()).toBe('ok')
  })

  it('refuses (EINVAL; a rename EPERM) a new name that would come back as another one after a re-list (W11): a lone ‛, a tab', async () => {
    // The default encoding, like rclone's Standard one, quotes ‛ (U+201B): local "‛q" is stored as "‛‛q",
    // which lists as "‛‛q", so a file created as "‛q" would vanish from its own name at the next listing.
    const api = new FakeImageKit()
    api.addFile('/f', 3)
    const h = rw(api)
    await expectCode(h.vfs.create('/‛q', 0o644, CREATE), 'EINVAL')
    await expectCode(h.vfs.mkdir('/‛d', 0o755), 'EINVAL')
    await expectCode(h.vfs.rename('/f', '/x‛'), 'EPERM') // rename(2)'s EINVAL is a folder moved into itself
    await expectCode(h.vfs.create('/tab\there', 0o644, CREATE), 'EINVAL') // stored and listed as "tab␉here"
    expect(api.fileAt('/f')).toBeDefined()
    // "‛‛q" is what a stored "‛‛q" lists as: it is created, stored as "‛‛q" and keeps its name.
    await writeFile(h, '/‛‛q', 'quoted')
    expect(api.fileAt('/‛‛q')).toBeDefined()
    h.vfs.forget()
    expect((await h.vfs.readdir('/')).map((e) => e.name).sort()).toEqual(['f', '‛‛q'])
    expect((await readAll(h, '/‛‛q')).toString()).toBe('quoted')
  })

  it('with --versions, a file deleted through the mount takes its old versions out of the listing (W8, R9)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    for (const name of ['doc', 'keep', 'saved']) {
      api.addFile(`/a/${name}.txt`, Buffer.from(`${name} one`), { updatedAt: '2024-03-04T05:06:07.089Z' })
      api.overwrite(`/a/${name}.txt`, Buffer.from(`${name} two`), '2024-06-01T00:00:00.000Z')
    }
    api.addFile('/b/saved.txt', Buffer.from('target'))
    const h = rw(api, tempCache(), { versions: true })
    const names = async () => (await h.vfs.readdir('/a')).map((e) => e.name).sort()
    const versionOf = (name: string) => `${name}-v2024-03-04-050607-089.txt`
    expect(await names()).toEqual([versionOf('doc'), 'doc.txt', versionOf('keep'), 'keep.txt', versionOf('saved'), 'saved.txt'])
    await h.vfs.unlink('/a/doc.txt')
    // Saved over a file in another folder: the source is deleted with its versions.
    await h.vfs.rename('/a/saved.txt', '/b/saved.txt')
    expect(api.fileAt('/a/saved.txt')).toBeUndefined()
    expect(await names()).toEqual([versionOf('keep'), 'keep.txt'])
    h.vfs.forget()
    expect(await names()).toEqual([versionOf('keep'), 'keep.txt'])
  })

  it('with --versions, a file renamed through the mount takes its old versions along, within and across folders (R9)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    api.addFile('/a/doc.txt', Buffer.from('doc one'), { updatedAt: '2024-03-04T05:06:07.089Z' })
    api.overwrite('/a/doc.txt', Buffer.from('doc two'), '2024-06-01T00:00:00.000Z')
    const h = rw(api, tempCache(), { versions: true })
    const names = async (folder: string) => (await h.vfs.readdir(folder)).map((e) => e.name).sort()
    expect(await names('/a')).toEqual(['doc-v2024-03-04-050607-089.txt', 'doc.txt'])
    expect(await names('/b')).toEqual([])
    await h.vfs.rename('/a/doc.txt', '/a/renamed.txt')
    expect(await names('/a')).toEqual(['renamed-v2024-03-04-050607-089.txt', 'renamed.txt'])
    await h.vfs.rename('/a/renamed.txt', '/b/moved.txt')
    expect(await names('/a')).toEqual([])
    expect(await names('/b')).toEqual(['moved-v2024-03-04-050607-089.txt', 'moved.txt'])
    expect((await readAll(h, '/b/moved-v2024-03-04-050607-089.txt')).toString()).toBe('doc one')
  })

  it('with --versions, the version an overwrite through the mount replaced shows beside the file at once (R9)', async () => {
    for (const versions of [false, true]) {
      const api = new FakeImageKit()
      api.addFolder('/a')
      const h = rw(api, tempCache(), { versions })
      const names = async () => (await h.vfs.readdir('/a')).map((e) => e.name)
      await writeFile(h, '/a/new.txt', 'first') // a new file: nothing replaced, the folder is not listed again
      expect(await names()).toEqual(['new.txt'])
      const listings = api.calls.listFiles
      await overwriteFile(h, '/a/new.txt', 'second, longer') // an overwrite: the close uploads a new version
      const old = (await names()).filter((n) => n !== 'new.txt')
      expect(old.length).toBe(versions ? 1 : 0)
      // --versions lists the folder again (twice: versions are a second call); without, nothing is missing.
      expect(api.calls.listFiles - listings).toBe(versions ? 2 : 0)
      if (versions) expect((await readAll(h, `/a/${old[0]!}`)).toString()).toBe('first')
      expect((await readAll(h, '/a/new.txt')).toString()).toBe('second, longer')
    }
  })

  it('a listing fetched while an upload landed still shows the file (the upload is applied to it)', async () => {
    for (const versions of [false, true]) {
      const api = new FakeImageKit()
      api.addFile('/old.txt', 3)
      const h = rw(api, tempCache(), { versions })
      const fh = await h.vfs.create('/new.txt', 0o644, CREATE)
      await h.vfs.write('/new.txt', fh, Buffer.from('new'), 0)
      // The listing's answer is taken before the upload lands and arrives after it: a slow list call.
      let release!: () => void
      const held = new Promise<void>((r) => (release = r))
      let listed = 0
      api.listGate = async () => {
        listed++
        await held
      }
      h.vfs.forget()
      const names = h.vfs.readdir('/').then((entries) => entries.map((e) => e.name).sort())
      await waitFor(() => listed > 0)
      await h.vfs.flush('/new.txt', fh)
      await h.vfs.release('/new.txt', fh)
      expect(api.fileAt('/new.txt')).toBeDefined()
      api.listGate = undefined
      release()
      expect(await names, `versions ${versions}`).toEqual(['new.txt', 'old.txt'])
      expect((await h.vfs.readdir('/')).map((e) => e.name).sort()).toEqual(['new.txt', 'old.txt'])
      expect((await h.vfs.getattr('/new.txt')).size).toBe(3)
      await h.vfs.close()
    }
  })

  it('a listing fetched while this mount changed another folder is kept; one fetched while its folder was found changed is not', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.addFolder('/b')
    api.addFile('/a/x.txt', 3)
    api.addFile('/b/y.txt', 4)
    const h = rw(api, tempCache())
    await h.vfs.readdir('/b')
    /** Lists /a with its answer held until `during()` is done. */
    const heldListing = async (during: () => Promise<void>) => {
      let release!: () => void
      const held = new Promise<void>((r) => (release = r))
      let listed = 0
      api.listGate = async (query) => {
        if (query.path !== '/a') return
        listed++
        await held
      }
      const names = h.vfs.readdir('/a').then((entries) => entries.map((e) => e.name).sort())
      await waitFor(() => listed > 0)
      await during()
      api.listGate = undefined
      release()
      return names
    }
    // /b changes meanwhile (an upload lands, a file is deleted, a folder made): /a's answer is still good, and
    // kept (no second call).
    expect(await heldListing(async () => {
      const fh = await h.vfs.create('/b/new.txt', 0o644, CREATE)
      await h.vfs.write('/b/new.txt', fh, Buffer.from('new'), 0)
      await h.vfs.release('/b/new.txt', fh)
      await h.vfs.unlink('/b/y.txt')
      await h.vfs.mkdir('/b/sub', 0o755)
    })).toEqual(['x.txt'])
    let lists = api.calls.listFiles
    expect((await h.vfs.readdir('/a')).map((e) => e.name)).toEqual(['x.txt'])
    expect(api.calls.listFiles).toBe(lists)

    // A read meanwhile finds x.txt gone (deleted elsewhere), which expires /a: the answer, taken before the
    // delete, is shown but not kept, so the next look re-lists and sees the file gone.
    const fh = await h.vfs.open('/a/x.txt', constants.O_RDONLY)
    h.vfs.forget('/a')
    expect(await heldListing(async () => {
      api.removeFile('/a/x.txt')
      api.failNext.set('readRange', new ImageKitError('IK_NOT_FOUND', 'GET delivery: 404', { status: 404 }))
      await expectCode(h.vfs.read('/a/x.txt', fh, 3, 0), 'ENOENT')
    })).toEqual(['x.txt'])
    await h.vfs.release('/a/x.txt', fh)
    lists = api.calls.listFiles
    expect(await h.vfs.readdir('/a')).toEqual([])
    expect(api.calls.listFiles).toBe(lists + 1)
    await h.vfs.close()
  })

  it('times set by utimens stay with the version they were set on, across re-lists and restarts (W13)', async () => {
    const api = new FakeImageKit()
    api.addFile('/stored.jpg', 3)
    const cacheDir = tempCache()
    const h = rw(api, cacheDir)
    await h.vfs.utimens('/stored.jpg', 1_000, 2_000)
    // set while open for writing: goes with the version the upload stores
    const fh = await h.vfs.create('/new.jpg', 0o644, CREATE)
    await h.vfs.write('/new.jpg', fh, Buffer.from('new'), 0)
    await h.vfs.utimens('/new.jpg', 3_000, 4_000)
    await h.vfs.flush('/new.jpg', fh)
    await h.vfs.release('/new.jpg', fh)
    // a write after utimens makes the time the write's again, and the stored version keeps it
    const fh2 = await h.vfs.create('/later.jpg', 0o644, CREATE)
    await h.vfs.utimens('/later.jpg', 5_000, 6_000)
    await h.vfs.write('/later.jpg', fh2, Buffer.from('later'), 0)
    const writtenAt = (await h.vfs.getattr('/later.jpg')).mtimeMs
    expect(writtenAt).not.toBe(6_000)
    await h.vfs.flush('/later.jpg', fh2)
    await h.vfs.release('/later.jpg', fh2)
    h.vfs.forget()
    expect((await h.vfs.getattr('/stored.jpg')).mtimeMs).toBe(2_000)
    expect((await h.vfs.getattr('/new.jpg')).mtimeMs).toBe(4_000)
    expect((await h.vfs.getattr('/later.jpg')).mtimeMs).toBe(writtenAt)
    await h.vfs.rename('/new.jpg', '/renamed.jpg')
    h.vfs.forget()
    expect((await h.vfs.getattr('/renamed.jpg')).mtimeMs).toBe(4_000)
    await h.vfs.close()

    const again = rw(api, cacheDir)
    expect((await again.vfs.getattr('/stored.jpg')).mtimeMs).toBe(2_000)
    api.overwrite('/stored.jpg', Buffer.from('changed'), '2030-01-01T00:00:00.000Z') // a new version, elsewhere
    again.vfs.forget()
    expect((await again.vfs.getattr('/stored.jpg')).mtimeMs).toBe(Date.parse('2030-01-01T00:00:00.000Z'))
    expect((await again.vfs.getattr('/renamed.jpg')).mtimeMs).toBe(4_000)
    expect(api.writeCalls.uploadFile).toBe(2) // utimens itself uploads nothing
    await again.vfs.close()
  })

  it('names ImageKit would rewrite are stored encoded and read back as created (W11)', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeFile(h, '/a b#c%d?.txt', 'n')
    expect(api.filePaths()).toEqual(['/a b＃c％d？.txt'])
    h.vfs.forget()
    expect((await h.vfs.readdir('/')).map((e) => e.name)).toEqual(['a b#c%d?.txt'])
  })
})

/**
 * The rename of folder `from` to `name` that ImageKit carries out while the daemon waits for the job's answer,
 * and a kill -9 before it hears (the harness `h` is left as it is, the next one taking over its cache dir).
 */
async function folderRenameCutByCrash(api: FakeImageKit, h: Harness, from: string, name: string): Promise<void> {
  let jobStarted!: () => void
  const started = new Promise<void>((resolve) => { jobStarted = resolve })
  api.renameGate = () => {
    jobStarted()
    return new Promise(() => undefined)
  }
  void h.vfs.rename(from, `${from.slice(0, from.lastIndexOf('/'))}/${name}`)
  await started
  api.renameGate = undefined
  await api.renameFolder(from, name)
}

describe('W9: a folder rename interrupted by a crash', () => {
  it('while the library cannot yet say where the folder went, its files waiting in the spool show where the listing has it, and upload there', async () => {
    const api = new FakeImageKit()
    api.addFolder('/old')
    const options = { writeBackDelayMs: 60_000, bootId: 'b1' }
    const h = rw(api, tempCache(), options)
    await writeFile(h, '/old/f.txt', 'waiting\n')
    await folderRenameCutByCrash(api, h, '/old', 'new')
    let answer!: () => void
    const asked = new Promise<void>((resolve) => { answer = resolve })
    api.listGate = (q) => (q.type === 'folder' ? asked : Promise.resolve()) // where the folder is: no answer yet

    const h2 = rw(api, h.cacheDir, options)
    expect((await h2.vfs.readdir('/')).map((e) => e.name)).toEqual(['new'])
    expect((await h2.vfs.readdir('/new')).map((e) => e.name)).toEqual(['f.txt']) // was []: in neither folder
    expect((await h2.vfs.getattr('/new/f.txt')).size).toBe('waiting\n'.length)
    const fh = await h2.vfs.open('/new/f.txt', constants.O_RDONLY)
    expect(Buffer.from(await h2.vfs.read('/new/f.txt', fh, 100, 0)).toString()).toBe('waiting\n')
    await h2.vfs.release('/new/f.txt', fh)
    await expectCode(h2.vfs.rmdir('/new'), 'ENOTEMPTY')

    answer()
    await waitFor(() => h2.records.some((r) => String(r.msg).includes('interrupted by a crash after the folder moved')))
    await waitFor(() => {
      h2.clock.advance(60_000) // the write-back delay, from the file's release once its place is settled
      return api.fileAt('/new/f.txt') !== undefined
    })
    expect(api.filePaths()).toEqual(['/new/f.txt'])
    expect((await h2.vfs.readdir('/new')).map((e) => e.name)).toEqual(['f.txt'])
    await h2.vfs.close()
  })

  // A rename of a folder above a refused file changes the path its upload names, as a rename of the file does
  // (W3, W6): also when a crash interrupted it, and the next mount learns where the folder went. It kept a file
  // refused as over the size limit rejected at that mount (W6), and its place settled, it stayed so.
  it('W6: a file refused as over the size limit, in a folder whose rename a crash interrupted, is tried again once the next mount finds where the folder went', async () => {
    const api = new FakeImageKit()
    api.maxUploadBytes = 10
    api.addFolder('/old')
    const options = { bootId: 'b1' }
    const h = rw(api, tempCache(), options)
    await writtenTooLarge(h, '/old/big')
    await folderRenameCutByCrash(api, h, '/old', 'new')
    api.maxUploadBytes = 100 // and the account's limit is raised

    const h2 = rw(api, h.cacheDir, options)
    await waitFor(() => h2.records.some((r) => String(r.msg).includes('interrupted by a crash after the folder moved')))
    await waitFor(() => {
      h2.clock.advance(1_000)
      return api.fileAt('/new/big') !== undefined
    })
    expect(api.fileAt('/new/big')!.bytes.length).toBe(11)
    expect(api.filePaths()).toEqual(['/new/big'])
    await waitFor(() => h2.vfs.status().uploads.length === 0)
    await h2.vfs.close()
  })
})

describe('no version made of bytes from before and after a change', () => {
  it.each([
    ['a write', (h: Harness, fh: number) => h.vfs.write('/log.bin', fh, Buffer.from('BBBB'), 0)],
    ['a truncate', (h: Harness, fh: number) => h.vfs.ftruncate('/log.bin', fh, 4)],
  ] as const)('%s through a handle still open while a close uploads the file waits until the upload has sent its bytes: the version holds what that close left', async (_, change) => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/log.bin', 0o644, CREATE)
    await h.vfs.write('/log.bin', fh, Buffer.from('AAAAAAAA'), 0)
    const hung = hungUpload()
    api.uploadGate = hung.gate // the upload is on its way: a large file's bytes are read while they are sent
    // A close of one copy of the descriptor (the shell's); the other (a child's) still open and writing.
    const closing = h.vfs.flush('/log.bin', fh)
    await waitFor(() => api.uploadsInFlight === 1)
    let changed = false
    const changing = change(h, fh).then(() => (changed = true))
    await waitFor(() => changed, 300).catch(() => undefined) // done at once, unless it waits for the upload
    hung.release()
    await closing
    expect(api.fileAt('/log.bin')!.bytes.toString()).toBe('AAAAAAAA') // what the close left, not a mix
    await changing
    expect(changed).toBe(true)
    api.uploadGate = undefined
    await h.vfs.release('/log.bin', fh)
    await waitFor(() => api.fileAt('/log.bin')!.bytes.length === 4 || api.fileAt('/log.bin')!.bytes.toString() === 'BBBBAAAA')
  })
})

describe('no version of writes no close or fsync committed', () => {
  it.each([['', CREATE], [' through an O_DSYNC descriptor (each write kept durably, the file left clean)', CREATE | constants.O_DSYNC]])('W3: a background retry of a file its program still writes (changed since the fsync that failed)%s waits for its close, instead of storing the half-done bytes', async (_, flags) => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await failedFsync(api, h, '/db.bin', 'committed by fsync', flags)
    await h.vfs.write('/db.bin', fh, Buffer.from('HALF-DONE'), 0) // it rewrites the file in place, not done yet
    h.clock.advance(5 * 60_000) // the retry's time comes
    await new Promise((r) => setImmediate(r))
    await waitFor(() => api.fileAt('/db.bin') !== undefined, 300).catch(() => undefined) // stored at once, unless it waits
    expect(api.fileAt('/db.bin')).toBeUndefined()
    await h.vfs.write('/db.bin', fh, Buffer.from(' and done'), 18)
    await h.vfs.flush('/db.bin', fh)
    await h.vfs.release('/db.bin', fh)
    expect(api.fileAt('/db.bin')!.bytes.toString()).toBe('HALF-DONE by fsync and done')
    expect(api.fileAt('/db.bin')!.versions).toBe(1)
  })
})

describe('a background retry once the program closed', () => {
  it('W3: a file written through an O_DSYNC descriptor and closed, whose upload failed, is retried while a reader has it open', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/log.bin', 0o644, CREATE | constants.O_DSYNC)
    await h.vfs.write('/log.bin', fh, Buffer.from('kept by its write'), 0)
    api.failNext.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    await expectCode(h.vfs.flush('/log.bin', fh), 'EIO') // a retry is scheduled
    await h.vfs.release('/log.bin', fh)
    const reader = await h.vfs.open('/log.bin', constants.O_RDONLY) // no writes since that close
    h.clock.advance(5 * 60_000) // the retry's time comes
    await waitFor(() => api.fileAt('/log.bin') !== undefined)
    expect(api.fileAt('/log.bin')!.bytes.toString()).toBe('kept by its write')
    await h.vfs.release('/log.bin', reader)
    await h.vfs.close()
  })
})

describe('a reader of a file renamed over another', () => {
  it('W8: a stored file open for reading and renamed over another file (its id deleted, its bytes the target\'s new version) is read on', async () => {
    const api = new FakeImageKit()
    api.addFile('/a.bin', Buffer.from('the source bytes'))
    api.addFile('/b.bin', Buffer.from('the old target'))
    const h = rw(api)
    const reader = await h.vfs.open('/a.bin', constants.O_RDONLY)
    await h.vfs.rename('/a.bin', '/b.bin')
    await waitFor(() => api.filePaths().length === 1) // the delete follows the fetch for the reader (W8)
    api.forgetUrls('')
    expect((await h.vfs.read('/b.bin', reader, 64, 0)).toString()).toBe('the source bytes')
    await h.vfs.release('/b.bin', reader)
    await h.vfs.close()
  })
})
