// W3 across a POWER LOSS (not a kill -9): after a power cut the disk holds only what an fsync made durable, and
// a name new in a folder (a create, a rename, a link) only once that FOLDER was synced (ext4 often keeps more;
// xfs, btrfs and others need not). A crash model in the manner of ALICE/CrashMonkey: every sync the daemon makes
// in its spool is recorded (of a file: its bytes as they were; of a folder: its names as they were), and after
// every file-system call a power cut is played: what would the next mount find? Each file whose close (or
// fsync) returned must still have, in what survives, a record that the next mount accepts, at its path, whose
// data file's name and bytes survived too, until its upload landed.
import { constants } from 'node:fs'
import type * as Fs from 'node:fs'
import type * as FsPromises from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { vi } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit } from './fake-api.js'
import { makeVfs, scratchDir, waitFor, type Harness } from './helpers.js'

/** The crash model: what the last syncs made durable under `root` (the test's cache dir). */
const disk = vi.hoisted(() => {
  interface FileSync { size: number; text?: string }
  const model = {
    root: undefined as string | undefined,
    real: undefined as typeof import('node:fs') | undefined,
    /** Descriptor → path, of what the daemon opened under root. */
    paths: new Map<number, string>(),
    /** Folder → its names (→ inode) as of its last sync. */
    names: new Map<string, Map<string, number>>(),
    /** Inode → its size (and, for the journal, its text) as of its last sync. */
    files: new Map<number, FileSync>(),
    /** Called after every file-system call under root, to play a power cut there. */
    afterCall: undefined as (() => void) | undefined,
    opened(fd: number, path: unknown): void {
      if (typeof path === 'string' && model.root && path.startsWith(model.root)) model.paths.set(fd, path)
    },
    closed(fd: number): void {
      model.paths.delete(fd)
    },
    /** What a sync of `fd` (begun now, finished when `done` is called) makes durable. */
    syncing(fd: number): (() => void) | undefined {
      const path = model.paths.get(fd)
      const fs = model.real
      if (path === undefined || !fs) return undefined
      const st = fs.fstatSync(fd)
      if (st.isDirectory()) {
        const names = new Map(fs.readdirSync(path).map((n) => [n, fs.statSync(joinPath(path, n)).ino] as const))
        return () => model.names.set(path, names)
      }
      const text = path.includes('/journal/') ? fs.readFileSync(path, 'utf8') : undefined
      const synced = { size: st.size, ...(text !== undefined ? { text } : {}) }
      return () => model.files.set(st.ino, synced)
    },
    /** Everything under root counts as durable (the state before the test's steps). */
    settle(): void {
      const fs = model.real!
      const walk = (dir: string): void => {
        model.names.set(dir, new Map(fs.readdirSync(dir).map((n) => [n, fs.statSync(joinPath(dir, n)).ino] as const)))
        for (const n of fs.readdirSync(dir)) {
          const p = joinPath(dir, n)
          const st = fs.statSync(p)
          if (st.isDirectory()) walk(p)
          else model.files.set(st.ino, { size: st.size, ...(p.includes('/journal/') ? { text: fs.readFileSync(p, 'utf8') } : {}) })
        }
      }
      walk(model.root!)
    },
    call<T>(result: T): T {
      model.afterCall?.()
      return result
    },
  }
  const joinPath = (a: string, b: string): string => `${a}/${b}`
  return model
})

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof Fs>()
  disk.real = fs
  const sync = <A extends unknown[]>(f: (fd: number, ...rest: A) => void) => (fd: number, ...rest: A): void => {
    const done = disk.syncing(fd)
    f(fd, ...rest)
    done?.()
    disk.call(undefined)
  }
  const syncCb = (f: (fd: number, cb: (e: Error | null) => void) => void) => (fd: number, cb: (e: Error | null) => void): void => {
    const done = disk.syncing(fd)
    f(fd, (e) => {
      if (!e) done?.()
      disk.call(undefined)
      cb(e)
    })
  }
  const wrapped = {
    ...fs,
    openSync: ((path: Fs.PathLike, ...rest: unknown[]) => {
      const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest)
      disk.opened(fd, path)
      return disk.call(fd)
    }) as typeof fs.openSync,
    closeSync: (fd: number) => {
      disk.closed(fd)
      fs.closeSync(fd)
    },
    fsyncSync: sync(fs.fsyncSync),
    fdatasyncSync: sync(fs.fdatasyncSync),
    fsync: syncCb(fs.fsync),
    fdatasync: syncCb(fs.fdatasync),
    renameSync: (a: Fs.PathLike, b: Fs.PathLike) => disk.call(fs.renameSync(a, b)),
    linkSync: (a: Fs.PathLike, b: Fs.PathLike) => disk.call(fs.linkSync(a, b)),
    unlinkSync: (a: Fs.PathLike) => disk.call(fs.unlinkSync(a)),
    truncateSync: (a: Fs.PathLike, len?: number) => disk.call(fs.truncateSync(a, len)),
  }
  return { ...wrapped, default: wrapped }
})

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof FsPromises>()
  const open = (async (path: Fs.PathLike, ...rest: unknown[]) => {
    const fh = await (fs.open as (...a: unknown[]) => Promise<FsPromises.FileHandle>)(path, ...rest)
    disk.opened(fh.fd, path)
    const fd = fh.fd
    for (const method of ['datasync', 'sync'] as const) {
      const real = fh[method].bind(fh)
      fh[method] = async () => {
        const done = disk.syncing(fd)
        await real()
        done?.()
        disk.call(undefined)
      }
    }
    const close = fh.close.bind(fh)
    fh.close = async () => {
      disk.closed(fd)
      await close()
    }
    return disk.call(fh)
  }) as typeof fs.open
  const after = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => disk.call(await f(...a))
  const wrapped = { ...fs, open, rename: after(fs.rename), link: after(fs.link), unlink: after(fs.unlink), copyFile: after(fs.copyFile) }
  return { ...wrapped, default: wrapped }
})

interface Line { put?: { id: string; folder: string; name: string; size: number; committedCopy?: boolean; unlinking?: boolean }; boot?: string; del?: string }

/**
 * The records the next mount would accept after a power cut now: `withUnsynced` also counts lines appended to
 * the journal and not synced yet (a disk may keep them all the same), names and bytes never count unsynced.
 */
function survivingPaths(spool: string, withUnsynced: boolean): Map<string, number[]> {
  const fs = disk.real!
  const journalIno = disk.names.get(join(spool, 'journal'))?.get('journal.log')
  let text = journalIno === undefined ? '' : (disk.files.get(journalIno)?.text ?? '')
  if (withUnsynced) {
    try {
      text = fs.readFileSync(join(spool, 'journal', 'journal.log'), 'utf8')
    } catch {
      // not there (being rewritten): what was synced
    }
  }
  const live = new Map<string, NonNullable<Line['put']>>()
  for (const raw of text.split('\n')) {
    let line: Line
    try {
      line = JSON.parse(raw) as Line
    } catch {
      continue
    }
    if (line.del !== undefined) live.delete(line.del)
    else if (line.put && line.boot !== undefined) live.delete(line.put.id) // another boot's in-flight record: dropped
    else if (line.put) live.set(line.put.id, line.put)
  }
  if (!folderSurvives(join(spool, 'data')) || !folderSurvives(join(spool, 'journal'))) return new Map()
  const dataNames = disk.names.get(join(spool, 'data'))
  const found = new Map<string, number[]>()
  for (const r of live.values()) {
    if (r.unlinking) continue
    const ino = dataNames?.get(r.id)
    const synced = ino === undefined ? undefined : disk.files.get(ino)
    if (!synced || synced.size < r.size) continue // the next mount drops it: no data file, or a shorter one
    const path = r.folder === '/' ? `/${r.name}` : `${r.folder}/${r.name}`
    found.set(path, [...(found.get(path) ?? []), r.size])
  }
  return found
}

/** Plays a power cut after every file-system call of the spool; collects the promises a cut would break. */
function watchPowerCuts(h: Harness & { spool: string }, api: FakeImageKit): { promise(path: string, bytes: string): void; broken: string[] } {
  const promised = new Map<string, string>()
  const broken: string[] = []
  let calls = 0
  disk.afterCall = () => {
    calls++
    for (const [path, bytes] of promised) {
      if (api.fileAt(path)?.bytes.toString() === bytes) {
        promised.delete(path) // stored: the library keeps it from here on
        continue
      }
      for (const withUnsynced of [false, true]) {
        const sizes = survivingPaths(h.spool, withUnsynced).get(path) ?? []
        if (!sizes.includes(Buffer.byteLength(bytes))) {
          broken.push(`a power cut after call ${calls} loses ${path} (${withUnsynced ? 'with' : 'without'} the journal's unsynced lines; records found: ${JSON.stringify(sizes)})`)
        }
      }
    }
  }
  return {
    promise(path, bytes) {
      promised.set(path, bytes)
      disk.afterCall?.()
    },
    broken,
  }
}

afterEach(() => {
  disk.afterCall = undefined
  disk.root = undefined
  disk.paths.clear()
  disk.names.clear()
  disk.files.clear()
})

const CREATE = constants.O_CREAT | constants.O_RDWR
const WRITE_BACK: Partial<VfsOptions> = { writeBackDelayMs: 60_000, bootId: 'b1' }

/** A first mount with a cache dir that does not exist yet: the spool's folders are new names too. */
function mounted(api: FakeImageKit, overrides: Partial<VfsOptions>): Harness & { spool: string } {
  const scratch = scratchDir('power')
  disk.root = scratch
  disk.settle()
  const h = makeVfs(api, { readOnly: false, cacheDir: join(scratch, 'cache'), libraryId: 'https://ik.example.test/demo', ...overrides })
  return { ...h, spool: h.vfs.spoolDir! }
}

/** Whether the folder's name, and each one above it up to the scratch dir, survives a power cut now. */
function folderSurvives(dir: string): boolean {
  for (let at = dir; at !== disk.root; at = dirname(at)) {
    if (!disk.names.get(dirname(at))?.has(basename(at))) return false
  }
  return true
}

async function writeAndClose(h: Harness, path: string, text: string, flags = CREATE): Promise<void> {
  const fh = flags & constants.O_CREAT ? await h.vfs.create(path, 0o644, flags) : await h.vfs.open(path, flags)
  await h.vfs.write(path, fh, Buffer.from(text), 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

describe('a power cut after any step of the spool keeps every file whose close or fsync returned (W3)', () => {
  it('--write-back: new files, one of them on a data file reused after an upload', async () => {
    const api = new FakeImageKit()
    const h = mounted(api, WRITE_BACK)
    const cuts = watchPowerCuts(h, api)
    await writeAndClose(h, '/a.txt', 'first file\n')
    cuts.promise('/a.txt', 'first file\n')
    h.clock.advance(60_000) // its upload lands; its data file is kept for reuse
    await waitFor(() => api.fileAt('/a.txt') !== undefined)
    await writeAndClose(h, '/b.txt', 'second file, on a reused data file\n')
    cuts.promise('/b.txt', 'second file, on a reused data file\n')
    await writeAndClose(h, '/c.txt', 'third file\n')
    cuts.promise('/c.txt', 'third file\n')
    expect(cuts.broken).toEqual([])
  })

  it('a close whose upload failed: the file kept in the spool for its retry', async () => {
    const api = new FakeImageKit()
    const h = mounted(api, { bootId: 'b1' })
    const cuts = watchPowerCuts(h, api)
    api.failAlways.set('uploadFile', new ImageKitError('IK_SERVER', 'POST upload: 503', { status: 503 }))
    await expect(writeAndClose(h, '/kept.txt', 'kept for its retry\n')).rejects.toThrow()
    cuts.promise('/kept.txt', 'kept for its retry\n')
    expect(cuts.broken).toEqual([])
  })

  it.each([
    ['with O_TRUNC (its bytes get a second name)', constants.O_WRONLY | constants.O_TRUNC],
    ['in place (its bytes are copied aside)', constants.O_RDWR],
  ] as const)('--write-back: a file waiting for its upload, written again %s, closed again', async (_, flags) => {
    const api = new FakeImageKit()
    const h = mounted(api, WRITE_BACK)
    const cuts = watchPowerCuts(h, api)
    await writeAndClose(h, '/doc.txt', 'version one\n')
    cuts.promise('/doc.txt', 'version one\n')
    const fh = await h.vfs.open('/doc.txt', flags)
    await h.vfs.write('/doc.txt', fh, Buffer.from('VERSION TWO, longer\n'), 0)
    await h.vfs.flush('/doc.txt', fh)
    await h.vfs.release('/doc.txt', fh)
    cuts.promise('/doc.txt', 'VERSION TWO, longer\n')
    expect(cuts.broken).toEqual([])
  })
})
