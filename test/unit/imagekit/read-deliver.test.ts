/**
 * readRange delivered into a BodySink, by both delivery readers (the socket reader and undici's dispatch): exact bytes into the sink's regions, the
 * head checks before any byte is handed out, pause/resume by a sink without room, mid-body failures,
 * aborts and keep-alive reuse. Each test starts its own node:http server on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BodySink, RangeResponse } from '../../../src/imagekit/api.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { DeliveryClient } from '../../../src/imagekit/read.js'
import { MAX_QUEUED_BYTES } from '../../../src/imagekit/undici-range.js'
import { makeClient, PRIVATE_KEY, waitFor, type TestClient } from './helpers.js'

const CONTENT = randomBytes(1_000_003)

interface Server {
  url: string
  requests: IncomingMessage['headers'][]
  connections: number
  sockets: Set<Socket>
  close(): Promise<void>
}

let server: Server | undefined
let made: TestClient | undefined
/** The reader the current describe block tests. */
let deliveryClient: DeliveryClient = 'sockets'
afterEach(async () => {
  await made?.client.close()
  made = undefined
  await server?.close()
  server = undefined
})

async function setup(handler: (req: IncomingMessage, res: ServerResponse, index: number) => void, requestTimeoutMs?: number) {
  const sockets = new Set<Socket>()
  const requests: IncomingMessage['headers'][] = []
  const http = createServer((req, res) => {
    const index = requests.length
    requests.push(req.headers)
    handler(req, res, index)
  })
  const s: Server = {
    url: '',
    requests,
    connections: 0,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        http.close(() => resolve())
      }),
  }
  http.on('connection', (socket: Socket) => {
    s.connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  s.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  server = s
  made = makeClient(s.url, requestTimeoutMs === undefined ? { deliveryClient } : { deliveryClient, requestTimeoutMs })
  return { client: made.client, url: `${s.url}/demo/f.bin?updatedAt=1&tr=orig-true`, lines: made.lines }
}

/** Answers ranges of CONTENT with 206. */
function ranged(req: IncomingMessage, res: ServerResponse): void {
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
  const start = Number(match?.[1] ?? 0)
  const end = match?.[2] ? Number(match[2]) : CONTENT.length - 1
  res.writeHead(206, {
    'content-range': `bytes ${start}-${end}/${CONTENT.length}`,
    'content-length': end - start + 1,
    'x-ik-requestid': 'req-1',
  })
  res.end(CONTENT.subarray(start, end + 1))
}

/** A sink of odd-sized regions that collects what was written; `room` bytes at most until given more. */
class CollectingSink implements BodySink {
  readonly received: Buffer[] = []
  written = 0
  regionCalls = 0
  #region: Uint8Array | undefined
  constructor(
    readonly regionBytes = 7_777,
    public room = Number.POSITIVE_INFINITY,
  ) {}
  nextRegion(): Uint8Array | undefined {
    this.regionCalls++
    if (this.room <= 0) return undefined
    this.#region = new Uint8Array(Math.min(this.regionBytes, this.room))
    return this.#region
  }
  wrote(n: number): void {
    expect(n).toBeGreaterThan(0)
    this.received.push(Buffer.from(this.#region!.subarray(0, n)))
    this.written += n
    this.room -= n
  }
  get bytes(): Buffer {
    return Buffer.concat(this.received)
  }
}

describe.each(['sockets', 'undici'] as const)('readRange delivered into a sink (%s)', (reader) => {
  beforeEach(() => {
    deliveryClient = reader
  })

  it('206: exact bytes into the regions; identity encoding asked, no Authorization, the requestId logged', async () => {
    const { client, url, lines } = await setup(ranged)
    const range = await client.readRange(url, 12_345, 912_344)
    expect(range).toMatchObject({ start: 12_345, totalSize: CONTENT.length, requestId: 'req-1' })
    const sink = new CollectingSink()
    await range.deliver(sink)
    expect(sink.bytes.equals(CONTENT.subarray(12_345, 912_345))).toBe(true)
    const open = await client.readRange(url, 999_000, undefined)
    const tail = new CollectingSink(1)
    await open.deliver(tail)
    expect(tail.bytes.equals(CONTENT.subarray(999_000))).toBe(true)
    expect(server!.requests[0]).toMatchObject({ range: 'bytes=12345-912344', 'accept-encoding': 'identity' })
    expect(server!.requests.every((h) => h.authorization === undefined)).toBe(true)
    expect(lines.some((l) => l.includes('"requestId":"req-1"') && l.includes('delivery response'))).toBe(true)
    expect(lines.join('\n')).not.toContain(PRIVATE_KEY)
    expect(lines.join('\n')).not.toContain('updatedAt=1')
  })

  it('200 that ignored the range: the head is skipped, an open range runs to the end, a bounded one is cut', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': CONTENT.length })
      res.end(CONTENT)
    })
    const open = await client.readRange(url, 300_001, undefined)
    expect(open).toMatchObject({ start: 300_001, totalSize: CONTENT.length })
    const all = new CollectingSink()
    await open.deliver(all)
    expect(all.bytes.equals(CONTENT.subarray(300_001))).toBe(true)
    const bounded = await client.readRange(url, 500_000, 500_099)
    const cut = new CollectingSink(33)
    await bounded.deliver(cut)
    expect(cut.bytes.equals(CONTENT.subarray(500_000, 500_100))).toBe(true)
    // The Readable view of the same kind of response.
    const viaBody = await client.readRange(url, 10, 19)
    const chunks: Buffer[] = []
    for await (const chunk of viaBody.body as AsyncIterable<Buffer>) chunks.push(chunk)
    expect(Buffer.concat(chunks).equals(CONTENT.subarray(10, 20))).toBe(true)
  })

  it('200 without Content-Length (chunked) is IK_BAD_RESPONSE', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(200)
      res.end(CONTENT.subarray(0, 1000))
    })
    await expect(client.readRange(url, 0, undefined)).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE' })
  })

  it('an error status is an ImageKitError; its body is drained, never delivered, and the connection reused', async () => {
    const { client, url } = await setup((req, res, index) => {
      if (index === 0) {
        const page = '<html>not here</html>'
        res.writeHead(404, { 'content-type': 'text/html', 'content-length': page.length, 'x-ik-requestid': 'nf-1' })
        res.end(page)
        return
      }
      ranged(req, res)
    })
    const error = await client.readRange(url, 0, 99).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageKitError)
    expect(error).toMatchObject({ code: 'IK_NOT_FOUND', status: 404, requestId: 'nf-1' })
    expect((error as Error).message).not.toContain('not here')
    const range = await client.readRange(url, 0, 99)
    const sink = new CollectingSink()
    await range.deliver(sink)
    expect(sink.bytes.equals(CONTENT.subarray(0, 100))).toBe(true)
    expect(server!.connections).toBe(1)
  })

  it('a chunked error body: the same error; undici drains it, the socket reader closes the connection', async () => {
    const { client, url } = await setup((req, res, index) => {
      if (index === 0) {
        res.writeHead(404, { 'content-type': 'text/html', 'x-ik-requestid': 'nf-2' })
        res.end('<html>not here</html>')
        return
      }
      ranged(req, res)
    })
    const error = await client.readRange(url, 0, 99).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'IK_NOT_FOUND', status: 404, requestId: 'nf-2' })
    const range = await client.readRange(url, 0, 99)
    const sink = new CollectingSink()
    await range.deliver(sink)
    expect(sink.bytes.equals(CONTENT.subarray(0, 100))).toBe(true)
    expect(server!.connections).toBe(reader === 'undici' ? 1 : 2)
  })

  it('a compressed body is refused before any byte is handed out', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 0-9/${CONTENT.length}`, 'content-length': 10, 'content-encoding': 'gzip' })
      res.end(CONTENT.subarray(0, 10))
    })
    await expect(client.readRange(url, 0, 9)).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE', status: 206 })
    expect(server!.requests).toHaveLength(1)
  })

  it('a sink without room pauses the response: the server is held back by TCP until resume()', async () => {
    const total = 64 * 1024 * 1024
    const piece = Buffer.alloc(64 * 1024)
    for (let i = 0; i < piece.length; i++) piece[i] = i % 251
    let sent = 0
    const { client, url } = await setup((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 0-${total - 1}/${total}`, 'content-length': total })
      const pump = () => {
        while (sent < total) {
          sent += piece.length
          if (!res.write(piece)) return void res.once('drain', pump)
        }
        res.end()
      }
      pump()
    })
    const range = await client.readRange(url, 0, undefined)
    let room = 100_000
    let written = 0
    let bad = 0
    let region: Uint8Array | undefined
    let regionCalls = 0
    const sink: BodySink = {
      nextRegion: () => {
        regionCalls++
        region = room > 0 ? new Uint8Array(Math.min(50_000, room)) : undefined
        return region
      },
      wrote: (n) => {
        for (let i = 0; i < n; i++) if (region![i] !== ((written + i) % (64 * 1024)) % 251) bad++
        written += n
        room -= n
      },
    }
    const delivered = range.deliver(sink)
    await waitFor(() => written === 100_000)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const [sentPaused, calls] = [sent, regionCalls]
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(written).toBe(100_000) // nothing more lands while paused
    expect(regionCalls).toBe(calls) // the sink is not polled
    expect(sent).toBe(sentPaused) // the server is held back…
    expect(sent).toBeLessThan(total) // …well before the end
    room = Number.POSITIVE_INFINITY
    range.resume()
    await delivered
    expect(written).toBe(total)
    expect(bad).toBe(0)
  })

  it('Connection: close: the server\'s FIN arrives before delivery starts or while the sink has no room; every byte still arrives', async () => {
    // undici 7 asserts (uncatchably) when such a socket ends while its parser is paused (nodejs/undici#5360).
    const { client, url } = await setup((req, res) => {
      res.setHeader('connection', 'close')
      ranged(req, res)
    })
    const small = await client.readRange(url, 10, 1_009)
    await new Promise((resolve) => setTimeout(resolve, 100)) // body and FIN are in before deliver() is called
    const smallSink = new CollectingSink()
    await small.deliver(smallSink)
    expect(smallSink.bytes.equals(CONTENT.subarray(10, 1_010))).toBe(true)

    // No room for the last 10 bytes: the response pauses in its last chunk, with the FIN right behind it.
    const range = await client.readRange(url, 0, undefined)
    const sink = new CollectingSink(30_000, CONTENT.length - 10)
    const delivered = range.deliver(sink)
    await waitFor(() => sink.written === CONTENT.length - 10)
    await new Promise((resolve) => setTimeout(resolve, 100))
    sink.room = Number.POSITIVE_INFINITY
    range.resume()
    await delivered
    expect(sink.bytes.equals(CONTENT)).toBe(true)
  })

  it('Connection: close and a sink that stays full: undici gives up past its queue (retriable), sockets wait', async () => {
    const big = Buffer.alloc(MAX_QUEUED_BYTES + 2 * 1024 * 1024, 7)
    const { client, url } = await setup((_req, res) => {
      res.writeHead(206, { connection: 'close', 'content-range': `bytes 0-${big.length - 1}/${big.length}`, 'content-length': big.length })
      res.end(big)
    })
    const range = await client.readRange(url, 0, undefined)
    const sink = new CollectingSink(30_000, 0)
    const delivered = range.deliver(sink).then(() => 'delivered', (e: unknown) => e)
    await new Promise((resolve) => setTimeout(resolve, 300))
    if (reader === 'undici') {
      const error = await delivered
      expect(error).toBeInstanceOf(ImageKitError)
      expect(error).toMatchObject({ code: 'IK_NETWORK', retriable: true })
    } else {
      sink.room = Number.POSITIVE_INFINITY
      range.resume()
      expect(await delivered).toBe('delivered')
      expect(sink.written).toBe(big.length)
    }
  })

  it('a body cut mid-way rejects deliver with an ImageKitError', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 0-${CONTENT.length - 1}/${CONTENT.length}`, 'content-length': CONTENT.length })
      res.write(CONTENT.subarray(0, 5000), () => res.socket?.destroy())
    })
    const range = await client.readRange(url, 0, undefined)
    const sink = new CollectingSink()
    const error = await range.deliver(sink).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageKitError)
    expect((error as ImageKitError).code).toBe('IK_NETWORK')
    expect(sink.bytes.equals(CONTENT.subarray(0, sink.written))).toBe(true)
    expect(server!.requests).toHaveLength(1)
  })

  it('an abort before the head rejects at once with IK_ABORTED; during the body it ends deliver', async () => {
    let hold: ServerResponse | undefined
    const { client, url } = await setup((req, res, index) => {
      if (index === 0) {
        hold = res // never answers
        return
      }
      res.writeHead(206, { 'content-range': `bytes 0-${CONTENT.length - 1}/${CONTENT.length}`, 'content-length': CONTENT.length })
      res.write(CONTENT.subarray(0, 1000)) // then stalls
      void req
    })
    const early = new AbortController()
    const pending = client.readRange(url, 0, undefined, { signal: early.signal })
    await waitFor(() => server!.requests.length === 1)
    early.abort()
    await expect(pending).rejects.toMatchObject({ code: 'IK_ABORTED' })
    expect(hold).toBeDefined()

    const late = new AbortController()
    const range = await client.readRange(url, 0, undefined, { signal: late.signal })
    const sink = new CollectingSink()
    const delivered = range.deliver(sink)
    await waitFor(() => sink.written === 1000)
    late.abort()
    await delivered
    expect(sink.written).toBe(1000)
  })

  it('close() before the end drops the response; later calls do nothing', async () => {
    const { client, url } = await setup(ranged)
    const range: RangeResponse = await client.readRange(url, 0, undefined)
    const sink = new CollectingSink(1000, 1000)
    const delivered = range.deliver(sink)
    await waitFor(() => sink.written === 1000)
    range.close()
    await delivered
    range.resume()
    range.close()
    expect(sink.written).toBe(1000)
    // The next read works (on a new connection: the dropped one is not reused).
    const next = await client.readRange(url, 5, 9)
    const again = new CollectingSink()
    await next.deliver(again)
    expect(again.bytes.equals(CONTENT.subarray(5, 10))).toBe(true)
  })

  it('reads one after the other share a kept-alive connection', async () => {
    const { client, url } = await setup(ranged)
    for (let i = 0; i < 5; i++) {
      const range = await client.readRange(url, i * 1000, i * 1000 + 999)
      const sink = new CollectingSink()
      await range.deliver(sink)
      expect(sink.bytes.equals(CONTENT.subarray(i * 1000, i * 1000 + 1000))).toBe(true)
    }
    expect(server!.requests).toHaveLength(5)
    expect(server!.connections).toBe(1)
  })

  it('a body that stalls while the sink wants bytes times out (IK_TIMEOUT); a paused one does not', async () => {
    const { client, url } = await setup((req, res, index) => {
      if (index === 0) {
        res.writeHead(206, { 'content-range': `bytes 0-${CONTENT.length - 1}/${CONTENT.length}`, 'content-length': CONTENT.length })
        res.write(CONTENT.subarray(0, 1000)) // then nothing
        return
      }
      ranged(req, res)
    }, 300)
    const stalled = await client.readRange(url, 0, undefined)
    const error = await stalled.deliver(new CollectingSink()).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'IK_TIMEOUT' })

    const range = await client.readRange(url, 0, undefined)
    const sink = new CollectingSink(4096, 5000)
    const delivered = range.deliver(sink)
    await waitFor(() => sink.written === 5000)
    await new Promise((resolve) => setTimeout(resolve, 700)) // paused for longer than the timeout
    sink.room = Number.POSITIVE_INFINITY
    range.resume()
    await delivered
    expect(sink.bytes.equals(CONTENT)).toBe(true)
  })

  it('a large error body is not read: the connection is dropped and the error comes at once', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(500, { 'content-length': 10 * 1024 * 1024 })
      res.write(Buffer.alloc(100_000, 'x')) // and never the rest
    })
    const started = performance.now()
    await expect(client.readRange(url, 0, undefined)).rejects.toMatchObject({ code: 'IK_SERVER', status: 500 })
    expect(performance.now() - started).toBeLessThan(4000)
  })
})
