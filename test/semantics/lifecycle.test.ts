// README Semantics R7 (signed reads) and R12 (start-up checks and clean lifecycle), on real mounts.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, isMounted, mountLibrary, run, runIkfs, startLibrary, tempDir, waitFor, type Library,
} from '../integration/harness.js'

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

describe.skipIf(skip !== null)('signed reads when the API names another URL endpoint', () => {
  let lib: Library
  const bytes = randomBytes(150_000)

  beforeAll(async () => {
    // The API names files by an endpoint this machine cannot reach (as a custom domain of the account may be).
    lib = await startLibrary({ emulatorArgs: ['--restrict-unsigned', '--public-url-base', 'http://cdn.invalid/elsewhere'], files: { 'pub/open.bin': bytes } })
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('R7: signed URLs are built on --endpoint, whatever endpoint the API names files by', async () => {
    const m = await mountLibrary(lib, { args: ['--only-signed'] })
    try {
      expect((await readFile(join(m.path, 'pub', 'open.bin'))).equals(bytes)).toBe(true)
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

  it('R12: wrong keys, an unreachable API, a bad mountpoint fail fast and mount nothing; stops are clean', async () => {
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

    // Nothing left to unmount: said so, with umount's exit status rather than a made-up "unmounted".
    const none = await runIkfs(['unmount', mp], { timeoutMs: 30_000 })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain(`nothing is mounted at ${mp}`)
    expect(none.stdout).toBe('')
    await run('rm', ['-rf', dir])
  })
})
