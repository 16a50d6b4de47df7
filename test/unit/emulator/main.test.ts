/** `ikfs emulator` flags: parseEmulatorArgs and runEmulator's usage errors, and the start problems it explains. */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ikfsAsNobody, isRoot } from '../as-nobody.js'
import { DataDirInUseError } from '../../../src/emulator/data-lock.js'
import { EmulatorArgsError, parseEmulatorArgs, runEmulator, startProblem } from '../../../src/emulator/main.js'

describe('parseEmulatorArgs', () => {
  it('maps every flag onto EmulatorOptions', () => {
    const { options, logLevel } = parseEmulatorArgs([
      '--port', '0', '--data', '/tmp/x', '--private-key', 'private_k', '--public-key=public_k', '--id', 'acme', '--host', '0.0.0.0',
      '--names', 'strict', '--max-upload-bytes', '100', '--max-video-upload-bytes', '400', '--cdn-stale-ms', '5', '--max-folder-depth', '3', '--restrict-unsigned', '--no-url-uploads', '--rate-limit', '7',
      '--error-rate', '0.5', '--error-statuses', '500,503', '--latency-ms', '3', '--reset-rate', '0.1', '--reset-phase', 'request', '--fault-seed', '9',
      '--error-after-work-rate', '0.2', '--range-ignore-rate', '0.25', '--public-url-base', 'http://127.0.0.1:9000/', '--url-encoding', 'sdk', '--seed', 'demo', '--log-level', 'debug',
      '--extensions', 'success', '--no-webhooks', '--rate-limit-headers', '429', '--custom-field-delete', '200', '--non-image-metadata', '200', '--usage-cache-ms', '0', '--webhook-retry-ms', '500',
      '--clock-offset-ms', '-7200000',
    ])
    expect(options).toEqual({
      dataDir: '/tmp/x', privateKey: 'private_k', publicKey: 'public_k', port: 0, id: 'acme', host: '0.0.0.0', names: 'strict',
      maxUploadBytes: 100, maxVideoUploadBytes: 400, cdnStaleMs: 5, maxFolderDepth: 3, restrictUnsigned: true, urlUploads: false, rateLimit: { perSecond: 7 }, rangeIgnoreRate: 0.25,
      publicUrlBase: 'http://127.0.0.1:9000/', urlEncoding: 'sdk', seed: 'demo', extensions: 'success', webhooks: false,
      rateLimitHeaders: '429', customFieldDeleteStatus: 200, nonImageMetadata: 200, usageCacheMs: 0, webhookRetry: { firstDelayMs: 500 }, clockOffsetMs: -7_200_000,
      faults: { errorRate: 0.5, errorStatuses: [500, 503], latencyMs: 3, resetRate: 0.1, resetPhase: 'request', seed: 9, errorAfterWorkRate: 0.2 },
    })
    expect(logLevel).toBe('debug')
  })

  it('takes keys from the environment', () => {
    const { options } = parseEmulatorArgs(['--data', 'd'], { IKFS_EMULATOR_PRIVATE_KEY: 'private_env', IKFS_EMULATOR_PUBLIC_KEY: 'public_env' })
    expect(options).toMatchObject({ privateKey: 'private_env', publicKey: 'public_env' })
  })

  it.each([
    [['--private-key', 'k'], /--data/],
    [['--data', 'd'], /--private-key/],
    [['--data', 'd', '--private-key', 'k', '--port', 'x'], /--port/],
    [['--data', 'd', '--private-key', 'k', '--names', 'loose'], /--names/],
    [['--data', 'd', '--private-key', 'k', '--url-encoding', 'whatwg'], /--url-encoding/],
    [['--data', 'd', '--private-key', 'k', '--extensions', 'sync'], /--extensions/],
    [['--data', 'd', '--private-key', 'k', '--rate-limit-headers', 'some'], /--rate-limit-headers must be every or 429/],
    [['--data', 'd', '--private-key', 'k', '--custom-field-delete', '202'], /--custom-field-delete must be 204 or 200/],
    [['--data', 'd', '--private-key', 'k', '--non-image-metadata', '404'], /--non-image-metadata must be 400 or 200/],
    [['--data', 'd', '--private-key', 'k', '--error-rate', '2'], /--error-rate/],
    [['--data', 'd', '--private-key', 'k', '--error-after-work-rate', '-1'], /--error-after-work-rate/],
    [['--data', 'd', '--private-key', 'k', '--bogus'], /--bogus/],
    [['--data', 'd', '--private-key', 'k', '--seed', 'other'], /--seed/],
    [['--data', 'd', '--private-key', 'k', '--error-statuses', '500,abc'], /--error-statuses/],
    [['--data'], /--data/],
  ])('%j → error naming the flag', (argv, message) => {
    expect(() => parseEmulatorArgs(argv)).toThrow(EmulatorArgsError)
    expect(() => parseEmulatorArgs(argv)).toThrow(message)
  })

  it.each([
    [['--rate-limit', 'private_pasted+Key/x=']],
    [['--port=private_pasted+Key/x=']],
    [['--error-rate', 'private_pasted+Key/x=']],
    [['private_pasted+Key/x=']],
    [['--private-key=', 'private_pasted+Key/x=']],
  ])('%j: a value that may be a private key is not quoted back', (extra) => {
    expect(() => parseEmulatorArgs(['--data', 'd', ...extra], { IKFS_EMULATOR_PRIVATE_KEY: 'k' })).toThrow(/looks like a private key \(not shown\)/)
    expect(() => parseEmulatorArgs(['--data', 'd', ...extra], { IKFS_EMULATOR_PRIVATE_KEY: 'k' })).not.toThrow(/pasted/)
  })

  it('the emulator\'s own key (any spelling) is not quoted back either, nor an unknown flag holding it', () => {
    const env = { IKFS_EMULATOR_PRIVATE_KEY: 'sekrit-emu-key' }
    for (const extra of [['--latency-ms', 'sekrit-emu-key'], ['--fault-seed=xsekrit-emu-key'], ['--sekrit-emu-key']]) {
      expect(() => parseEmulatorArgs(['--data', 'd', ...extra], env)).toThrow(/not shown/)
      expect(() => parseEmulatorArgs(['--data', 'd', ...extra], env)).not.toThrow(/sekrit/)
    }
    expect(() => parseEmulatorArgs(['--data', 'd', '--private-key', 'sekrit-emu-key', '--rate-limit', 'sekrit-emu-key'])).not.toThrow(/sekrit/)
  })

  it('other bad values are still quoted', () => {
    expect(() => parseEmulatorArgs(['--data', 'd', '--private-key', 'k', '--rate-limit', 'fast'])).toThrow('--rate-limit needs a whole number >= 0, got "fast"')
  })

  it('runEmulator resolves 2 and writes the problem to stderr on bad flags', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      expect(await runEmulator(['--data', 'd', '--private-key', 'k', '--port', '-1'])).toBe(2)
      expect(String(write.mock.calls[0]?.[0])).toMatch(/--port/)
    } finally {
      write.mockRestore()
    }
  })

  it('runEmulator --help prints the usage to stdout and resolves 0', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(await runEmulator(['--help'])).toBe(0)
      expect(String(write.mock.calls[0]?.[0])).toMatch(/^Usage: ikfs emulator --data DIR \[flags\]\n/)
    } finally {
      write.mockRestore()
    }
  })
})

describe('runEmulator: a port or data folder it cannot use', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ikfs-emulator-main-'))
  })
  afterEach(async () => {
    await chmod(dir, 0o700)
    await rm(dir, { recursive: true, force: true })
  })

  /** runEmulator's exit code and what it wrote to stderr and stdout. */
  async function run(argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      const code = await runEmulator(argv)
      return { code, stderr: err.mock.calls.map((c) => String(c[0])).join(''), stdout: out.mock.calls.map((c) => String(c[0])).join('') }
    } finally {
      err.mockRestore()
      out.mockRestore()
    }
  }

  function expectOneLine(stderr: string, message: RegExp): void {
    expect(stderr).toMatch(message)
    expect(stderr.split('\n').filter(Boolean)).toHaveLength(1)
    expect(stderr).not.toMatch(/\bE[A-Z]+:|\n\s+at /)
  }

  it('a port in use: one line naming the port and --port, exit 1', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      const { code, stderr, stdout } = await run(['--port', String(port), '--data', join(dir, 'data'), '--private-key', 'k'])
      expect(code).toBe(1)
      expectOneLine(stderr, new RegExp(`^ikfs emulator: port ${port} is in use \\(another emulator or program listens there\\): choose another with --port`))
      expect(stdout).toBe('')
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })

  it('--data under a file: one line naming the file, exit 1', async () => {
    await writeFile(join(dir, 'file'), 'kept')
    const { code, stderr } = await run(['--port', '0', '--data', join(dir, 'file', 'data'), '--private-key', 'k'])
    expect(code).toBe(1)
    expectOneLine(stderr, /^ikfs emulator: cannot keep the library in --data ".*": ".*\/file" is a file, not a folder; choose another folder with --data\n$/)
    expect(await readFile(join(dir, 'file'), 'utf8')).toBe('kept')
  })

  it('--data in a folder this user may not write: one line, exit 1 (as nobody when root)', async () => {
    await chmod(dir, 0o555)
    const argv = ['--port', '0', '--data', join(dir, 'data'), '--private-key', 'k']
    const { code, stderr } = isRoot ? await ikfsAsNobody(['emulator', ...argv], dir) : await run(argv)
    expect(code).toBe(1)
    expectOneLine(stderr, /^ikfs emulator: cannot keep the library in --data ".*": no permission to write ".*"; choose another folder with --data\n$/)
  })

  it('startProblem: an unwritable data folder, an unknown host; paths that may hold the key are not shown', () => {
    const eacces = Object.assign(new Error("EACCES: permission denied, mkdir '/srv/lib/files'"), { code: 'EACCES', syscall: 'mkdir', path: '/srv/lib/files' })
    expect(startProblem(eacces, { dataDir: '/srv/lib', privateKey: 'k', publicKey: '' })).toBe(
      'cannot keep the library in --data "/srv/lib": no permission to write "/srv/lib/files"; choose another folder with --data',
    )
    const hidden = Object.assign(new Error('EACCES'), { code: 'EACCES', syscall: 'mkdir', path: 'private_pasted/files' })
    expect(startProblem(hidden, { dataDir: 'private_pasted', privateKey: 'k', publicKey: '' })).not.toMatch(/pasted/)
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND', syscall: 'getaddrinfo' })
    expect(startProblem(dns, { dataDir: 'd', privateKey: 'k', publicKey: '', host: 'nowhere.invalid' })).toMatch(/^--host "nowhere.invalid" is not a known host/)
    expect(startProblem(new Error('something else'), { dataDir: 'd', privateKey: 'k', publicKey: '' })).toBeUndefined()
    expect(startProblem(new DataDirInUseError('/srv/lib', 4242), { dataDir: '/srv/lib', privateKey: 'k', publicKey: '' })).toBe(
      '--data "/srv/lib" is in use by another emulator (pid 4242): stop that one, or choose another folder with --data',
    )
  })
})
