/** Shared setup for the emulator unit tests: a fresh emulator on port 0 over a temp data dir. */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as zlibModule from 'node:zlib'
import { ManualClock } from '../../../src/clock.js'
import { startEmulator, type EmulatorHandle } from '../../../src/emulator/server.js'
import type { EmulatorOptions } from '../../../src/emulator/options.js'

export const PRIVATE_KEY = 'private_EmuTestKey_0123456789abcdef='
export const PUBLIC_KEY = 'public_EmuTestKey'

export interface TestEmulator {
  emu: EmulatorHandle
  dataDir: string
  options: EmulatorOptions
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>
  upload(fields: Record<string, string | Buffer | { data: Buffer; filename: string }>, headers?: Record<string, string>): Promise<Response>
  /** Upload with useUniqueFileName=false; returns the JSON answer (throws on a non-200). */
  put(filePath: string, data: Buffer | string, extra?: Record<string, string>): Promise<Record<string, unknown>>
  restart(overrides?: Partial<EmulatorOptions>): Promise<void>
  stop(): Promise<void>
}

export function basicAuth(key = PRIVATE_KEY, password = ''): string {
  return 'Basic ' + Buffer.from(`${key}:${password}`).toString('base64')
}

export function multipartBody(fields: Record<string, string | Buffer | { data: Buffer; filename: string }>): { body: Buffer; contentType: string } {
  const boundary = '----ikemutest' + Math.random().toString(16).slice(2)
  const parts: Buffer[] = []
  for (const [name, value] of Object.entries(fields)) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${name}"`
    let data: Buffer
    if (typeof value === 'string') data = Buffer.from(value, 'utf8')
    else if (Buffer.isBuffer(value)) {
      head += `; filename="blob"\r\nContent-Type: application/octet-stream`
      data = value
    } else {
      head += `; filename="${value.filename}"\r\nContent-Type: application/octet-stream`
      data = value.data
    }
    parts.push(Buffer.from(head + '\r\n\r\n', 'utf8'), data, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` }
}

export async function startTestEmulator(overrides: Partial<EmulatorOptions> = {}, dataDir?: string): Promise<TestEmulator> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'ikemu-test-')))
  let options: EmulatorOptions = { dataDir: dir, privateKey: PRIVATE_KEY, publicKey: PUBLIC_KEY, rateLimit: { perSecond: 0 }, ...overrides }
  let emu = await startEmulator(options)
  const t: TestEmulator = {
    get emu() { return emu },
    dataDir: dir,
    get options() { return options },
    api: (method, path, body, headers = {}) =>
      fetch(emu.url + path, {
        method,
        headers: { authorization: basicAuth(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      }),
    upload: (fields, headers = {}) => {
      const { body, contentType } = multipartBody(fields)
      return fetch(emu.url + '/api/v1/files/upload', {
        method: 'POST',
        headers: { authorization: basicAuth(), 'content-type': contentType, ...headers },
        body,
      })
    },
    put: async (filePath, data, extra = {}) => {
      const slash = filePath.lastIndexOf('/')
      const res = await t.upload({
        file: { data: Buffer.isBuffer(data) ? data : Buffer.from(data), filename: filePath.slice(slash + 1) },
        fileName: filePath.slice(slash + 1),
        folder: filePath.slice(0, slash) || '/',
        useUniqueFileName: 'false',
        ...extra,
      })
      const json = (await res.json()) as Record<string, unknown>
      if (res.status !== 200) throw new Error(`upload ${filePath}: ${res.status} ${JSON.stringify(json)}`)
      return json
    },
    restart: async (more = {}) => {
      await emu.close()
      options = { ...options, ...more }
      emu = await startEmulator(options)
    },
    stop: async () => {
      await emu.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
  return t
}

/** Polls `check` until it returns true or the deadline passes (no fixed sleeps). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met before the deadline')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A real PNG (RGBA when `alpha`), built with zlib; for dimension and optimisation tests. */
export function makePng(width: number, height: number, alpha = false): Buffer {
  const { deflateSync, crc32 } = zlibModule
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(td) >>> 0)
    return Buffer.concat([len, td, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8
  ihdr[9] = alpha ? 6 : 2
  const bpp = alpha ? 4 : 3
  const raw = Buffer.alloc((width * bpp + 1) * height, 0x7f)
  for (let y = 0; y < height; y++) raw[y * (width * bpp + 1)] = 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

export interface WebhookReceiver {
  url: string
  /** Every request received, in order: method, content type and JSON body. */
  bodies: Record<string, unknown>[]
  close(): Promise<void>
}

/** A webhook receiver on a free port: the n-th request is answered `statuses[n]`, and 200 once they run out. */
export async function webhookReceiver(statuses: readonly number[] = []): Promise<WebhookReceiver> {
  const bodies: Record<string, unknown>[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.statusCode = statuses[bodies.length] ?? 200
      bodies.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
      res.end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/hook`, bodies, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

/** A ManualClock that notes every sleep asked of it, so a test advances it only once the sleep is waiting. */
export class WatchedClock extends ManualClock {
  readonly sleeps: number[] = []
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms)
    return super.sleep(ms, signal)
  }
}
