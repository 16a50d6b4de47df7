/**
 * Integration harness: an emulator and `ikfs mount` as real child processes, driven from the test process
 * with async calls only. The emulator is a child too, so a test that blocks its own event loop can never
 * deadlock the mount it is reading.
 *
 *   const lib = await startLibrary({ files: { 'a/b.txt': 'hi' } })   // hand-placed files are adopted
 *   const m = await mountLibrary(lib, { args: ['--dir-cache-time', '2s'] })
 *   ... await readFile(join(m.path, 'a/b.txt')) ...
 *   afterAll: await m.stop(); await lib.stop()                       // never leaves a mount or a process
 */
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { fuseAvailable } from '../../native/load.js'
import { CRASH_EXIT_CODE } from '../../src/cli/crash-report.js'
import { isMounted as isFuseMounted, readMountInfo } from '../../src/fuse/mountinfo.js'
import type { AccountUsage, FileObject } from '../../src/imagekit/types.js'
import { UPLOAD_CHECK_HEADER } from '../../src/imagekit/upload.js'
import { REPO_ROOT, forceUnmount, makeTempMountpoint, spawnDaemon, waitFor, type Daemon } from '../helpers/mount.js'
import { tempDir } from '../helpers/temp-dirs.js'

export { waitFor, tempDir }
const execFileP = promisify(execFile)
const BIN = join(REPO_ROOT, 'bin', 'ikfs.js')

export function fuseSkipReason(): string | null {
  const r = fuseAvailable()
  return r.ok ? null : (r.reason ?? 'FUSE unavailable')
}

export async function isMounted(mountpoint: string): Promise<boolean> {
  return isFuseMounted(mountpoint)
}

/** Runs a command; rejects (with its stderr) on a non-zero exit. */
export async function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  return execFileP(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' })
}

/** Runs `ikfs ...args` to completion (or kills it at the deadline) and reports how it ended. */
export function runIkfs(args: string[], opts: { env?: Record<string, string>; timeoutMs: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const timer = setTimeout(() => {
      stderr += `\n[harness] killed after ${opts.timeoutMs} ms`
      child.kill('SIGKILL')
    }, opts.timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export interface FaultPatch {
  refuseChunkedUploads?: boolean
  errorRate?: number
  errorStatuses?: number[]
  resetRate?: number
  resetPhase?: 'request' | 'response' | 'both'
  errorAfterWorkRate?: number
  latencyMs?: number
  scope?: ('api' | 'upload' | 'delivery')[]
  seed?: number
  rateLimitPerSecond?: number
  refusedJobsComplete?: boolean
  /** Every Media API call answers 429 while on (the upload host is not rate limited). */
  rateLimitStorm?: boolean
}

export interface Library {
  url: string
  endpoint: string
  dataDir: string
  privateKey: string
  publicKey: string
  /** Authenticated Media API call; rejects on a non-2xx answer. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>
  upload(folder: string, fileName: string, bytes: Buffer, fields?: Record<string, string>): Promise<FileObject>
  createFolder(parentFolderPath: string, folderName: string): Promise<void>
  details(filePath: string): Promise<FileObject>
  deleteFile(filePath: string): Promise<void>
  usage(): Promise<AccountUsage>
  /** GET a delivery URL as-is (no auth); returns the body. */
  get(url: string): Promise<{ status: number; body: Buffer }>
  setFaults(patch: FaultPatch): Promise<void>
  stop(): Promise<void>
}

export async function startLibrary(opts: { files?: Record<string, Buffer | string>; emulatorArgs?: string[] } = {}): Promise<Library> {
  const root = await tempDir('ikfs-lib-')
  const dataDir = join(root, 'data')
  for (const [path, content] of Object.entries(opts.files ?? {})) {
    const full = join(dataDir, 'files', path)
    await mkdir(dirname(full), { recursive: true })
    await writeFile(full, content)
  }
  await mkdir(dataDir, { recursive: true })
  const privateKey = `private_test_${randomBytes(12).toString('hex')}`
  const publicKey = `public_test_${randomBytes(6).toString('hex')}`
  const daemon = await spawnDaemon(['emulator', '--port', '0', '--data', dataDir, '--public-key', publicKey, '--log-level', 'warn', ...(opts.emulatorArgs ?? [])], {
    env: { ...process.env, IKFS_EMULATOR_PRIVATE_KEY: privateKey },
    readyPattern: /listening on http:\/\/127\.0\.0\.1:\d+/,
    timeoutMs: 60_000,
  })
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(daemon.output())![1]!
  const auth = 'Basic ' + Buffer.from(privateKey + ':').toString('base64')

  // The test's own checks count against the emulator's rate limit (100 a second) with the daemon's calls: a 429
  // is waited out (X-RateLimit-Reset, a few times), not taken for an answer about what the daemon stored.
  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      if (res.status === 429 && attempt < 5) {
        await res.arrayBuffer()
        await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('x-ratelimit-reset') ?? 1000)))
        continue
      }
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
      return res
    }
  }
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await call(method, path, body)
    const text = await res.text()
    return (text ? JSON.parse(text) : undefined) as T
  }
  const details = async (filePath: string): Promise<FileObject> => {
    const slash = filePath.lastIndexOf('/')
    const folder = filePath.slice(0, slash) || '/'
    const name = filePath.slice(slash + 1)
    const q = new URLSearchParams({ path: folder, searchQuery: `name = ${JSON.stringify(name)}` })
    const found = await api<FileObject[]>('GET', `/v1/files?${q.toString().replace(/\+/g, '%20')}`)
    const file = found.find((f) => f.filePath === filePath)
    if (!file) throw new Error(`no file ${filePath}`)
    return file
  }
  return {
    url,
    endpoint: `${url}/demo`,
    dataDir,
    privateKey,
    publicKey,
    api,
    async upload(folder, fileName, bytes, fields = {}) {
      const form = new FormData()
      form.set('file', new Blob([bytes]), fileName)
      form.set('fileName', fileName)
      form.set('folder', folder)
      form.set('useUniqueFileName', 'false')
      form.set('responseFields', 'tags,customCoordinates,isPrivateFile,customMetadata')
      for (const [k, v] of Object.entries(fields)) form.set(k, v)
      const res = await fetch(`${url}/api/v1/files/upload`, { method: 'POST', headers: { authorization: auth }, body: form })
      if (!res.ok) throw new Error(`upload ${folder}/${fileName}: ${res.status} ${await res.text()}`)
      return (await res.json()) as FileObject
    },
    async createFolder(parentFolderPath, folderName) {
      await api('POST', '/v1/folder', { parentFolderPath, folderName })
    },
    details,
    async deleteFile(filePath) {
      const file = await details(filePath)
      await api('DELETE', `/v1/files/${file.fileId}`)
    },
    async usage() {
      const day = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10)
      return api<AccountUsage>('GET', `/v1/accounts/usage?startDate=${day(-30)}&endDate=${day(1)}`)
    },
    async get(deliveryUrl) {
      const res = await fetch(deliveryUrl)
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
    },
    async setFaults(patch) {
      const { rateLimitPerSecond, ...rest } = patch
      const body = rateLimitPerSecond === undefined ? rest : { ...rest, rateLimit: { perSecond: rateLimitPerSecond } }
      await api('POST', '/_emulator/faults', body)
    },
    async stop() {
      await daemon.stop()
      await rm(root, { recursive: true, force: true })
      assertNoNodeWarning(daemon.output())
    },
  }
}

export interface Mounted {
  path: string
  umask: number
  daemon: Daemon
  log(): string
  /** How many listings of `remoteFolder` the daemon has logged (needs the debug level, which mounts use). */
  listingCount(remoteFolder: string): number
  /** SIGHUP: drop cached listings. */
  forget(): void
  kill9(): void
  waitExit(timeoutMs: number): Promise<number | null>
  /** SIGTERM, wait, unmount; resolves with the exit code. */
  stop(): Promise<number | null>
}

export interface MountLibraryOptions {
  args?: string[]
  mountpoint?: string
  /** Added to the daemon's environment. */
  env?: Record<string, string>
  /** The emulator's base URL as the daemon is told it (default lib.url), e.g. a name only a proxy resolves. */
  base?: string
}

export async function mountLibrary(lib: Library, opts: MountLibraryOptions = {}): Promise<Mounted> {
  const temp = opts.mountpoint ? undefined : await makeTempMountpoint()
  const path = opts.mountpoint ?? temp!.path
  const umask = 0o022
  // The spool lives in the library's folder (removed with it), shared by its mounts as the default one would be.
  const cacheDir = opts.args?.includes('--cache-dir') ? [] : ['--cache-dir', join(dirname(lib.dataDir), 'cache')]
  const base = opts.base ?? lib.url
  const args = ['mount', path, '--api-url', base, '--upload-url', base, '--endpoint', `${base}/demo`,
    '--public-key', lib.publicKey, '--umask', '0022', '--log-level', 'debug', ...cacheDir, ...(opts.args ?? [])]
  const daemon = await spawnDaemon(args, {
    env: { ...process.env, IKFS_PRIVATE_KEY: lib.privateKey, ...opts.env },
    readyPattern: /mounted .* at /,
    mountpoint: path,
    timeoutMs: 60_000,
  }).catch(async (error: unknown) => {
    await temp?.cleanup() // a mount that never came up leaves no mountpoint folder behind either
    throw error
  })
  return {
    path,
    umask,
    daemon,
    log: () => daemon.output(),
    listingCount(remoteFolder) {
      const folder = JSON.stringify(remoteFolder.replace(/\/$/, '') || '/')
      return daemon.output().split('\n').filter((l) => l.includes('"msg":"listing folder"') && l.includes(`"folder":${folder}`)).length
    },
    forget: () => void daemon.child.kill('SIGHUP'),
    kill9: () => void daemon.child.kill('SIGKILL'),
    async waitExit(timeoutMs) {
      const exit = await Promise.race([daemon.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref())])
      return exit?.code ?? null
    },
    async stop() {
      const running = !daemon.hasExited() // not killed by the test itself (kill9)
      const exit = await daemon.stop('SIGTERM', 30_000)
      // A stop that hung (killed) or crashed is diagnosed from what the daemon said last (the CI keeps nothing
      // else); not the codes a second signal gives, which tests expect.
      if (running && (exit.code === null || exit.code === CRASH_EXIT_CODE)) console.error(`[daemon at ${path} stopped with code ${exit.code}, signal ${exit.signal}; its last output:]\n${daemon.output().split('\n').slice(-60).join('\n')}`)
      await forceUnmount(path)
      await temp?.cleanup()
      assertNoNodeWarning(daemon.output())
      return exit.code
    },
  }
}

/**
 * Node's process warnings (a listener leak, an unhandled rejection, a FileHandle closed by the garbage collector,
 * DEP0137) never belong in a daemon's output. Deprecations carry their code first: `(node:N) [DEP0137] DeprecationWarning: …`.
 */
export function assertNoNodeWarning(output: string): void {
  const warning = /^\(node:\d+\) (?:\[\w+\] )?\w*Warning: .*$/m.exec(output)
  if (warning) throw new Error(`the daemon printed a Node warning: ${warning[0]}`)
}

// ---- Write-path helpers (issue 4): remote bytes, versions, spool inspection, upload counting, leak checks.

/** Where the emulator keeps the current bytes of `remotePath` ("/a/b.txt", remote = encoded names). */
export function remoteBytesPath(lib: Library, remotePath: string): string {
  return join(lib.dataDir, 'files', ...remotePath.split('/').filter(Boolean))
}

/** True when `cmp` finds both files identical (false on a difference or a missing file). */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  try {
    await run('cmp', ['-s', a, b])
    return true
  } catch {
    return false
  }
}

/** Polls until the emulator holds `remotePath` with exactly the bytes of the local file `expected`. */
export async function waitForRemoteBytes(lib: Library, remotePath: string, expected: string, deadlineMs: number): Promise<void> {
  await waitFor(() => sameBytes(remoteBytesPath(lib, remotePath), expected), deadlineMs, `${remotePath} stored byte-exact`)
}

/** Every stored version of a file, oldest first (the current one last). */
export async function versionsOf(lib: Library, remotePath: string): Promise<FileObject[]> {
  const file = await lib.details(remotePath)
  return lib.api<FileObject[]>('GET', `/v1/files/${file.fileId}/versions`)
}

/** Files and folders directly in a remote folder, as the Media API lists them. */
export async function remoteEntries(lib: Library, remoteFolder: string): Promise<{ type: string; name: string }[]> {
  const q = new URLSearchParams({ path: remoteFolder, type: 'all', limit: '1000' })
  return lib.api<{ type: string; name: string }[]>('GET', `/v1/files?${q.toString()}`)
}

/** Writes `size` random bytes to `path` in 4 MiB chunks (never the whole file in memory); each chunk differs. */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const { open } = await import('node:fs/promises')
  await mkdir(dirname(path), { recursive: true })
  const chunk = randomBytes(Math.max(4, Math.min(size, 4 * 1024 * 1024)))
  const fh = await open(path, 'w')
  try {
    for (let off = 0; off < size; off += chunk.length) {
      chunk.writeUInt32LE((off / chunk.length) >>> 0, 0) // so a misplaced chunk is caught
      await fh.write(chunk, 0, Math.min(chunk.length, size - off), off)
    }
  } finally {
    await fh.close()
  }
}

/**
 * Writes `size` bytes to `target` in 128 KiB writes from a child process (a program like cp); with `poke`,
 * 3 bytes are rewritten at `poke.at` once `poke.after` bytes are written (a write that is not an append).
 * The bytes the file must end with are written to `expected`.
 */
export async function writeThroughMount(target: string, expected: string, size: number, poke?: { after: number; at: number }): Promise<void> {
  const script = `
const { openSync, writeSync, closeSync, writeFileSync } = require('node:fs')
const [target, expected, size, pokeAfter, pokeAt] = process.argv.slice(1).map((a, i) => (i < 2 ? a : Number(a)))
const bytes = Buffer.alloc(size)
for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 11)) & 255
const fd = openSync(target, 'w')
for (let at = 0; at < bytes.length; at += 131072) {
  writeSync(fd, bytes, at, Math.min(131072, bytes.length - at), at)
  if (pokeAt >= 0 && at < pokeAfter && at + 131072 >= pokeAfter) {
    writeSync(fd, Buffer.from('XYZ'), 0, 3, pokeAt)
    bytes.write('XYZ', pokeAt, 'latin1')
  }
}
closeSync(fd)
writeFileSync(expected, bytes)
`
  await run(process.execPath, ['-e', script, target, expected, String(size), String(poke?.after ?? -1), String(poke?.at ?? -1)])
}

/** Regular files under `dir` (recursively) whose bytes equal `expected`'s; [] when the dir is missing. */
export async function findSameFiles(dir: string, expected: string): Promise<string[]> {
  const { readdir, stat } = await import('node:fs/promises')
  const want = (await stat(expected)).size
  const found: string[] = []
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile() && (await stat(p)).size === want && (await sameBytes(p, expected))) found.push(p)
    }
  }
  await walk(dir)
  return found
}

/** Mountpoints among `paths` that the mount table still lists (a leak when the tests are over). */
export async function leftMounted(paths: string[]): Promise<string[]> {
  const mounted = new Set((await readMountInfo()).map((m) => m.mountPoint))
  return paths.filter((p) => mounted.has(p))
}

/**
 * A pass-through HTTP proxy in front of the emulator that counts upload requests and the most that were
 * in flight at once (point a mount's --upload-url at `url`). It also records how each upload was sent
 * (chunked or with a length) and how it ended, and can hold upload bodies after some bytes (a stalled
 * network), or the answers of uploads the emulator stored (an answer lost with a daemon killed meanwhile),
 * until released.
 */
export interface UploadRecord {
  chunked: boolean
  /** The status answered, once the answer came. */
  status?: number
  /** The client went away before the answer (an aborted stream, a killed daemon). */
  aborted: boolean
  /** Body bytes passed on to the emulator. */
  forwarded: number
}

export interface UploadCounter {
  url: string
  /** Every request passed on (API, upload and delivery alike, for a mount whose URLs all point here). */
  requests(): number
  uploads(): number
  inFlight(): number
  maxInFlight(): number
  records(): UploadRecord[]
  /** From now on, upload bodies stop being passed on after `bytes` bytes (undefined: pass everything again). */
  holdBodiesAfter(bytes: number | undefined): void
  /** While on, the answers of uploads (the emulator stored them) are held back; off passes the held ones on. */
  holdAnswers(on: boolean): void
  /** Upload answers held back now. */
  answersHeld(): number
  stop(): Promise<void>
}

export async function startUploadCounter(targetUrl: string): Promise<UploadCounter> {
  const { createServer, request } = await import('node:http')
  const target = new URL(targetUrl)
  let requests = 0
  let uploads = 0
  let inFlight = 0
  let maxInFlight = 0
  let holdAfter: number | undefined
  const held = new Set<() => void>()
  let holdingAnswers = false
  const heldAnswers = new Set<() => void>()
  const records: UploadRecord[] = []
  const server = createServer((req, res) => {
    requests++
    // Not the mount's check of the upload host (an upload without a file), which stores nothing.
    const isUpload = req.method === 'POST' && /\/files\/upload\/?$/.test(req.url ?? '') && req.headers[UPLOAD_CHECK_HEADER] === undefined
    const record: UploadRecord = { chunked: req.headers['transfer-encoding'] === 'chunked', aborted: false, forwarded: 0 }
    if (isUpload) {
      uploads++
      records.push(record)
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      res.once('close', () => inFlight--)
    }
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      record.status = r.statusCode
      const answer = (): void => {
        heldAnswers.delete(answer)
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
        r.once('error', () => res.destroy())
      }
      if (isUpload && holdingAnswers) {
        heldAnswers.add(answer)
        res.once('close', () => heldAnswers.delete(answer)) // the client went away: nobody to answer
      } else {
        answer()
      }
    })
    // Once answered, the rest of a request body is not passed on (the server may close its side).
    up.once('error', () => {
      if (record.status === undefined) res.destroy()
    })
    // A client that goes away mid-request takes the upstream request with it, as a real connection would.
    res.once('close', () => {
      if (!res.writableFinished) {
        if (record.status === undefined) record.aborted = true
        up.destroy()
      }
    })
    // A held body stays held: a 'drain' of the upstream request (from a chunk before the hold) must not resume it.
    let holding = false
    const resume = (): void => {
      if (!holding) req.resume()
    }
    const release = (): void => {
      holding = false
      req.resume()
    }
    req.on('data', (chunk: Buffer) => {
      if (record.status !== undefined || up.destroyed) return
      if (!up.write(chunk)) {
        req.pause()
        up.once('drain', resume)
      }
      record.forwarded += chunk.length
      if (isUpload && holdAfter !== undefined && record.forwarded >= holdAfter && !holding) {
        holding = true
        req.pause()
        held.add(release)
      }
    })
    req.once('end', () => up.end())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    uploads: () => uploads,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    records: () => records.map((r) => ({ ...r })),
    holdBodiesAfter(bytes) {
      holdAfter = bytes
      if (bytes === undefined) {
        for (const release of held) release()
        held.clear()
      }
    },
    holdAnswers(on) {
      holdingAnswers = on
      if (!on) for (const answer of [...heldAnswers]) answer()
    },
    answersHeld: () => heldAnswers.size,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}
