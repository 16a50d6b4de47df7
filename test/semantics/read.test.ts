// README Semantics R1–R6, R8–R11, R13, R14 (browsing and reading), on a real mount of the emulator's library.
// One emulator and one mount (dir cache 2 s) serve the whole file; R7 and R12 live in their own files
// because they need differently configured emulators and mounts.
import { createHash, randomBytes } from 'node:crypto'
import { chown, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, mountLibrary, run, runIkfs, startLibrary, tempDir, versionsOf, waitFor, waitForRemoteBytes, type Library, type Mounted,
} from '../integration/harness.js'
import { makePng } from '../unit/emulator/helpers.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping read semantics: ${skip}`)

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const DIR_CACHE_MS = 2000
const ATTR_TIMEOUT_MS = 1000
/** R2's bound for a changed file (dir cache + kernel attribute cache), with slack for a loaded machine. */
const CHANGE_BOUND_MS = 2 * (DIR_CACHE_MS + ATTR_TIMEOUT_MS)

/** Linux's "no such device", what mmap answers for a shared map of a direct-I/O file. */
const ENODEV = 19

/** Reads `path` at offsets that cross blocks, the last byte and past the end, and compares with `expected`. */
async function expectExactAtOffsets(path: string, expected: Buffer): Promise<void> {
  const fh = await open(path, 'r')
  try {
    const offsets = [expected.length - 1, 0, 131071, 2 * 1024 * 1024 + 7, 1, 1048575, expected.length - 4096, 777777]
    for (const off of offsets) {
      const buf = Buffer.alloc(8192)
      const { bytesRead } = await fh.read(buf, 0, buf.length, off)
      expect(bytesRead).toBe(Math.min(8192, expected.length - off))
      expect(buf.subarray(0, bytesRead).equals(expected.subarray(off, off + bytesRead))).toBe(true)
    }
    for (const off of [expected.length, expected.length + 100]) {
      expect((await fh.read(Buffer.alloc(10), 0, 10, off)).bytesRead).toBe(0)
    }
  } finally {
    await fh.close()
  }
}

/**
 * Reads an old version's handle on from `from` in 1 MiB pieces: each piece must be its own version's bytes
 * (`own`) or fail with EIO (the file changed since it was opened, R5), never the other version's bytes.
 */
async function expectOwnVersionOrEio(handle: Awaited<ReturnType<typeof open>>, from: number, own: Buffer, other: Buffer): Promise<void> {
  for (let off = from; off < own.length; off += 1024 * 1024) {
    const piece = Buffer.alloc(1024 * 1024)
    let n: number
    try {
      n = (await handle.read(piece, 0, piece.length, off)).bytesRead
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('EIO')
      continue
    }
    const got = piece.subarray(0, n)
    expect(got.equals(own.subarray(off, off + n)) ? 'own' : got.equals(other.subarray(off, off + n)) ? 'other' : 'other bytes', `at ${off}`).toBe('own')
  }
}

describe.skipIf(skip !== null)('read semantics', () => {
  let lib: Library
  let m: Mounted
  const big = randomBytes(3 * 1024 * 1024 + 12345)
  // Read for the first time under injected faults (the daemon's block cache must not have them).
  const faulty = Array.from({ length: 6 }, () => randomBytes(1024 * 1024 + 4321))
  const names = ['sp ace.txt', '100% #1.txt', 'café.txt', 'cafe\u0301.txt', 'x'.repeat(251) + '.txt']

  beforeAll(async () => {
    const files: Record<string, Buffer | string> = { 'photos/big.bin': big, 'photos/hello.txt': 'hello world\n', 'reopened/blob.txt': 'hello, git\n' }
    for (let i = 0; i < 2500; i++) files[`many/f${String(i).padStart(4, '0')}.txt`] = `entry ${i}\n`
    for (const n of names) files[`names/${n}`] = `name ${n}\n`
    for (let i = 0; i < faulty.length; i++) files[`faulty/f${i}.bin`] = faulty[i]!
    files['names/a\uFF1Fb.txt'] = 'full-width question mark\n'
    lib = await startLibrary({ files })
    await lib.createFolder('/', 'empty-folder')
    await lib.upload('/up/deep', 'tagged.txt', Buffer.from('tagged\n'), { tags: 'red,blue', customCoordinates: '1,2,3,4' })
    await lib.upload('/up/deep', 'editable.txt', Buffer.from('edit my tags\n'), { tags: 'one', customCoordinates: '5,6,7,8' })
    await lib.upload('/ver', 'doc.txt', Buffer.from('version one\n'))
    await lib.upload('/ver', 'doc.txt', Buffer.from('version two, longer\n'))
    m = await mountLibrary(lib, { args: ['--dir-cache-time', `${DIR_CACHE_MS}ms`, '--attr-timeout', `${ATTR_TIMEOUT_MS}ms`, '--versions', '--uid', '1234', '--gid', '4321'] })
  })
  afterAll(async () => {
    await m?.stop()
    await lib?.stop()
  })

  it('R1: lists explicit and implicit folders and all pages of a 2,500-file folder', async () => {
    const top = await readdir(m.path)
    expect(top).toEqual(expect.arrayContaining(['photos', 'many', 'names', 'empty-folder', 'up', 'ver']))
    expect(await readdir(join(m.path, 'up'))).toEqual(['deep'])
    const many = await readdir(join(m.path, 'many'))
    expect(many.length).toBe(2500)
    expect(new Set(many).size).toBe(2500)
    expect(many).toContain('f2499.txt')
    const { stdout } = await run('ls', ['-l', join(m.path, 'many')])
    expect(stdout.split('\n').filter((l) => l.startsWith('-')).length).toBe(2500)
  })

  it('R1: with --dir-prefetch, reading a folder lists its first subfolders in the background, once', async () => {
    const cacheDir = await tempDir('ikfs-prefetch-cache-')
    const pre = await mountLibrary(lib, { args: ['--dir-prefetch', '2', '--cache-dir', cacheDir] })
    try {
      expect(await readdir(pre.path)).toEqual(expect.arrayContaining(['empty-folder', 'faulty', 'many']))
      // The first two subfolders in name order are listed without being read; the third is not.
      await waitFor(() => pre.listingCount('/empty-folder') === 1 && pre.listingCount('/faulty') === 1, 10_000, 'two subfolders listed ahead')
      expect(pre.listingCount('/many')).toBe(0)
      expect((await readdir(join(pre.path, 'faulty'))).length).toBe(faulty.length)
      expect(pre.listingCount('/faulty')).toBe(1)
    } finally {
      await pre.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
  })

  it('R2: a remote change shows within the dir cache time; misses are answered from memory', async () => {
    await readdir(join(m.path, 'photos'))
    const before = m.listingCount('/photos')
    for (let i = 0; i < 50; i++) {
      await expect(stat(join(m.path, 'photos', `.probe-${i}`))).rejects.toMatchObject({ code: 'ENOENT' })
    }
    expect(m.listingCount('/photos') - before).toBeLessThanOrEqual(1)
    const uploadedAt = Date.now()
    await lib.upload('/photos', 'new.txt', Buffer.from('fresh\n'))
    await waitFor(async () => (await readdir(join(m.path, 'photos'))).includes('new.txt'), DIR_CACHE_MS * 4, 'new.txt visible')
    expect(Date.now() - uploadedAt).toBeLessThan(DIR_CACHE_MS * 4)

    // A folder made through the mount is listed once by mkdir itself (alongside the create call): filling it
    // lists nothing more, and what others put into it later shows within the same bound.
    await mkdir(join(m.path, 'made'))
    expect(m.listingCount('/made')).toBe(1)
    await writeFile(join(m.path, 'made', 'mine.txt'), 'mine\n')
    expect(await readdir(join(m.path, 'made'))).toEqual(['mine.txt'])
    expect(m.listingCount('/made')).toBe(1)
    await lib.upload('/made', 'theirs.txt', Buffer.from('theirs\n'))
    await waitFor(async () => (await readdir(join(m.path, 'made'))).includes('theirs.txt'), DIR_CACHE_MS * 4, 'theirs.txt visible')
  })

  it('R3: stat shows size, times from the API, modes, owner and stable inodes', async () => {
    const details = await lib.details('/photos/big.bin')
    const st = await stat(join(m.path, 'photos', 'big.bin'))
    expect(st.size).toBe(big.length)
    expect(st.mtimeMs).toBe(Date.parse(details.updatedAt))
    expect(st.ctimeMs).toBe(Date.parse(details.updatedAt)) // the last change, as mtime (W13); not createdAt
    const btime = await run('getfattr', ['-n', 'user.imagekit.btime', '--only-values', join(m.path, 'photos', 'big.bin')])
    expect(Date.parse(btime.stdout)).toBe(Date.parse(details.createdAt))
    expect(st.mode & 0o777).toBe(0o644 & ~m.umask)
    expect(st.isFile()).toBe(true)
    expect([st.uid, st.gid]).toEqual([1234, 4321])
    const dir = await stat(join(m.path, 'photos'))
    expect(dir.isDirectory()).toBe(true)
    expect(dir.mode & 0o777).toBe(0o755 & ~m.umask)
    expect((await stat(join(m.path, 'photos', 'big.bin'))).ino).toBe(st.ino)
  })

  it('R4: reads are byte-exact, sequential and at random offsets, and stop at the end', async () => {
    await run('cmp', [join(m.path, 'photos', 'big.bin'), join(lib.dataDir, 'files', 'photos', 'big.bin')])
    expect(sha(await readFile(join(m.path, 'photos', 'big.bin')))).toBe(sha(big))
    await expectExactAtOffsets(join(m.path, 'photos', 'big.bin'), big)
    // The same bytes through undici, the other delivery reader (--delivery-client undici).
    expect(m.log()).toMatch(/"deliveryClient":"sockets"[^\n]*"msg":"mounted"/)
    const cacheDir = await tempDir('ikfs-undici-cache-')
    const viaUndici = await mountLibrary(lib, { args: ['--delivery-client', 'undici', '--cache-dir', cacheDir] })
    try {
      expect(viaUndici.log()).toMatch(/"deliveryClient":"undici"[^\n]*"msg":"mounted"/)
      await run('cmp', [join(viaUndici.path, 'photos', 'big.bin'), join(lib.dataDir, 'files', 'photos', 'big.bin')])
    } finally {
      await viaUndici.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
  })

  /** The daemon's read counters (`ikfs status`). */
  const readStats = async (): Promise<{ rangeRequests: number; blockCacheMisses: number }> => {
    const r = await runIkfs(['status', m.path, '--json'], { timeoutMs: 30_000 })
    expect(r.code).toBe(0)
    return (JSON.parse(r.stdout) as { vfs: { rangeRequests: number; blockCacheMisses: number } }).vfs
  }
  const rangeRequests = async (): Promise<number> => (await readStats()).rangeRequests

  it('R14: a small file opened and closed again and again, read or not, is fetched once', async () => {
    const path = join(m.path, 'reopened', 'blob.txt')
    const before = await rangeRequests()
    // Each open starts fetching the file; each close comes before its bytes (git, file managers, stat+open+close loops).
    await run('python3', ['-c', [
      'import os, sys',
      'for i in range(50):',
      '    os.stat(sys.argv[1]); os.close(os.open(sys.argv[1], os.O_RDONLY))',
      'for i in range(50):',
      '    fd = os.open(sys.argv[1], os.O_RDONLY); assert os.read(fd, 5) == b"hello"; os.close(fd)',
    ].join('\n'), path])
    expect(await rangeRequests() - before).toBe(1)
  })

  it('R4: a file read right after it was written through the mount is read from the spool, not the CDN; R5: not once another version is stored', async () => {
    await mkdir(join(m.path, 'just-saved'))
    const path = join(m.path, 'just-saved', 'obj.bin')
    const mine = randomBytes(2 * 1024 * 1024 + 99)
    await writeFile(path, mine) // its close uploads it
    const before = await readStats()
    // Out of the kernel's page cache, so that the reads reach the daemon (git reading the object it just wrote).
    const dropPages = ['import os, sys', 'fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)'].join('\n')
    await run('python3', ['-c', dropPages, path])
    expect(sha(await readFile(path))).toBe(sha(mine))
    await expectExactAtOffsets(path, mine)
    const after = await readStats()
    expect(after.blockCacheMisses - before.blockCacheMisses, 'reads reached the daemon').toBeGreaterThan(0)
    expect(after.rangeRequests - before.rangeRequests).toBe(0)

    // Another machine stores a version of as many bytes: once listed, it is read from the CDN, never the copy.
    const theirs = randomBytes(mine.length)
    await lib.upload('/just-saved', 'obj.bin', theirs)
    await waitFor(async () => sha(await readFile(path)) === sha(theirs), CHANGE_BOUND_MS * 2, 'their version read')
    expect(await rangeRequests() - after.rangeRequests).toBeGreaterThan(0)
    await lib.deleteFile('/just-saved/obj.bin') // R11's usage is cached by the mount
  })

  it('R4: git add . of 50 files just written reads none of them from the CDN; R5: one written again or replaced is read as it is now', async () => {
    const repo = join(m.path, 'repo')
    await mkdir(repo)
    const git = (...args: string[]) => run('git', ['-C', repo, '-c', 'safe.directory=*', '-c', 'user.name=ikfs', '-c', 'user.email=ikfs@localhost', ...args])
    await git('init', '-q')
    const files = Array.from({ length: 50 }, (_, i) => randomBytes(1000 + i * 37))
    for (const [i, bytes] of files.entries()) await writeFile(join(repo, `f${i}.txt`), bytes)
    const before = await readStats()
    // git writes an object per file meanwhile: more uploads than the spool keeps data files of.
    await git('add', '.')
    const after = await readStats()
    expect(after.blockCacheMisses - before.blockCacheMisses, 'git read the files through the daemon').toBeGreaterThanOrEqual(files.length)
    expect(after.rangeRequests - before.rangeRequests).toBe(0)
    expect((await git('ls-files', '-s')).stdout.split('\n').filter(Boolean)).toHaveLength(files.length)

    // Written again with as many bytes, or deleted and made again: read as they are now, never the copies of before.
    const again = files.slice(0, 4).map((b) => randomBytes(b.length))
    for (const [i, bytes] of again.entries()) {
      const path = join(repo, `f${i}.txt`)
      if (i % 2 === 1) await unlink(path)
      await writeFile(path, bytes)
    }
    const dropPages = ['import os, sys', 'for p in sys.argv[1:]:', '    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)'].join('\n')
    await run('python3', ['-c', dropPages, ...files.map((_, i) => join(repo, `f${i}.txt`))])
    for (const [i, bytes] of files.entries()) expect(sha(await readFile(join(repo, `f${i}.txt`))), `f${i}`).toBe(sha(again[i] ?? bytes))
    expect((await readStats()).rangeRequests - after.rangeRequests).toBe(0)
  })

  it('R14: with --direct-io every read reaches the daemon, byte-exact; shared maps are refused, private ones work', async () => {
    const cacheDir = await tempDir('ikfs-direct-cache-')
    const [v1, v2] = [randomBytes(3 * 1024 * 1024), randomBytes(3 * 1024 * 1024)]
    await lib.upload('/direct-swap', 'clip.bin', v1)
    const direct = await mountLibrary(lib, { args: ['--direct-io', '--cache-dir', cacheDir] })
    const readCalls = async (at: Mounted): Promise<number> => {
      const r = await runIkfs(['status', at.path, '--json'], { timeoutMs: 30_000 })
      expect(r.code).toBe(0)
      return (JSON.parse(r.stdout) as { ops: { read: { calls: number } } }).ops.read.calls
    }
    /** Read requests the daemon got for a second whole read of big.bin, right after a first one. */
    const secondReadCalls = async (at: Mounted): Promise<number> => {
      const path = join(at.path, 'photos', 'big.bin')
      expect(sha(await readFile(path))).toBe(sha(big))
      const before = await readCalls(at)
      expect(sha(await readFile(path))).toBe(sha(big))
      return (await readCalls(at)) - before
    }
    try {
      await run('cmp', [join(direct.path, 'photos', 'big.bin'), join(lib.dataDir, 'files', 'photos', 'big.bin')])
      await expectExactAtOffsets(join(direct.path, 'photos', 'big.bin'), big)
      // The page-cache mount serves the second read from the kernel's cache; the direct one asks the daemon again.
      expect(await secondReadCalls(m)).toBe(0)
      expect(await secondReadCalls(direct)).toBeGreaterThanOrEqual(Math.ceil(big.length / (1024 * 1024)))
      const mapped = await run('python3', ['-c', [
        'import mmap, os, sys',
        'fd = os.open(sys.argv[1], os.O_RDONLY)',
        'private = mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ)',
        'print(private[:100].hex())',
        'try:',
        '    mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)',
        '    print("shared mapped")',
        'except OSError as e:',
        '    print("shared", e.errno)',
      ].join('\n'), join(direct.path, 'photos', 'big.bin')])
      expect(mapped.stdout.trim().split('\n')).toEqual([big.subarray(0, 100).toString('hex'), `shared ${ENODEV}`])
      // No page cache is shared between handles: one open on a version overwritten remotely reads on (R5).
      const clip = join(direct.path, 'direct-swap', 'clip.bin')
      const player = await open(clip, 'r')
      try {
        const head = Buffer.alloc(4096)
        await player.read(head, 0, head.length, 0)
        expect(head.equals(v1.subarray(0, head.length))).toBe(true)
        const before = (await stat(clip)).mtimeMs
        await lib.upload('/direct-swap', 'clip.bin', v2)
        direct.forget() // its dir cache time is the default 5 minutes
        await waitFor(async () => (await stat(clip)).mtimeMs !== before, 15_000, 'the new version')
        const rest = Buffer.alloc(v1.length - head.length)
        expect((await player.read(rest, 0, rest.length, head.length)).bytesRead).toBe(rest.length)
        expect(rest.equals(v1.subarray(head.length))).toBe(true)
      } finally {
        await player.close()
      }
      expect(sha(await readFile(clip))).toBe(sha(v2))
      await lib.deleteFile('/direct-swap/clip.bin') // R11's usage
      // Writes work as before: a copy in, then an edit in place, are stored.
      const local = join(cacheDir, 'expected.bin')
      await writeFile(local, big)
      const copy = join(direct.path, 'photos', 'direct-copy.bin')
      await run('cp', [local, copy])
      const edit = 'printf "EDITED IN PLACE" | dd of="$1" bs=1 seek=1500000 conv=notrunc status=none'
      for (const target of [local, copy]) await run('sh', ['-c', edit, 'sh', target])
      await waitForRemoteBytes(lib, '/photos/direct-copy.bin', local, 30_000)
      await run('cmp', [copy, local])
      await rm(copy) // its bytes would otherwise count in R11's usage, which the main mount has cached
    } finally {
      await direct.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
  }, 90_000)

  it('R5: after an overwrite the mount shows the new size and bytes, never the CDN-cached old ones', async () => {
    const path = join(m.path, 'photos', 'hello.txt')
    expect(await readFile(path, 'utf8')).toBe('hello world\n')
    const before = await lib.details('/photos/hello.txt')
    const next = 'hello again, this is the second version\n'
    await lib.upload('/photos', 'hello.txt', Buffer.from(next))
    // The emulator's CDN keeps serving the old bytes at the URL the mount used before: the mount must not use it.
    const stale = await lib.get(`${before.url}&tr=orig-true`)
    expect(stale.body.toString()).toBe('hello world\n')
    await waitFor(async () => (await stat(path)).size === next.length, CHANGE_BOUND_MS, 'new size')
    expect(await readFile(path, 'utf8')).toBe(next)
  })

  it('R5: a handle still open on the old version of a file overwritten remotely never leaves its bytes to later reads', async () => {
    const size = 4 * 1024 * 1024 + 321
    const [v1, v2] = [randomBytes(size), randomBytes(size)]
    await lib.upload('/swap', 'video.bin', v1)
    const path = join(m.path, 'swap', 'video.bin')
    await waitFor(async () => (await stat(path).catch(() => undefined))?.size === size, CHANGE_BOUND_MS * 2, 'video.bin')
    const player = await open(path, 'r')
    try {
      const head = Buffer.alloc(64 * 1024)
      expect((await player.read(head, 0, head.length, 0)).bytesRead).toBe(head.length)
      expect(head.equals(v1.subarray(0, head.length))).toBe(true)
      const before = (await stat(path)).mtimeMs
      await lib.upload('/swap', 'video.bin', v2) // the same size: only the time tells the versions apart
      await waitFor(async () => (await stat(path)).mtimeMs !== before, CHANGE_BOUND_MS, 'the new version')
      // Another program (a thumbnailer) opens the new version and reads its header; a third reads all of it.
      const sniffer = await open(path, 'r')
      const magic = Buffer.alloc(16)
      await sniffer.read(magic, 0, magic.length, 0)
      await sniffer.close()
      expect(magic.equals(v2.subarray(0, 16))).toBe(true)
      expect(sha(await readFile(path))).toBe(sha(v2))
      // The player goes on: each piece is its version's bytes, or EIO (the file changed), never the new ones.
      await expectOwnVersionOrEio(player, head.length, v1, v2)
    } finally {
      await player.close()
    }
    // A program opening it now reads the new version, every page of it.
    const now = await readFile(path)
    expect(now.length).toBe(size)
    expect(sha(now) === sha(v2) ? 'v2' : sha(now) === sha(v1) ? 'v1' : 'a mix of v1 and v2').toBe('v2')
    await lib.deleteFile('/swap/video.bin') // its bytes would otherwise count in R11's usage, which the mount has cached
  })

  it('W9: a program that has a file open reads on the same bytes after it or its folder is renamed, once the CDN forgot the old URL too', async () => {
    const size = 20 * 1024 * 1024 + 333
    const files = { 'pub.bin': randomBytes(size), 'priv.bin': randomBytes(size) } // a private file is read through signed URLs
    for (const [name, bytes] of Object.entries(files)) await lib.upload('/open-mv', name, bytes, name === 'priv.bin' ? { isPrivateFile: 'true' } : {})
    const oldUrl = (await lib.details('/open-mv/pub.bin')).url
    await waitFor(async () => (await readdir(join(m.path, 'open-mv')).catch(() => [])).length === 2, CHANGE_BOUND_MS * 2, 'open-mv listed')
    const held = await Promise.all(Object.keys(files).map((name) => open(join(m.path, 'open-mv', name), 'r')))
    /**
     * Reads each held file at `off`, a block no stream of the mount is on its way to (the fetch the open started
     * stops a block or two after the start, the one from the end reaches the end), so a new range is fetched.
     */
    const readOn = async (off: number) => {
      for (const [i, bytes] of Object.values(files).entries()) {
        const piece = Buffer.alloc(64 * 1024)
        const { bytesRead } = await held[i]!.read(piece, 0, piece.length, off)
        expect(bytesRead).toBe(Math.min(piece.length, size - off))
        expect(piece.subarray(0, bytesRead).equals(bytes.subarray(off, off + bytesRead)), `${Object.keys(files)[i]} at ${off}`).toBe(true)
      }
    }
    /** The CDN forgets the URLs it served (the real CDN forgets in its own time; a wildcard purge of a one-level folder is refused). */
    const forget = async () => {
      await lib.api('POST', '/_emulator/cdn/expire')
      expect((await lib.get(`${oldUrl}&tr=orig-true`)).status).toBe(404)
    }
    try {
      await readOn(0)
      for (const name of Object.keys(files)) await rename(join(m.path, 'open-mv', name), join(m.path, 'open-mv', `moved-${name}`))
      await forget()
      await readOn(size - 1000)
      await rename(join(m.path, 'open-mv'), join(m.path, 'open-mv-2')) // a folder rename: a bulk job
      await forget()
      await readOn(12 * 1024 * 1024 + 5)
    } finally {
      await Promise.all(held.map((h) => h.close()))
    }
    // Those ranges came from the new names (for the private file through URLs signed for them).
    for (const path of ['/open-mv/moved-pub.bin', '/open-mv-2/moved-pub.bin', '/open-mv/moved-priv.bin', '/open-mv-2/moved-priv.bin']) {
      expect(m.log()).toContain(`"operation":"GET /demo${path}"`)
    }
    expect(sha(await readFile(join(m.path, 'open-mv-2', 'moved-priv.bin')))).toBe(sha(files['priv.bin']))
    for (const name of Object.keys(files)) await lib.deleteFile(`/open-mv-2/moved-${name}`) // R11's usage is cached by the mount
  })

  it('R5: a file overwritten elsewhere with as many bytes and opened again as the listed version is never read as a mix of both', async () => {
    const size = 4 * 1024 * 1024 + 77
    const [v1, v2] = [randomBytes(size), randomBytes(size)]
    await lib.upload('/mix', 'clip.bin', v1)
    const cacheDir = await tempDir('ikfs-mix-cache-')
    const mix = await mountLibrary(lib, { args: ['--dir-cache-time', '1m', '--cache-dir', cacheDir] })
    try {
      const path = join(mix.path, 'mix', 'clip.bin')
      const head = await open(path, 'r')
      await head.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0) // a header, as a file manager reads it; its blocks stay cached
      await head.close()
      await lib.upload('/mix', 'clip.bin', v2) // the mount's listing still shows v1 for a minute
      await lib.api('POST', '/v1/files/purge', { url: `${lib.endpoint}/mix/clip.bin*` }) // v1's URL now delivers v2
      // Read as the version listed, v1: its blocks cached, the rest from v1's own URL once its path's URL is found to deliver v2.
      const got = await readFile(path).then((b) => (sha(b) === sha(v1) ? 'v1' : sha(b) === sha(v2) ? 'v2' : 'a mix of v1 and v2'), (e: NodeJS.ErrnoException) => e.code)
      expect(got).toBe('v1')
    } finally {
      await mix.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
    await lib.deleteFile('/mix/clip.bin') // R11's usage is cached by the mount
  })

  it('R5: a program reading a file another machine stores anew reads on the version it opened, byte-exact, from that version\'s own URL (signed for a private file)', async () => {
    const size = 20 * 1024 * 1024 + 333
    // As many bytes (the ETag tells the versions apart), and another size for a private file (read through signed URLs).
    const files = {
      'pub.bin': { v1: randomBytes(size), v2: randomBytes(size), fields: {} },
      'priv.bin': { v1: randomBytes(size), v2: randomBytes(size - 4096), fields: { isPrivateFile: 'true' } },
    }
    for (const [name, f] of Object.entries(files)) await lib.upload('/restored', name, f.v1, f.fields)
    const pubUrl = (await lib.details('/restored/pub.bin')).url
    await waitFor(async () => (await readdir(join(m.path, 'restored')).catch(() => [])).length === 2, CHANGE_BOUND_MS * 2, 'restored listed')
    const held = await Promise.all(Object.keys(files).map((name) => open(join(m.path, 'restored', name), 'r')))
    try {
      for (const [i, f] of Object.values(files).entries()) {
        const head = Buffer.alloc(64 * 1024)
        expect((await held[i]!.read(head, 0, head.length, 0)).bytesRead).toBe(head.length)
        expect(head.equals(f.v1.subarray(0, head.length))).toBe(true)
      }
      for (const [name, f] of Object.entries(files)) await lib.upload('/restored', name, f.v2, f.fields)
      // The CDN refreshes its copies: the URL the mount read from delivers the new version now.
      await lib.api('POST', '/_emulator/cdn/expire')
      expect(sha((await lib.get(`${pubUrl}&tr=orig-true`)).body)).toBe(sha(files['pub.bin'].v2))
      for (const [i, [name, f]] of Object.entries(files).entries()) {
        // First far from where the mount's fetch at open stopped (a new range), then all of it, in 1 MiB pieces.
        const all = Buffer.alloc(size)
        for (const off of [12 * 1024 * 1024 + 5, ...Array.from({ length: Math.ceil(size / 2 ** 20) }, (_, k) => k * 2 ** 20)]) {
          const n = Math.min(2 ** 20, size - off)
          const got = await held[i]!.read(all, off, n, off).then((r) => r.bytesRead, (e: NodeJS.ErrnoException) => e.code)
          expect(got, `${name} at ${off}`).toBe(n)
        }
        expect(sha(all) === sha(f.v1) ? 'the version opened' : sha(all.subarray(0, f.v2.length)) === sha(f.v2) ? 'the new version' : 'other bytes', name).toBe('the version opened')
      }
    } finally {
      await Promise.all(held.map((h) => h.close()))
    }
    const switched = m.log().split('\n').filter((l) => l.includes('stored over elsewhere: the version opened is read on from its own URL'))
    for (const name of Object.keys(files)) expect(switched.some((l) => l.includes(`/restored/${name}`)), name).toBe(true)
    for (const name of Object.keys(files)) await lib.deleteFile(`/restored/${name}`) // R11's usage is cached by the mount
  }, 60_000)

  it('W9: a program reading a file that is saved over by rename reads on what it opened, also once others open the new one', async () => {
    const size = 3 * 1024 * 1024 + 5
    const [v1, v2] = [randomBytes(size), randomBytes(size)]
    await lib.upload('/saved', 'doc.bin', v1)
    const path = join(m.path, 'saved', 'doc.bin')
    await waitFor(async () => (await stat(path).catch(() => undefined))?.size === size, CHANGE_BOUND_MS * 2, 'doc.bin')
    const player = await open(path, 'r')
    try {
      const head = Buffer.alloc(64 * 1024)
      await player.read(head, 0, head.length, 0)
      expect(head.equals(v1.subarray(0, head.length))).toBe(true)
      await writeFile(`${path}.tmp`, v2)
      await rename(`${path}.tmp`, path) // the player's file has no name now, and a page cache of its own
      expect(sha(await readFile(path))).toBe(sha(v2))
      // Each piece is its own version's (the emulator's CDN still delivers the old URL; EIO was the answer here).
      for (let off = 1024 * 1024; off < size; off += 1024 * 1024) {
        const piece = Buffer.alloc(1024 * 1024)
        const { bytesRead } = await player.read(piece, 0, piece.length, off)
        expect(piece.subarray(0, bytesRead).equals(v1.subarray(off, off + bytesRead)), `at ${off}`).toBe(true)
      }
    } finally {
      await player.close()
    }
    await lib.deleteFile('/saved/doc.bin') // R11's usage is cached by the mount
  })

  it('R5: tail -f of a file another machine stores anew (longer) follows the version it opened: nothing new, nothing mixed', async () => {
    await lib.upload('/tailed', 'app.log', Buffer.from('one\ntwo\n'))
    const path = join(m.path, 'tailed', 'app.log')
    await waitFor(async () => (await stat(path).catch(() => undefined))?.size === 8, CHANGE_BOUND_MS * 2, 'app.log')
    const followed = run('sh', ['-c', `timeout ${(CHANGE_BOUND_MS * 2) / 1000} tail -f "$1"; true`, 'sh', path])
    await new Promise((r) => setTimeout(r, 500))
    await lib.upload('/tailed', 'app.log', Buffer.from('one\ntwo\nthree\n'))
    await waitFor(async () => (await stat(path)).size === 14, CHANGE_BOUND_MS, 'the new version')
    expect((await followed).stdout).toBe('one\ntwo\n')
    expect(await readFile(path, 'utf8')).toBe('one\ntwo\nthree\n') // opened anew: the new version
  })

  it('R5: so does one open while a new version written through the mount waits for its upload (--write-back)', async () => {
    const cacheDir = await tempDir('ikfs-wb-cache-')
    const [v1, v2] = [randomBytes(3 * 1024 * 1024 + 99), randomBytes(3 * 1024 * 1024 + 99)]
    await lib.upload('/wb-swap', 'clip.bin', v1)
    const wb = await mountLibrary(lib, { args: ['--write-back', '60s', '--cache-dir', cacheDir] })
    try {
      const path = join(wb.path, 'wb-swap', 'clip.bin')
      const player = await open(path, 'r')
      let viewer: Awaited<ReturnType<typeof open>> | undefined
      try {
        const head = Buffer.alloc(64 * 1024)
        expect((await player.read(head, 0, head.length, 0)).bytesRead).toBe(head.length)
        expect(head.equals(v1.subarray(0, head.length))).toBe(true)
        await writeFile(path, v2) // stored in the spool; its upload waits a minute
        viewer = await open(path, 'r')
        const magic = Buffer.alloc(16)
        await viewer.read(magic, 0, magic.length, 0)
        expect(magic.equals(v2.subarray(0, 16))).toBe(true)
        await expectOwnVersionOrEio(player, head.length, v1, v2)
        await player.close()
        const all = Buffer.alloc(v2.length + 1)
        const { bytesRead } = await viewer.read(all, 0, all.length, 0)
        const seen = all.subarray(0, bytesRead)
        expect(sha(seen) === sha(v2) ? 'v2' : sha(seen) === sha(v1) ? 'v1' : 'a mix of v1 and v2').toBe('v2')
      } finally {
        await player.close().catch(() => undefined)
        await viewer?.close()
      }
    } finally {
      await wb.stop()
      await rm(cacheDir, { recursive: true, force: true })
      await lib.deleteFile('/wb-swap/clip.bin') // R11's usage
    }
  }, 60_000)

  it('R5: a program reading a file another machine stores anew, shorter, reads its version to the end (the name shows that one until it closes)', async () => {
    const [v1, v2] = [randomBytes(4 * 1024 * 1024 + 5), randomBytes(1024 * 1024 + 3)]
    await lib.upload('/shorter', 'clip.bin', v1)
    const path = join(m.path, 'shorter', 'clip.bin')
    await waitFor(async () => (await stat(path).catch(() => undefined))?.size === v1.length, CHANGE_BOUND_MS * 2, 'clip.bin')
    const player = await open(path, 'r')
    try {
      const head = Buffer.alloc(64 * 1024)
      expect((await player.read(head, 0, head.length, 0)).bytesRead).toBe(head.length)
      const listed = m.listingCount('/shorter')
      await lib.upload('/shorter', 'clip.bin', v2)
      await waitFor(async () => (await stat(path), m.listingCount('/shorter') > listed), CHANGE_BOUND_MS * 2, 'the new version listed')
      await new Promise((r) => setTimeout(r, ATTR_TIMEOUT_MS + 200)) // the kernel's attributes are from after that listing
      // The kernel keeps one size per file and ends page-cache reads at it: with v2's, the player's file would end at 1 MiB.
      expect((await stat(path)).size).toBe(v1.length)
      const rest = Buffer.alloc(v1.length)
      let at = head.length
      for (let n; (n = (await player.read(rest, at, Math.min(1024 * 1024, rest.length - at), at)).bytesRead) > 0;) at += n
      head.copy(rest)
      expect(at).toBe(v1.length)
      expect(sha(rest) === sha(v1) ? 'v1' : 'other bytes').toBe('v1')
    } finally {
      await player.close()
    }
    await waitFor(async () => (await stat(path)).size === v2.length, CHANGE_BOUND_MS, 'the new version shown')
    expect(sha(await readFile(path))).toBe(sha(v2))
    await lib.deleteFile('/shorter/clip.bin') // R11's usage is cached by the mount
  })

  it('R6: a file gone remotely reads as ENOENT, server faults give right bytes or EIO, never wrong bytes', async () => {
    await lib.upload('/gone', 'soon.txt', Buffer.from('soon gone\n'))
    await waitFor(async () => (await readdir(join(m.path, 'gone')).catch((): string[] => [])).includes('soon.txt'), DIR_CACHE_MS * 4, 'soon.txt')
    await lib.deleteFile('/gone/soon.txt')
    await expect(readFile(join(m.path, 'gone', 'soon.txt'))).rejects.toMatchObject({ code: expect.stringMatching(/ENOENT|ESTALE/) })

    await lib.setFaults({ errorRate: 0.3, resetRate: 0.2, scope: ['delivery'], seed: 7 })
    try {
      let ok = 0
      for (let i = 0; i < faulty.length; i++) {
        try {
          const got = await readFile(join(m.path, 'faulty', `f${i}.bin`))
          expect(sha(got)).toBe(sha(faulty[i]!))
          ok++
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe('EIO')
        }
      }
      expect(ok).toBeGreaterThan(0)
      // The faults really happened: the daemon saw 5xx answers (and retried) while reading.
      expect(m.log()).toMatch(/"status":50[0234][^\n]*"msg":"delivery response"/)
    } finally {
      await lib.setFaults({ errorRate: 0, resetRate: 0 })
    }
    await lib.setFaults({ rateLimitPerSecond: 2 })
    try {
      m.forget()
      expect((await readdir(join(m.path, 'many'))).length).toBe(2500)
    } finally {
      await lib.setFaults({ rateLimitPerSecond: 0 })
    }
  })

  it('R8: names round-trip through the encoding, look-alikes decode, odd names read back', async () => {
    const listed = await readdir(join(m.path, 'names'))
    for (const n of names) expect(listed).toContain(n)
    expect(listed).toContain('a?b.txt')
    for (const n of names) expect(await readFile(join(m.path, 'names', n), 'utf8')).toBe(`name ${n}\n`)
    expect(await readFile(join(m.path, 'names', 'a?b.txt'), 'utf8')).toBe('full-width question mark\n')
    await expect(stat(join(m.path, 'names', 'a\uFF1Fb.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('R9: with --versions an older version appears beside the file with its own bytes', async () => {
    const entries = await readdir(join(m.path, 'ver'))
    expect(entries).toContain('doc.txt')
    const old = entries.filter((e) => /^doc-v\d{4}-\d{2}-\d{2}-\d{6}-\d{3}\.txt$/.test(e))
    expect(old.length).toBe(1)
    expect(await readFile(join(m.path, 'ver', old[0]!), 'utf8')).toBe('version one\n')
    expect(await readFile(join(m.path, 'ver', 'doc.txt'), 'utf8')).toBe('version two, longer\n')
    expect((await stat(join(m.path, 'ver', old[0]!))).mode & 0o222).toBe(0)
  })

  it('R9: with --versions the version an overwrite through the mount replaced shows beside the file at once', async () => {
    // Listings kept an hour: only the overwrite itself can make the old version show.
    const cacheDir = await tempDir('ikfs-versions-cache-')
    const long = await mountLibrary(lib, { args: ['--versions', '--dir-cache-time', '1h', '--cache-dir', cacheDir] })
    try {
      const folder = join(long.path, 'overwritten')
      await mkdir(folder)
      await writeFile(join(folder, 'note.txt'), 'first\n')
      expect(await readdir(folder)).toEqual(['note.txt'])
      await writeFile(join(folder, 'note.txt'), 'second, longer\n') // the close uploads a new version
      const old = (await readdir(folder)).filter((e) => e !== 'note.txt')
      const q = new URLSearchParams({ path: '/overwritten', type: 'file-version' })
      expect((await lib.api<unknown[]>('GET', `/v1/files?${q.toString()}`)).length).toBe(1)
      expect(old).toEqual([expect.stringMatching(/^note-v\d{4}-\d{2}-\d{2}-\d{6}-\d{3}\.txt$/)])
      expect(await readFile(join(folder, old[0]!), 'utf8')).toBe('first\n')
      expect(await readFile(join(folder, 'note.txt'), 'utf8')).toBe('second, longer\n')
    } finally {
      await long.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
  })

  it.each([['', []], [' (fuse-native fallback)', ['--fuse-binding', 'fuse-native']]])('R9: an old version is read-only, also while a program has it open: rm, a rename over it and an open for writing fail with EACCES, and it stays%s', async (_, args) => {
    const cacheDir = await tempDir('ikfs-versions-cache-')
    const versions = await mountLibrary(lib, { args: ['--versions', '--cache-dir', cacheDir, ...args] })
    try {
      const folder = join(versions.path, 'ver')
      const oldName = (await readdir(folder)).find((e) => e !== 'doc.txt')!
      const old = join(folder, oldName)
      await writeFile(join(folder, 'other.txt'), 'other\n')
      const refused = async () => {
        await expect(rm(old)).rejects.toMatchObject({ code: 'EACCES' })
        await expect(rename(join(folder, 'other.txt'), old)).rejects.toMatchObject({ code: 'EACCES' })
        await expect(open(old, 'r+')).rejects.toMatchObject({ code: 'EACCES' })
      }
      await refused()
      const reader = await open(old, 'r') // libfuse2 hides an open file instead of unlinking it, or renaming over it
      try {
        await refused()
        expect((await reader.readFile()).toString()).toBe('version one\n')
      } finally {
        await reader.close()
      }
      versions.forget()
      expect(await readFile(old, 'utf8')).toBe('version one\n')
      expect(await readFile(join(folder, 'other.txt'), 'utf8')).toBe('other\n')
      expect((await readdir(folder)).sort()).toEqual([oldName, 'doc.txt', 'other.txt'].sort())
      await rm(join(folder, 'other.txt'))
    } finally {
      await versions.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
  })

  it('R10: metadata reads as user.imagekit.* extended attributes', async () => {
    const { stdout } = await run('getfattr', ['-d', '-m', '^user\\.imagekit\\.', join(m.path, 'up', 'deep', 'tagged.txt')])
    const details = await lib.details('/up/deep/tagged.txt')
    expect(stdout).toMatch(/user\.imagekit\.tags="red,blue"/)
    expect(stdout).toMatch(/user\.imagekit\.custom-coordinates="1,2,3,4"/)
    expect(stdout).toContain(`user.imagekit.file-id="${details.fileId}"`)
    expect(stdout).toMatch(/user\.imagekit\.size="7"/)
    expect(stdout).toMatch(/user\.imagekit\.is-private-file="false"/)
    await expect(run('getfattr', ['-n', 'user.imagekit.nope', join(m.path, 'up', 'deep', 'tagged.txt')])).rejects.toMatchObject({ stderr: expect.stringContaining('No such attribute') })
    for (const name of ['security.selinux', 'system.posix_acl_access']) {
      await expect(run('getfattr', ['-n', name, join(m.path, 'up', 'deep', 'tagged.txt')])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not supported') })
    }
  })

  it('R10: a file just written shows the attributes it shows after the next listing (mime, alpha, btime, url), for one details call', async () => {
    await mkdir(join(m.path, 'fresh'))
    const file = join(m.path, 'fresh', 'clear.png')
    await writeFile(file, makePng(4, 3, true)) // stored at close; the upload's answer has no mime, alpha nor dates
    const attrs = async () => (await run('getfattr', ['-d', '-m', '^user\\.imagekit\\.', file])).stdout
    const detailsCalls = () => m.log().split('\n').filter((l) => l.includes('"msg":"api response"') && l.includes('"operation":"GET /v1/files/{fileId}/details"')).length
    const callsBefore = detailsCalls()
    const fresh = await attrs()
    expect(await attrs()).toBe(fresh)
    expect(fresh).toContain('user.imagekit.mime="image/png"') // was missing
    expect(fresh).toContain('user.imagekit.has-alpha="true"') // was "false"
    expect(detailsCalls() - callsBefore).toBe(1) // asked once, then held as a listing holds it
    await runIkfs(['refresh', m.path], { timeoutMs: 30_000 })
    expect(await attrs()).toBe(fresh) // btime and url (with its updatedAt) were the upload's until then
  })

  it('R10: a file renamed into place just after its upload (rsync\'s temporary file, an editor\'s save) shows what its next listing shows', async () => {
    const cacheDir = await tempDir('ikfs-xattr-renamed-cache-')
    const plain = await mountLibrary(lib, { args: ['--cache-dir', cacheDir] }) // without --versions, a rename lists no folder again
    try {
      await mkdir(join(plain.path, 'renamed-into-place'))
      const tmp = join(plain.path, 'renamed-into-place', '.photo.png.tmp')
      const file = join(plain.path, 'renamed-into-place', 'photo.png')
      await writeFile(tmp, makePng(2, 2, true))
      await waitFor(async () => (await lib.details('/renamed-into-place/.photo.png.tmp').catch(() => undefined)) !== undefined, 10_000, 'the temporary file stored')
      await rename(tmp, file)
      const attrs = async () => (await run('getfattr', ['-d', '-m', '^user\\.imagekit\\.', file])).stdout
      const renamed = await attrs()
      expect(renamed).toContain('user.imagekit.mime="image/png"') // was missing
      expect(renamed).toContain('user.imagekit.has-alpha="true"')
      await runIkfs(['refresh', plain.path], { timeoutMs: 30_000 })
      expect(await attrs()).toBe(renamed) // the url had no updatedAt
    } finally {
      await plain.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
  })

  it('R10: setfattr sets and removes tags, custom coordinates and custom metadata in the library; the rest refuses', async () => {
    const file = join(m.path, 'up', 'deep', 'editable.txt')
    const value = async (name: string) => (await run('getfattr', ['-n', `user.imagekit.${name}`, '--only-values', file])).stdout
    await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'green, gold', file])
    // ImageKit takes custom metadata only for the fields the account defines (the emulator too).
    await expect(run('setfattr', ['-n', 'user.imagekit.custom-metadata', '-v', '{"shot":"studio"}', file])).rejects.toMatchObject({ stderr: expect.stringContaining('Invalid argument') })
    expect(m.log()).toMatch(/Invalid custom metadata\. \(shot: is not a custom metadata field/)
    expect((await lib.details('/up/deep/editable.txt')).customMetadata).toEqual({})
    await lib.api('POST', '/v1/customMetadataFields', { name: 'shot', label: 'Shot', schema: { type: 'SingleSelect', selectOptions: ['studio', 'street'] } })
    await expect(run('setfattr', ['-n', 'user.imagekit.custom-metadata', '-v', '{"shot":"moon"}', file])).rejects.toMatchObject({ stderr: expect.stringContaining('Invalid argument') })
    await run('setfattr', ['-n', 'user.imagekit.custom-metadata', '-v', '{"shot":"studio"}', file])
    await run('setfattr', ['-x', 'user.imagekit.custom-coordinates', file])
    const stored = await lib.details('/up/deep/editable.txt')
    expect(stored.tags).toEqual(['green', 'gold'])
    expect(stored.customMetadata).toEqual({ shot: 'studio' })
    expect(stored.customCoordinates).toBeNull()
    // The mount shows the change at once, also as the tags KDE's file manager reads, and the bytes are untouched.
    expect(await value('tags')).toBe('green,gold')
    expect((await run('getfattr', ['-n', 'user.xdg.tags', '--only-values', file])).stdout).toBe('green,gold')
    expect(JSON.parse(await value('custom-metadata'))).toEqual({ shot: 'studio' })
    await expect(value('custom-coordinates')).rejects.toMatchObject({ stderr: expect.stringContaining('No such attribute') })
    expect(await readFile(file, 'utf8')).toBe('edit my tags\n')
    await expect(run('setfattr', ['-n', 'user.imagekit.custom-coordinates', '-v', '1,2', file])).rejects.toMatchObject({ stderr: expect.stringContaining('Invalid argument') })
    for (const name of ['user.imagekit.is-private-file', 'user.comment']) {
      await expect(run('setfattr', ['-n', name, '-v', 'x', file])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not supported') })
    }
    expect((await lib.details('/up/deep/editable.txt')).fileId).toBe(stored.fileId)
  })

  it('R10: setfattr whose tags were set but whose every answer was a 504 (a gateway giving up) succeeds', async () => {
    await mkdir(join(m.path, 'xlost'))
    const file = join(m.path, 'xlost', 'tagged.txt')
    await writeFile(file, 'tag me\n') // stored at close
    await lib.setFaults({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['api'] })
    try {
      await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'kept,safe', file]) // was EIO once the retries were spent
    } finally {
      await lib.setFaults({ errorAfterWorkRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect((await lib.details('/xlost/tagged.txt')).tags).toEqual(['kept', 'safe'])
    expect((await run('getfattr', ['-n', 'user.imagekit.tags', '--only-values', file])).stdout).toBe('kept,safe')
  })

  it('R10: setfattr on a file another machine deleted after the listing is ENOENT, and the name goes at once', async () => {
    const cacheDir = await tempDir('ikfs-xattr-gone-cache-')
    const slow = await mountLibrary(lib, { args: ['--dir-cache-time', '5m', '--cache-dir', cacheDir] })
    try {
      await lib.upload('/xgone', 'gone.txt', Buffer.from('deleted elsewhere\n'))
      await lib.upload('/xgone', 'kept.txt', Buffer.from('kept\n'))
      const dir = join(slow.path, 'xgone')
      expect((await readdir(dir)).sort()).toEqual(['gone.txt', 'kept.txt'])
      await lib.deleteFile('/xgone/gone.txt')
      await expect(run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'x', join(dir, 'gone.txt')])).rejects.toMatchObject({ stderr: expect.stringContaining('No such file') })
      expect(await readdir(dir)).toEqual(['kept.txt']) // was listed for the dir cache time
    } finally {
      await slow.stop()
      await rm(cacheDir, { recursive: true, force: true })
    }
  })

  it('R10: a copy with its attributes (cp -a, rsync -X) brings its tags and metadata along', async () => {
    const src = await tempDir('ikfs-xattr-src-')
    try {
      const file = join(src, 'photo.txt')
      await writeFile(file, 'tagged on another disk\n')
      await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'from,disk', file])
      await run('setfattr', ['-n', 'user.imagekit.custom-coordinates', '-v', '9,8,7,6', file])
      // One that cannot be stored: cp -a passes over it quietly (an explicit --preserve=xattr would report it).
      await run('setfattr', ['-n', 'user.xdg.origin.url', '-v', 'https://example.com/photo', file])
      await chown(file, 1234, 4321) // the mount's owner: cp -a keeps it (another owner would be EPERM, W14)
      const { stderr } = await run('cp', ['-a', file, join(m.path, 'up', 'deep', 'copied.txt')])
      expect(stderr).toBe('')
      expect(await lib.details('/up/deep/copied.txt')).toMatchObject({ tags: ['from', 'disk'], customCoordinates: '9,8,7,6' })
      // Custom metadata of a field this account lacks (copied from another library): the bytes, tags and
      // coordinates are stored, the metadata is refused and the log says so.
      await run('setfattr', ['-n', 'user.imagekit.custom-metadata', '-v', '{"lens":"50mm"}', file])
      expect((await run('cp', ['-a', file, join(m.path, 'up', 'deep', 'lens.txt')])).stderr).toBe('')
      expect(await lib.details('/up/deep/lens.txt')).toMatchObject({ tags: ['from', 'disk'], customCoordinates: '9,8,7,6', customMetadata: {} })
      expect(await readFile(join(m.path, 'up', 'deep', 'lens.txt'), 'utf8')).toBe('tagged on another disk\n')
      expect(m.log()).toMatch(/lens: is not a custom metadata field[^\n]*setting them without the custom metadata/)
      await run('setfattr', ['-x', 'user.imagekit.custom-metadata', file])
      await run('setfattr', ['-x', 'user.xdg.origin.url', file])
      await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'synced', file])
      // rsync -X also removes what the source lacks: what ImageKit computes is accepted and stays (was exit 23 without a filter).
      await run('rsync', ['-rtX', file, join(m.path, 'up', 'deep', 'synced.txt')])
      expect((await lib.details('/up/deep/synced.txt')).tags).toEqual(['synced'])
      expect(await readFile(join(m.path, 'up', 'deep', 'synced.txt'), 'utf8')).toBe('tagged on another disk\n')
      // Again with new bytes and tags: rsync's temporary file, renamed over the file, brings its tags (W9).
      const { fileId } = await lib.details('/up/deep/synced.txt')
      await writeFile(file, 'changed on the other disk\n')
      await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'synced,again', file])
      await run('rsync', ['-rtX', file, join(m.path, 'up', 'deep', 'synced.txt')])
      expect(await lib.details('/up/deep/synced.txt')).toMatchObject({ fileId, tags: ['synced', 'again'] })
      expect(await readFile(join(m.path, 'up', 'deep', 'synced.txt'), 'utf8')).toBe('changed on the other disk\n')
    } finally {
      await rm(src, { recursive: true, force: true })
    }
  })

  it('R10: a copy out of the mount and back in (cp -a, rsync -aX, tar --xattrs) is quiet: what ImageKit computes is left as it is, a privacy the copy lacks is refused', async () => {
    const out = await tempDir('ikfs-xattr-round-')
    try {
      await mkdir(join(m.path, 'round'))
      await writeFile(join(m.path, 'round', 'photo.txt'), 'round trip\n')
      await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'red,blue', join(m.path, 'round', 'photo.txt')])
      await run('setfattr', ['-n', 'user.imagekit.custom-coordinates', '-v', '1,2,3,4', join(m.path, 'round', 'photo.txt')])
      const source = await lib.details('/round/photo.txt')
      await run('cp', ['-a', join(m.path, 'round'), join(out, 'cp')])
      await run('rsync', ['-aX', `${join(m.path, 'round')}/`, join(out, 'rsync')])
      const fileId = async (path: string) => (await run('getfattr', ['-n', 'user.imagekit.file-id', '--only-values', path])).stdout
      expect(await fileId(join(out, 'rsync', 'photo.txt'))).toBe(source.fileId) // computed attributes came along
      await mkdir(join(out, 'plain'))
      await writeFile(join(out, 'plain', 'plain.txt'), 'no attributes\n')
      await run('chown', ['-R', '1234:4321', join(out, 'plain')]) // the mount's owner (another would be EPERM, W10)
      await run('tar', ['--xattrs', '-C', join(out, 'cp'), '-cf', join(out, 'round.tar'), '.'])

      // Back in, as new files: no complaint (rsync exited 23 and tar warned, one line per computed attribute).
      expect((await run('cp', ['-a', join(out, 'cp'), join(m.path, 'round-cp')])).stderr).toBe('')
      expect((await run('rsync', ['-aX', `${join(out, 'rsync')}/`, join(m.path, 'round-rsync')])).stderr).toBe('')
      await mkdir(join(m.path, 'round-tar'))
      expect((await run('tar', ['--xattrs', '--xattrs-include=*', '-C', join(m.path, 'round-tar'), '-xf', join(out, 'round.tar')])).stderr).toBe('')
      // A plain file: rsync -X removes the attributes its source lacks, and what ImageKit computes stays.
      expect((await run('rsync', ['-aX', `${join(out, 'plain')}/`, join(m.path, 'round-plain')])).stderr).toBe('')
      await writeFile(join(out, 'plain', 'plain.txt'), 'changed, no attributes\n')
      expect((await run('rsync', ['-aX', `${join(out, 'plain')}/`, join(m.path, 'round-plain')])).stderr).toBe('')
      expect(await readFile(join(m.path, 'round-plain', 'plain.txt'), 'utf8')).toBe('changed, no attributes\n')
      for (const folder of ['round-cp', 'round-rsync', 'round-tar']) {
        const copy = await lib.details(`/${folder}/photo.txt`)
        expect(copy).toMatchObject({ tags: ['red', 'blue'], customCoordinates: '1,2,3,4' })
        expect(copy.fileId).not.toBe(source.fileId)
        expect(await fileId(join(m.path, folder, 'photo.txt'))).toBe(copy.fileId) // its own, not the source's
        expect(await readFile(join(m.path, folder, 'photo.txt'), 'utf8')).toBe('round trip\n')
      }
      // Back onto the files they came from, unchanged: nothing to do, nothing said, nothing stored.
      expect((await run('rsync', ['-aX', `${join(out, 'rsync')}/`, `${join(m.path, 'round')}/`])).stderr).toBe('')
      expect((await run('cp', ['-a', join(out, 'cp', 'photo.txt'), join(m.path, 'round', 'photo.txt')])).stderr).toBe('')
      expect(await lib.details('/round/photo.txt')).toMatchObject({ fileId: source.fileId, tags: ['red', 'blue'] })
      expect(await versionsOf(lib, '/round/photo.txt')).toHaveLength(2) // the cp -a wrote the bytes again
      // The copy holds the tags under both names. Tagged anew under user.imagekit.tags alone, it brings them
      // back (rsync set user.xdg.tags, the old tags, right after, and that won), once: the later runs change
      // nothing in the library, though rsync sets every attribute again as the URL (its updatedAt) differs.
      const updates = () => m.log().split('\n').filter((l) => l.includes('"msg":"api response"') && l.includes('"operation":"PATCH /v1/files/{fileId}/details"')).length
      const copy = join(out, 'rsync', 'photo.txt')
      await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'red,green', copy])
      const before = updates()
      await run('rsync', ['-aX', `${join(out, 'rsync')}/`, `${join(m.path, 'round')}/`])
      const once = await lib.details('/round/photo.txt')
      expect(once).toMatchObject({ fileId: source.fileId, tags: ['red', 'green'] })
      expect(updates()).toBe(before + 1)
      for (let i = 0; i < 2; i++) {
        await new Promise((r) => setTimeout(r, 5_000)) // past the moments a repeat of the last answer is trusted without asking
        expect((await run('rsync', ['-aX', '--itemize-changes', `${join(out, 'rsync')}/`, `${join(m.path, 'round')}/`])).stdout).toContain('.f........x photo.txt')
        expect(await lib.details('/round/photo.txt')).toEqual(once) // not even its updatedAt moved
      }
      expect(updates()).toBe(before + 1)
      // A copy holding different tags under the two names keeps user.imagekit.tags's, in either direction.
      await run('setfattr', ['-n', 'user.xdg.tags', '-v', 'red,yellow', copy])
      await run('rsync', ['-aX', `${join(out, 'rsync')}/`, `${join(m.path, 'round')}/`])
      expect(await lib.details('/round/photo.txt')).toEqual(once)
      // Tagged under both names, the tags come back; so does a copy with user.xdg.tags alone (Dolphin's on a file
      // that never had the other), whose rsync removes user.imagekit.tags right after: the tags stay.
      for (const name of ['user.imagekit.tags', 'user.xdg.tags']) await run('setfattr', ['-n', name, '-v', 'red,blue', copy])
      await run('rsync', ['-aX', `${join(out, 'rsync')}/`, `${join(m.path, 'round')}/`])
      expect((await lib.details('/round/photo.txt')).tags).toEqual(['red', 'blue'])
      await writeFile(join(out, 'dolphin.txt'), 'tagged by Dolphin\n')
      await run('setfattr', ['-n', 'user.xdg.tags', '-v', 'dolphin', join(out, 'dolphin.txt')])
      await run('chown', ['1234:4321', join(out, 'dolphin.txt')]) // the mount's owner (another would be EPERM, W10)
      await run('cp', [join(out, 'dolphin.txt'), join(m.path, 'round', 'dolphin.txt')])
      await run('setfattr', ['-n', 'user.imagekit.tags', '-v', 'stale', join(m.path, 'round', 'dolphin.txt')])
      await new Promise((r) => setTimeout(r, 1_500)) // not a copy's set of the other name (SAME_COPY_MS)
      await run('rsync', ['-aX', join(out, 'dolphin.txt'), join(m.path, 'round', 'dolphin.txt')])
      expect((await lib.details('/round/dolphin.txt')).tags).toEqual(['dolphin'])
      await lib.deleteFile('/round/dolphin.txt')
      // A copy made just now and tagged anew: rsync -aX back sets the tags, then finds the URL (left abbreviated by
      // its checksum, as it matched) as the copy has it, not moved by the change ("Missing abbreviated xattr value").
      const fresh = join(out, 'fresh.txt')
      await run('rsync', ['-aX', join(m.path, 'round', 'photo.txt'), fresh])
      for (const name of ['user.imagekit.tags', 'user.xdg.tags']) await run('setfattr', ['-n', name, '-v', 'fresh', fresh])
      // Listed again in between (the listing shows the updatedAt the tags moved), it keeps the URL it showed.
      await new Promise((r) => setTimeout(r, DIR_CACHE_MS + 500))
      await readdir(join(m.path, 'round'))
      await new Promise((r) => setTimeout(r, 500))
      const url = async (path: string) => (await run('getfattr', ['-n', 'user.imagekit.url', '--only-values', path])).stdout
      expect(await url(join(m.path, 'round', 'photo.txt'))).toBe(await url(fresh))
      expect((await run('rsync', ['-aX', fresh, join(m.path, 'round', 'photo.txt')])).stderr).toBe('')
      expect(await lib.details('/round/photo.txt')).toMatchObject({ fileId: source.fileId, tags: ['fresh'] })

      // Privacy and draft state are settings, not descriptions: a copy that would lose one is told so.
      const file = join(m.path, 'round', 'photo.txt')
      await run('setfattr', ['-n', 'user.imagekit.is-private-file', '-v', 'false', file])
      await run('setfattr', ['-n', 'user.imagekit.file-id', '-v', 'another-file', file])
      await expect(run('setfattr', ['-x', 'user.imagekit.width', file])).rejects.toMatchObject({ stderr: expect.stringContaining('No such attribute') })
      await run('setfattr', ['-x', 'user.imagekit.url', file])
      expect(await fileId(file)).toBe(source.fileId)
      for (const [name, value] of [['is-private-file', 'true'], ['is-published', 'false']]) {
        await expect(run('setfattr', ['-n', `user.imagekit.${name}`, '-v', value!, file])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not supported') })
      }
      await expect(run('setfattr', ['-n', 'user.imagekit.file-id', '-v', 'x', join(m.path, 'round')])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not supported') })
      await lib.upload('/round', 'private.txt', Buffer.from('private\n'), { isPrivateFile: 'true' })
      m.forget()
      await waitFor(async () => (await readdir(join(m.path, 'round'))).includes('private.txt'), 10_000, 'private.txt listed')
      await run('rsync', ['-aX', join(m.path, 'round', 'private.txt'), join(out, 'private.txt')])
      await expect(run('rsync', ['-aX', join(out, 'private.txt'), join(m.path, 'round-plain', 'private.txt')]))
        .rejects.toMatchObject({ stderr: expect.stringMatching(/user\.imagekit\.is-private-file[^\n]*Operation not supported/) })
      expect((await lib.details('/round-plain/private.txt')).isPrivateFile).toBe(false)
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  })

  it('R11: df shows the used storage from the account usage API, and df -i the inodes in use', async () => {
    const usage = await lib.usage()
    const { stdout } = await run('stat', ['-f', '-c', '%S %b %f', m.path])
    const [bsize, blocks, free] = stdout.trim().split(' ').map(Number) as [number, number, number]
    const used = (blocks - free) * bsize
    expect(Math.abs(used - usage.mediaLibraryStorageBytes)).toBeLessThanOrEqual(bsize)
    expect(blocks).toBeLessThan(2 ** 32)
    // df -i: the names the mount knows are the inodes in use, fewer than the total.
    await readdir(m.path)
    const inodes = (await run('stat', ['-f', '-c', '%c %d', m.path])).stdout.trim().split(' ').map(Number) as [number, number]
    const [total, freeInodes] = inodes
    expect(total - freeInodes).toBeGreaterThan(0)
    expect(total - freeInodes).toBeLessThan(10_000)
  })

  it('R13: while the API stays silent, a folder never listed and a mkdir fail with EIO (their syscalls have no ETIMEDOUT)', async () => {
    const cacheDir = await tempDir('ikfs-silent-cache-')
    await lib.upload('/silent', 'never-listed.txt', Buffer.from('x\n'))
    const quick = await mountLibrary(lib, { args: ['--request-timeout', '1s', '--cache-dir', cacheDir] })
    try {
      expect(await readdir(quick.path)).toContain('silent') // the root is listed; /silent is not
      await lib.setFaults({ latencyMs: 600_000, scope: ['api'] })
      try {
        await expect(readdir(join(quick.path, 'silent'))).rejects.toMatchObject({ code: 'EIO' })
        await expect(mkdir(join(quick.path, 'made-while-silent'))).rejects.toMatchObject({ code: 'EIO' })
        expect(quick.log()).toMatch(/"code":"IK_TIMEOUT"[^\n]*"msg":"retrying/)
      } finally {
        await lib.setFaults({ latencyMs: 0 })
      }
    } finally {
      await quick.stop()
    }
  }, 90_000)

  it('R13: while the API cannot be reached, folders listed before show their last listing', async () => {
    const before = (await readdir(join(m.path, 'photos'))).sort()
    const hello = await readFile(join(m.path, 'photos', 'hello.txt'), 'utf8') // R5 rewrote it
    await new Promise((resolve) => setTimeout(resolve, DIR_CACHE_MS + 200)) // the listings of / and /photos expire
    await lib.setFaults({ errorRate: 1, errorStatuses: [503], scope: ['api'] })
    try {
      expect((await readdir(join(m.path, 'photos'))).sort()).toEqual(before)
      expect(await readFile(join(m.path, 'photos', 'hello.txt'), 'utf8')).toBe(hello)
      expect(m.log()).toMatch(/"folder":"\/photos"[^\n]*"msg":"the API cannot be reached: showing the last listing of this folder"/)
    } finally {
      await lib.setFaults({ errorRate: 0 })
    }
  }, 60_000)
})
