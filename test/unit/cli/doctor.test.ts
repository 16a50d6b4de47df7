/**
 * `ikfs doctor`'s fusermount line names the helper that mounts will run: fusermount3 for ikfs's libfuse3
 * binding, fusermount for the fuse-native fallback. It once took whichever of fusermount and fusermount3
 * it saw first, so it passed where the mount itself would then fail, and named another program than the
 * one ikfs runs.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fakePaths } from '../../helpers/fake-path.js'
import {
  checkClock, checkCredentials, checkDevFuse, checkFuse2Helper, checkFuse3Binding, checkHosts, checkMountpoint, formatCheck, runDoctor,
} from '../../../src/cli/doctor.js'
import { builtAddon } from '../../../native/built-addon.js'
import { realRuntime } from '../../../src/cli/runtime.js'
import { loadConfig } from '../../../src/config/load.js'
import { startTcpServer } from '../imagekit/helpers.js'
import { loadFuse3 } from '../../../native/fuse3.js'
import { testCli } from './fakes.js'

const paths = fakePaths('ikfs-doctor-')
afterAll(() => paths.remove())
const pathWith = paths.pathWith
const work = paths.dir

const fuse3Builds = (() => {
  try {
    loadFuse3()
    return true
  } catch {
    return false
  }
})()

/** The doctor's `check` line (and its fix line, if any), run with this PATH and these flags. */
async function doctorLine(check: string, path: string, flags: string[] = []): Promise<string> {
  const { ctx, stdout } = testCli({
    PATH: path,
    IKFS_ENDPOINT: 'https://ik.imagekit.io/acme',
    IKFS_PRIVATE_KEY: 'private_doctor_test',
    IKFS_CONFIG: join(work, 'none.conf'),
    IKFS_CACHE_DIR: join(work, 'cache'),
    // Refused at once: the clock check does not wait for a network.
    IKFS_API_URL: 'http://127.0.0.1:1',
  }, work)
  await runDoctor(flags, ctx)
  const lines = stdout.text.split('\n')
  const at = lines.findIndex((l) => l.slice(6).startsWith(`${check} `))
  expect(at).toBeGreaterThanOrEqual(0)
  return lines.slice(at, lines[at + 1]?.startsWith(' ') ? at + 2 : at + 1).join('\n')
}

const fusermountLine = (path: string, flags: string[] = []): Promise<string> => doctorLine('fusermount', path, flags)

describe('ikfs doctor: fusermount', () => {
  it.skipIf(!fuse3Builds)('names fusermount3 for ikfs\'s libfuse3 binding, also where fusermount is there too', async () => {
    const dir = pathWith('fusermount', 'fusermount3')
    expect(await fusermountLine(dir)).toBe(`ok    fusermount   ${dir}/fusermount3 (setuid, used by ikfs's libfuse3 binding to mount as this user)`)
  })

  it('names fusermount for fuse-native, and fails where only fusermount3 is there, saying what to do', async () => {
    const both = pathWith('fusermount', 'fusermount3')
    expect(await fusermountLine(both, ['--fuse-binding', 'fuse-native'])).toBe(
      `ok    fusermount   ${both}/fusermount (setuid, used by fuse-native (libfuse2) to mount as this user)`)
    expect(await fusermountLine(pathWith('fusermount3'), ['--fuse-binding', 'fuse-native'])).toMatch(
      /^FAIL  fusermount   the fuse-native fallback \(libfuse2\) mounts through fusermount, which is not on PATH \(only FUSE 3's fusermount3 is\)\n {19}fix: build ikfs's libfuse3 binding/)
  })

  it('fails without either, naming both', async () => {
    expect(await fusermountLine(pathWith())).toMatch(/^FAIL  fusermount   neither fusermount3 nor fusermount is on PATH/)
  })
})

/**
 * The fuse-native fallback's helper addon (native/fuse2) keeps libfuse2 from hanging a folder on a rename of a
 * file onto itself; doctor said nothing of whether it was built, so a fallback without it went unnoticed.
 */
describe('ikfs doctor: the fuse-native helper addon', () => {
  const absent = join(work, 'no-such', 'ikfs_fuse2.node')
  const notBuilt = 'the fuse-native helper addon is not built (run: npm run build:native)'

  it.skipIf(builtAddon('fuse2', 'ikfs_fuse2.node') === undefined)('says it is loaded, for either binding', async () => {
    const loaded = "ok    fuse2 addon  ikfs's fuse-native helper; the fallback answers a rename of a file onto itself instead of hanging its folder, and tells which process closes a file"
    expect(await doctorLine('fuse2 addon', pathWith('fusermount', 'fusermount3'))).toBe(loaded)
    expect(await doctorLine('fuse2 addon', pathWith('fusermount'), ['--fuse-binding', 'fuse-native'])).toBe(loaded)
  })

  it('warns when it is not built and mounts use the fallback, with the command that builds it', async () => {
    const result = await checkFuse2Helper('fuse-native', absent)
    expect(formatCheck(result)).toMatch(new RegExp(
      `^warn  fuse2 addon  ${notBuilt.replace(/[()]/g, '\\$&')}; with the fuse-native fallback, a rename of a file onto itself that another machine deleted hangs its folder, and a file open for writing is stored anew at each exit of a process that inherited its descriptor\n {19}fix: apt install gcc, then npm run build:native --prefix /`))
  })

  it('does not warn when it is not built and mounts use the libfuse3 binding, which does not need it', async () => {
    expect(await checkFuse2Helper('fuse3', absent)).toEqual({
      name: 'fuse2 addon', state: 'ok', detail: `${notBuilt}; only the fuse-native fallback needs it, and mounts use ikfs's libfuse3 binding`,
    })
  })
})

/**
 * The libfuse3 line followed neither value of --fuse-binding: with fuse-native it said "mounts use it", and with
 * fuse3, where the binding was not built, "mounts fall back to fuse-native" and passed, though the mount then
 * fails ("cannot mount at ...: the libfuse3 binding is not built").
 */
describe('ikfs doctor: the libfuse3 line and --fuse-binding', () => {
  const built = { version: 314 }
  const notBuilt = { reason: 'the libfuse3 binding is not built' }

  it('says which binding mounts use when it is built', () => {
    expect(checkFuse3Binding('auto', built).detail).toBe("ikfs's binding, built against libfuse 3.14; mounts use it")
    expect(checkFuse3Binding('fuse3', built).detail).toBe("ikfs's binding, built against libfuse 3.14; mounts use it")
    expect(checkFuse3Binding('fuse-native', built)).toEqual({
      name: 'libfuse3', state: 'ok', detail: "ikfs's binding, built against libfuse 3.14; mounts use fuse-native instead (--fuse-binding fuse-native)",
    })
  })

  it('fails when it is not built and --fuse-binding fuse3 asks for it; warns with auto; is fine with fuse-native', () => {
    expect(checkFuse3Binding('fuse3', notBuilt)).toMatchObject({
      state: 'FAIL', detail: 'the libfuse3 binding is not built; mounts fail with --fuse-binding fuse3',
      fix: expect.stringMatching(/^apt install libfuse3-dev pkg-config gcc, then npm run build:native --prefix \/.*, or leave --fuse-binding out$/),
    })
    expect(checkFuse3Binding('auto', notBuilt)).toMatchObject({ state: 'warn', detail: 'the libfuse3 binding is not built; mounts fall back to fuse-native (libfuse2: 128 KiB requests, no READDIRPLUS)' })
    expect(checkFuse3Binding('fuse-native', notBuilt)).toEqual({
      name: 'libfuse3', state: 'ok', detail: 'the libfuse3 binding is not built; mounts use fuse-native (--fuse-binding fuse-native)',
    })
  })

  it.skipIf(!fuse3Builds)('a doctor run with --fuse-binding fuse-native says mounts do not use the built binding', async () => {
    expect(await doctorLine('libfuse3', pathWith('fusermount'), ['--fuse-binding', 'fuse-native'])).toMatch(/^ok    libfuse3     .*; mounts use fuse-native instead \(--fuse-binding fuse-native\)$/)
  })
})

describe('ikfs doctor without a library (no NAME:, no endpoint, no key)', () => {
  /** An API host that answers with its clock, as the clock check asks. */
  const clockHost = () => startTcpServer((_head, _index, socket) =>
    socket.end(`HTTP/1.1 200 OK\r\ndate: ${new Date().toUTCString()}\r\ncontent-length: 0\r\n\r\n`))
  const machineEnv = (api: string): Record<string, string> => ({
    PATH: pathWith('fusermount', 'fusermount3'), IKFS_CONFIG: join(work, 'none.conf'), IKFS_CACHE_DIR: join(work, 'cache'), IKFS_API_URL: api,
  })

  it('checks this machine, skips the keys and the hosts, and exits 0 when the machine is fine', async () => {
    const api = await clockHost()
    try {
      const { ctx, stdout, runtime } = testCli(machineEnv(api.url), work)
      const code = await runDoctor([], ctx)
      const failed = stdout.text.split('\n').filter((l) => l.startsWith('FAIL'))
      // This machine's FUSE and addons decide: where they pass, so does the doctor.
      expect(code).toBe(failed.length === 0 ? 0 : 1)
      expect(failed.filter((l) => /config|credentials|hosts/.test(l))).toEqual([])
      expect(stdout.text).toContain('skip  config       no library given (NAME: of a config file remote, or --endpoint and IKFS_PRIVATE_KEY): checking this machine only\n')
      expect(stdout.text).toMatch(/^ok    cache dir    /m)
      expect(stdout.text).toMatch(/^ok    clock        within 60s of the API/m)
      expect(stdout.text).toContain('skip  credentials  no library given\nskip  hosts        no library given\n')
      if (failed.length === 0) expect(stdout.text).toContain('ikfs doctor: all checks of this machine passed; to check a library too, give NAME:')
      expect(runtime.calls).not.toContain('createClient')
    } finally {
      await api.close()
    }
  })

  it('still fails a library given in part: an endpoint without a key', async () => {
    const { ctx, stdout } = testCli({ ...machineEnv('http://127.0.0.1:1'), IKFS_ENDPOINT: 'https://ik.imagekit.io/acme' }, work)
    expect(await runDoctor([], ctx)).toBe(1)
    expect(stdout.text).toMatch(/^FAIL  config       missing private_key: /m)
    expect(stdout.text).toContain('skip  credentials  needs a valid configuration')
  })
})

describe('ikfs doctor: an API host that takes the connection and never answers', () => {
  it('says that no answer came within the time it waited, for the clock and for the keys', async () => {
    const silent = await startTcpServer(() => undefined)
    try {
      const config = loadConfig({
        env: { IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: 'private_doctor_test', IKFS_API_URL: silent.url },
        cwd: work,
        home: work,
      })
      expect(await checkClock(silent.url, undefined, undefined, 300)).toEqual({
        name: 'clock', state: 'FAIL', detail: `cannot reach ${silent.url} (no answer within 0.3s)`,
        fix: 'check the network, HTTPS_PROXY / HTTP_PROXY / NO_PROXY and --api-url',
      })
      expect(await checkCredentials(config, realRuntime(), 300)).toEqual({
        name: 'credentials', state: 'FAIL', detail: `cannot reach ${silent.url}: no answer within 0.3s`,
        fix: 'check the network, HTTPS_PROXY / HTTP_PROXY / NO_PROXY and --api-url',
      })
    } finally {
      await silent.close()
    }
  })
})

describe('ikfs doctor: the hosts check of a wrong upload URL', () => {
  /** A URL endpoint that answers (404, as many roots do) and an upload host that does what `answer` does. */
  async function hostsLine(answer: Parameters<typeof startTcpServer>[0], timeoutMs?: number): Promise<{ result: unknown; upload: string }> {
    const upload = await startTcpServer(answer)
    const endpoint = await startTcpServer((_head, _index, socket) => socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'))
    try {
      const config = loadConfig({
        env: { IKFS_ENDPOINT: `${endpoint.url}/acme`, IKFS_PRIVATE_KEY: 'private_doctor_test', IKFS_UPLOAD_URL: upload.url },
        cwd: work,
        home: work,
      })
      return { result: await checkHosts(config, realRuntime(), timeoutMs), upload: upload.url }
    } finally {
      await Promise.all([upload.close(), endpoint.close()])
    }
  }

  it('names the upload host alone when it never answers and the URL endpoint has', async () => {
    const { result, upload } = await hostsLine(() => undefined, 300)
    expect(result).toMatchObject({ name: 'hosts', state: 'FAIL', detail: `no answer within 0.3s from the upload host ${upload}` })
  })

  it('fails another server there with a fix about --upload-url, not the network', async () => {
    const { result, upload } = await hostsLine((_head, _index, socket) => socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'))
    expect(result).toEqual({
      name: 'hosts', state: 'FAIL',
      detail: `the upload host ${upload} is not the ImageKit Upload API (is the upload URL right?): POST /api/v1/files/upload: 404`,
      fix: 'leave --upload-url out (https://upload.imagekit.io), or point it at the Upload API (the emulator, a proxy of it)',
    })
  })
})

describe('ikfs doctor: a mountpoint that does not answer', () => {
  // A real hung mount (its daemon stopped), and doctor exiting on it: the R12 test in test/semantics/lifecycle.test.ts.
  it('is a hung mount: FAIL, with ikfs unmount as the fix', async () => {
    const { ctx } = testCli({}, work)
    expect(await checkMountpoint(work, false, ctx, 1)).toEqual({
      name: 'mountpoint', state: 'FAIL', detail: `${work} is a hung mount (no answer within 0.001s: its daemon is stopped)`,
      fix: `ikfs unmount ${work}`,
    })
  })
})

/**
 * A /dev/fuse that is a regular file (a container image that copied /dev, a `touch`) opens read-write like the
 * device does: the check passed, and the mount failed later in libfuse's words. The real /dev/fuse is never
 * touched: the checks take the device's path.
 */
describe('the FUSE device', () => {
  it('doctor fails a regular file or another device there, naming what it is', () => {
    const file = join(work, 'not-a-device')
    writeFileSync(file, '')
    expect(checkDevFuse(file)).toEqual({
      name: '/dev/fuse', state: 'FAIL', detail: `${file} is a regular file, not the FUSE device (character device 10,229)`,
      fix: 'remove it, then modprobe fuse (or mknod -m 666 /dev/fuse c 10 229); in a container pass --device /dev/fuse --cap-add SYS_ADMIN',
    })
    expect(checkDevFuse('/dev/null')).toMatchObject({ state: 'FAIL', detail: '/dev/null is character device 1,3, not the FUSE device (character device 10,229)' })
    expect(checkDevFuse(join(work, 'no-such-device'))).toMatchObject({ state: 'FAIL', detail: `${join(work, 'no-such-device')} is missing` })
  })

  it.skipIf(!existsSync('/dev/fuse'))('doctor passes the real one', () => {
    expect(checkDevFuse()).toEqual({ name: '/dev/fuse', state: 'ok', detail: 'character device 10,229, opens read-write' })
  })

  it.skipIf(!existsSync('/dev/fuse'))('the mount\'s preflight refuses --fuse-binding fuse3 when that binding does not load, and only then', async () => {
    const runtime = realRuntime({ fuse3Addon: join(work, 'not-built', 'ikfs_fuse3.node') })
    const refusal = await runtime.fuseUnavailableReason({ binding: 'fuse3' })
    expect(refusal).toMatch(/^the libfuse3 binding is not built \(apt install libfuse3-dev pkg-config gcc, then: .+\), or leave --fuse-binding fuse3 out$/)
    expect(await runtime.fuseUnavailableReason({ binding: 'auto' })).toBeUndefined()
    expect(await runtime.fuseUnavailableReason({ binding: 'fuse-native' })).toBeUndefined()
  })

  it('the mount\'s preflight refuses a regular file there before mounting', async () => {
    const file = join(work, 'not-a-device')
    writeFileSync(file, '')
    expect(await realRuntime({ fuseDevice: file }).fuseUnavailableReason()).toBe(
      `${file} is a regular file, not the FUSE device (character device 10,229): ` +
        'remove it, then modprobe fuse (or mknod -m 666 /dev/fuse c 10 229); in a container pass --device /dev/fuse --cap-add SYS_ADMIN',
    )
  })
})
