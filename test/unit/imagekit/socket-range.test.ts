/**
 * What only the socket reader does itself (read-deliver.test.ts runs the shared behaviour on both readers):
 * HTTP/1.1 framing from raw bytes (heads split anywhere, 1xx answers, oversized or malformed heads, bodies
 * longer than announced, Connection: close), chunked bodies handed to undici, a kept-alive connection closed
 * under a request, the per-origin connection cap, and TLS (a throwaway certificate made with openssl).
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer as createHttpsServer } from 'node:https'
import type { TLSSocket } from 'node:tls'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { BodySink } from '../../../src/imagekit/api.js'
import type { ImageKitClientOptions } from '../../../src/imagekit/client.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { makeClient, startTcpServer, type TcpServer, type TestClient } from './helpers.js'

const CONTENT = randomBytes(700_001)

let raw: TcpServer | undefined
let made: TestClient | undefined
afterEach(async () => {
  await made?.client.close()
  made = undefined
  await raw?.close()
  raw = undefined
})

async function rawServer(answer: (head: string, index: number, socket: Socket) => void): Promise<TcpServer> {
  raw = await startTcpServer(answer)
  return raw
}

function rangeOf(head: string): [number, number] {
  const match = /\r\nrange: bytes=(\d+)-(\d*)/i.exec(head)
  const start = Number(match?.[1] ?? 0)
  return [start, match?.[2] ? Number(match[2]) : CONTENT.length - 1]
}

/** A 206 for the asked range, as bytes: head and body. */
function partial(head: string, extraHeaders = ''): Buffer {
  const [start, end] = rangeOf(head)
  const text = `HTTP/1.1 206 Partial Content\r\ncontent-range: bytes ${start}-${end}/${CONTENT.length}\r\n` +
    `content-length: ${end - start + 1}\r\n${extraHeaders}\r\n`
  return Buffer.concat([Buffer.from(text, 'latin1'), CONTENT.subarray(start, end + 1)])
}

function client(url: string, overrides: Partial<ImageKitClientOptions> = {}) {
  made = makeClient(url, { deliveryClient: 'sockets', ...overrides })
  return made.client
}

class Sink implements BodySink {
  readonly chunks: Buffer[] = []
  #region = Buffer.alloc(0)
  nextRegion(): Uint8Array {
    this.#region = Buffer.alloc(50_000)
    return this.#region
  }
  wrote(n: number): void {
    this.chunks.push(Buffer.from(this.#region.subarray(0, n)))
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks)
  }
}

async function readBytes(c: ReturnType<typeof client>, url: string, start: number, end?: number): Promise<Buffer> {
  const range = await c.readRange(url, start, end)
  const sink = new Sink()
  await range.deliver(sink)
  return sink.bytes
}

const file = (base: string) => `${base}/demo/f.bin?tr=orig-true`

describe('the socket reader (raw HTTP/1.1 framing)', () => {
  it('a head that arrives a byte at a time, after a 100 Continue, is parsed; the body is byte-exact', async () => {
    const s = await rawServer((head, _index, socket) => {
      const bytes = Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), partial(head, 'x-ik-requestid: r-1\r\n')])
      let at = 0
      const headEnd = bytes.indexOf('\r\n\r\n', 30) + 4
      const dribble = () => {
        if (at < headEnd) {
          socket.write(bytes.subarray(at, at + 1))
          at++
          setImmediate(dribble)
        } else socket.write(bytes.subarray(at))
      }
      dribble()
    })
    const c = client(s.url)
    expect((await readBytes(c, file(s.url), 1000, 299_999)).equals(CONTENT.subarray(1000, 300_000))).toBe(true)
    expect(s.requests[0]).toMatch(/^GET \/demo\/f\.bin\?tr=orig-true HTTP\/1\.1\r\n/)
    expect(s.requests[0]).toMatch(/\r\nhost: 127\.0\.0\.1:\d+\r\n/)
    expect(s.requests[0]).toContain('\r\nrange: bytes=1000-299999')
    expect(s.requests[0]).toContain('\r\naccept-encoding: identity')
    expect(s.requests[0]).not.toMatch(/authorization/i)
  })

  it('small bodies that come with their head, one after the other on one connection: each byte-exact', async () => {
    // A body that arrives with its head ends a response outside a read, so the next response's first bytes land
    // in memory the previous one named: they must still be read as the next head.
    const s = await rawServer((head, _index, socket) => {
      socket.write(partial(head))
    })
    const c = client(s.url)
    for (let i = 0; i < 5; i++) {
      expect((await readBytes(c, file(s.url), i * 10, i * 10 + 9)).equals(CONTENT.subarray(i * 10, i * 10 + 10))).toBe(true)
    }
    expect(s.connections).toBe(1)
  })

  it('a malformed status line or an endless head is IK_BAD_RESPONSE, never content', async () => {
    const s = await rawServer((_head, index, socket) => {
      if (index % 2 === 0) socket.write('HTCPCP/1.0 418 I am a teapot\r\n\r\nshort and stout')
      else socket.write(`HTTP/1.1 206 Partial Content\r\nx-padding: ${'a'.repeat(70_000)}\r\n\r\n`)
    })
    const c = client(s.url, { maxRetries: 0 })
    const teapot = await c.readRange(file(s.url), 0, undefined).catch((e: unknown) => e)
    expect(teapot).toBeInstanceOf(ImageKitError)
    expect(teapot).toMatchObject({ code: 'IK_BAD_RESPONSE' })
    expect((teapot as Error).message).toContain('not an HTTP/1.x status line')
    const endless = await c.readRange(file(s.url), 0, undefined).catch((e: unknown) => e)
    expect(endless).toMatchObject({ code: 'IK_BAD_RESPONSE' })
    expect((endless as Error).message).toContain('response head larger than')
  })

  it('bytes beyond the announced body are never handed out, and that connection is not reused', async () => {
    const s = await rawServer((head, _index, socket) => {
      socket.write(Buffer.concat([partial(head), Buffer.from('HTTP/1.1 200 OK\r\n\r\ngarbage')]))
    })
    const c = client(s.url)
    expect((await readBytes(c, file(s.url), 0, 9)).equals(CONTENT.subarray(0, 10))).toBe(true)
    expect((await readBytes(c, file(s.url), 10, 19)).equals(CONTENT.subarray(10, 20))).toBe(true)
    expect(s.connections).toBe(2)
  })

  it('Connection: close is honoured: the whole body is delivered, the next read opens a new connection', async () => {
    const s = await rawServer((head, _index, socket) => {
      socket.end(partial(head, 'connection: close\r\n'))
    })
    const c = client(s.url)
    expect((await readBytes(c, file(s.url), 5, 600_000)).equals(CONTENT.subarray(5, 600_001))).toBe(true)
    expect((await readBytes(c, file(s.url), 0, 99)).equals(CONTENT.subarray(0, 100))).toBe(true)
    expect(s.connections).toBe(2)
  })

  it('a chunked body is read through undici instead (a second request), byte-exact', async () => {
    const s = await rawServer((head, index, socket) => {
      const [start, end] = rangeOf(head)
      const body = CONTENT.subarray(start, end + 1)
      socket.write(`HTTP/1.1 206 Partial Content\r\ncontent-range: bytes ${start}-${end}/${CONTENT.length}\r\n` +
        `transfer-encoding: chunked\r\n\r\n`)
      socket.write(`${body.length.toString(16)}\r\n`)
      socket.write(body)
      socket.write('\r\n0\r\n\r\n')
      void index
    })
    const c = client(s.url)
    expect((await readBytes(c, file(s.url), 100, 200_099)).equals(CONTENT.subarray(100, 200_100))).toBe(true)
    expect(s.requests).toHaveLength(2)
  })

  it('a kept-alive connection closed as a request goes out: sent again at once on a new one, no retry wait', async () => {
    const s = await rawServer((head, index, socket) => {
      if (index === 1) socket.destroy() // the second request, on the first connection, finds it closing
      else socket.write(partial(head))
    })
    const c = client(s.url)
    expect((await readBytes(c, file(s.url), 0, 99)).equals(CONTENT.subarray(0, 100))).toBe(true)
    expect((await readBytes(c, file(s.url), 100, 199)).equals(CONTENT.subarray(100, 200))).toBe(true)
    expect(s.connections).toBe(2)
    expect(made!.clock.sleeps).toEqual([])
    expect(made!.lines.some((line) => line.includes('retrying'))).toBe(false)
  })

  it('at the connection cap a read waits for a free connection; an abort while waiting ends it at once', async () => {
    const s = await rawServer((head, _index, socket) => {
      socket.write(partial(head))
    })
    const c = client(s.url, { maxConnectionsPerOrigin: 1 })
    const first = await c.readRange(file(s.url), 0, 99) // holds the only connection until delivered
    const controller = new AbortController()
    const aborted = c.readRange(file(s.url), 0, 99, { signal: controller.signal }).catch((e: unknown) => e)
    const second = c.readRange(file(s.url), 200, 299)
    controller.abort()
    expect(await aborted).toMatchObject({ code: 'IK_ABORTED' })
    const sink = new Sink()
    await first.deliver(sink)
    expect(sink.bytes.equals(CONTENT.subarray(0, 100))).toBe(true)
    const secondSink = new Sink()
    await (await second).deliver(secondSink)
    expect(secondSink.bytes.equals(CONTENT.subarray(200, 300))).toBe(true)
    expect(s.connections).toBe(1)
    expect(s.requests).toHaveLength(2)
  })
})

describe('the socket reader over TLS', () => {
  let tls: { key: Buffer; cert: Buffer } | undefined
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'ikfs-tls-'))
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' })
    tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
    rmSync(dir, { recursive: true })
  })
  const servers: { close(): void }[] = []
  afterAll(() => {
    for (const server of servers) server.close()
  })

  it('reads over https with the server name checked; a paused sink holds the server back, then resumes', async () => {
    let connections = 0
    const resumed: boolean[] = []
    const server = createHttpsServer({ key: tls!.key, cert: tls!.cert }, (req, res) => {
      const [start, end] = rangeOf(`\r\nrange: ${req.headers.range}`)
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${CONTENT.length}`, 'content-length': end - start + 1 })
      res.end(CONTENT.subarray(start, end + 1))
    })
    server.on('secureConnection', (socket: TLSSocket) => {
      connections++
      resumed.push(socket.isSessionReused())
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `https://localhost:${(server.address() as AddressInfo).port}`
    const c = client(base, { deliveryTls: { ca: tls!.cert } })
    // A sink that takes 100,000 bytes, then none until resumed.
    const range = await c.readRange(file(base), 0, undefined)
    const chunks: Buffer[] = []
    let room = 100_000
    let region = Buffer.alloc(0)
    const done = range.deliver({
      nextRegion() {
        if (room === 0) return undefined
        region = Buffer.alloc(Math.min(room, 30_000))
        return region
      },
      wrote(n) {
        chunks.push(Buffer.from(region.subarray(0, n)))
        room -= n
      },
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(Buffer.concat(chunks).length).toBe(100_000)
    room = Number.POSITIVE_INFINITY
    range.resume()
    await done
    expect(Buffer.concat(chunks).equals(CONTENT)).toBe(true)
    expect((await readBytes(c, file(base), 7, 77)).equals(CONTENT.subarray(7, 78))).toBe(true)
    expect(connections).toBe(1)

    // A second connection (the first is held by an undelivered response) resumes the first one's session.
    const held = await c.readRange(file(base), 0, 99)
    expect((await readBytes(c, file(base), 100, 199)).equals(CONTENT.subarray(100, 200))).toBe(true)
    held.close()
    expect(connections).toBe(2)
    expect(resumed).toEqual([false, true])

    // Without the CA, the certificate is refused: an error, not bytes.
    const strict = makeClient(base, { deliveryClient: 'sockets', maxRetries: 0 })
    const refused = await strict.client.readRange(file(base), 0, 9).catch((e: unknown) => e)
    await strict.client.close()
    expect(refused).toBeInstanceOf(ImageKitError)
    expect(refused).toMatchObject({ code: 'IK_NETWORK' })
  })
})
