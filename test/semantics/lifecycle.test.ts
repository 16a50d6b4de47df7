// README Semantics R7 (signed reads) and R12 (start-up checks and clean lifecycle), on real mounts.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, isMounted, mountLibrary, run, runIkfs, startLibrary, tempDir, waitFor, type Library,
} from '../integration/harness.js'
import { connectionId, findFuseMount } from '../../src/fuse/mountinfo.js'
import { mountFusectl } from '../../src/fuse/unmount.js'
import { Cleanup, REPO_ROOT, makeTempMountpoint, spawnDaemon } from '../helpers/mount.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping lifecycle semantics: ${skip}`)

describe.skipIf(skip !== null)('signed reads', () => {
  let lib: Library
  const secretBytes = randomBytes(300_000)
  const publicBytes = randomBytes(200_000)

  beforeAll(async () => {
    lib = await startLibrary({ emulatorArgs: ['--restrict-unsigned'], files: { 'pub/open.bin': publicBytes } })
    await lib.upload('/priv', 'secret.bin', secretBytes, { isPrivateFile: 'true' })
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('R7: private files and --only-signed read through expiring signed URLs; no secret reaches the log', async () => {
    const plain = await mountLibrary(lib, { args: ['--log-level', 'debug'] })
    try {
      // restrict-unsigned is on: without --only-signed a public file is refused (EACCES), a private one is signed.
      await expect(readFile(join(plain.path, 'pub', 'open.bin'))).rejects.toMatchObject({ code: 'EACCES' })
      expect((await readFile(join(plain.path, 'priv', 'secret.bin'))).equals(secretBytes)).toBe(true)
    } finally {
      await plain.stop()
    }
    const signed = await mountLibrary(lib, { args: ['--only-signed', '--signed-url-expiry', '10m', '--log-level', 'debug'] })
    try {
      expect((await readFile(join(signed.path, 'pub', 'open.bin'))).equals(publicBytes)).toBe(true)
      expect((await readFile(join(signed.path, 'priv', 'secret.bin'))).equals(secretBytes)).toBe(true)
    } finally {
      await signed.stop()
    }
    for (const log of [plain.log(), signed.log()]) {
      expect(log.length).toBeGreaterThan(0)
      expect(log).not.toContain(lib.privateKey)
      expect(log).not.toMatch(/ik-s=[0-9a-f]{40}/)
    }
  })
})

describe.skipIf(skip !== null)('signed reads from a machine whose clock is behind ImageKit\'s', () => {
  let lib: Library
  const secretBytes = randomBytes(100_000)

  beforeAll(async () => {
    // ImageKit's clock 2 h ahead of this machine's: a URL signed for --signed-url-expiry (1 h) by this clock is past by its.
    lib = await startLibrary({ emulatorArgs: ['--restrict-unsigned', '--clock-offset-ms', String(2 * 3600_000)] })
    await lib.upload('/priv', 'secret.bin', secretBytes, { isPrivateFile: 'true' })
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('R7: the mount says so in one line and signs by ImageKit\'s time, so private files still read', async () => {
    const mounted = await mountLibrary(lib)
    try {
      expect((await readFile(join(mounted.path, 'priv', 'secret.bin'))).equals(secretBytes)).toBe(true)
    } finally {
      await mounted.stop()
    }
    const warnings = mounted.log().split('\n').filter((line) => line.includes('timedatectl set-ntp true'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/this machine's clock is 2h00m behind ImageKit's \(the API's Date header\): .* signs them by ImageKit's time instead/)
    expect(mounted.log()).not.toContain('a signed URL was refused')
  })
})

describe.skipIf(skip !== null)('signed reads right after the clocks step apart', () => {
  let lib: Library
  const before = randomBytes(80_000)
  const after = randomBytes(90_000)

  beforeAll(async () => {
    lib = await startLibrary({ emulatorArgs: ['--restrict-unsigned'] })
    await lib.upload('/priv', 'before.bin', before, { isPrivateFile: 'true' })
    await lib.upload('/priv', 'after.bin', after, { isPrivateFile: 'true' })
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('R7: the first read after this machine\'s clock falls 2 h behind ImageKit\'s (stepped while mounted) succeeds: the refusal re-checks the clocks and signs again', async () => {
    const mounted = await mountLibrary(lib)
    try {
      // In step: the listing of /priv (both files) is the last API answer before the step.
      expect((await readFile(join(mounted.path, 'priv', 'before.bin'))).equals(before)).toBe(true)
      // ImageKit's clock 2 h ahead from now on, as when this machine's clock is stepped back: a URL signed for
      // 1 h by the skew measured so far is past by ImageKit's clock, and no API answer has shown the step yet.
      await lib.api('POST', '/_emulator/clock', { offsetMs: 2 * 3600_000 })
      expect((await readFile(join(mounted.path, 'priv', 'after.bin'))).equals(after)).toBe(true)
    } finally {
      await mounted.stop()
    }
    const log = mounted.log()
    expect(log).not.toContain('a signed URL was refused')
    expect(log.split('\n').filter((line) => line.includes('signed again by ImageKit\'s time'))).toHaveLength(1)
  })
})

describe.skipIf(skip !== null)('signed reads when the API names another URL endpoint', () => {
  let lib: Library
  const bytes = randomBytes(150_000)
  const oddBytes = randomBytes(50_000)

  beforeAll(async () => {
    // The API names files by an endpoint this machine cannot reach (as a custom domain of the account may be).
    lib = await startLibrary({
      emulatorArgs: ['--restrict-unsigned', '--public-url-base', 'http://cdn.invalid/elsewhere'],
      files: { 'pub/open.bin': bytes, 'pub/a|b^[c].bin': oddBytes },
    })
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('R7: signed URLs are built on --endpoint, whatever endpoint the API names files by', async () => {
    const m = await mountLibrary(lib, { args: ['--only-signed'] })
    try {
      expect((await readFile(join(m.path, 'pub', 'open.bin'))).equals(bytes)).toBe(true)
      // ikfs's own URL for a name whose | ^ [ ] it keeps as the SDKs do (the API's url escapes them).
      expect((await readFile(join(m.path, 'pub', 'a|b^[c].bin'))).equals(oddBytes)).toBe(true)
    } finally {
      await m.stop()
    }
  })
})

describe.skipIf(skip !== null)('start-up checks and lifecycle', () => {
  let lib: Library
  beforeAll(async () => {
    lib = await startLibrary({ files: { 'a.txt': 'a\n' } })
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('R12: wrong keys, an unreachable API or URL endpoint, an upload URL that is not the Upload API, a bad mountpoint fail fast and mount nothing; stops are clean', async () => {
    const dir = await tempDir('ikfs-r12-')
    const mp = join(dir, 'mnt')
    await mkdir(mp)
    const base = ['mount', mp, '--api-url', lib.url, '--upload-url', lib.url, '--endpoint', lib.endpoint, '--public-key', lib.publicKey]

    const wrongKey = await runIkfs([...base], { env: { IKFS_PRIVATE_KEY: 'private_wrong_key_123' }, timeoutMs: 30_000 })
    expect(wrongKey.code).toBe(1)
    expect(wrongKey.stderr).toMatch(/authenticat|private key/i)
    expect(wrongKey.stderr).not.toContain('private_wrong_key_123')
    expect(await isMounted(mp)).toBe(false)

    const unreachable = await runIkfs(['mount', mp, '--api-url', 'http://127.0.0.1:9', '--upload-url', 'http://127.0.0.1:9', '--endpoint', 'http://127.0.0.1:9/demo', '--public-key', 'p'], {
      env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 60_000,
    })
    expect(unreachable.code).toBe(1)
    expect(unreachable.stderr).toMatch(/reach|refused|connect/i)
    expect(await isMounted(mp)).toBe(false)

    // The API answers, the URL endpoint (where every read goes) does not.
    const noEndpoint = await runIkfs(['mount', mp, '--api-url', lib.url, '--upload-url', lib.url, '--endpoint', 'http://127.0.0.1:9/demo', '--public-key', lib.publicKey], {
      env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 60_000,
    })
    expect(noEndpoint.code).toBe(1)
    expect(noEndpoint.stderr).toContain('cannot reach the URL endpoint http://127.0.0.1:9/demo: connection refused')
    expect(await isMounted(mp)).toBe(false)

    // The upload URL names an ImageKit server, the URL endpoint, that answers but takes no uploads.
    const notUploadApi = await runIkfs([...base, '--upload-url', lib.endpoint], { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 60_000 })
    expect(notUploadApi.code).toBe(1)
    expect(notUploadApi.stderr).toContain(`cannot mount: the upload host ${lib.endpoint} is not the ImageKit Upload API (is the upload URL right?)`)
    expect(await isMounted(mp)).toBe(false)

    const notDir = join(dir, 'file')
    await writeFile(notDir, 'x')
    const badMp = await runIkfs(['mount', notDir, ...base.slice(2)], { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 30_000 })
    expect(badMp.code).not.toBe(0)
    expect(badMp.stderr).toMatch(/not a directory|mountpoint/i)

    // A crashed daemon leaves its mount behind (or auto_unmount clears it); the next mount must work either way.
    const crashed = await mountLibrary(lib, { mountpoint: mp })
    expect(await readdir(mp)).toContain('a.txt')
    crashed.kill9()
    const again = await mountLibrary(lib, { mountpoint: mp })
    expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('a\n')
    expect(await again.stop()).toBe(0)
    expect(await isMounted(mp)).toBe(false)

    // `ikfs unmount` clears a live mount (a dead one, still listed in mountinfo, goes through the same unmountPath: fuse-adapter.test.ts).
    const third = await mountLibrary(lib, { mountpoint: mp })
    const un = await runIkfs(['unmount', mp], { timeoutMs: 30_000 })
    expect(un.code).toBe(0)
    expect(await isMounted(mp)).toBe(false)
    expect(await third.waitExit(20_000)).toBe(0)
    // A live mount that a program uses stays mounted, saying so (as umount(8) does); --lazy detaches it.
    const used = await mountLibrary(lib, { mountpoint: mp })
    const inside = spawn('sleep', ['30'], { cwd: mp, stdio: 'ignore' })
    try {
      await waitFor(async () => (await readlink(`/proc/${inside.pid}/cwd`).catch(() => undefined)) === mp || undefined, 5_000, 'sleep in the mount')
      const refused = await runIkfs(['unmount', mp], { timeoutMs: 30_000 })
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain(`${mp} is in use: a program has a file or folder open in it`)
      expect(await isMounted(mp)).toBe(true)
      expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('a\n')
      const lazy = await runIkfs(['unmount', '--lazy', mp], { timeoutMs: 30_000 })
      expect(lazy.code, lazy.stderr).toBe(0)
      expect(await isMounted(mp)).toBe(false)
      expect(await used.waitExit(20_000)).toBe(0)
    } finally {
      inside.kill()
      await used.stop()
    }

    // Stopped while a program writes a file: detached, the file is served until its program closes it, then stored.
    // The last: a writer whose first half a close of a duplicate descriptor stored already, who writes on.
    for (const stop of ['SIGTERM', 'ikfs unmount --lazy', 'SIGINT after a stored close'] as const) {
      const writing = await mountLibrary(lib, { mountpoint: mp })
      const bytes = randomBytes(3 * 1024 * 1024 + 17)
      const writer = startWriter(join(mp, `written-${stop.length}.bin`), bytes, stop === 'SIGINT after a stored close')
      try {
        await writer.opened
        if (stop !== 'ikfs unmount --lazy') writing.daemon.child.kill(stop === 'SIGTERM' ? 'SIGTERM' : 'SIGINT')
        else expect((await runIkfs(['unmount', '--lazy', mp], { timeoutMs: 30_000 })).stdout).toContain('goes on serving 1 file that programs are still writing')
        await waitFor(async () => !(await isMounted(mp)) || undefined, 10_000, `${stop}: the mount detached`)
        expect(await writing.waitExit(1_000), `${stop}: the daemon waits for the writer`).toBeNull()
        // Its last write and close succeed; a new file, even from inside the mount, is refused meanwhile.
        expect(await writer.finish(), stop).toEqual(['another file: EROFS', 'closed'])
        expect(await writing.waitExit(20_000)).toBe(0)
        const stored = await lib.details(`/written-${stop.length}.bin`)
        expect(stored.size).toBe(bytes.length)
        expect((await readFile(join(lib.dataDir, 'files', `written-${stop.length}.bin`))).equals(bytes)).toBe(true)
        expect(writing.log()).toContain('waiting for programs to close 1 file they are writing')
      } finally {
        writer.kill()
        await writing.stop()
      }
    }
    // A second signal does not wait: the writer's next write fails, and nothing half-written is stored.
    const forced = await mountLibrary(lib, { mountpoint: mp })
    const writer = startWriter(join(mp, 'forced.bin'), randomBytes(1024 * 1024))
    try {
      await writer.opened
      forced.daemon.child.kill('SIGTERM')
      await waitFor(() => forced.log().includes('waiting for programs to close') || undefined, 10_000, 'the daemon waiting for the writer')
      forced.daemon.child.kill('SIGTERM')
      expect(await forced.waitExit(20_000)).toBe(143)
      expect((await writer.finish()).at(-1)).toMatch(/^failed: (ENOTCONN|ECONNABORTED)/)
      expect(forced.log()).toContain('still being written: not stored')
      // The file a program had open is not stored, so nothing is left for the next mount.
      expect(forced.log()).toContain('stopped by a second signal: nothing stays in the spool')
      await expect(lib.details('/forced.bin')).rejects.toThrow()
    } finally {
      writer.kill()
      await forced.stop()
    }

    // Nothing left to unmount: said so, with umount's exit status rather than a made-up "unmounted".
    const none = await runIkfs(['unmount', mp], { timeoutMs: 30_000 })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain(`nothing is mounted at ${mp}`)
    expect(none.stdout).toBe('')
    await run('rm', ['-rf', dir])
  })

  it("R12: a file a child process closes just as the stop detaches the mount is stored, though the kernel drops its release", async () => {
    const dir = await tempDir('ikfs-r12-release-')
    const mp = join(dir, 'mnt')
    await mkdir(mp)
    // The race is between the kernel's detach and the daemon's noticing it: a few rounds make it likely to be hit.
    // The last rounds on the fuse-native fallback, which says nothing when its session ends: the daemon waited forever.
    for (let round = 0; round < 8; round++) {
      const m = await mountLibrary(lib, { mountpoint: mp, ...(round >= 5 ? { args: ['--fuse-binding', 'fuse-native'] } : {}) })
      const bytes = randomBytes(300_000 + round)
      const writer = startDetachWriter(mp, join(mp, `released-${round}.bin`), bytes)
      try {
        await writer.written
        m.daemon.child.kill('SIGTERM')
        expect(await writer.finish(), `round ${round}`).toBe('closed')
        expect(await m.waitExit(20_000)).toBe(0)
        expect((await readFile(join(lib.dataDir, 'files', `released-${round}.bin`))).equals(bytes), `round ${round}: stored`).toBe(true)
      } finally {
        writer.kill()
        await m.stop()
      }
    }
    await run('rm', ['-rf', dir])
  })

  it('R12: a dead mount is cleared also when the mount\'s own check of it was waiting as its daemon died (ECONNABORTED)', async () => {
    const cleanup = new Cleanup()
    try {
      const mp = cleanup.add(await makeTempMountpoint()).path
      // A mount of ikfs's type whose daemon hangs (stopped); without auto_unmount, only the next mount clears it.
      const hung = cleanup.add(await spawnDaemon([mp, '--no-auto-unmount'], {
        command: [process.execPath, join(REPO_ROOT, 'test/fixtures/memfs-daemon.mjs')], readyPattern: /^mounted /m, mountpoint: mp, timeoutMs: 20_000,
      }))
      const entry = await findFuseMount(mp)
      hung.child.kill('SIGSTOP')
      await mountFusectl() // a fresh machine may not have it mounted (no test before this one aborted a mount)
      const waitingFile = `/sys/fs/fuse/connections/${connectionId(entry!)}/waiting`
      const mounting = mountLibrary(lib, { mountpoint: mp })
      mounting.catch(() => undefined)
      // The new mount's stat of the mountpoint waits in the kernel; the hung daemon then dies under it.
      await waitFor(async () => Number(await readFile(waitingFile, 'utf8')) > 0 || undefined, 20_000, 'the stat of the hung mount')
      hung.child.kill('SIGKILL')
      const m = await mounting
      try {
        expect(m.log()).toContain('clearing a dead mount left by a crashed ikfs')
        expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('a\n')
      } finally {
        expect(await m.stop()).toBe(0)
      }
      expect(await isMounted(mp)).toBe(false)
    } finally {
      await cleanup.runOwn() // not run(): it would stop the shared emulator too
    }
  })

  it('R12: a hung mount at the mountpoint fails the mount, and doctor\'s mountpoint check, within seconds, saying so; both commands exit', async () => {
    const cleanup = new Cleanup()
    try {
      const mp = cleanup.add(await makeTempMountpoint()).path
      const hung = cleanup.add(await spawnDaemon([mp, '--no-auto-unmount'], {
        command: [process.execPath, join(REPO_ROOT, 'test/fixtures/memfs-daemon.mjs')], readyPattern: /^mounted /m, mountpoint: mp, timeoutMs: 20_000,
      }))
      hung.child.kill('SIGSTOP')
      // A stat of it waits in the kernel until the hung daemon dies, which it does long after each command's
      // answer (5 s) would be due: a command that waits on that stat, to answer or to exit, takes until then.
      const killer = setTimeout(() => hung.child.kill('SIGKILL'), 40_000)
      const keys = ['--api-url', lib.url, '--upload-url', lib.url, '--endpoint', lib.endpoint, '--public-key', lib.publicKey]
      const ikfs = async (args: string[]) => {
        const started = Date.now()
        const result = await runIkfs(args, { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 50_000 })
        return { ...result, ms: Date.now() - started }
      }
      try {
        const refused = await ikfs(['mount', mp, ...keys])
        expect(refused.code, refused.stderr).toBe(1)
        expect(refused.stderr).toContain(`cannot use mountpoint ${mp}: it does not answer (a hung FUSE mount? run: ikfs unmount ${mp})`)
        // The message comes after 5 s; the exit within seconds of it.
        expect(refused.ms).toBeLessThan(12_000)

        const doctor = await ikfs(['doctor', mp, ...keys])
        expect(doctor.code, doctor.stderr).toBe(1)
        expect(doctor.stdout).toMatch(new RegExp(`^FAIL  mountpoint   ${mp} is a hung mount .*\n {19}fix: ikfs unmount ${mp}$`, 'm'))
        expect(doctor.stdout).toMatch(/^ok {4}credentials/m)
        expect(doctor.ms).toBeLessThan(12_000)
      } finally {
        clearTimeout(killer)
        hung.child.kill('SIGKILL')
      }
    } finally {
      await cleanup.runOwn() // not run(): it would stop the shared emulator too
    }
  }, 90_000)

  it('R12: mount --daemon returns once the mount is live, leaving its daemon in the background; a failure says why', async () => {
    const dir = await tempDir('ikfs-r12-daemon-')
    const mp = join(dir, 'mnt')
    await mkdir(mp)
    const logFile = join(dir, 'logs', 'daemon.log')
    const args = ['mount', mp, '--daemon', '--log-file', logFile, '--cache-dir', join(dir, 'cache'), '--api-url', lib.url,
      '--upload-url', lib.url, '--endpoint', lib.endpoint, '--public-key', lib.publicKey]
    let pid: number | undefined
    try {
      // The same line and exit code as in the foreground, and nothing left running or mounted.
      const refused = await runIkfs(args, { env: { IKFS_PRIVATE_KEY: 'private_wrong_key_123' }, timeoutMs: 60_000 })
      expect(refused.code, refused.stderr).toBe(1)
      expect(refused.stderr).toMatch(/^ikfs: cannot mount: .*rejected the private key/m)
      expect(refused.stderr).not.toContain('private_wrong_key_123')
      expect(await isMounted(mp)).toBe(false)
      expect(await processesServing(mp)).toEqual([])
      // Warnings about the configuration reach the terminal, not only the daemon's log.
      const flagged = await runIkfs([...args, '--private-key', 'private_wrong_key_123'], { timeoutMs: 60_000 })
      expect(flagged.code, flagged.stderr).toBe(1)
      expect(flagged.stderr).toMatch(/^ikfs: warning: the private key was given as a command-line flag, which other users can see in `ps`/m)
      expect(flagged.stderr).not.toContain('private_wrong_key_123')
      // A daemon not live within --daemon-wait (its API answers too slowly) is stopped, and the command fails.
      await lib.setFaults({ latencyMs: 10_000, scope: ['api'] })
      try {
        const slow = await runIkfs([...args, '--daemon-wait', '1s'], { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 60_000 })
        expect(slow.code, slow.stderr).toBe(1)
        // What it was still doing and where its log is, there and in the log (which was left empty before).
        expect(slow.stderr).toMatch(/^ikfs: the mount was not live within 1s: it was still checking the keys with the Media API .*; stopping the daemon/m)
        expect(slow.stderr).toContain('--daemon-wait is shorter than the 15s the checks before mounting may take')
        expect(slow.stderr).toContain(`Its log: ${logFile}`)
        await waitFor(async () => (await processesServing(mp)).length === 0 || undefined, 10_000, 'the slow daemon stops')
        expect(await isMounted(mp)).toBe(false)
        expect(await readFile(logFile, 'utf8')).toMatch(/"msg":"stopped before the mount was live, while checking the keys with the Media API/)
        // Ctrl-C while it waits: exit code 130, as in the foreground, and the daemon stops too.
        const waiting = spawn(process.execPath, [join(REPO_ROOT, 'bin/ikfs.js'), ...args], { env: { ...process.env, IKFS_PRIVATE_KEY: lib.privateKey }, stdio: 'ignore' })
        const ended = new Promise<number | null>((resolve) => waiting.on('exit', resolve))
        // The command and its daemon child.
        await waitFor(async () => (await processesServing(mp)).length === 2 || undefined, 10_000, 'the daemon to start')
        waiting.kill('SIGINT')
        expect(await ended).toBe(130)
        await waitFor(async () => (await processesServing(mp)).length === 0 || undefined, 10_000, 'the interrupted daemon stops')
        expect(await isMounted(mp)).toBe(false)
      } finally {
        await lib.setFaults({ latencyMs: 0 })
      }

      const started = await runIkfs(args, { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 60_000 })
      expect(started.code, started.stderr).toBe(0)
      expect(started.stdout).toBe(`ikfs: mounted ${lib.endpoint} at ${mp}\n`)
      pid = Number(/running in the background \(pid (\d+)\), logging to (.*)$/m.exec(started.stderr)?.[1])
      expect(started.stderr).toContain(`logging to ${logFile}`)
      expect(await processesServing(mp)).toEqual([pid])
      // Its own session, no terminal, and no folder kept busy.
      const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')
      expect(Number(stat[3])).toBe(pid) // session id
      expect(await readlink(`/proc/${pid}/cwd`)).toBe('/')
      expect(await readFile(join(mp, 'a.txt'), 'utf8')).toBe('a\n')
      const log = await readFile(logFile, 'utf8')
      expect(log).toContain('"msg":"mounted"')
      expect(log).not.toContain(lib.privateKey)

      expect((await runIkfs(['unmount', mp], { timeoutMs: 30_000 })).code).toBe(0)
      await waitFor(async () => (await processesServing(mp)).length === 0 || undefined, 20_000, 'the daemon exits')
      expect(await isMounted(mp)).toBe(false)

      // A mistyped ImageKit id in --endpoint: its host answers, so the mount goes live, with a warning at the terminal.
      const typo = await runIkfs(args.map((a) => (a === lib.endpoint ? `${lib.endpoint}x` : a)), { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 60_000 })
      expect(typo.code, typo.stderr).toBe(0)
      pid = Number(/running in the background \(pid (\d+)\)/.exec(typo.stderr)?.[1])
      expect(typo.stderr).toMatch(/^ikfs: warning: the URL endpoint \S+x does not match the library's files, whose URLs start with \S+\/demo: signed reads/m)
      expect((await runIkfs(['unmount', mp], { timeoutMs: 30_000 })).code).toBe(0)
      await waitFor(async () => (await processesServing(mp)).length === 0 || undefined, 20_000, 'the daemon exits')
    } finally {
      if (await isMounted(mp)) await runIkfs(['unmount', '--lazy', mp], { timeoutMs: 30_000 })
      if (pid !== undefined && (await processesServing(mp)).includes(pid)) process.kill(pid, 'SIGKILL')
      await run('rm', ['-rf', dir])
    }
  })
})

/** Pids of `ikfs mount` processes whose command line names `mountpoint`. */
async function processesServing(mountpoint: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0')
    if (argv.includes('mount') && argv.includes(mountpoint)) pids.push(Number(entry))
  }
  return pids
}

/**
 * A program writing `path` in another process, from the folder of `path` (its working folder): it writes
 * the first half and reports "opened", then waits for finish() to try to create another file beside it and
 * to write the rest and close; finish() resolves with its lines ("another file: created" or "another file:
 * CODE", then "closed" or "failed: CODE"). With `closeDuplicate`, the first half is stored before "opened"
 * by the close of a duplicate of its descriptor, as bash's `echo one >&3` does (Python: Node has no dup).
 */
/**
 * `cmd > f &` whose shell lets go of the file at once: the child writes `bytes`, then closes the file the moment
 * the mount leaves the namespace (the daemon's lazy detach), before the daemon has noticed the stop.
 */
function startDetachWriter(mountpoint: string, path: string, bytes: Buffer): { written: Promise<void>; finish(): Promise<string>; kill(): void } {
  const python = `
import os, sys
mnt, path = sys.argv[1], sys.argv[2]
data = sys.stdin.buffer.read()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
child = os.fork()
if child == 0:
    os.write(fd, data)
    print('written', flush=True)
    while (' %s ' % mnt) in open('/proc/self/mountinfo').read():
        pass
    try:
        os.close(fd)
        print('closed', flush=True)
    except OSError as e:
        print('failed: %d' % e.errno, flush=True)
    os._exit(0)
os.close(fd)
os.waitpid(child, 0)
`
  const child = spawn('python3', ['-c', python, mountpoint, path], { stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdin.end(bytes)
  let out = ''
  const ended = new Promise<void>((resolve) => child.stdout.on('end', resolve))
  const written = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('written')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before writing: ${out}`)))
  })
  return {
    written,
    async finish() {
      await ended
      return out.split('\n').filter((line) => line !== '' && line !== 'written').join('; ')
    },
    kill: () => void child.kill('SIGKILL'),
  }
}

function startWriter(path: string, bytes: Buffer, closeDuplicate = false): { opened: Promise<void>; finish(): Promise<string[]>; kill(): void } {
  const python = `
import errno, os, signal, sys
data = sys.stdin.buffer.read()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
half = len(data) // 2
os.write(fd, data[:half])
os.close(os.dup(fd))
os.chdir(os.path.dirname(sys.argv[1]))
def finish(*_):
    try:
        os.close(os.open('another.bin', os.O_WRONLY | os.O_CREAT, 0o644))
        print('another file: created', flush=True)
    except OSError as e:
        print('another file: ' + errno.errorcode[e.errno], flush=True)
    try:
        os.write(fd, data[half:])
        os.close(fd)
        print('closed', flush=True)
    except OSError as e:
        print('failed: ' + errno.errorcode[e.errno], flush=True)
    sys.exit(0)
signal.signal(signal.SIGUSR1, finish)
print('opened', flush=True)
signal.alarm(60)
while True:
    signal.pause()
`
  const script = `
    const fs = require('node:fs')
    const data = fs.readFileSync(0)
    const fd = fs.openSync(process.argv[1], 'w')
    const half = data.length >> 1
    fs.writeSync(fd, data, 0, half)
    process.stdout.write('opened\\n')
    process.chdir(require('node:path').dirname(process.argv[1])) // holds the mount's folder, as a shell in it does
    process.on('SIGUSR1', () => {
      try {
        fs.closeSync(fs.openSync('another.bin', 'w'))
        process.stdout.write('another file: created\\n')
      } catch (e) {
        process.stdout.write('another file: ' + e.code + '\\n')
      }
      try {
        fs.writeSync(fd, data, half, data.length - half)
        fs.closeSync(fd)
        process.stdout.write('closed\\n')
      } catch (e) {
        process.stdout.write('failed: ' + e.code + '\\n')
      }
      process.exit(0)
    })
    setTimeout(() => process.exit(2), 60000)
  `
  const child = closeDuplicate
    ? spawn('python3', ['-c', python, path], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, ['-e', script, path], { stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdin.end(bytes)
  let out = ''
  const lines = new Promise<void>((resolve) => child.stdout.on('end', resolve))
  const opened = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('opened')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before opening: ${out}`)))
  })
  return {
    opened,
    async finish() {
      child.kill('SIGUSR1')
      await lines
      return out.split('\n').filter((line) => line !== '' && line !== 'opened')
    },
    kill: () => void child.kill('SIGKILL'),
  }
}
