/**
 * Running ikfs like a service (issue 5): the `npm start` demo path stops cleanly on Ctrl-C, `ikfs doctor`
 * tells a healthy setup from a broken one, `ikfs status` / `/metrics` / `ikfs refresh` talk to a live mount,
 * the fstab helper returns only once the mount is live (or with the daemon's error) and works when mount(8)
 * runs it, and the systemd units pass `systemd-analyze verify`.
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import { chmod, mkdir, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, forceUnmount, makeTempMountpoint, spawnDaemon, stopAllDaemons } from '../helpers/mount.js'
import { connectionId, findFuseMount } from '../../src/fuse/mountinfo.js'
import { fuseSkipReason, isMounted, mountLibrary, remoteBytesPath, runIkfs, startLibrary, tempDir, waitFor, type Library, type Mounted } from './harness.js'

const execFileP = promisify(execFile)
const skip = fuseSkipReason()
const BIN = join(REPO_ROOT, 'bin', 'ikfs.js')
/** The user and group `nobody` (65534 on Debian and most others). */
const NOBODY = 65534
const HELPER = join(REPO_ROOT, 'native', 'mount.fuse.ikfs')

function libEnv(lib: Library, privateKey = lib.privateKey): Record<string, string> {
  return {
    IKFS_ENDPOINT: lib.endpoint,
    IKFS_API_URL: lib.url,
    IKFS_UPLOAD_URL: lib.url,
    IKFS_PRIVATE_KEY: privateKey,
    IKFS_CONFIG: '/nonexistent/ikfs.conf',
    // doctor makes the library's spool folder: in the test library's folder, removed with it.
    IKFS_CACHE_DIR: join(dirname(lib.dataDir), 'cache'),
  }
}

async function httpText(url: string): Promise<string> {
  const res = await fetch(url)
  expect(res.status).toBe(200)
  return res.text()
}

describe.skipIf(skip !== null)('ikfs as a service', () => {
  afterAll(() => stopAllDaemons())

  it('npm start path: the demo mounts, answers ls, and Ctrl-C leaves no mount and no process', async () => {
    const dir = await tempDir('ikfs-demo-')
    const mnt = join(dir, 'mnt')
    // `npm start` is `npm run build && node bin/ikfs.js demo`; the build is checked by CI, so run the bin.
    const demo = await spawnDaemon(['demo', '--log-level', 'warn'], { cwd: dir, readyPattern: /press Ctrl-C/, mountpoint: mnt, timeoutMs: 60_000 })
    try {
      expect(demo.stdout()).toContain('mounted http://127.0.0.1:')
      expect(demo.stdout()).toContain('at ./mnt')
      const { stdout } = await execFileP('ls', [mnt], { encoding: 'utf8' })
      expect(stdout.split('\n')).toEqual(expect.arrayContaining(['photos', 'docs']))
      demo.child.kill('SIGINT')
      const exit = await demo.exited
      expect(exit, demo.output()).toEqual({ code: 0, signal: null })
      expect(await isMounted(mnt)).toBe(false)
      expect(() => process.kill(demo.child.pid!, 0)).toThrow() // the emulator ran in the same process
      // A second run (the emulator on another port) uses the same spool, kept beside the demo library.
      const again = await spawnDaemon(['demo', '--log-level', 'warn'], { cwd: dir, readyPattern: /press Ctrl-C/, mountpoint: mnt, timeoutMs: 60_000 })
      try {
        const endpointOf = (out: string) => /mounted (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
        expect(endpointOf(again.stdout())).toBeDefined()
        expect(endpointOf(again.stdout())).not.toBe(endpointOf(demo.stdout()))
        again.child.kill('SIGINT')
        expect(await again.exited).toEqual({ code: 0, signal: null })
      } finally {
        await again.stop('SIGKILL')
      }
      expect(await readdir(join(dir, '.ikfs-demo', 'cache'))).toHaveLength(1)
    } finally {
      await demo.stop('SIGKILL')
      await forceUnmount(mnt)
      await rm(dir, { recursive: true, force: true })
    }
  })

  describe('with a library', () => {
    let lib: Library
    beforeAll(async () => {
      lib = await startLibrary({ files: { 'photos/a.txt': 'alpha', 'photos/b.txt': 'bravo' } })
    })
    afterAll(async () => {
      await lib?.stop()
    })

    /** `fn` on a second mount of the library with a spool of its own (the running mount holds the shared one). */
    async function withOwnMount(args: string[], fn: (mounted: Mounted) => Promise<void>): Promise<void> {
      const cacheDir = await tempDir('ikfs-own-cache-')
      const own = await mountLibrary(lib, { args: [...args, '--cache-dir', cacheDir] })
      try {
        await fn(own)
      } finally {
        await own.stop()
        await rm(cacheDir, { recursive: true, force: true })
      }
    }

    it('doctor passes every check on a healthy setup', async () => {
      const mp = await makeTempMountpoint()
      try {
        const r = await runIkfs(['doctor', mp.path], { env: libEnv(lib), timeoutMs: 60_000 })
        expect(r.code, r.stdout + r.stderr).toBe(0)
        for (const check of ['/dev/fuse', 'fusermount', 'libfuse', 'libfuse3', 'page cache', 'config', 'cache dir', 'mountpoint', 'clock', 'credentials', 'hosts']) {
          expect(r.stdout).toMatch(new RegExp(`^ok +${check.replace('/', '\\/')} `, 'm'))
        }
        expect(r.stdout).toContain('accepted the private key')
        expect(r.stdout).toContain('ikfs doctor: all checks passed')
      } finally {
        await mp.cleanup()
      }
    })

    it('doctor names each broken thing with a fix, exits 1 and never prints the key', async () => {
      const dir = await tempDir('ikfs-doctor-')
      const notADir = join(dir, 'file')
      await writeFile(notADir, 'x')
      const wrongKey = 'private_wrong_0123456789abcdef'
      try {
        const r = await runIkfs(['doctor', notADir], { env: libEnv(lib, wrongKey), timeoutMs: 60_000 })
        expect(r.code, r.stdout + r.stderr).toBe(1)
        expect(r.stdout).toMatch(/^FAIL +mountpoint +.*is not a directory/m)
        expect(r.stdout).toMatch(/^FAIL +credentials +.*rejected the private key/m)
        expect(r.stdout).toMatch(/fix: copy the private key from the ImageKit dashboard/)
        expect(r.stdout).toMatch(/^ok +clock /m)
        expect(r.stdout).toContain('ikfs doctor: 2 checks failed')
        expect(r.stdout + r.stderr).not.toContain(wrongKey)

        const bad = await runIkfs(['doctor', '--dir-cache-time', 'soon'], { env: libEnv(lib), timeoutMs: 60_000 })
        expect(bad.code).toBe(1)
        expect(bad.stdout).toMatch(/^FAIL +config +.*dir_cache_time/m)
        expect(bad.stdout).toMatch(/^skip +credentials/m)
        expect(bad.stdout).toMatch(/^skip +hosts/m)

        // The keys and the API are fine; reads would go to a URL endpoint nobody answers at.
        const noEndpoint = await runIkfs(['doctor'], { env: { ...libEnv(lib), IKFS_ENDPOINT: 'http://127.0.0.1:9/demo' }, timeoutMs: 60_000 })
        expect(noEndpoint.code).toBe(1)
        expect(noEndpoint.stdout).toMatch(/^FAIL +hosts +cannot reach the URL endpoint http:\/\/127\.0\.0\.1:9\/demo: connection refused/m)
        expect(noEndpoint.stdout).toMatch(/^ok +credentials /m)

        // A mistyped ImageKit id in the endpoint: the host answers, but the library's files live under another id.
        const typo = await runIkfs(['doctor'], { env: { ...libEnv(lib), IKFS_ENDPOINT: `${lib.endpoint}x` }, timeoutMs: 60_000 })
        expect(typo.stdout).toMatch(/^warn +credentials +.*accepted the private key, but the URL endpoint \S+x does not match the library's files/m)
        expect(typo.stdout).toMatch(/fix: set --endpoint to the URL endpoint on the ImageKit dashboard/)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('doctor warns when the cache dir has little room left, without failing; ikfs unmount leaves that tmpfs alone', async () => {
      const dir = await tempDir('ikfs-doctor-small-')
      await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir])
      try {
        const r = await runIkfs(['doctor'], { env: { ...libEnv(lib), IKFS_CACHE_DIR: join(dir, 'cache') }, timeoutMs: 60_000 })
        expect(r.code, r.stdout + r.stderr).toBe(0)
        expect(r.stdout).toMatch(/^warn +cache dir +.*can be created, but its disk has only 64\.0 MiB free/m)
        expect(r.stdout).toMatch(/fix: every file written through the mount passes through the cache dir/)
        // The same tmpfs is not ikfs's to unmount, and the refusal says what is there.
        const un = await runIkfs(['unmount', dir], { timeoutMs: 30_000 })
        expect(un.code).toBe(1)
        expect(un.stderr).toBe(`ikfs: ${dir} holds a tmpfs mount, not an ikfs one: ikfs unmount leaves it alone\n`)
      } finally {
        await execFileP('umount', ['-l', dir])
        await rm(dir, { recursive: true, force: true })
      }
    })

    describe('a running mount', () => {
      let m: Mounted
      let metricsUrl: string
      beforeAll(async () => {
        m = await mountLibrary(lib, { args: ['--metrics', '127.0.0.1:0', '--dir-cache-time', '1h'] })
        const url = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(m.log())?.[1], 10_000, 'metrics url in the log')
        metricsUrl = url
      })
      afterAll(async () => {
        await m?.stop()
      })

      it('ikfs status shows the mount, cache use and op counts', async () => {
        expect((await readFile(join(m.path, 'photos', 'a.txt'), 'utf8'))).toBe('alpha')
        const r = await runIkfs(['status', m.path], { timeoutMs: 30_000 })
        expect(r.code, r.stderr).toBe(0)
        expect(r.stdout).toContain(`mounted ${lib.endpoint} at ${m.path}`)
        expect(r.stdout).toMatch(/listings +\d+ folders/)
        expect(r.stdout).toMatch(/FUSE ops: [1-9][\d,]* calls/)
        expect(r.stdout).toMatch(/read [1-9]/)

        const json = await runIkfs(['status', m.path, '--json'], { timeoutMs: 30_000 })
        const snapshot = JSON.parse(json.stdout) as { state: string; vfs: Record<string, number>; ops: Record<string, { calls: number }> }
        expect(snapshot.state).toBe('mounted')
        expect(snapshot.vfs.listingsFetched).toBeGreaterThan(0)
        expect(snapshot.ops.read?.calls).toBeGreaterThan(0)
        expect(json.stdout).not.toContain(lib.privateKey)
      })

      it('a reader\'s close costs the daemon no flush request (FOPEN_NOFLUSH); a writer\'s close still flushes and stores the file (W2)', async () => {
        const flushCalls = async (): Promise<number> => {
          const r = await runIkfs(['status', m.path, '--json'], { timeoutMs: 30_000 })
          expect(r.code, r.stderr).toBe(0)
          return (JSON.parse(r.stdout) as { ops: Record<string, { calls: number }> }).ops.flush?.calls ?? 0
        }
        const before = await flushCalls()
        // Every close(2) of a descriptor (a dup's too) would send one.
        const closes = await promisify(execFile)('python3', ['-c', [
          'import os, sys',
          'fd = os.open(sys.argv[1], os.O_RDONLY)',
          'data = os.read(fd, 100)',
          'for _ in range(5): os.close(os.dup(fd))',
          'os.close(fd)',
          'print(data.decode())',
        ].join('\n'), join(m.path, 'photos', 'b.txt')])
        expect(closes.stdout.trim()).toBe('bravo')
        expect(await flushCalls()).toBe(before)
        await writeFile(join(m.path, 'photos', 'flushed.txt'), 'charlie')
        expect(await flushCalls()).toBeGreaterThan(before)
        expect(await readFile(remoteBytesPath(lib, '/photos/flushed.txt'), 'utf8')).toBe('charlie')
      })

      it('serves the same counters as Prometheus text at --metrics', async () => {
        await readFile(join(m.path, 'photos', 'b.txt'))
        const text = await httpText(metricsUrl)
        expect(text).toContain('ikfs_up 1')
        expect(text).toMatch(/^ikfs_fuse_calls_total\{op="read"\} [1-9]/m)
        expect(text).toMatch(/^ikfs_vfs_listings_fetched_total [1-9]/m)
        expect(text).toContain('# TYPE ikfs_uploads gauge')
        const viaSocket = await runIkfs(['status', m.path, '--prometheus'], { timeoutMs: 30_000 })
        expect(viaSocket.stdout).toContain('ikfs_up 1')
      })

      it('R2: ikfs refresh makes a remote change show despite a long dir cache, also to a lookup that missed it', async () => {
        const added = join(m.path, 'photos', 'c.txt')
        await expect(stat(added)).rejects.toMatchObject({ code: 'ENOENT' }) // the kernel keeps this for a minute
        expect(await readdir(join(m.path, 'photos'))).not.toContain('c.txt')
        await lib.upload('/photos', 'c.txt', Buffer.from('charlie'))
        expect(await readdir(join(m.path, 'photos'))).not.toContain('c.txt') // cached for an hour
        await expect(stat(added)).rejects.toMatchObject({ code: 'ENOENT' })
        const r = await runIkfs(['refresh', m.path, join(m.path, 'photos')], { timeoutMs: 30_000 })
        expect(r.code, r.stderr).toBe(0)
        expect(r.stdout).toContain('dropped cached listings under /photos')
        expect((await stat(added)).size).toBe(7) // before any listing: the kernel forgot its "no such file"
        expect(await readFile(added, 'utf8')).toBe('charlie')
        expect(await readdir(join(m.path, 'photos'))).toContain('c.txt')
      })

      it('R2: ikfs refresh makes the kernel forget every name missed in a folder, not only the first (--allow-other)', async () => {
        // --allow-other has the kernel check permissions itself (default_permissions), from a folder's attributes.
        await withOwnMount(['--dir-cache-time', '1h', '--allow-other'], async (other) => {
          // A file manager probes several names in each folder; the one a program missed is seldom the first.
          const names = ['.hidden', 'd.txt', 'e.txt', 'f.txt']
          for (const name of names) await expect(stat(join(other.path, 'photos', name))).rejects.toMatchObject({ code: 'ENOENT' })
          for (const name of names) await lib.upload('/photos', name, Buffer.from(name))
          const r = await runIkfs(['refresh', other.path], { timeoutMs: 30_000 })
          expect(r.code, r.stderr).toBe(0)
          // Forgetting a name made the kernel drop the folder's attributes, which it then needed to check the next
          // name from its cache alone: each name after the first was left as missing, for negative_timeout.
          for (const name of names) expect((await stat(join(other.path, 'photos', name))).size, name).toBe(name.length)
        })
      })

      it('R2: ikfs refresh makes the kernel forget a name missed a while ago, once it holds the folders as aged (--attr-timeout)', async () => {
        const ATTR_S = 1
        await withOwnMount(['--dir-cache-time', '1h', '--attr-timeout', `${ATTR_S}s`, '--allow-other'], async (aged) => {
          const inFolder = join(aged.path, 'photos', 'later.txt')
          const atTop = join(aged.path, 'later-top.txt')
          for (const path of [inFolder, atTop]) await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' })
          await lib.upload('/photos', 'later.txt', Buffer.from('later'))
          await lib.upload('/', 'later-top.txt', Buffer.from('top'))
          // Adding the file elsewhere took longer than --attr-timeout (5 s by default): the kernel then answers
          // nothing about the folders from its cache alone, which is all the forgetting may ask it.
          await new Promise((resolve) => setTimeout(resolve, ATTR_S * 1000 + 500))
          const r = await runIkfs(['refresh', aged.path], { timeoutMs: 30_000 })
          expect(r.code, r.stderr).toBe(0)
          expect((await stat(inFolder)).size).toBe(5) // was ENOENT for the rest of negative_timeout (a minute)
          expect((await stat(atTop)).size).toBe(3)
        })
      })

      it('R2: ikfs refresh makes the kernel forget names missed a while ago in many folders, also when each takes a listing of a slow API', async () => {
        const ATTR_S = 2
        const FOLDERS = 16
        const folders = Array.from({ length: FOLDERS }, (_, i) => `/aged-many/p${i}/f`)
        for (const folder of folders) await lib.upload(folder, 'seed.txt', Buffer.from('seed'))
        await withOwnMount(['--dir-cache-time', '1h', '--attr-timeout', `${ATTR_S}s`, '--allow-other'], async (aged) => {
          for (const folder of folders) await expect(stat(join(aged.path, folder, 'later.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
          for (const folder of folders) await lib.upload(folder, 'later.txt', Buffer.from('later'))
          await new Promise((resolve) => setTimeout(resolve, ATTR_S * 1000 + 500)) // the folders are aged (see above)
          // Each folder's look costs a listing of its parent (the refresh dropped them), a quarter second each here.
          await lib.setFaults({ latencyMs: 250, scope: ['api'] })
          try {
            const r = await runIkfs(['refresh', aged.path], { timeoutMs: 30_000 })
            expect(r.code, r.stderr).toBe(0)
          } finally {
            await lib.setFaults({ latencyMs: 0 })
          }
          const missing: string[] = []
          for (const folder of folders) await stat(join(aged.path, folder, 'later.txt')).catch(() => missing.push(folder))
          // Was all 16: looked at one after another, the folders took longer than the 2 s the look may, and the
          // mount's root, looked at first, had aged again by then (the forgetting walks from it).
          expect(missing, 'folders whose new file was still missing after the refresh').toEqual([])
        })
      })

      it('R2: ikfs refresh makes a file changed elsewhere show its new size and bytes at once, despite a long --attr-timeout', async () => {
        await lib.upload('/grown', 'notes.txt', Buffer.from('short'))
        await withOwnMount(['--dir-cache-time', '1h', '--attr-timeout', '1h'], async (own) => {
          const file = join(own.path, 'grown', 'notes.txt')
          expect(await readFile(file, 'utf8')).toBe('short')
          const longer = 'a good deal longer than before\n'.repeat(50)
          await lib.upload('/grown', 'notes.txt', Buffer.from(longer))
          expect((await stat(file)).size).toBe(5) // the kernel keeps the size it was told for an hour
          const r = await runIkfs(['refresh', own.path], { timeoutMs: 30_000 })
          expect(r.code, r.stderr).toBe(0)
          expect((await stat(file)).size).toBe(longer.length)
          expect(await readFile(file, 'utf8')).toBe(longer) // not cut at the old size
        })
      })

      it('R2: a refresh leaves alone a folder made since under a name that was missing (whoever is inside keeps it)', async () => {
        const made = join(m.path, 'photos', 'made-later')
        await expect(stat(made)).rejects.toMatchObject({ code: 'ENOENT' })
        await mkdir(made)
        const inside = spawn('sleep', ['30'], { cwd: made, stdio: 'ignore' })
        try {
          await waitFor(async () => (await readlink(`/proc/${inside.pid}/cwd`).catch(() => undefined)) === made || undefined, 5_000, 'sleep in the folder')
          const r = await runIkfs(['refresh', m.path], { timeoutMs: 30_000 })
          expect(r.code, r.stderr).toBe(0)
          // A folder the kernel was made to forget while in use reads "(deleted)" here, and getcwd fails inside it.
          expect(await readlink(`/proc/${inside.pid}/cwd`)).toBe(made)
        } finally {
          inside.kill()
        }
      })

      it('R2: refreshes that wait for busy folders never hold up the rest of the mount', async () => {
        // Four renames held up by the API keep four folders locked by the kernel. A refresh of each makes the
        // kernel forget a name missed there, which waits for that lock. A copy into another folder must go
        // through meanwhile: the notifications once waited on libuv's pool, and four of them left no thread
        // for the spool, so nothing answered until the renames ended (or ever, had those needed the pool).
        const busy = [1, 2, 3, 4].map((i) => join(m.path, 'busy', `b${i}`))
        const other = join(m.path, 'busy', 'other')
        await mkdir(other, { recursive: true })
        for (const folder of busy) {
          await mkdir(folder)
          await writeFile(join(folder, 'src.txt'), 'x')
          await expect(stat(join(folder, 'missed.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
        }
        expect(await readdir(other)).toEqual([]) // listed: the copy below needs no API call
        const inFlight = async (): Promise<number> => {
          const r = await runIkfs(['status', m.path, '--json'], { timeoutMs: 30_000 })
          return (JSON.parse(r.stdout) as { ops: Record<string, { inFlight: number }> }).ops.rename?.inFlight ?? 0
        }
        await lib.setFaults({ latencyMs: 10_000, scope: ['api'] })
        try {
          const renames = busy.map((folder) => {
            const run = { done: false, code: -1, exit: Promise.resolve() }
            run.exit = execFileP('mv', [join(folder, 'src.txt'), join(folder, 'dst.txt')]).then(
              () => { run.code = 0 }, (e: { code?: number }) => { run.code = e.code ?? 1 },
            ).finally(() => { run.done = true })
            return run
          })
          await waitFor(async () => ((await inFlight()) === busy.length ? true : undefined), 5_000, 'the four renames in the daemon')
          const count = (msg: string): number => m.log().split(`"msg":"${msg}"`).length - 1
          const requested = count('refresh requested')
          const notifying = count('making the kernel forget names it was told are missing')
          const refreshes = busy.map((folder) => runIkfs(['refresh', m.path, folder], { timeoutMs: 30_000 }))
          await waitFor(() => (count('refresh requested') - requested === busy.length || undefined), 8_000, 'the four refreshes in the daemon')
          await waitFor(() => (count('making the kernel forget names it was told are missing') > notifying || undefined), 5_000, 'a refresh at its notification')
          await execFileP('cp', [join(REPO_ROOT, 'package.json'), join(other, 'copied.json')])
          expect(renames.map((r) => r.done), 'renames still held up by the API when the copy was done').toEqual([false, false, false, false])
          // A refresh answers within 5 s: the kernel forgets names in a busy folder once that folder is free.
          for (const r of await Promise.all(refreshes)) expect(r.code, r.stderr).toBe(0)
          expect(renames.map((r) => r.done), 'renames still held up by the API when the refreshes answered').toEqual([false, false, false, false])
          await Promise.all(renames.map((r) => r.exit))
          expect(renames.map((r) => r.code)).toEqual([0, 0, 0, 0])
        } finally {
          await lib.setFaults({ latencyMs: 0 })
        }
        expect(await readFile(join(other, 'copied.json'), 'utf8')).toBe(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'))
        for (const folder of busy) expect(await readdir(folder)).toEqual(['dst.txt'])
      })

      it('R2: a daemon killed (kill -9) while a refresh waits for a busy folder exits and ends its connection', async () => {
        // The kernel's notification for a folder waits for its lock, which a rename the API holds up keeps
        // taken; a daemon killed while a thread of it waited there could not exit (that thread slept on), so
        // its /dev/fuse stayed open, the rename was never answered and the mount hung until aborted by hand.
        const cache = await tempDir('ikfs-kill9-cache-')
        const own = await mountLibrary(lib, { args: ['--dir-cache-time', '1h', '--cache-dir', cache] })
        const entry = await findFuseMount(own.path)
        expect(entry).toBeDefined()
        const folder = join(own.path, 'kill9')
        let mv: Promise<unknown> | undefined
        try {
          await mkdir(folder)
          await writeFile(join(folder, 'src.txt'), 'x')
          await expect(stat(join(folder, 'missed.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
          await lib.setFaults({ latencyMs: 10_000, scope: ['api'] })
          mv = execFileP('mv', [join(folder, 'src.txt'), join(folder, 'dst.txt')]).catch((e: unknown) => e)
          await waitFor(async () => {
            const r = await runIkfs(['status', own.path, '--json'], { timeoutMs: 30_000 })
            return (JSON.parse(r.stdout) as { ops: Record<string, { inFlight: number }> }).ops.rename?.inFlight === 1 || undefined
          }, 5_000, 'the rename in the daemon')
          const refresh = await runIkfs(['refresh', own.path, folder], { timeoutMs: 30_000 })
          expect(refresh.code, refresh.stderr).toBe(0)
          expect(own.log()).toContain('making the kernel forget names it was told are missing')
          own.kill9()
          const exited = await Promise.race([own.daemon.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 5_000).unref())])
          expect(exited, 'the killed daemon').toEqual({ code: null, signal: 'SIGKILL' })
          // With its daemon gone the kernel ends the connection: the rename fails instead of waiting forever.
          const failed = await Promise.race([mv, new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 5_000).unref())])
          expect(failed).toMatchObject({ code: 1 })
          // auto_unmount (fusermount3) takes the mount away with its daemon, and `ikfs unmount` clears one that
          // is left (the helper can be slow on a loaded machine: the kernel keeps the connection while mounted).
          await waitFor(async () => !(await isMounted(own.path)) || undefined, 5_000, 'auto_unmount').catch(() => undefined)
          if (await isMounted(own.path)) {
            const unmounted = await runIkfs(['unmount', own.path], { timeoutMs: 30_000 })
            expect(unmounted.code, unmounted.stderr).toBe(0)
          }
          expect(await isMounted(own.path)).toBe(false)
          // Then the connection is gone too: no thread of the killed daemon keeps /dev/fuse open.
          const connection = `/sys/fs/fuse/connections/${connectionId(entry!)}`
          await waitFor(async () => (await stat(connection).then(() => false, () => true)) || undefined, 5_000, 'the connection to end')
        } finally {
          await lib.setFaults({ latencyMs: 0 })
          // Never hang here: a connection left open by a daemon that could not exit is aborted (the mount may be
          // detached already, so not found by its path any more).
          own.kill9()
          if (entry) await writeFile(`/sys/fs/fuse/connections/${connectionId(entry)}/abort`, '1').catch(() => undefined)
          await own.stop()
          await mv
          await rm(cache, { recursive: true, force: true })
        }
      })

      it('ikfs status --wait returns at once for a live mount, and status fails clearly without a daemon', async () => {
        expect((await runIkfs(['status', '--wait', '5s', m.path], { timeoutMs: 30_000 })).code).toBe(0)
        const dir = await tempDir('ikfs-nomount-')
        try {
          const r = await runIkfs(['status', dir], { timeoutMs: 30_000 })
          expect(r.code).toBe(1)
          expect(r.stderr).toContain(`no ikfs daemon serves ${dir}`)
          const w = await runIkfs(['status', '--wait', '1s', dir], { timeoutMs: 30_000 })
          expect(w.code).toBe(1)
          expect(w.stderr).toContain('is not mounted after 1s')
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      })

      it('shows an upload in flight with its progress', async () => {
        await lib.setFaults({ latencyMs: 3_000, scope: ['upload'] })
        try {
          const writing = writeFile(join(m.path, 'photos', 'slow.bin'), Buffer.alloc(256 * 1024, 7))
          const seen = await waitFor(async () => {
            const r = await runIkfs(['status', m.path], { timeoutMs: 30_000 })
            return /^Uploads: .*(uploading|waiting)/m.test(r.stdout) && r.stdout.includes('/photos/slow.bin') ? r.stdout : undefined
          }, 30_000, 'the upload in ikfs status')
          expect(seen).toMatch(/\[[#-]{20}\] +\d+%.*\/photos\/slow\.bin/)
          const metrics = await httpText(metricsUrl)
          expect(metrics).toMatch(/^ikfs_uploads\{state="(uploading|waiting)"\} 1/m)
          await writing
        } finally {
          await lib.setFaults({ latencyMs: 0 })
        }
      })
    })

    it('mount.fuse.ikfs returns once the mount is live, and fails with the daemon error otherwise', async () => {
      const mp = await makeTempMountpoint()
      const logDir = await tempDir('ikfs-helper-')
      const env = { ...process.env, ...libEnv(lib), IKFS_NODE: process.execPath }
      // Yes/no options with a value (read_only=false) once reached ikfs as two words, and it refused them.
      const opts = `_netdev,nofail,x-systemd.automount,dir_cache_time=10s,read_only=false,stream_uploads=false,log_file=${join(logDir, 'ikfs.log')}`
      try {
        await execFileP(HELPER, ['ikfs', mp.path, '-o', opts], { env, timeout: 90_000 })
        expect(await isMounted(mp.path)).toBe(true) // live when the helper returns, not later
        expect(await readdir(join(mp.path, 'photos'))).toContain('a.txt')
        const s = await runIkfs(['status', mp.path], { timeoutMs: 30_000 })
        expect(s.stdout).toContain('mounted')
        const pid = Number(/\(pid (\d+)\)/.exec(s.stdout)?.[1])
        process.kill(pid, 'SIGTERM')
        await waitFor(async () => !(await isMounted(mp.path)), 30_000, 'the helper-started daemon to unmount')

        const failed = await execFileP(HELPER, ['ikfs', mp.path, '-o', opts], {
          env: { ...env, IKFS_PRIVATE_KEY: 'private_wrong_key_for_helper' },
          timeout: 90_000,
        }).then(() => undefined, (e: { code: number; stderr: string }) => e)
        expect(failed?.code).toBe(32)
        expect(failed?.stderr).toContain('rejected the private key')
        expect(failed?.stderr).not.toContain('private_wrong_key_for_helper')
        expect(await isMounted(mp.path)).toBe(false)
      } finally {
        await forceUnmount(mp.path)
        await mp.cleanup()
        await rm(logDir, { recursive: true, force: true })
      }
    })

    it.skipIf(unshareRefused() !== undefined)('the README\'s /etc/fstab line mounts through mount(8) (mount -a, mount MOUNTPOINT), which runs the helper without PATH, and umount stops the daemon', async () => {
      // In a private mount namespace a folder holding only the helper covers /sbin, where mount(8) looks for
      // mount.fuse.ikfs; the mount lives and dies in that namespace, with the shell that made it. As from
      // fstab, the library comes from a config file named in the options, not from IKFS_* variables. The line
      // is README's own, with the test's mountpoint and config file (and a log file of its own).
      const readmeLine = /```fstab\n(?:#.*\n)*(photos: .*)\n```/.exec(await readFile(join(REPO_ROOT, 'README.md'), 'utf8'))?.[1]
      expect(readmeLine).toMatch(/^photos: +\/mnt\/photos +fuse\.ikfs +\S*config=\/etc\/ikfs\/ikfs\.conf +0 +0$/)
      const dir = await tempDir('ikfs-fstab-')
      const sbin = join(dir, 'sbin')
      const mp = join(dir, 'mnt')
      const conf = join(dir, 'ikfs.conf')
      await mkdir(sbin)
      await mkdir(mp)
      await symlink(HELPER, join(sbin, 'mount.fuse.ikfs'))
      await writeFile(conf, [
        '[photos]', 'type = imagekit', `endpoint = ${lib.endpoint}`, `private_key = ${lib.privateKey}`,
        `api_url = ${lib.url}`, `upload_url = ${lib.url}`, `cache_dir = ${join(dir, 'cache')}`, '',
      ].join('\n'), { mode: 0o600 })
      const fstab = join(dir, 'fstab')
      await writeFile(fstab, (readmeLine as string).replace('/mnt/photos', mp).replace('/etc/ikfs/ikfs.conf', `${conf},log_file=${join(dir, 'ikfs.log')}`) + '\n')
      // [i]: the pattern does not match this script's own command line.
      const daemons = `pgrep -f "[i]kfs.js mount photos: ${mp} " | wc -l`
      const script = [
        'set -e',
        'mount --bind "$SBIN" /sbin',
        'mount -T "$FSTAB" -a',
        'ls "$MP/photos"',
        'grep -c " $MP fuse.ikfs " /proc/self/mounts',
        'umount "$MP"',
        // The helper's daemon has gone once umount has returned and it has stored what it had.
        `for i in $(seq 1 100); do [ "$(${daemons})" = 0 ] && break; sleep 0.1; done`,
        `echo "daemons $(${daemons})"`,
        'mount -T "$FSTAB" "$MP"',
        'grep -c " $MP fuse.ikfs " /proc/self/mounts',
        'umount "$MP"',
      ].join('\n')
      try {
        const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IKFS_') && !k.startsWith('RCLONE_')))
        const env = { ...inherited, IKFS_NODE: process.execPath, SBIN: sbin, MP: mp, FSTAB: fstab }
        const { stdout } = await execFileP('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { env, timeout: 90_000 })
        expect(stdout.split('\n').filter((l) => l === '1')).toHaveLength(2) // mounted by mount -a, then by mount MOUNTPOINT
        expect(stdout.split('\n')).toEqual(expect.arrayContaining(['a.txt', 'daemons 0']))
        const log = await readFile(join(dir, 'ikfs.log'), 'utf8')
        expect(log).toContain('"msg":"mounted"')
        expect(log).not.toContain(lib.privateKey)
      } finally {
        await forceUnmount(mp)
        await rm(dir, { recursive: true, force: true })
      }
    })

    it.skipIf(unshareRefused() !== undefined)('a user who is not root mounts through fusermount3, reads, writes and unmounts, with no fusermount on PATH; what fusermount3 would refuse is refused first, saying why', async () => {
      // In a private mount namespace a /dev/fuse node open to everyone covers the real one (0600 on some
      // machines, 0666 on a stock Debian); everything after that runs as nobody.
      const dir = await tempDir('ikfs-nonroot-')
      const mp = join(dir, 'mnt')
      await mkdir(mp)
      await mkdir(join(dir, 'home'))
      await execFileP('chown', ['-R', `${NOBODY}:${NOBODY}`, dir])
      await chmod(dir, 0o755)
      // ikfs finds only fusermount3 on its PATH, as with FUSE 3 alone (Fedora, openSUSE, Arch): it once looked
      // for fusermount only, so it refused to mount there and could not unmount as a user who is not root.
      // (Made after the chown, which must never reach the real fusermount3 through the link.)
      await mkdir(join(dir, 'bin'))
      await symlink((await execFileP('sh', ['-c', 'command -v fusermount3'], { encoding: 'utf8' })).stdout.trim(), join(dir, 'bin', 'fusermount3'))
      const ikfs = `"${process.execPath}" "${BIN}"`
      const script = [
        'set -e',
        'mknod -m 666 "$DIR/fuse" c 10 229',
        'mount --bind "$DIR/fuse" /dev/fuse',
        // Its home and runtime folder (the status socket's) are in the test's folder, so nothing stays behind.
        `as_nobody() { setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups env HOME="$DIR/home" XDG_RUNTIME_DIR="$DIR/home" "$@"; }`,
        `ikfs_as_nobody() { as_nobody env PATH="$DIR/bin" ${ikfs} "$@"; }`,
        // allow_other without user_allow_other in fuse.conf: refused before mounting, with the fix.
        'printf "# mount_max = 1000\\n" > "$DIR/fuse.conf"',
        'mount --bind "$DIR/fuse.conf" /etc/fuse.conf',
        `if ikfs_as_nobody mount "$MP" --api-url "$IKFS_API_URL" --endpoint "$IKFS_ENDPOINT" --allow-other 2>"$DIR/refused.txt"; then echo "allow_other mounted"; fi`,
        'grep -c " $MP fuse" /proc/self/mounts || true',
        // A cache dir nobody may not write to (root's, from IKFS_CACHE_DIR): refused before mounting, saying why.
        `if ikfs_as_nobody mount "$MP" --api-url "$IKFS_API_URL" --endpoint "$IKFS_ENDPOINT" 2>"$DIR/rootcache.txt"; then echo "rootcache mounted"; fi`,
        // A folder nobody may not write to: refused before mounting (fusermount3's rule), saying why (with a
        // cache dir nobody can write, as the cache dir is checked first).
        'mkdir "$DIR/rootonly"',
        `if ikfs_as_nobody mount "$DIR/rootonly" --api-url "$IKFS_API_URL" --endpoint "$IKFS_ENDPOINT" --cache-dir "$DIR/cache" 2>"$DIR/notwritable.txt"; then echo "rootonly mounted"; fi`,
        `ikfs_as_nobody mount "$MP" --api-url "$IKFS_API_URL" --upload-url "$IKFS_API_URL" --endpoint "$IKFS_ENDPOINT" ` +
          '--cache-dir "$DIR/cache" --log-level info >"$DIR/daemon.log" 2>&1 &',
        'daemon=$!',
        'trap \'kill $daemon 2>/dev/null || true; wait\' EXIT',
        'for i in $(seq 1 300); do grep -q " $MP fuse.ikfs " /proc/self/mounts && break; sleep 0.1; done',
        'grep " $MP fuse.ikfs " /proc/self/mounts',
        'as_nobody ls "$MP/photos"',
        'as_nobody sh -c \'echo written by nobody > "$MP/photos/nobody.txt"\'',
        `ikfs_as_nobody unmount "$MP"`,
        'wait $daemon',
        'echo "daemon exit $?"',
      ].join('\n')
      try {
        const env = { ...process.env, ...libEnv(lib), DIR: dir, MP: mp }
        const { stdout } = await execFileP('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { env, timeout: 90_000 })
        expect(stdout).not.toContain('allow_other mounted')
        expect(await readFile(join(dir, 'refused.txt'), 'utf8')).toMatch(/--allow-other needs user_allow_other in \/etc\/fuse\.conf when not mounting as root \(echo user_allow_other \| sudo tee -a \/etc\/fuse\.conf\)/)
        expect(stdout.split('\n')[0]).toBe('0') // nothing was mounted by the refused attempt
        expect(stdout).not.toContain('rootcache mounted')
        expect(await readFile(join(dir, 'rootcache.txt'), 'utf8')).toMatch(/cannot mount: the cache dir .*: this user may not write there \(EACCES\) \(set --cache-dir to a folder this user can write\)/)
        expect(stdout).not.toContain('rootonly mounted')
        expect(await readFile(join(dir, 'notwritable.txt'), 'utf8')).toContain(`rootonly is not writable by you (uid ${NOBODY})`)
        expect(stdout).toContain(`user_id=${NOBODY},group_id=${NOBODY}`) // mounted by fusermount3 for nobody
        expect(stdout.split('\n')).toEqual(expect.arrayContaining(['a.txt', 'daemon exit 0']))
        expect(await readFile(join(lib.dataDir, 'files', 'photos', 'nobody.txt'), 'utf8')).toBe('written by nobody\n')
        expect(await readFile(join(dir, 'daemon.log'), 'utf8')).not.toContain(lib.privateKey)
      } finally {
        await forceUnmount(mp)
        await rm(dir, { recursive: true, force: true })
      }
    })
  })
})

/** Why `unshare -m` cannot run here, if it cannot (not root, or a container that forbids it). */
function unshareRefused(): string | undefined {
  const probe = spawnSync('unshare', ['-m', 'true'], { encoding: 'utf8', timeout: 10_000 })
  return probe.status === 0 ? undefined : (probe.stderr || probe.error?.message || 'unshare -m failed').trim()
}

describe('systemd units', () => {
  const units = [
    { file: 'ikfs@.service', instance: 'ikfs@photos.service' },
    { file: 'user/ikfs@.service', instance: 'ikfs@photos.service' },
  ]
  for (const unit of units) {
    it.skipIf(unshareRefused() !== undefined)(`${unit.file} passes systemd-analyze verify and keeps the mount visible`, async () => {
      const text = await readFile(join(REPO_ROOT, 'systemd', unit.file), 'utf8')
      // A private mount namespace would hide the mount from everyone else.
      for (const key of ['PrivateTmp', 'ProtectSystem', 'ProtectHome', 'PrivateDevices', 'PrivateMounts', 'ProtectKernelTunables',
        'ProtectKernelModules', 'ProtectControlGroups', 'ReadOnlyPaths', 'InaccessiblePaths', 'TemporaryFileSystem', 'BindPaths', 'DynamicUser']) {
        expect(text, key).not.toMatch(new RegExp(`^${key}=`, 'm'))
      }
      expect(text).toMatch(/^Type=exec$/m)
      expect(text).toMatch(/^Restart=on-failure$/m)
      expect(text).toMatch(/^After=network-online\.target$/m)
      expect(text).toMatch(/^Wants=network-online\.target$/m)
      expect(text).toMatch(/^ExecStartPre=-\S+ unmount /m)
      expect(text).toMatch(/^ExecStartPost=\S+ status --wait /m)
      expect(text).toMatch(/^KillSignal=SIGTERM$/m)
      expect(text).toMatch(/^TimeoutStopSec=15min$/m)

      // `ikfs` by name, found in systemd's own search path wherever `npm install -g` put it: /usr/bin with
      // Debian's or NodeSource's node (npm's global prefix /usr, as here), /usr/local/bin with nodejs.org's. The
      // units once named /usr/local/bin/ikfs, which is not there with the former. Verified as shipped, with ikfs
      // added to /usr/bin in a private mount namespace (an overlay: the real /usr/bin is not touched).
      for (const line of text.split('\n').filter((l) => /^Exec\w*=/.test(l) && / (mount|unmount|status) /.test(l))) {
        expect(line).toMatch(/^Exec\w+=-?ikfs /)
      }
      const dir = await tempDir('ikfs-units-')
      try {
        await mkdir(join(dir, 'upper'), { recursive: true })
        await mkdir(join(dir, 'work'))
        await writeFile(join(dir, 'ikfs@.service'), text)
        const verify = [
          `mount -t overlay overlay -o "lowerdir=/usr/bin,upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}" /usr/bin`,
          `ln -s "${BIN}" /usr/bin/ikfs`,
          `exec systemd-analyze verify "${join(dir, unit.instance)}"`,
        ].join(' && ')
        const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', verify], { stdio: ['ignore', 'ignore', 'pipe'] })
          let stderr = ''
          child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
          child.on('exit', (code) => resolve({ code, stderr }))
        })
        expect(result.stderr).toBe('')
        expect(result.code).toBe(0)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})
