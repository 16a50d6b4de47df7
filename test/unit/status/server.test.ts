import { chmod, chown, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { controlRequest, ControlError, fetchStatus } from '../../../src/status/client.js'
import { controlSocketPath, MAX_SOCKET_PATH_BYTES } from '../../../src/status/paths.js'
import { parseMetricsAddress, startControlServer, startMetricsServer, STOPPING_GRACE_MS, StatusServerError, type RunningServer } from '../../../src/status/server.js'
import { metricsAddress, startStatusServices } from '../../../src/status/services.js'
import { StatusBoard, type ReportingVfs } from '../../../src/status/snapshot.js'
import type { VfsStatus } from '../../../src/vfs/types.js'
import { silentLogger } from './fixtures.js'

function fakeVfs(report: { status?: () => VfsStatus; stats?: () => object }): ReportingVfs & { forgotten: (string | undefined)[] } {
  const forgotten: (string | undefined)[] = []
  return { ...report, forget: (p?: string) => void forgotten.push(p), forgotten } as unknown as ReportingVfs & { forgotten: (string | undefined)[] }
}

const identity = { version: '9.9.9', pid: 1, mountpoint: '/mnt/x', endpoint: 'http://127.0.0.1/demo' }

function httpGet(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }))
    }).on('error', reject).end()
  })
}

describe('control socket', () => {
  let dir: string
  let socket: string
  let running: RunningServer[]
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ikfs-status-'))
    socket = join(dir, 'run', 'ikfs', 'm.sock')
    running = []
  })
  afterEach(async () => {
    await Promise.all(running.map((r) => r.close()))
    await rm(dir, { recursive: true, force: true })
  })

  it('answers "starting" before the Vfs is attached and refuses refresh until then', async () => {
    const board = new StatusBoard(identity, () => 5)
    running.push(await startControlServer(socket, board, silentLogger))
    const status = await fetchStatus(socket)
    expect(status).toMatchObject({ state: 'starting', version: '9.9.9', vfs: {}, uploads: [], ops: {} })
    const refresh = await controlRequest(socket, 'POST', '/refresh?path=%2F')
    expect(refresh.status).toBe(409)
  })

  it('serves the Vfs status(), the op counters, metrics, and forwards refresh to vfs.forget', async () => {
    let now = 1_000
    const board = new StatusBoard(identity, () => now)
    const vfs = fakeVfs({
      status: () => ({
        counters: { uploadsDone: 7, uploadErrors: 1 },
        uploads: [{ localPath: '/a.jpg', size: 10, sentBytes: 4, state: 'uploading', attempts: 1 }],
      }),
      stats: () => ({ ignored: 1 }),
    })
    board.attach(vfs, { snapshot: () => ({ read: { calls: 3, errors: 0, timeouts: 0, late: 0, inFlight: 1 } }) })
    board.mounted()
    running.push(await startControlServer(socket, board, silentLogger))
    expect((await stat(socket)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'run', 'ikfs'))).mode & 0o777).toBe(0o700)

    now = 61_000
    const status = await fetchStatus(socket)
    expect(status.state).toBe('mounted')
    expect(status.nowMs - status.startedAtMs).toBe(60_000)
    expect(status.vfs).toEqual({ uploadsDone: 7, uploadErrors: 1 })
    expect(status.uploads[0]).toMatchObject({ localPath: '/a.jpg', sentBytes: 4 })
    expect(status.ops.read?.calls).toBe(3)

    const metrics = await controlRequest(socket, 'GET', '/metrics')
    expect(metrics.body).toContain('ikfs_vfs_uploads_done_total 7')
    expect(metrics.body).toContain('ikfs_uploads{state="uploading"} 1')

    expect((await controlRequest(socket, 'POST', '/refresh?path=%2Fphotos')).status).toBe(200)
    expect((await controlRequest(socket, 'POST', '/refresh')).status).toBe(200)
    expect((await controlRequest(socket, 'POST', '/refresh?path=photos')).status).toBe(400)
    expect(vfs.forgotten).toEqual(['/photos', undefined])
    expect((await controlRequest(socket, 'GET', '/nope')).status).toBe(404)
  })

  it('refresh runs the mount refresh (listings, and the names the kernel keeps as missing) and answers once it is done', async () => {
    const board = new StatusBoard(identity, () => 0)
    const vfs = fakeVfs({})
    const refreshed: (string | undefined)[] = []
    let finish!: () => void
    board.attach(vfs, undefined, (path) => {
      refreshed.push(path)
      return new Promise<void>((resolve) => (finish = resolve))
    })
    board.mounted()
    running.push(await startControlServer(socket, board, silentLogger))
    let answered = false
    const answer = controlRequest(socket, 'POST', '/refresh?path=%2Fphotos').then((r) => {
      answered = true
      return r
    })
    await vi.waitFor(() => expect(refreshed).toEqual(['/photos']))
    await new Promise((r) => setTimeout(r, 50))
    expect(answered).toBe(false)
    finish()
    expect((await answer).status).toBe(200)
    expect(vfs.forgotten).toEqual([]) // the mount's refresh, not the board, drops the listings
  })

  it('falls back to stats() for a Vfs without status(), keeping numbers only', async () => {
    const board = new StatusBoard(identity, () => 0)
    board.attach(fakeVfs({ stats: () => ({ cachedDirs: 2, blockCacheHitRate: 0.5, label: 'x' }) }))
    running.push(await startControlServer(socket, board, silentLogger))
    expect((await fetchStatus(socket)).vfs).toEqual({ cachedDirs: 2, blockCacheHitRate: 0.5 })
  })

  it('replaces a stale socket file but refuses to take over a live daemon', async () => {
    const board = new StatusBoard(identity, () => 0)
    await startControlServer(socket, board, silentLogger).then((s) => s.close())
    await writeFile(socket, '') // a leftover regular file from a crash
    const first = await startControlServer(socket, board, silentLogger)
    running.push(first)
    await expect(startControlServer(socket, board, silentLogger)).rejects.toBeInstanceOf(StatusServerError)
    expect((await fetchStatus(socket)).state).toBe('starting')
  })

  it('names the daemon that holds the socket, and says what to run, by its state', async () => {
    const board = new StatusBoard(identity, () => 0)
    running.push(await startControlServer(socket, board, silentLogger))
    const refusal = () => startControlServer(socket, board, silentLogger).then(() => 'taken over', (e: Error) => e.message)
    expect(await refusal()).toBe('/mnt/x is being mounted right now by ikfs pid 1 (run: ikfs status /mnt/x)')
    board.mounted()
    expect(await refusal()).toBe('/mnt/x is already mounted by ikfs pid 1 (run: ikfs unmount /mnt/x)')
    board.stopping()
    const asked = Date.now()
    expect(await refusal()).toBe('/mnt/x was just unmounted; ikfs pid 1 stores its last uploads before it exits (run: ikfs status /mnt/x)')
    expect(Date.now() - asked).toBeGreaterThanOrEqual(STOPPING_GRACE_MS) // it waited for that daemon to exit first
  })

  it('takes over from a daemon that is stopping once it exits (a mount right after an unmount)', async () => {
    const board = new StatusBoard(identity, () => 0)
    const last = await startControlServer(socket, board, silentLogger)
    board.stopping()
    const next = startControlServer(socket, new StatusBoard(identity, () => 0), silentLogger)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await last.close()
    running.push(await next)
    expect((await fetchStatus(socket)).state).toBe('starting')
  })

  it('removes the socket on close, and a client then says nothing is running', async () => {
    const server = await startControlServer(socket, new StatusBoard(identity, () => 0), silentLogger)
    await server.close()
    await expect(stat(socket)).rejects.toMatchObject({ code: 'ENOENT' })
    const error = await fetchStatus(socket).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ControlError)
    expect((error as ControlError).notRunning).toBe(true)
  })
})

describe('metrics listener', () => {
  it('serves /metrics only, on the address asked for', async () => {
    const board = new StatusBoard(identity, () => 0)
    board.mounted()
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, board, silentLogger)
    try {
      expect(server.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const metrics = await httpGet(`${server.address}/metrics`)
      expect(metrics.status).toBe(200)
      expect(metrics.type).toContain('version=0.0.4')
      expect(metrics.body).toContain('ikfs_up 1')
      expect((await httpGet(`${server.address}/status`)).status).toBe(404)
    } finally {
      await server.close()
    }
  })

  it('fails with the address and the reason when the port is taken', async () => {
    const board = new StatusBoard(identity, () => 0)
    const first = await startMetricsServer({ host: '127.0.0.1', port: 0 }, board, silentLogger)
    try {
      const port = Number(new URL(first.address).port)
      await expect(startMetricsServer({ host: '127.0.0.1', port }, board, silentLogger)).rejects.toThrow(
        `cannot serve --metrics 127.0.0.1:${port}: the port is in use`,
      )
    } finally {
      await first.close()
    }
  })

  it('parses HOST:PORT addresses and rejects anything else as a config error', () => {
    expect(parseMetricsAddress('127.0.0.1:9100')).toEqual({ host: '127.0.0.1', port: 9100 })
    expect(parseMetricsAddress(':9100')).toEqual({ host: '127.0.0.1', port: 9100 })
    expect(parseMetricsAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 })
    expect(parseMetricsAddress('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 })
    for (const bad of ['9100', 'host:', 'host:99999', 'a:b:9100', 'http://x:1']) {
      expect(() => parseMetricsAddress(bad), bad).toThrow(StatusServerError)
    }
    expect(metricsAddress('')).toBeUndefined()
    expect(() => metricsAddress('nope')).toThrow(expect.objectContaining({ name: 'ConfigError', option: 'metrics' }))
  })
})

describe('startStatusServices', () => {
  it('keeps the mount going without a control socket when its folder cannot be made', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ikfs-status-'))
    try {
      await writeFile(join(dir, 'file'), '')
      const services = await startStatusServices({ ...identity, socketPath: join(dir, 'file', 'x.sock'), metrics: '', logger: silentLogger })
      expect(services.socketPath).toBeUndefined()
      expect(services.board.state).toBe('starting')
      await services.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('a control socket folder that others can use', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ikfs-status-'))
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  /** What starting a control socket in `folder` fails with, and that the client will not talk through it either. */
  async function refused(folder: string): Promise<string> {
    const socket = join(folder, 'm.sock')
    const error = await startControlServer(socket, new StatusBoard(identity, () => 0), silentLogger).then(() => undefined, (e: unknown) => e as Error)
    expect(error?.name).toBe('UnsafeFolderError')
    const client = await controlRequest(socket, 'GET', '/status').then(() => undefined, (e: unknown) => e as ControlError)
    expect(client).toBeInstanceOf(ControlError)
    expect(client?.notRunning).toBe(false)
    expect(client?.message).toBe(error?.message)
    return error?.message ?? ''
  }

  it('is refused when group or others may use it, or when it is a symlink, saying which and what to do', async () => {
    const loose = join(dir, 'loose')
    await mkdir(loose)
    await chmod(loose, 0o755)
    expect(await refused(loose)).toBe(`${loose} is not safe for ikfs's control sockets: group or others may use it (mode 0755) (chmod 700 ${loose})`)

    const real = join(dir, 'real')
    await mkdir(real, { mode: 0o700 })
    await symlink(real, join(dir, 'link'))
    expect(await refused(join(dir, 'link'))).toMatch(/link is not safe for ikfs's control sockets: it is a symbolic link \(remove it, or set XDG_RUNTIME_DIR/)
  })

  it.skipIf(process.getuid?.() !== 0)('is refused when another user made it (a /tmp/ikfs-UID made first by someone else)', async () => {
    const theirs = join(dir, 'theirs')
    await mkdir(theirs, { mode: 0o700 })
    await chown(theirs, 4242, 4242)
    expect(await refused(theirs)).toBe(
      `${theirs} is not safe for ikfs's control sockets: it belongs to uid 4242, not to you (uid 0) ` +
        '(have root remove it, or set XDG_RUNTIME_DIR to a folder only you can use)',
    )
  })

  it('is made 0700 when missing, and then used', async () => {
    const socket = join(dir, 'new', 'm.sock')
    const server = await startControlServer(socket, new StatusBoard(identity, () => 0), silentLogger)
    try {
      expect((await stat(join(dir, 'new'))).mode & 0o777).toBe(0o700)
      expect((await fetchStatus(socket)).state).toBe('starting')
    } finally {
      await server.close()
    }
  })

  it('costs `ikfs status`, not the mount, and the log says why', async () => {
    await chmod(dir, 0o777)
    let logged = ''
    const logger = pino({ level: 'warn' }, { write: (line: string) => void (logged += line) })
    const services = await startStatusServices({ ...identity, socketPath: join(dir, 'm.sock'), metrics: '', logger })
    expect(services.socketPath).toBeUndefined()
    expect(logged).toContain('`ikfs status` will not work: cannot create the control socket')
    expect(logged).toContain(`${dir} is not safe for ikfs's control sockets: group or others may use it (mode 0777)`)
    await services.close()
  })
})

describe('a control socket path too long for a unix socket', () => {
  it('is refused before listening, so no server is left keeping the process alive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ikfs-status-'))
    const long = join(dir, 'r'.repeat(MAX_SOCKET_PATH_BYTES - dir.length), 'm.sock')
    const listening = (): number => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length
    const before = listening()
    try {
      await expect(startControlServer(long, new StatusBoard(identity, () => 0), silentLogger)).rejects.toThrow(
        `the control socket path ${long} is longer than the 107 bytes a unix socket path may have`,
      )
      expect(listening()).toBe(before)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('controlSocketPath', () => {
  it('moves to the private /tmp folder when the path under XDG_RUNTIME_DIR would be too long for a unix socket', () => {
    const fits = '/run/user/' + 'r'.repeat(MAX_SOCKET_PATH_BYTES - '/run/user//ikfs/0123456789abcdef.sock'.length)
    expect(controlSocketPath('/mnt/a', { env: { XDG_RUNTIME_DIR: fits }, uid: 1000 })).toMatch(new RegExp(`^${fits}/ikfs/[0-9a-f]{16}\\.sock$`))
    expect(controlSocketPath('/mnt/a', { env: { XDG_RUNTIME_DIR: fits + 'r' }, uid: 1000 })).toMatch(/^\/tmp\/ikfs-1000\/[0-9a-f]{16}\.sock$/)
    // Bytes count, not characters.
    const accents = '/run/' + 'é'.repeat(45)
    expect(controlSocketPath('/mnt/a', { env: { XDG_RUNTIME_DIR: accents }, uid: 1000 })).toMatch(/^\/tmp\/ikfs-1000\//)
  })


  it('puts root under /run/ikfs, users under XDG_RUNTIME_DIR, else a private /tmp folder', () => {
    const root = controlSocketPath('/mnt/a', { env: {}, uid: 0 })
    expect(root).toMatch(/^\/run\/ikfs\/[0-9a-f]{16}\.sock$/)
    expect(controlSocketPath('/mnt/a', { env: { XDG_RUNTIME_DIR: '/run/user/1000' }, uid: 1000 })).toMatch(/^\/run\/user\/1000\/ikfs\/[0-9a-f]{16}\.sock$/)
    expect(controlSocketPath('/mnt/a', { env: {}, uid: 1000 })).toMatch(/^\/tmp\/ikfs-1000\//)
    expect(controlSocketPath('/mnt/a/', { env: {}, uid: 0 })).toBe(root)
    expect(controlSocketPath('/mnt/b', { env: {}, uid: 0 })).not.toBe(root)
  })
})
