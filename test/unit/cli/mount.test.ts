import { existsSync, fstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../../../src/cli/main.js'
import { loggerFor, mountTarget } from '../../../src/cli/mount.js'
import { loadConfig } from '../../../src/config/load.js'
import { whenLogWritten } from '../../../src/log.js'
import { socketFor } from '../../../src/cli/status.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { VfsError } from '../../../src/vfs/errors.js'
import { Capture, testCli, waitFor, type TestCli } from './fakes.js'

const PRIVATE_KEY = 'private_mountTestKeyNeverLogged42='

let dir: string
let mnt: string
let logFile: string
let logging: boolean
beforeEach(() => {
  logging = false
  dir = mkdtempSync(join(tmpdir(), 'ikfs-mount-'))
  mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  logFile = join(dir, 'ikfs.log')
})
afterEach(async () => {
  // The log file opens asynchronously (pino/sonic-boom, mkdir); removing its folder first would fail that.
  if (logging) await waitFor(() => existsSync(logFile), 'the log file to open')
  rmSync(dir, { recursive: true, force: true })
})

function cli(extraEnv: Record<string, string> = {}): TestCli {
  logging = true
  return testCli(
    { IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: PRIVATE_KEY, IKFS_LOG_FILE: logFile, IKFS_LOG_LEVEL: 'debug', ...extraEnv },
    dir,
  )
}

/** The log once it contains `marker` (pino writes the file asynchronously). */
async function logText(marker: string): Promise<string> {
  await waitFor(() => existsSync(logFile) && readFileSync(logFile, 'utf8').includes(marker), `"${marker}" in the log`)
  return readFileSync(logFile, 'utf8')
}

describe('mountTarget', () => {
  it('splits [NAME:] MOUNTPOINT', () => {
    expect(mountTarget(['/m'])).toEqual({ mountpoint: '/m' })
    expect(mountTarget(['photos:', '/m'])).toEqual({ remote: 'photos', mountpoint: '/m' })
    expect(mountTarget(['photos:/', '/m'])).toEqual({ remote: 'photos', mountpoint: '/m' })
  })

  it('does not echo a private key left among the arguments (`--private-key= KEY MOUNTPOINT`)', () => {
    expect(() => mountTarget([PRIVATE_KEY, '/m'])).toThrow(/^expected NAME: before MOUNTPOINT, got a value that looks like a private key \(not shown\)$/)
    expect(() => mountTarget(['/x', '/m'])).toThrow('expected NAME: before MOUNTPOINT, got "/x"')
  })

  it('shows the spelling with a colon when a bare name stands before MOUNTPOINT (`ikfs mount photos ~/ImageKit`)', () => {
    expect(() => mountTarget(['photos', '/m'])).toThrow(/^expected NAME: before MOUNTPOINT, got "photos" \(a remote is written with its colon: photos:\)$/)
  })
})

describe('loggerFor', () => {
  it('logs to --log-file through the descriptor its check opened, so the file is opened once and the logger is ready at once', async () => {
    const config = loadConfig({ options: { logFile }, env: { IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: PRIVATE_KEY }, cwd: dir, home: dir })
    const logger = loggerFor(config, { stderr: new Capture() })
    const stream = (logger as unknown as Record<symbol, { fd: number; end(): void }>)[pino.symbols.streamSym]
    try {
      // A second, asynchronous open leaves the stream without a descriptor until it completes.
      expect(stream?.fd).toBeGreaterThanOrEqual(0)
      expect(fstatSync(stream!.fd).ino).toBe(statSync(logFile).ino)
      logger.info('first line')
      await whenLogWritten(logger, 1_000)
      expect(readFileSync(logFile, 'utf8')).toContain('"msg":"first line"')
    } finally {
      stream?.end()
    }
  })
})

describe('preflight fails fast with exit code 1, before mounting', () => {
  it('when FUSE is unavailable', async () => {
    const t = cli()
    t.runtime.fuseReason = '/dev/fuse is missing'
    expect(await main(['mount', mnt], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe('ikfs: cannot mount: /dev/fuse is missing\n')
    expect(t.runtime.calls).toEqual(['fuseAvailable'])
  })

  it('asks the FUSE check about the binding --fuse-binding names, before any network check', async () => {
    const t = cli()
    t.runtime.fuseReason = 'the libfuse3 binding is not built (...), or leave --fuse-binding fuse3 out'
    expect(await main(['mount', mnt, '--fuse-binding', 'fuse3'], t.ctx)).toBe(1)
    expect(t.runtime.fuseCheck).toEqual({ allowOther: false, binding: 'fuse3' })
    expect(t.runtime.calls).toEqual(['fuseAvailable'])
  })

  it('when the keys are wrong, closing the client and never echoing the key', async () => {
    const t = cli()
    t.runtime.verifyError = new ImageKitError('IK_UNAUTHORIZED', 'https://api.imagekit.io rejected the private key: Your account cannot be authenticated.')
    expect(await main(['mount', mnt], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe('ikfs: cannot mount: https://api.imagekit.io rejected the private key: Your account cannot be authenticated. (copy the private key from the ImageKit dashboard: Developer options → API keys)\n')
    expect(t.runtime.calls).toEqual(['fuseAvailable', 'createClient', 'verifyCredentials', 'client.close'])
    expect(t.stdout.text).toBe('')
  })

  it('when the upload host refuses a key the API took (a key restricted to reading), naming the fix', async () => {
    const t = cli()
    t.runtime.hostsError = new ImageKitError('IK_UNAUTHORIZED', 'https://upload.imagekit.io rejected the private key: 403 Not allowed')
    expect(await main(['mount', mnt], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe('ikfs: cannot mount: https://upload.imagekit.io rejected the private key: 403 Not allowed (copy the private key ' +
      'from the ImageKit dashboard: Developer options → API keys; a restricted key needs upload permission, or mount with --read-only)\n')
  })

  it('when the URL endpoint or the upload host does not answer, after the key check, closing the client', async () => {
    const t = cli()
    t.runtime.hostsError = new Error('cannot reach the URL endpoint https://ik.example.invalid/acme: host not found (DNS)')
    expect(await main(['mount', mnt], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe('ikfs: cannot mount: cannot reach the URL endpoint https://ik.example.invalid/acme: host not found (DNS)\n')
    expect(t.runtime.calls).toEqual(['fuseAvailable', 'createClient', 'verifyCredentials', 'client.close'])
    const both = cli()
    both.runtime.hostsError = new Error('cannot reach the upload host')
    both.runtime.verifyError = new Error('https://api.example rejected the private key: 401')
    expect(await main(['mount', mnt], both.ctx)).toBe(1)
    expect(both.stderr.text).toContain('rejected the private key')
    expect(both.runtime.hostsChecked).toBe('endpoint and upload host')
    const readOnly = cli()
    readOnly.runtime.hostsError = new Error('cannot reach the URL endpoint')
    expect(await main(['mount', mnt, '--read-only'], readOnly.ctx)).toBe(1)
    expect(readOnly.runtime.hostsChecked).toBe('endpoint')
  })

  /**
   * A mount stopped by `signal` while the API has not answered the key check. The process would have ended;
   * `finish` lets the check answer at last, and the command fails as it would have.
   */
  async function stoppedDuringKeyCheck(signal: 'SIGINT' | 'SIGTERM'): Promise<{ t: TestCli; finish: () => Promise<number> }> {
    const t = cli()
    let answer!: () => void
    t.runtime.verifyGate = new Promise((resolve) => (answer = resolve))
    const ended = main(['mount', mnt], t.ctx)
    await waitFor(() => t.runtime.calls.includes('verifyCredentials'), 'the key check')
    t.signals.emit(signal)
    await waitFor(() => t.exits.length > 0, 'the exit')
    const finish = (): Promise<number> => {
      t.runtime.verifyError = new Error('no answer')
      answer()
      return ended
    }
    return { t, finish }
  }

  it('a stop signal before the mount is live logs what it was still waiting for, then ends the process with 128 + the signal number', async () => {
    const interrupted = await stoppedDuringKeyCheck('SIGINT')
    // Ctrl-C: as a shell reports a command it interrupted.
    expect(interrupted.t.exits).toEqual([130])
    expect(await interrupted.finish()).toBe(1)
    const { t, finish } = await stoppedDuringKeyCheck('SIGTERM')
    expect(t.exits).toEqual([143])
    const log = await logText('"signal":"SIGTERM"')
    expect(log).toMatch(/"signal":"SIGTERM","msg":"stopped before the mount was live, while checking the keys with the Media API \(https:\/\/api.imagekit.io\) and that the URL endpoint and the upload host answer \(for \d+s\)"/)
    expect(log).not.toContain(PRIVATE_KEY)
    expect(await finish()).toBe(1)
    expect(t.runtime.mountedAt).toBeUndefined()
  })

  it('a stop signal while the kernel mount is being made waits for it and takes the mount down before the process ends', async () => {
    const t = cli()
    let made!: () => void
    t.runtime.mountGate = new Promise((resolve) => (made = resolve))
    const ended = main(['mount', mnt], t.ctx)
    await waitFor(() => t.runtime.calls.includes('mountFuse'), 'the mount to be under way')
    t.signals.emit('SIGINT')
    expect(await logText('stopped before the mount was live')).toMatch(/"msg":"stopped before the mount was live, while mounting at .*; taking the mount down once it is made"/)
    // Ending the process now would leave the mount being made dead (or hang the exit on a request to it).
    expect(t.exits).toEqual([])
    // A second Ctrl-C is listened to (unheard, it would end the process at once), and waits as well.
    expect(t.signals.count('SIGINT')).toBe(1)
    t.signals.emit('SIGINT')
    expect(t.exits).toEqual([])
    made()
    await waitFor(() => t.exits.length > 0, 'the exit')
    expect(t.exits).toEqual([130])
    expect(t.runtime.calls.slice(t.runtime.calls.indexOf('mountFuse'))).toEqual(['mountFuse', 'unmount', 'vfs.close', 'client.close'])
    expect(await ended).toBe(1)
    expect(t.stdout.text).toBe('')
  })

  it('when the cache dir is a file or below one, before asking the API, naming the flag', async () => {
    const file = join(dir, 'a-file')
    writeFileSync(file, 'x')
    for (const [cacheDir, problem] of [[file, `${file} is not a folder`], [join(file, 'below'), `${join(file, 'below')}: ENOTDIR`]]) {
      const t = cli()
      expect(await main(['mount', mnt, '--cache-dir', cacheDir as string], t.ctx)).toBe(1)
      expect(t.stderr.text).toMatch(new RegExp(`^ikfs: cannot mount: the cache dir ${problem} \\(set --cache-dir to a folder`))
      expect(t.runtime.calls).toEqual(['fuseAvailable'])
    }
  })

  it('a stop signal once the API accepted the keys names the hosts still unanswered, not the API', async () => {
    const t = cli()
    let answer!: () => void
    t.runtime.hostsGate = new Promise((resolve) => (answer = resolve))
    const ended = main(['mount', mnt], t.ctx)
    const log = await logText('(the API accepted the keys)')
    t.signals.emit('SIGTERM')
    await waitFor(() => t.exits.length > 0, 'the exit')
    expect(await logText('stopped before the mount was live')).toMatch(/"msg":"stopped before the mount was live, while waiting for the URL endpoint https:\/\/ik.imagekit.io\/acme and the upload host https:\/\/upload.imagekit.io to answer \(the API accepted the keys\) \(for \d+s\)"/)
    expect(log).not.toContain(PRIVATE_KEY)
    t.runtime.hostsError = new Error('no answer')
    answer()
    expect(await ended).toBe(1)
  })

  it('a stop signal once the URL endpoint answered names the upload host alone', async () => {
    const t = cli()
    let answer!: () => void
    t.runtime.hostsGate = new Promise((resolve) => (answer = resolve))
    t.runtime.hostsAnsweringAtOnce = ['endpoint']
    const ended = main(['mount', mnt], t.ctx)
    await logText('(the API accepted the keys)')
    t.signals.emit('SIGTERM')
    await waitFor(() => t.exits.length > 0, 'the exit')
    expect(await logText('stopped before the mount was live')).toMatch(/"msg":"stopped before the mount was live, while waiting for the upload host https:\/\/upload.imagekit.io to answer \(the API accepted the keys\) \(for \d+s\)"/)
    t.runtime.hostsError = new Error('no answer')
    answer()
    expect(await ended).toBe(1)
  })

  it('when the cache dir cannot be written, saying why in words', async () => {
    // /proc/sys refuses even root (EACCES).
    const t = cli()
    expect(await main(['mount', mnt, '--cache-dir', '/proc/sys/ikfs-cache'], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe('ikfs: cannot mount: the cache dir /proc/sys: this user may not write there (EACCES) (set --cache-dir to a folder this user can write)\n')
  })

  it('when the cache dir is inside the mountpoint, also through a symlink, leaving nothing there', async () => {
    symlinkSync(mnt, join(dir, 'link'))
    for (const cacheDir of [join(mnt, 'cache'), join(dir, 'link', 'sub', 'cache')]) {
      const t = cli()
      expect(await main(['mount', mnt, '--cache-dir', cacheDir], t.ctx)).toBe(1)
      expect(t.stderr.text).toBe(`ikfs: cannot mount: the cache dir ${cacheDir} is inside the mountpoint ${mnt}, which the mount hides (set --cache-dir to a folder outside the mountpoint)\n`)
      expect(t.runtime.calls).toEqual(['fuseAvailable'])
    }
    expect(readdirSync(mnt)).toEqual([])
  })

  it('when the log file cannot be written (a folder given), in one line naming it and the flag, not a stack trace', async () => {
    const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: PRIVATE_KEY }, dir)
    expect(await main(['mount', mnt, '--log-file', mnt], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe(`ikfs: cannot write the log file ${mnt}: EISDIR: illegal operation on a directory, open '${mnt}' (choose another with --log-file)\n`)
    expect(t.runtime.calls).toEqual([])
  })

  it('when the --metrics port is taken, in one line naming the flag and the address, before anything is mounted or left listening', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const address = `127.0.0.1:${(taken.address() as AddressInfo).port}`
    try {
      const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: PRIVATE_KEY }, dir)
      expect(await main(['mount', mnt, '--metrics', address], t.ctx)).toBe(1)
      expect(t.stderr.text).toBe(`ikfs: cannot serve --metrics ${address}: the port is in use (another program, or another mount's --metrics, listens there): choose another port, or leave --metrics out\n`)
      expect(t.runtime.calls).toEqual([])
      expect(existsSync(socketFor(realpathSync(mnt), t.ctx))).toBe(false)
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })

  it('when another mount of the library holds the spool of this cache dir, naming both ways out', async () => {
    const t = cli()
    t.runtime.vfsError = new VfsError('EBUSY', 'spool /c/ab12 is in use by process 42 (another ikfs mount of this library)')
    expect(await main(['mount', mnt], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe(`ikfs: cannot mount at ${mnt}: spool /c/ab12 is in use by process 42 (another ikfs mount of this library): ` +
      'unmount that one, or give this one another --cache-dir\n')
  })

  it('when the disk of the cache dir is full, saying which folder', async () => {
    const t = cli()
    t.runtime.vfsError = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    expect(await main(['mount', mnt, '--cache-dir', join(dir, 'cache')], t.ctx)).toBe(1)
    expect(t.stderr.text).toBe(`ikfs: cannot mount at ${mnt}: the disk of the cache dir ${join(dir, 'cache')} is full (free some space there, or choose another --cache-dir)\n`)
    expect(t.runtime.calls).toEqual(['fuseAvailable', 'createClient', 'verifyCredentials', 'createVfs', 'client.close'])
  })

  it('when the mountpoint does not exist, is a file, or is not empty', async () => {
    const missing = cli()
    expect(await main(['mount', join(dir, 'nope')], missing.ctx)).toBe(1)
    expect(missing.stderr.text).toMatch(/mountpoint .*nope does not exist/)

    writeFileSync(join(dir, 'file'), 'x')
    const file = cli()
    expect(await main(['mount', join(dir, 'file')], file.ctx)).toBe(1)
    expect(file.stderr.text).toBe(`ikfs: mountpoint ${join(dir, 'file')} is not a directory (mount on an empty folder)\n`)

    writeFileSync(join(mnt, 'left-over'), 'x')
    const full = cli()
    expect(await main(['mount', mnt], full.ctx)).toBe(1)
    expect(full.stderr.text).toMatch(/is not empty \(use --allow-non-empty/)
    expect(full.runtime.calls).not.toContain('createClient')
  })

  it('when something is mounted there already, naming the command that unmounts it: ikfs for its own, fusermount for others', async () => {
    const ours = cli()
    ours.runtime.mounted = true
    expect(await main(['mount', mnt], ours.ctx)).toBe(1)
    expect(ours.stderr.text).toBe(`ikfs: ${mnt} is already mounted (fuse.ikfs; run: ikfs unmount ${mnt})\n`)
    const theirs = cli()
    theirs.runtime.mounted = true
    theirs.runtime.mountedFsType = 'fuse.sshfs'
    expect(await main(['mount', mnt], theirs.ctx)).toBe(1)
    expect(theirs.stderr.text).toContain(`is already mounted (fuse.sshfs; run: fusermount3 -u ${mnt}`)
    expect(theirs.runtime.calls).not.toContain('createClient')
  })
})

describe('a live mount', () => {
  /** Starts `ikfs mount` and waits for the "mounted" line; `exit` settles when the command ends. */
  async function startMount(t: TestCli, argv: string[] = []): Promise<{ exit: Promise<number> }> {
    const exit = main(['mount', 'mnt', ...argv], t.ctx)
    await waitFor(() => t.stdout.text !== '' || t.stderr.text !== '', 'the mount to go live')
    expect(t.stderr.text).toBe('')
    return { exit }
  }

  it('prints exactly one line once mounted, and passes the options down', async () => {
    const t = cli()
    const { exit } = await startMount(t, ['--read-only', '--dir-cache-time', '10m', '--retries', '2'])
    expect(t.stdout.text).toBe(`ikfs: mounted https://ik.imagekit.io/acme at ${mnt}\n`)
    expect(t.runtime.calls).toEqual(['fuseAvailable', 'createClient', 'verifyCredentials', 'createVfs', 'mountFuse'])
    expect(t.runtime.clientSettings).toMatchObject({ urlEndpoint: 'https://ik.imagekit.io/acme', privateKey: PRIVATE_KEY, maxRetries: 2, signedUrlExpirySeconds: 3600 })
    expect(t.runtime.vfsOptions).toMatchObject({ readOnly: true, dirCacheTimeMs: 600_000, uid: 1000, umask: 0o022 })
    expect(t.runtime.mountOptions?.fuse).toMatchObject({ fsname: 'ikfs:acme', readOnly: true, attrTimeoutS: 5, negativeTimeoutS: 60, autoUnmount: true })
    expect(t.runtime.mountOptions?.mountpointChecked).toBe(true) // mountFuse need not look at it again
    t.signals.emit('SIGTERM')
    expect(await exit).toBe(0)
  })

  it('mounts a symlinked mountpoint at the folder it names; status and refresh find the daemon by either spelling', async () => {
    const real = realpathSync(mnt)
    symlinkSync(mnt, join(dir, 'link'))
    const t = cli()
    const exit = main(['mount', 'link'], t.ctx)
    await waitFor(() => t.stdout.text !== '' || t.stderr.text !== '', 'the mount to go live')
    expect(t.stderr.text).toBe('')
    expect(t.runtime.mountedAt).toBe(real)
    expect(t.stdout.text).toBe(`ikfs: mounted https://ik.imagekit.io/acme at ${real}\n`)
    for (const spelling of ['link', 'mnt', join(dir, 'link'), `${dir}/./link/`]) {
      const status = testCli({}, dir)
      expect(await main(['status', spelling, '--json'], status.ctx), status.stderr.text).toBe(0)
      expect(JSON.parse(status.stdout.text)).toMatchObject({ state: 'mounted', mountpoint: real })
    }
    const refresh = testCli({}, dir)
    expect(await main(['refresh', 'link', join(dir, 'link', 'photos')], refresh.ctx), refresh.stderr.text).toBe(0)
    expect(refresh.stdout.text).toBe(`ikfs: dropped cached listings under /photos in ${real}\n`)
    t.signals.emit('SIGTERM')
    expect(await exit).toBe(0)
  })

  it('SIGHUP drops cached listings, then the attributes of the files they held and the names the kernel keeps as missing, and keeps running', async () => {
    const t = cli()
    const { exit } = await startMount(t)
    t.signals.emit('SIGHUP')
    expect(t.runtime.calls.slice(-3)).toEqual(['vfs.forget', 'expireAttributes(/photos: a.jpg)', 'forgetMissingNames()'])
    t.signals.emit('SIGINT')
    expect(await exit).toBe(0)
  })

  it('SIGINT/SIGTERM unmounts, then closes the vfs and the client, exits 0 and stops listening', async () => {
    const t = cli()
    const { exit } = await startMount(t)
    t.signals.emit('SIGINT')
    expect(await exit).toBe(0)
    expect(t.runtime.calls.slice(-5)).toEqual(['detach', 'vfs.refuseNewWrites', 'unmount', 'vfs.close', 'client.close'])
    expect([t.signals.count('SIGINT'), t.signals.count('SIGTERM'), t.signals.count('SIGHUP')]).toEqual([0, 0, 0])
    const log = await logText('"msg":"unmounted"')
    expect(log).not.toContain(PRIVATE_KEY)
  })

  it('shuts down cleanly (exit 0) when the mount is removed from outside', async () => {
    const t = cli()
    const { exit } = await startMount(t)
    t.runtime.unmountFromOutside()
    expect(await exit).toBe(0)
    expect(t.runtime.calls.slice(-4)).toEqual(['vfs.refuseNewWrites', 'unmount', 'vfs.close', 'client.close'])
    expect(t.runtime.calls).not.toContain('detach')
  })

  it('a second signal while unmounting forces a lazy unmount, ends the session and exits as that signal stopped it (130, 143)', async () => {
    for (const [second, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const t = cli()
      t.runtime.hangDetach = true
      const { exit } = await startMount(t)
      t.signals.emit('SIGTERM')
      t.signals.emit(second)
      expect(await exit).toBe(code)
      expect(t.runtime.calls.slice(-3)).toEqual(['detach', 'unmountPath(lazy)', 'unmount'])
      expect(t.exits).toEqual([code])
    }
  })

  it('a second Ctrl-C while an upload holds the shutdown ends the process at once with exit code 130, after the forced unmount and a log of what stays in the spool', async () => {
    const t = cli()
    t.runtime.hangVfsClose = true
    t.runtime.uploads = [
      { localPath: '/photos/big.mov', size: 9, sentBytes: 4, state: 'uploading', attempts: 1 },
      { localPath: '/notes.txt', size: 3, sentBytes: 0, state: 'waiting', attempts: 0 },
      { localPath: '/open.txt', size: 1, sentBytes: 0, state: 'writing', attempts: 0 },
    ]
    const { exit } = await startMount(t)
    t.signals.emit('SIGTERM')
    await waitFor(() => t.runtime.calls.includes('vfs.close'), 'the shutdown to wait for the upload')
    expect(t.exits).toEqual([])
    t.signals.emit('SIGINT')
    expect(await exit).toBe(130)
    expect(t.exits).toEqual([130])
    expect(t.runtime.calls.slice(-3)).toEqual(['vfs.close', 'unmountPath(lazy)', 'unmount'])
    // Written before the exit, not after: each file the next mount stores, not the one a program had open.
    const log = readFileSync(logFile, 'utf8')
    const line = log.split('\n').find((l) => l.includes('stopped by a second signal'))
    expect(line).toContain('2 files stay in the spool')
    expect(line).toContain('/photos/big.mov (uploading)')
    expect(line).toContain('/notes.txt (waiting)')
    expect(line).not.toContain('/open.txt')
    expect(line).toContain('the next mount of this library (same --endpoint) with this cache dir stores them')
    expect(existsSync(socketFor(mnt, t.ctx))).toBe(false)
  })

  describe('a stop while programs still write files in the mount', () => {
    it('detaches, serves those files until they are closed, then ends the session and exits 0', async () => {
      const t = cli()
      t.runtime.beingWritten = ['/a.bin', '/photos/b.jpg']
      const { exit } = await startMount(t)
      t.signals.emit('SIGTERM')
      const waiting = await logText('waiting for programs to close 2 files')
      expect(waiting).toContain('/photos/b.jpg')
      await new Promise((r) => setTimeout(r, 500))
      expect(t.runtime.calls.slice(-2)).toEqual(['detach', 'vfs.refuseNewWrites'])
      t.runtime.beingWritten = ['/photos/b.jpg']
      await new Promise((r) => setTimeout(r, 500))
      expect(t.runtime.calls).not.toContain('unmount')
      t.runtime.beingWritten = []
      expect(await exit).toBe(0)
      expect(t.runtime.calls.slice(-5)).toEqual(['detach', 'vfs.refuseNewWrites', 'unmount', 'vfs.close', 'client.close'])
      expect(await logText('every file being written was closed')).toBeTruthy()
    })

    it('waits the same way after an unmount from outside (umount -l)', async () => {
      const t = cli()
      t.runtime.beingWritten = ['/a.bin']
      const { exit } = await startMount(t)
      t.runtime.unmountFromOutside()
      await new Promise((r) => setTimeout(r, 500))
      expect(t.runtime.calls).not.toContain('unmount')
      t.runtime.beingWritten = []
      expect(await exit).toBe(0)
      expect(t.runtime.calls.slice(-3)).toEqual(['unmount', 'vfs.close', 'client.close'])
    })

    it('after the FUSE connection was aborted from outside, shuts down at once: those files can no longer be closed', async () => {
      const t = cli()
      t.runtime.beingWritten = ['/a.bin']
      const { exit } = await startMount(t)
      t.runtime.abortConnection()
      expect(await exit).toBe(0)
      expect(t.runtime.calls.slice(-3)).toEqual(['unmount', 'vfs.close', 'client.close'])
      expect(t.exits).toEqual([])
      expect(await logText('still being written: not stored')).toContain('the mount was removed from outside; shutting down')
    })

    it('a session that ends after the last close (its release never came) names as not stored only the files with writes no close committed', async () => {
      const t = cli()
      t.runtime.beingWritten = ['/a.bin', '/b.log'] // open still: the kernel dropped the releases of their last closes
      t.runtime.uncommitted = ['/b.log']
      const { exit } = await startMount(t)
      t.signals.emit('SIGTERM')
      await logText('waiting for programs to close 2 files')
      t.runtime.abortConnection()
      expect(await exit).toBe(0)
      const lost = (await logText('still being written: not stored')).split('\n').find((l) => l.includes('not stored'))
      expect(lost).toContain('/b.log')
      expect(lost).not.toContain('/a.bin')
      t.runtime.uncommitted = []
      const t2 = cli()
      t2.runtime.beingWritten = ['/a.bin']
      t2.runtime.uncommitted = []
      const second = await startMount(t2)
      t2.signals.emit('SIGTERM')
      t2.runtime.abortConnection()
      expect(await second.exit).toBe(0)
      const stored = (await logText('what their last close left is stored')).split('\n').find((l) => l.includes('what their last close left'))
      expect(stored).toContain('/a.bin')
    })

    it("a session ended by the last close commits the files whose last close left that to a release the kernel dropped; an abort does not", async () => {
      const t = cli()
      t.runtime.beingWritten = ['/a.bin', '/b.log']
      t.runtime.uncommitted = ['/a.bin', '/b.log']
      t.runtime.closedUncommitted = ['/a.bin'] // closed by a child as the mount detached; /b.log was written after its close
      const { exit } = await startMount(t)
      t.signals.emit('SIGTERM')
      await logText('waiting for programs to close 2 files')
      t.runtime.closeLastFile()
      expect(await exit).toBe(0)
      expect(t.runtime.calls).toContain('vfs.commitClosedFiles')
      const log = await logText('still being written: not stored')
      expect(log.split('\n').find((l) => l.includes('stored as that close left it'))).toContain('/a.bin')
      const lost = log.split('\n').find((l) => l.includes('not stored'))
      expect(lost).toContain('/b.log')
      expect(lost).not.toContain('/a.bin')

      const aborted = cli()
      aborted.runtime.beingWritten = ['/a.bin']
      aborted.runtime.closedUncommitted = ['/a.bin']
      const second = await startMount(aborted)
      aborted.signals.emit('SIGTERM')
      aborted.runtime.abortConnection() // programs may still hold their files: their next writes fail
      expect(await second.exit).toBe(0)
      expect(aborted.runtime.calls).not.toContain('vfs.commitClosedFiles')
    })

    it('a second signal ends the wait at once, ends the session and exits 143, saying what is lost', async () => {
      const t = cli()
      t.runtime.beingWritten = ['/a.bin']
      const { exit } = await startMount(t)
      t.signals.emit('SIGTERM')
      await logText('waiting for programs to close 1 file')
      t.signals.emit('SIGTERM')
      expect(await exit).toBe(143)
      expect(t.runtime.calls).toContain('unmountPath(lazy)')
      expect(t.runtime.calls).toContain('unmount')
      expect(await logText('still being written: not stored')).toContain('/a.bin')
    })

    it('a second signal says a file whose close committed its writes (its close waits for the upload) stays in the spool, not that it is lost', async () => {
      const t = cli()
      t.runtime.beingWritten = ['/a.bin', '/closing.bin']
      t.runtime.uncommitted = ['/a.bin']
      t.runtime.uploads = [{ localPath: '/closing.bin', size: 5, sentBytes: 0, state: 'uploading', attempts: 1 }]
      const { exit } = await startMount(t)
      t.signals.emit('SIGTERM')
      await logText('waiting for programs to close 2 files')
      t.signals.emit('SIGINT')
      expect(await exit).toBe(130)
      const lines = (await logText('stopped by a second signal')).split('\n')
      const lost = lines.find((l) => l.includes('still being written: not stored'))
      expect(lost).toContain('/a.bin')
      expect(lost).not.toContain('/closing.bin')
      expect(lines.find((l) => l.includes('stopped by a second signal'))).toContain('1 file stays in the spool')
    })
  })

  it('an error nothing caught is logged (without the private key) and ends the daemon with exit code 70, leaving the mount for ikfs unmount', async () => {
    logging = true
    const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_LOG_FILE: logFile }, dir)
    const exit = main(['mount', 'mnt', '--private-key', PRIVATE_KEY], t.ctx)
    await waitFor(() => t.stdout.text !== '', 'the mount to go live')
    expect(t.crashes.listeners.size).toBe(1)
    t.crashes.emit(new Error(`a bug, near ${PRIVATE_KEY}`))
    await waitFor(() => t.exits.length > 0, 'the daemon to end')
    expect(t.exits).toEqual([70])
    expect(t.runtime.calls).not.toContain('unmount')
    const log = await logText('internal error')
    expect(log).toContain(`\`ikfs unmount ${realpathSync(dir)}/mnt\``)
    expect(log).toContain('"origin":"unhandledRejection"')
    expect(log).not.toContain(PRIVATE_KEY)
    t.signals.emit('SIGTERM')
    expect(await exit).toBe(0)
    expect(t.crashes.listeners.size).toBe(0)
  })

  /** Mounts with `args` until live, then stops it with SIGTERM. */
  async function mountThenStop(t: TestCli, args: string[]): Promise<void> {
    const exit = main(['mount', 'mnt', ...args], t.ctx)
    await waitFor(() => t.stdout.text !== '', 'the mount to go live')
    t.signals.emit('SIGTERM')
    expect(await exit).toBe(0)
  }

  it('logs config warnings without the private key, and says them on stderr too when the log goes to a file (what a --daemon prints before it is live)', async () => {
    logging = true
    const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_LOG_FILE: logFile }, dir)
    await mountThenStop(t, ['--private-key', PRIVATE_KEY])
    expect(await logText('command-line flag')).not.toContain(PRIVATE_KEY)
    expect(t.stderr.text).toBe(
      'ikfs: warning: the private key was given as a command-line flag, which other users can see in `ps`; prefer IKFS_PRIVATE_KEY or a config file remote\n',
    )
  })

  it('says, also on stderr when the log goes to a file, that the mount fell back to fuse-native, why, and how to get the libfuse3 binding', async () => {
    logging = true
    const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_LOG_FILE: logFile, IKFS_PRIVATE_KEY: PRIVATE_KEY }, dir)
    t.runtime.fallback = 'mounted with the slower fuse-native fallback (libfuse2): the libfuse3 binding is not built (apt install ...)'
    await mountThenStop(t, [])
    expect(t.stderr.text).toBe(`ikfs: warning: ${t.runtime.fallback}\n`)
    expect(await logText('slower fuse-native fallback')).toContain('the libfuse3 binding is not built')
  })

  it('warns when the files the key check lists live under another URL endpoint id (a mistyped --endpoint)', async () => {
    logging = true
    const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acmee', IKFS_LOG_FILE: logFile, IKFS_PRIVATE_KEY: PRIVATE_KEY }, dir)
    t.runtime.sampleFileUrl = 'https://ik.imagekit.io/acme/docs/a.txt?updatedAt=1'
    await mountThenStop(t, [])
    expect(t.stderr.text).toBe(
      "ikfs: warning: the URL endpoint https://ik.imagekit.io/acmee does not match the library's files, whose URLs start with " +
        'https://ik.imagekit.io/acme: signed reads (private files, --only-signed) will fail; set --endpoint https://ik.imagekit.io/acme\n',
    )
    expect(await logText('does not match')).not.toContain(PRIVATE_KEY)
  })

  it.each([
    [2 * 3600_000 - 20_000, "this machine's clock is 2h00m behind ImageKit's (the API's Date header): ImageKit checks the expiry of signed URLs " +
      "(private files, --only-signed) by its own clock, so ikfs signs them by ImageKit's time instead (by this machine's, every signed read would " +
      'be refused once the clock is behind by more than --signed-url-expiry); uploads carry no signature and are not affected; turn on time sync: timedatectl set-ntp true'],
    [-(5 * 60_000 - 400), "this machine's clock is 5m00s ahead of ImageKit's (the API's Date header): signed URLs (private files, --only-signed) " +
      'stay valid that much longer than --signed-url-expiry, and an upload whose answer was lost may be stored twice (two versions); ' +
      'uploads carry no signature and are not refused; turn on time sync: timedatectl set-ntp true'],
  ])('warns in one line, and mounts all the same, when the key check finds the API\'s clock %d ms ahead of this machine\'s', async (skewMs, warning) => {
    logging = true
    const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_LOG_FILE: logFile, IKFS_PRIVATE_KEY: PRIVATE_KEY }, dir)
    t.runtime.clockSkewMs = skewMs
    await mountThenStop(t, [])
    expect(t.stderr.text).toBe(`ikfs: warning: ${warning}\n`)
    expect(await logText('timedatectl')).toContain(warning)
  })

  it('says nothing of a clock within a minute of the API\'s', async () => {
    logging = true
    for (const skewMs of [59_000, -59_000]) {
      const t = testCli({ IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_LOG_FILE: logFile, IKFS_PRIVATE_KEY: PRIVATE_KEY }, dir)
      t.runtime.clockSkewMs = skewMs
      await mountThenStop(t, [])
      expect(t.stderr.text).toBe('')
    }
    expect(await logText('"msg":"mounted"')).not.toContain('clock')
  })
})
