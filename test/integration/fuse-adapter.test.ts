/**
 * src/fuse + native/ through a real kernel mount: test/fixtures/memfs-daemon.mjs (an in-memory Vfs mounted
 * with mountFuse, from dist/) is driven with real commands and async fs calls from this process.
 * Needs /dev/fuse and a build (`npx tsc -p tsconfig.build.json`; `npm test` builds first).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, readdir, readlink, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fuseAvailable } from '../../native/load.js'
import { findFuseMount, isMounted } from '../../src/fuse/mountinfo.js'
import { abortConnection, unmountPath } from '../../src/fuse/unmount.js'
import { Cleanup, REPO_ROOT, makeTempMountpoint, spawnDaemon, waitFor, type Daemon } from '../helpers/mount.js'

const run = promisify(execFile)
const FIXTURE = join(REPO_ROOT, 'test/fixtures/memfs-daemon.mjs')
const READ_DEADLINE_MS = 1500
const START = Date.UTC(2024, 0, 2, 3, 4, 5)

/** Both bindings behind the same adapter: libfuse3 (ours, the default) and fuse-native (the fallback). */
const BINDINGS = ['fuse3', 'fuse-native'] as const

const fuse = fuseAvailable()
if (!fuse.ok) console.log(`skipping fuse-adapter integration tests: ${fuse.reason}`)

function startMemfs(mountpoint: string, ...flags: string[]): Promise<Daemon> {
  if (!existsSync(join(REPO_ROOT, 'dist/src/fuse/mount.js'))) {
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first')
  }
  return spawnDaemon([mountpoint, ...flags], {
    command: [process.execPath, FIXTURE],
    readyPattern: /^mounted /m,
    mountpoint,
    timeoutMs: 20_000,
  })
}

function writesTo(daemon: Daemon, path: string, op: 'READ' | 'WRITE' = 'WRITE'): { bytes: number; position: number }[] {
  return [...daemon.stdout().matchAll(new RegExp(`^${op} (\\S+) (\\d+) (\\d+)$`, 'gm'))]
    .filter((m) => m[1] === path)
    .map((m) => ({ bytes: Number(m[2]), position: Number(m[3]) }))
}

describe.skipIf(!fuse.ok).each(BINDINGS)('fuse adapter through a real mount (%s)', (binding) => {
  const cleanup = new Cleanup()
  afterAll(() => cleanup.run())
  let mp: string
  let daemon: Daemon

  beforeAll(async () => {
    mp = cleanup.add(await makeTempMountpoint()).path
    daemon = cleanup.add(await startMemfs(mp, '--read-deadline-ms', String(READ_DEADLINE_MS), '--binding', binding))
  })

  it('is served by the binding asked for', () => {
    expect(daemon.stdout()).toMatch(new RegExp(`^mounted .* ${binding}$`, 'm'))
  })

  it('libfuse3\'s threads never preempt the JavaScript thread on wake-up (SCHED_BATCH); fuse-native keeps the default', async () => {
    await stat(join(mp, 'hello.txt')) // a request served: the loop and a worker exist
    const pid = daemon.child.pid!
    const policyOf = async (tid: string): Promise<number> => {
      const text = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[38]) // field 41, after pid, comm, state
    }
    const tids = await readdir(`/proc/${pid}/task`)
    const policies = await Promise.all(tids.map(policyOf))
    const SCHED_OTHER = 0
    const SCHED_BATCH = 3
    expect(await policyOf(String(pid))).toBe(SCHED_OTHER) // the JavaScript thread
    const batch = policies.filter((p) => p === SCHED_BATCH).length
    if (binding === 'fuse3') expect(batch).toBeGreaterThanOrEqual(2) // the loop thread and its workers
    else expect(batch).toBe(0)
  })

  it('is listed as fuse.ikfs with the sanitised fsname', async () => {
    const entry = await findFuseMount(mp)
    expect(entry).toMatchObject({ fsType: 'fuse.ikfs', source: 'ikfs:memfs_test' })
    const mounts = await readFile('/proc/mounts', 'utf8')
    expect(mounts).toContain(`ikfs:memfs_test ${mp} fuse.ikfs `)
  })

  it('ls -l shows types, modes and sizes', async () => {
    const { stdout } = await run('ls', ['-ln', mp])
    const lines = stdout.split('\n').filter((l) => /^[d-]/.test(l))
    const byName = Object.fromEntries(lines.map((l) => [l.split(/\s+/).at(-1), l.split(/\s+/)]))
    expect(Object.keys(byName).sort()).toEqual(['dir', 'hang.txt', 'hello.txt', 'throws.txt'])
    expect(byName['hello.txt']?.slice(0, 5)).toEqual(['-rw-r--r--', '1', '0', '0', '12'])
    expect(byName['dir']?.[0]).toBe('drwxr-xr-x')
    expect(await readdir(join(mp, 'dir'))).toEqual(['nested.txt'])
  })

  it('stat reports mode, size, mtime and a stable inode', async () => {
    const first = await stat(join(mp, 'hello.txt'))
    expect(first.mode).toBe(0o100644)
    expect(first.size).toBe(12)
    expect(first.mtimeMs).toBe(START)
    const { stdout } = await run('ls', ['-i', join(mp, 'hello.txt')])
    expect(Number(stdout.trim().split(/\s+/)[0])).toBe(first.ino)
    expect((await stat(join(mp, 'hello.txt'))).ino).toBe(first.ino)
    expect((await stat(join(mp, 'dir'))).isDirectory()).toBe(true)
  })

  it('cat reads the content', async () => {
    expect((await run('cat', [join(mp, 'hello.txt')])).stdout).toBe('hello world\n')
    expect(await readFile(join(mp, 'dir/nested.txt'), 'utf8')).toBe('nested\n')
  })

  it('a handler that throws answers EIO, is logged with its stack, and the daemon survives', async () => {
    await expect(readFile(join(mp, 'throws.txt'))).rejects.toMatchObject({ code: 'EIO' })
    expect(daemon.hasExited()).toBe(false)
    expect(await readFile(join(mp, 'hello.txt'), 'utf8')).toBe('hello world\n')
    expect(daemon.stderr()).toMatch(/"msg":"read: unexpected error \(answered EIO\)"/)
    expect(daemon.stderr()).toContain('deliberate bug in read')
  })

  it('a read that never resolves answers EIO at our deadline (read(2) has no ETIMEDOUT); the mount keeps working', async () => {
    await expect(readFile(join(mp, 'hang.txt'))).rejects.toMatchObject({ code: 'EIO' })
    expect(daemon.stderr()).toContain('read exceeded its deadline; answered EIO')
    expect((await stat(join(mp, 'hello.txt'))).size).toBe(12)
  })

  it('a 1 MiB write arrives whole: one request with libfuse3, 128 KiB pieces with fuse-native (big_writes)', async () => {
    const data = randomBytes(1024 * 1024)
    // Read-write: through the page cache, whatever the alignment of the writer's buffer.
    const fh = await open(join(mp, 'big.bin'), 'w+')
    await fh.write(data, 0, data.length, 0) // one write(2) of 1 MiB
    await fh.close()
    expect(Buffer.compare(await readFile(join(mp, 'big.bin')), data)).toBe(0)
    const piece = binding === 'fuse3' ? data.length : 131072
    const writes = writesTo(daemon, '/big.bin')
    expect(writes.map((w) => w.bytes)).toEqual(Array(data.length / piece).fill(piece))
    expect(writes.map((w) => w.position)).toEqual(writes.map((_, i) => i * piece))
  })

  it('a write-only copy (cp, dd: page-aligned buffers) arrives in whole 1 MiB requests with libfuse3, and skips the page cache', async () => {
    const local = join(await mkdtemp(join(tmpdir(), 'ikfs-adapter-')), 'src.bin')
    cleanup.add({ cleanup: () => rm(dirname(local), { recursive: true, force: true }) })
    const data = randomBytes(3 * 1024 * 1024)
    await writeFile(local, data)
    const target = join(mp, 'copied.bin')
    await writeFile(target, '')
    const reader = await open(target, 'r') // open before the copy: it sees the same inode's pages
    try {
      await run('dd', [`if=${local}`, `of=${target}`, 'bs=1M', 'status=none'])
      const piece = binding === 'fuse3' ? 1024 * 1024 : 131072
      const writes = writesTo(daemon, '/copied.bin')
      expect(writes.map((w) => w.bytes)).toEqual(Array(data.length / piece).fill(piece))
      expect(writes.map((w) => w.position)).toEqual(writes.map((_, i) => i * piece))
      const back = Buffer.alloc(data.length)
      expect((await reader.read(back, 0, back.length, 0)).bytesRead).toBe(data.length)
      expect(Buffer.compare(back, data)).toBe(0)
      // libfuse3's write-only handle left no pages behind, so the reader's bytes came from the daemon; with
      // fuse-native the written pages were cached and served the read.
      const reads = writesTo(daemon, '/copied.bin', 'READ')
      if (binding === 'fuse3') expect(reads.reduce((sum, r) => sum + r.bytes, 0)).toBeGreaterThanOrEqual(data.length)
      else expect(reads).toEqual([])
    } finally {
      await reader.close()
    }
  })

  it('xattrs: getfattr lists and reads user.*, unknown names are ENODATA, setfattr round-trips', async () => {
    const file = join(mp, 'hello.txt')
    expect((await run('getfattr', ['-d', '--absolute-names', file])).stdout).toContain('user.greeting="hi"')
    expect((await run('getfattr', ['--only-values', '-n', 'user.greeting', file])).stdout).toBe('hi')
    await expect(run('getfattr', ['-n', 'security.capability', file])).rejects.toMatchObject({
      stderr: expect.stringContaining('No such attribute'),
    })
    await run('setfattr', ['-n', 'user.long', '-v', 'x'.repeat(3000), file])
    expect((await run('getfattr', ['--only-values', '-n', 'user.long', file])).stdout).toBe('x'.repeat(3000))
    await run('setfattr', ['-x', 'user.long', file])
    expect((await run('getfattr', ['-d', '--absolute-names', file])).stdout).not.toContain('user.long')
  })

  it('a VFS with one xattr namespace: other names are ENOTSUP, answered by libfuse3 without a call into the VFS', async () => {
    const scoped = cleanup.add(await makeTempMountpoint()).path
    const other = cleanup.add(await startMemfs(scoped, '--binding', binding, '--xattr-namespace', 'user.'))
    const file = join(scoped, 'hello.txt')
    await expect(run('getfattr', ['-n', 'security.capability', file])).rejects.toMatchObject({
      stderr: expect.stringContaining('Operation not supported'),
    })
    expect((await run('getfattr', ['--only-values', '-n', 'user.greeting', file])).stdout).toBe('hi')
    const asked = [...other.stdout().matchAll(/^GETXATTR \/hello\.txt (\S+)$/gm)].map((m) => m[1])
    expect(asked).toContain('user.greeting') // (getfattr asks twice: the size, then the value)
    expect(asked.includes('security.capability')).toBe(binding === 'fuse-native')
  })

  it('statfs keeps huge sizes correct (df, stat -f)', async () => {
    const { stdout } = await run('stat', ['-f', '-c', '%S %b %f %a %c %d %l', mp])
    expect(stdout.trim()).toBe(`${2 ** 20} ${2 ** 30} ${2 ** 29} ${2 ** 29} ${2 ** 31} ${2 ** 30} 255`)
    const df = (await run('df', ['-B1', '--output=size,avail', mp])).stdout.trim().split('\n')[1]!.trim().split(/\s+/)
    expect(df.map(Number)).toEqual([2 ** 50, 2 ** 49])
  })

  it('namespace ops and utimens reach the VFS', async () => {
    await mkdir(join(mp, 'newdir'))
    expect(await readdir(join(mp, 'newdir'))).toEqual([]) // an empty listing is a listing, not an error
    await writeFile(join(mp, 'newdir/a.txt'), 'a')
    await rename(join(mp, 'newdir/a.txt'), join(mp, 'newdir/b.txt'))
    expect(await readdir(join(mp, 'newdir'))).toEqual(['b.txt'])
    const before = await stat(join(mp, 'newdir/b.txt'))
    await run('touch', ['-d', '2021-02-03T04:05:06Z', join(mp, 'newdir/b.txt')])
    const after = await stat(join(mp, 'newdir/b.txt'))
    expect(after.atimeMs).toBe(Date.UTC(2021, 1, 3, 4, 5, 6))
    // fuse-native hands JS the access time only: the modification time stays what it was.
    expect(after.mtimeMs).toBe(binding === 'fuse3' ? Date.UTC(2021, 1, 3, 4, 5, 6) : before.mtimeMs)
    await unlink(join(mp, 'newdir/b.txt'))
    await rmdir(join(mp, 'newdir'))
    await expect(stat(join(mp, 'newdir'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(run('ln', ['-s', 'hello.txt', join(mp, 'link')])).rejects.toMatchObject({
      stderr: expect.stringContaining('Operation not permitted'),
    })
  })

  it.runIf(binding === 'fuse3')('names the opening process only to an open that may write: a read-only open costs no read of /proc', async () => {
    const opens = (): string[][] => [...daemon.stdout().matchAll(/^OPEN \/hello\.txt (\d+) (\S+)$/gm)].map((m) => [String(Number(m[1]) & 3), m[2]!])
    const before = opens().length
    await (await open(join(mp, 'hello.txt'), 'r')).close()
    await (await open(join(mp, 'hello.txt'), 'r+')).close()
    expect(opens().slice(before)).toEqual([['0', '0'], ['2', String(process.pid)]]) // O_RDONLY, O_RDWR
  })

  it.runIf(binding === 'fuse3')('W11: a name that is not valid UTF-8 is refused (EINVAL; looked up, ENOENT: no syscall has EILSEQ), never merged with another one', async () => {
    const invalid = Buffer.concat([Buffer.from(mp + '/'), Buffer.from([0x66, 0xff])]) // "f\xff"
    await expect(writeFile(invalid, 'x')).rejects.toMatchObject({ code: 'EINVAL' })
    await expect(mkdir(invalid)).rejects.toMatchObject({ code: 'EINVAL' })
    await expect(stat(Buffer.concat([Buffer.from(mp + '/'), Buffer.from([0x66, 0xfe])]))).rejects.toMatchObject({ code: 'ENOENT' })
    expect((await readdir(mp)).some((name) => name.startsWith('f\uFFFD'))).toBe(false)
    await writeFile(join(mp, 'f\uFFFD'), 'a real U+FFFD') // the character itself is a valid name
    expect(await readFile(join(mp, 'f\uFFFD'), 'utf8')).toBe('a real U+FFFD')
    await unlink(join(mp, 'f\uFFFD'))
  })

  it.runIf(binding === 'fuse-native')('W11: new names holding U+FFFD, what fuse-native makes of invalid bytes, are refused (EINVAL): two invalid names never merge', async () => {
    const named = (byte: number): Buffer => Buffer.concat([Buffer.from(mp + '/'), Buffer.from([0x66, byte])]) // "f\xff"
    await expect(writeFile(named(0xff), 'x')).rejects.toMatchObject({ code: 'EINVAL' })
    await expect(writeFile(named(0xfe), 'y')).rejects.toMatchObject({ code: 'EINVAL' })
    await expect(mkdir(named(0xff))).rejects.toMatchObject({ code: 'EINVAL' })
    await writeFile(join(mp, 'plain.txt'), 'plain')
    await expect(rename(join(mp, 'plain.txt'), join(mp, 'f\uFFFD'))).rejects.toMatchObject({ code: 'EINVAL' })
    expect((await readdir(mp)).some((name) => name.includes('\uFFFD'))).toBe(false)
    await unlink(join(mp, 'plain.txt'))
  })

  it('SIGTERM unmounts, and the daemon exits on its own (nothing holds its event loop)', async () => {
    daemon.child.kill('SIGTERM')
    const exit = await Promise.race([daemon.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))])
    expect(exit).toEqual({ code: 0, signal: null })
    expect(daemon.stdout()).toMatch(/^unmounted$/m)
    expect(await isMounted(mp)).toBe(false)
  })
})

describe.skipIf(!fuse.ok)('mount lifecycle', () => {
  const cleanup = new Cleanup()
  afterAll(() => cleanup.run())

  it('auto_unmount removes the mount after kill -9', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const daemon = cleanup.add(await startMemfs(mp))
    expect(await isMounted(mp)).toBe(true)
    daemon.child.kill('SIGKILL')
    await daemon.exited
    await waitFor(async () => !(await isMounted(mp)), 10_000, 'auto_unmount to remove the mount')
    expect((await stat(mp)).isDirectory()).toBe(true) // the bare folder again, not a dead mount (ENOTCONN)
  })

  it('with libfuse3, /dev/fuse is held at a descriptor above every socket, so a kill -9 ends the connection before fusermount3 looks', async (ctx) => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const daemon = cleanup.add(await startMemfs(mp))
    if (!daemon.stdout().includes(' fuse3')) ctx.skip() // the fuse-native fallback has no such order
    // The kernel releases a dead process's files from the highest descriptor down: the watcher's socket must go
    // after the connection, or the watcher's look at the mount races its end (ECONNABORTED) and it leaves it dead.
    const fds = await readdir(`/proc/${daemon.child.pid}/fd`)
    const targets = await Promise.all(fds.map(async (fd) => ({ fd: Number(fd), to: await readlink(`/proc/${daemon.child.pid}/fd/${fd}`).catch(() => '') })))
    const highestDevice = Math.max(...targets.filter((t) => t.to === '/dev/fuse').map((t) => t.fd))
    const sockets = targets.filter((t) => t.to.startsWith('socket:')).map((t) => t.fd)
    expect(sockets.length).toBeGreaterThan(0)
    expect(highestDevice).toBeGreaterThan(Math.max(...sockets))
  })

  it('unmountPath clears a dead mount (daemon killed without auto_unmount)', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const daemon = cleanup.add(await startMemfs(mp, '--no-auto-unmount'))
    daemon.child.kill('SIGKILL')
    await daemon.exited
    await expect(stat(mp)).rejects.toMatchObject({ code: 'ENOTCONN' })
    expect(await isMounted(mp)).toBe(true)
    await unmountPath(mp)
    expect(await isMounted(mp)).toBe(false)
    expect((await stat(mp)).isDirectory()).toBe(true)
  })

  it('abortConnection cuts off a stopped daemon; unmountPath then removes the mount', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const daemon = cleanup.add(await startMemfs(mp, '--no-auto-unmount'))
    daemon.child.kill('SIGSTOP')
    try {
      expect(await abortConnection(mp)).toBe(true)
      await expect(stat(join(mp, 'hello.txt'))).rejects.toMatchObject({ code: expect.stringMatching(/^(ENOTCONN|ECONNABORTED)$/) })
      await unmountPath(mp)
      expect(await isMounted(mp)).toBe(false)
    } finally {
      daemon.child.kill('SIGCONT')
    }
  })

  it('mountFuse clears a stale dead mount and mounts over it', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const dead = cleanup.add(await startMemfs(mp, '--no-auto-unmount'))
    dead.child.kill('SIGKILL')
    await dead.exited
    await expect(stat(mp)).rejects.toMatchObject({ code: 'ENOTCONN' })
    const fresh = cleanup.add(await startMemfs(mp))
    expect(fresh.stderr()).toContain('clearing a dead FUSE mount')
    expect(await readFile(join(mp, 'hello.txt'), 'utf8')).toBe('hello world\n')
    expect(await fresh.stop()).toEqual({ code: 0, signal: null })
    expect(await isMounted(mp)).toBe(false)
  })

  it('mountFuse on a hung mount (its daemon stopped) fails within seconds, and the process exits: its stat held no thread', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const hung = cleanup.add(await startMemfs(mp))
    hung.child.kill('SIGSTOP')
    try {
      // An fs.stat stuck in the kernel would keep a libuv pool thread that the exit waits for: startMemfs's 20 s would run out.
      const refused = await startMemfs(mp).then(() => 'mounted', (e: Error) => e.message)
      expect(refused).toContain('daemon exited early (code 1')
      expect(refused).toContain(`mountpoint ${mp} does not answer (a hung FUSE mount? run: ikfs unmount ${mp})`)
    } finally {
      hung.child.kill('SIGCONT')
    }
  })

  it('refuses a non-empty mountpoint unless allowed, and a live mount', async () => {
    const tmp = cleanup.add(await makeTempMountpoint())
    await writeFile(join(tmp.path, 'existing.txt'), 'x')
    cleanup.add({ cleanup: () => unlink(join(tmp.path, 'existing.txt')).catch(() => undefined) })
    await expect(startMemfs(tmp.path)).rejects.toThrow(/is not empty/)
    const allowed = cleanup.add(await startMemfs(tmp.path, '--allow-non-empty'))
    expect(await readdir(tmp.path)).not.toContain('existing.txt')
    await expect(startMemfs(tmp.path, '--allow-non-empty')).rejects.toThrow(/already a FUSE mount/)
    await allowed.stop()
    expect(await readdir(tmp.path)).toEqual(['existing.txt'])
  })
})
