/**
 * Test doubles for the ImageKit client tests: real node:http servers on 127.0.0.1:0 that misbehave on
 * purpose, a clock whose sleeps return at once (recording how long they were asked to wait), and a logger
 * that keeps its lines so tests can check that no secret was written.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { Writable, type Readable } from 'node:stream'
import { afterEach } from 'vitest'
import type { Clock } from '../../../src/clock.js'
import type { BodySink } from '../../../src/imagekit/api.js'
import { createLogger, type Logger } from '../../../src/log.js'
import { ImageKitClient, type ImageKitClientOptions } from '../../../src/imagekit/client.js'

export const PRIVATE_KEY = 'private_TestKey_ShouldNeverLeak_42='

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: Buffer
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer, index: number) => unknown

export interface TestServer {
  url: string
  requests: RecordedRequest[]
  close(): Promise<void>
}

/** A server that reads each request body whole (small bodies only), records it, then calls `handler`. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const index = requests.length
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      Promise.resolve(handler(req, res, body, index)).catch((error: unknown) => {
        res.statusCode = 599
        res.end(String(error))
      })
    })
  })
  return listen(server, sockets, requests)
}

/** A server that gets the raw request and must read the body itself (streaming tests). */
export async function startRawServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const sockets = new Set<Socket>()
  return listen(createServer(handler), sockets, [])
}

async function listen(server: ReturnType<typeof createServer>, sockets: Set<Socket>, requests: RecordedRequest[]): Promise<TestServer> {
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** A 200 that promises 1,000 bytes of JSON, sends `start`, then drops the connection (an answer lost on the way). */
export function sendCutShort(res: ServerResponse, start: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
  res.write(start)
  setImmediate(() => res.socket?.destroy())
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** Every byte of a body stream. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** A clock whose sleeps resolve at once and move time forward by the amount asked for. */
export class InstantClock implements Clock {
  readonly sleeps: number[] = []
  #now: number
  constructor(start = 1_700_000_000_000) {
    this.#now = start
  }
  now(): number {
    return this.#now
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms)
    this.#now += ms
    return Promise.resolve()
  }
}

/** A pino logger at debug level that keeps every line it writes. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString())
      callback()
    },
  })
  const logger = createLogger({ level: 'debug', pretty: false, secrets: [PRIVATE_KEY] }, { write: (line: string) => sink.write(line) })
  return { logger, lines }
}

export interface TestClient {
  client: ImageKitClient
  clock: InstantClock
  lines: string[]
}

/** A client against `baseUrl` for all three hosts, no jitter (backoff waits are 0), instant clock. */
export function makeClient(baseUrl: string, overrides: Partial<ImageKitClientOptions> = {}): TestClient {
  const clock = new InstantClock()
  const { logger, lines } = capturingLogger()
  const client = new ImageKitClient({
    apiUrl: baseUrl,
    uploadUrl: baseUrl,
    urlEndpoint: `${baseUrl}/demo`,
    privateKey: PRIVATE_KEY,
    logger,
    clock,
    random: () => 0.5,
    requestTimeoutMs: 5_000,
    ...overrides,
  })
  return { client, clock, lines }
}

/**
 * A test server and a client against it for each test of the calling file: `setup(handler)` starts both,
 * and both are closed after the test. `server` is the current test's server.
 */
export function useClientPerTest(): { setup(handler: Handler, overrides?: Partial<ImageKitClientOptions>): Promise<TestClient>; readonly server: TestServer } {
  let server: TestServer | undefined
  let client: ImageKitClient | undefined
  afterEach(async () => {
    await client?.close()
    client = undefined
    await server?.close()
    server = undefined
  })
  return {
    async setup(handler, overrides = {}) {
      server = await startServer(handler)
      const made = makeClient(server.url, overrides)
      client = made.client
      return made
    },
    get server() {
      if (!server) throw new Error('no test server: call setup() first')
      return server
    },
  }
}

/** Waits until `condition()` holds, polling on the event loop, or fails after `deadlineMs`. */
export async function waitFor(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const until = performance.now() + deadlineMs
  while (!condition()) {
    if (performance.now() > until) throw new Error('waitFor: condition not met before the deadline')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Parses a small multipart/form-data body into its parts. */
export function parseMultipart(body: Buffer, contentType: string): { name: string; filename?: string; data: Buffer }[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1]
  if (!boundary) throw new Error(`no boundary in ${contentType}`)
  const delimiter = Buffer.from(`--${boundary}`)
  const parts: { name: string; filename?: string; data: Buffer }[] = []
  let at = body.indexOf(delimiter)
  for (;;) {
    const next = body.indexOf(delimiter, at + delimiter.length)
    if (next === -1) break
    const part = body.subarray(at + delimiter.length + 2, next - 2)
    const headerEnd = part.indexOf('\r\n\r\n')
    const head = part.subarray(0, headerEnd).toString()
    const name = /name="([^"]*)"/.exec(head)?.[1] ?? ''
    const filename = /filename="([^"]*)"/.exec(head)?.[1]
    parts.push({ name, filename, data: part.subarray(headerEnd + 4) })
    at = next
  }
  return parts
}

/** Everything an error would show in a log: message, stack, own properties and causes. */
export function serializeError(error: unknown): string {
  const seen = new Set<unknown>()
  const walk = (value: unknown): unknown => {
    if (!(value instanceof Error) || seen.has(value)) return value
    seen.add(value)
    const own = Object.fromEntries(Object.entries(value))
    return { ...own, message: value.message, stack: value.stack, cause: walk(value.cause) }
  }
  return JSON.stringify(walk(error))
}

/** A sink that keeps every byte delivered into it, offering regions of `regionBytes`. */
export function collectingSink(regionBytes: number): BodySink & { bytes(): Buffer } {
  const chunks: Buffer[] = []
  let region = Buffer.alloc(0)
  return {
    nextRegion() {
      region = Buffer.alloc(regionBytes)
      return region
    },
    wrote(n) {
      chunks.push(Buffer.from(region.subarray(0, n)))
    },
    bytes: () => Buffer.concat(chunks),
  }
}

/** A raw TCP server (see startTcpServer): every request head it got, and how many connections were made. */
export interface TcpServer {
  url: string
  connections: number
  requests: string[]
  close(): Promise<void>
}

/**
 * A TCP server that answers each request head with `answer(head, index, socket)`: whatever bytes it writes
 * are the response, byte-exact (framing the HTTP servers would not send).
 */
export async function startTcpServer(answer: (head: string, index: number, socket: Socket) => void): Promise<TcpServer> {
  const sockets = new Set<Socket>()
  const s: TcpServer = {
    url: '',
    connections: 0,
    requests: [],
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    }),
  }
  const server = createNetServer((socket) => {
    s.connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    let buffered = ''
    socket.on('data', (data) => {
      buffered += data.toString('latin1')
      let end: number
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const head = buffered.slice(0, end)
        buffered = buffered.slice(end + 4)
        s.requests.push(head)
        answer(head, s.requests.length - 1, socket)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return s
}
