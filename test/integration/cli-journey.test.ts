/**
 * A user's commands through bin/ikfs.js where the unit tests' fake runtime cannot show the problem: what a
 * real kernel, a real dead mount or a real network does to `ikfs mount` and `ikfs doctor`.
 */
import { execFile, spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fuseSkipReason, isMounted, mountLibrary, runIkfs, startLibrary, tempDir, type Library } from './harness.js'
import { Cleanup, REPO_ROOT, makeTempMountpoint } from '../helpers/mount.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping the cli journey: ${skip}`)

/** The flags that point a command at the emulator (the private key goes in the environment). */
function keysOf(lib: Library): string[] {
  return ['--api-url', lib.url, '--upload-url', lib.url, '--endpoint', lib.endpoint, '--public-key', lib.publicKey]
}

/** Runs `ikfs ARGS` with the library's private key in the environment, as a user who exported it. */
function ikfs(lib: Library, args: string[], timeoutMs = 30_000): ReturnType<typeof runIkfs> {
  return runIkfs(args, { env: { IKFS_PRIVATE_KEY: lib.privateKey }, timeoutMs })
}

describe.skipIf(skip !== null)('ikfs mount and doctor against an emulator', () => {
  let lib: Library
  let blackHole: Server
  const held: Socket[] = []
  const cleanup = new Cleanup()
  beforeAll(async () => {
    lib = await startLibrary({ files: { 'a.txt': 'a\n' } })
    // Takes connections and never answers, as a host behind a firewall that drops its replies.
    blackHole = createServer((socket) => void held.push(socket))
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
  })
  afterEach(() => cleanup.runOwn())
  afterAll(async () => {
    for (const socket of held) socket.destroy()
    blackHole?.close()
    await lib?.stop()
  })

  it('after a crash, clear the dead mount at once, also while the kernel still holds the attributes of its root (attr_timeout)', async () => {
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
    const doctor = await ikfs(lib, ['doctor', mp, ...keysOf(lib)])
    expect(doctor.stdout).toContain(`FAIL  mountpoint   ${mp} is a dead mount`)

    const second = await mountLibrary(lib, { mountpoint: mp })
    try {
      expect(second.log()).toContain('clearing a dead mount left by a crashed ikfs')
    } finally {
      expect(await second.stop()).toBe(0)
    }
    expect(await isMounted(mp)).toBe(false)
  })

  it('with a wrong API URL, say that the server there is not the Media API, instead of a bare "GET /v1/files: 404"', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    // The URL endpoint's path: an ImageKit server, but it answers 404 to the Media API's routes.
    const wrong = [...keysOf(lib), '--api-url', `${lib.url}/demo`]
    const mount = await ikfs(lib, ['mount', mp, ...wrong])
    expect(mount.code).toBe(1)
    expect(mount.stderr).toContain(`ikfs: cannot mount: ${lib.url}/demo is not the ImageKit Media API (is the API URL right?): GET /v1/files: 404`)
    const doctor = await ikfs(lib, ['doctor', mp, ...wrong])
    expect(doctor.stdout).toMatch(new RegExp(`^FAIL  credentials  ${lib.url}/demo is not the ImageKit Media API .*\\n {19}fix: .*--api-url$`, 'm'))
    expect(await isMounted(mp)).toBe(false)
  })

  it('with a URL endpoint that never answers, give up within the checks\' 15 s, naming it, not the API that answered', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const silent = `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`
    const mount = await ikfs(lib, ['mount', mp, ...keysOf(lib), '--endpoint', `${silent}/demo`], 40_000)
    expect(mount.code, mount.stderr).toBe(1)
    expect(mount.stderr).toContain(`ikfs: checks before mounting did not finish within 15s (the API accepted the keys, but the URL endpoint ${silent}/demo did not answer)`)
    expect(await isMounted(mp)).toBe(false)
  }, 60_000)

  it('with an upload host that never answers, give up within the checks\' 15 s, naming it alone', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const silent = `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`
    const mount = await ikfs(lib, ['mount', mp, ...keysOf(lib), '--upload-url', silent], 40_000)
    expect(mount.code, mount.stderr).toBe(1)
    expect(mount.stderr).toContain(`ikfs: checks before mounting did not finish within 15s (the API accepted the keys, but the upload host ${silent} did not answer)`)
    expect(await isMounted(mp)).toBe(false)
  }, 60_000)

  it('with a wrong upload URL, say so before mounting, in doctor too: a server that is not the Upload API, or none there', async () => {
    const mp = cleanup.add(await makeTempMountpoint()).path
    const notFound = createHttpServer((_req, res) => void res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'))
    await new Promise<void>((resolve) => notFound.listen(0, '127.0.0.1', resolve))
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
    await new Promise((resolve) => closed.close(resolve))
    const other = `http://127.0.0.1:${(notFound.address() as AddressInfo).port}`
    const notUpload = (url: string, answer: string): string =>
      `the upload host ${url} is not the ImageKit Upload API (is the upload URL right?): POST /api/v1/files/upload: ${answer}`
    try {
      for (const [uploadUrl, problem] of [
        // The URL endpoint: an ImageKit server, which refuses the upload's POST.
        [`${lib.url}/demo`, notUpload(`${lib.url}/demo`, '405 Only GET and HEAD are served by the URL endpoint.')],
        [other, notUpload(other, '404')],
        [refused, `cannot reach the upload host ${refused}: connection refused`],
      ] as const) {
        const wrong = [...keysOf(lib), '--upload-url', uploadUrl]
        const mount = await ikfs(lib, ['mount', mp, ...wrong])
        expect(mount.code, mount.stderr).toBe(1)
        expect(mount.stderr.split('\n').filter((line) => line.startsWith('ikfs:'))).toEqual([`ikfs: cannot mount: ${problem}`])
        expect(await isMounted(mp)).toBe(false)
        const doctor = await ikfs(lib, ['doctor', mp, ...wrong])
        expect(doctor.code).toBe(1)
        expect(doctor.stdout).toContain(`FAIL  hosts        ${problem}\n`)
      }
      // What the real Upload API answers to a POST without a file (400, a JSON message) passes; nothing is stored.
      const doctor = await ikfs(lib, ['doctor', mp, ...keysOf(lib)])
      expect(doctor.stdout).toContain(`ok    hosts        the URL endpoint ${lib.endpoint} and the upload host ${lib.url} answer\n`)
      expect((await lib.api<{ filePath: string }[]>('GET', '/v1/files')).map((f) => f.filePath)).toEqual(['/a.txt'])
    } finally {
      await new Promise((resolve) => notFound.close(resolve))
    }
  })
})

describe('output into a pipe that closes early (`ikfs doctor | head -1`)', () => {
  it('ends the command as usual, without an EPIPE stack trace', async () => {
    const home = await tempDir('ikfs-pipe-home-')
    // doctor writes a line per check as each ends: the lines after the first meet a closed pipe.
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/ikfs.js'), 'doctor', '--endpoint', 'http://127.0.0.1:1/demo', '--api-url', 'http://127.0.0.1:1', '--upload-url', 'http://127.0.0.1:1'], {
      env: { ...process.env, IKFS_PRIVATE_KEY: 'private_pipeTestKey', HOME: home }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.stdout.once('data', () => child.stdout.destroy())
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(stderr).not.toContain('EPIPE')
    expect(code).toBe(1)
  })
})
