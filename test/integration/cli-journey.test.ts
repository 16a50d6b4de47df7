/**
 * A user's commands through bin/ikfs.js where the unit tests' fake runtime cannot show the problem: what a
 * real kernel, a real dead mount or a real network does to `ikfs mount` and `ikfs doctor`.
 */
import { execFile, spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fuseSkipReason, isMounted, mountLibrary, runIkfs, startLibrary, type Library } from './harness.js'
import { Cleanup, REPO_ROOT, makeTempMountpoint } from '../helpers/mount.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping the cli journey: ${skip}`)

/** The flags that point a command at the emulator (the private key goes in the environment). */
function keysOf(lib: Library): string[] {
  return ['--api-url', lib.url, '--upload-url', lib.url, '--endpoint', lib.endpoint, '--public-key', lib.publicKey]
}

describe.skipIf(skip !== null)('ikfs mount after a crash', () => {
  let lib: Library
  beforeAll(async () => {
    lib = await startLibrary({ files: { 'a.txt': 'a\n' } })
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('clears the dead mount at once, also while the kernel still holds the attributes of its root (attr_timeout)', async () => {
    const cleanup = new Cleanup()
    try {
      const mp = cleanup.add(await makeTempMountpoint()).path
      const first = await mountLibrary(lib, { mountpoint: mp, args: ['--attr-timeout', '10m'] })
      // The kernel now answers a stat of the root from its cache, without asking the daemon.
      await stat(mp)
      // A crash that fusermount3's auto_unmount does not clean up after: its watcher dies with the daemon.
      const { stdout } = await promisify(execFile)('pgrep', ['-P', String(first.daemon.child.pid), 'fusermount3'])
      for (const pid of stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL')
      first.kill9()
      await first.waitExit(10_000)
      await expect(stat(`${mp}/a.txt`)).rejects.toMatchObject({ code: 'ENOTCONN' })
      expect(await isMounted(mp)).toBe(true)
      const doctor = await runIkfs(['doctor', mp, ...keysOf(lib)], { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 30_000 })
      expect(doctor.stdout).toContain(`FAIL  mountpoint   ${mp} is a dead mount`)

      const second = await mountLibrary(lib, { mountpoint: mp })
      try {
        expect(second.log()).toContain('clearing a dead mount left by a crashed ikfs')
      } finally {
        expect(await second.stop()).toBe(0)
      }
      expect(await isMounted(mp)).toBe(false)
    } finally {
      await cleanup.runOwn()
    }
  })
})

describe.skipIf(skip !== null)('ikfs mount and doctor with a wrong API URL', () => {
  let lib: Library
  beforeAll(async () => {
    lib = await startLibrary()
  })
  afterAll(async () => {
    await lib?.stop()
  })

  it('say that the server there is not the Media API, instead of a bare "GET /v1/files: 404"', async () => {
    const cleanup = new Cleanup()
    try {
      const mp = cleanup.add(await makeTempMountpoint()).path
      // The URL endpoint's path: an ImageKit server, but it answers 404 to the Media API's routes.
      const wrong = [...keysOf(lib), '--api-url', `${lib.url}/demo`]
      const env = { IKFS_PRIVATE_KEY: lib.privateKey }
      const mount = await runIkfs(['mount', mp, ...wrong], { env, timeoutMs: 30_000 })
      expect(mount.code).toBe(1)
      expect(mount.stderr).toContain(`ikfs: cannot mount: ${lib.url}/demo is not the ImageKit Media API (is the API URL right?): GET /v1/files: 404`)
      const doctor = await runIkfs(['doctor', mp, ...wrong], { env, timeoutMs: 30_000 })
      expect(doctor.stdout).toMatch(new RegExp(`^FAIL  credentials  ${lib.url}/demo is not the ImageKit Media API .*\\n {19}fix: .*--api-url$`, 'm'))
      expect(await isMounted(mp)).toBe(false)
    } finally {
      await cleanup.runOwn()
    }
  })
})

describe.skipIf(skip !== null)('ikfs mount with a URL endpoint that never answers', () => {
  let lib: Library
  let blackHole: Server
  const held: Socket[] = []
  beforeAll(async () => {
    lib = await startLibrary()
    // Takes connections and never answers, as a host behind a firewall that drops its replies.
    blackHole = createServer((socket) => void held.push(socket))
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    for (const socket of held) socket.destroy()
    blackHole?.close()
    await lib?.stop()
  })

  it('gives up within its checks\' 15 s, naming the URL endpoint, not the API that answered', async () => {
    const cleanup = new Cleanup()
    try {
      const mp = cleanup.add(await makeTempMountpoint()).path
      const silent = `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`
      const mount = await runIkfs(['mount', mp, ...keysOf(lib), '--endpoint', `${silent}/demo`], {
        env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs: 40_000,
      })
      expect(mount.code, mount.stderr).toBe(1)
      expect(mount.stderr).toContain(`ikfs: checks before mounting did not finish within 15s (the API accepted the keys, but the URL endpoint ${silent}/demo or the upload host ${lib.url} did not answer)`)
      expect(await isMounted(mp)).toBe(false)
    } finally {
      await cleanup.runOwn()
    }
  }, 60_000)
})

describe('output into a pipe that closes early (`ikfs doctor | head -1`)', () => {
  it('ends the command as usual, without an EPIPE stack trace', async () => {
    // doctor writes a line per check as each ends: the lines after the first meet a closed pipe.
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/ikfs.js'), 'doctor', '--endpoint', 'http://127.0.0.1:1/demo', '--api-url', 'http://127.0.0.1:1', '--upload-url', 'http://127.0.0.1:1'], {
      env: { ...process.env, IKFS_PRIVATE_KEY: 'private_pipeTestKey', HOME: REPO_ROOT }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.stdout.once('data', () => child.stdout.destroy())
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(stderr).not.toContain('EPIPE')
    expect(code).toBe(1)
  })
})
