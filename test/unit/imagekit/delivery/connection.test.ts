/**
 * The delivery transport against raw TCP and TLS servers that send exact bytes: bodies land in the sink's
 * memory exactly, the sink's pauses hold the server back, connections are reused and capped, a
 * kept-alive connection the server dropped is replaced without a retry, and framing the client cannot
 * trust (extra bytes, a bad head, compressed bodies, stalls) is never handed out as content.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { BodySink, RangeResponse } from '../../../../src/imagekit/api.js'
import { DeliveryPool } from '../../../../src/imagekit/delivery/pool.js'
import { ImageKitError } from '../../../../src/imagekit/errors.js'
import { makeClient, waitFor } from '../helpers.js'

const TLS_DIR = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'tls')

interface RawServer {
  url: string
  /** Every connection the server accepted, in order. */
  connections: Socket[]
  /** Request heads received, with the index of the connection each came on. */
  requests: { head: string; connection: number }[]
  close(): Promise<void>
}

type Responder = (socket: Socket, request: { head: string; index: number; connection: number }) => void

/** A server that hands each complete request head to `respond`, which writes raw bytes. */
async function rawServer(respond: Responder, tls = false): Promise<RawServer> {
  const connections: Socket[] = []
  const requests: RawServer['requests'] = []
  const onSocket = (socket: Socket) => {
    const connection = connections.push(socket) - 1
    let pending = ''
    socket.on('error', () => undefined)
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1')
      let end: number
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const head = pending.slice(0, end)
        pending = pending.slice(end + 4)
        requests.push({ head, connection })
        respond(socket, { head, index: requests.length - 1, connection })
      }
    })
  }
  const server: Server = tls
    ? createTlsServer({ key: readFileSync(join(TLS_DIR, 'localhost-key.pem')), cert: readFileSync(join(TLS_DIR, 'localhost-cert.pem')) }, onSocket)
    : createServer(onSocket)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    connections,
    requests,
    close: () => new Promise<void>((resolve) => {
      for (const socket of connections) socket.destroy()
      server.close(() => resolve())
    }),
  }
}

function rangeOf(head: string, size: number): [number, number] {
  const m = /range: bytes=(\d+)-(\d*)/i.exec(head)
  if (!m) return [0, size - 1]
  return [Number(m[1]), m[2] ? Math.min(size - 1, Number(m[2])) : size - 1]
}

/** A 206 answer of `content` for the request's range, in one write. */
function partial(socket: Socket, head: string, content: Buffer, extra: Record<string, string> = {}): void {
  const [start, end] = rangeOf(head, content.length)
  const headers = { 'Content-Range': `bytes ${start}-${end}/${content.length}`, 'Content-Length': String(end - start + 1), ...extra }
  socket.write(`HTTP/1.1 206 Partial Content\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`)
  socket.write(content.subarray(start, end + 1))
}

/** A sink over one buffer, handing out regions of at most `regionBytes`, and nothing past `limit()`. */
function bufferSink(size: number, regionBytes = Number.POSITIVE_INFINITY, limit: () => number = () => size) {
  const memory = Buffer.alloc(size)
  const state = { filled: 0, writes: 0 }
  const sink: BodySink = {
    nextRegion() {
      const end = Math.min(size, limit(), state.filled + regionBytes)
      return end > state.filled ? memory.subarray(state.filled, end) : undefined
    },
    wrote(n) {
      state.filled += n
      state.writes++
    },
  }
  return { memory, state, sink, bytes: () => memory.subarray(0, state.filled) }
}

let server: RawServer | undefined
let cleanup: (() => Promise<void>) | undefined
afterEach(async () => {
  await cleanup?.()
  cleanup = undefined
  await server?.close()
  server = undefined
})

async function client(respond: Responder, overrides: Parameters<typeof makeClient>[1] = {}) {
  server = await rawServer(respond)
  const made = makeClient(server.url, overrides)
  cleanup = () => made.client.close()
  return { ...made, url: `${server.url}/demo/f.bin?tr=orig-true` }
}

describe('delivery transport', () => {
  const content = randomBytes(3 * 1024 * 1024 + 17)

  it('delivers a body byte for byte into the sink’s memory, however the sink cuts its regions', async () => {
    const { client: c, url } = await client((socket, { head }) => partial(socket, head, content))
    for (const regionBytes of [1000, 64 * 1024, Number.POSITIVE_INFINITY]) {
      const range = await c.readRange(url, 5, undefined)
      const sink = bufferSink(content.length - 5, regionBytes)
      await range.deliver(sink.sink)
      expect(sink.bytes().equals(content.subarray(5)), `regions of ${regionBytes}`).toBe(true)
    }
    expect(server!.connections).toHaveLength(1) // one kept-alive connection for all three
  })

  it('a sink without room pauses the download (the server is held back); resume finishes it exactly', async () => {
    const big = randomBytes(64 * 1024 * 1024)
    let serverWrote = 0
    const { client: c, url } = await client((socket, { head }) => {
      const [start, end] = rangeOf(head, big.length)
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${big.length}\r\nContent-Length: ${end - start + 1}\r\n\r\n`)
      let at = start
      const pump = () => {
        while (at <= end) {
          const piece = big.subarray(at, Math.min(end + 1, at + 1024 * 1024))
          at += piece.length
          serverWrote += piece.length
          if (!socket.write(piece)) return void socket.once('drain', pump)
        }
      }
      pump()
    })
    const range = await c.readRange(url, 0, undefined)
    let open = false
    const sink = bufferSink(big.length, Number.POSITIVE_INFINITY, () => (open ? big.length : 1024 * 1024))
    const done = range.deliver(sink.sink)
    await waitFor(() => sink.state.filled >= 1024 * 1024)
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r))
    expect(sink.state.filled).toBe(1024 * 1024) // nothing more written while the sink had no room
    expect(serverWrote).toBeLessThan(48 * 1024 * 1024) // socket buffers fill, then the server waits
    open = true
    range.resume()
    await done
    expect(sink.bytes().equals(big)).toBe(true)
  })

  it('sends the path and query as given, a Range, identity encoding, no Authorization', async () => {
    const { client: c } = await client((socket, { head }) => partial(socket, head, content))
    const signed = `${server!.url}/demo/a%20b.jpg?updatedAt=1&tr=orig-true&ik-t=1700000000&ik-s=abc`
    const range = await c.readRange(signed, 100, 199)
    const sink = bufferSink(100)
    await range.deliver(sink.sink)
    expect(sink.bytes().equals(content.subarray(100, 200))).toBe(true)
    const head = server!.requests[0]!.head
    expect(head.split('\r\n')[0]).toBe('GET /demo/a%20b.jpg?updatedAt=1&tr=orig-true&ik-t=1700000000&ik-s=abc HTTP/1.1')
    expect(head).toMatch(/\r\nrange: bytes=100-199(\r\n|$)/)
    expect(head).toMatch(/\r\naccept-encoding: identity(\r\n|$)/)
    expect(head).toMatch(/\r\nhost: 127\.0\.0\.1:\d+(\r\n|$)/)
    expect(head.toLowerCase()).not.toContain('authorization')
  })

  it('a kept-alive connection the server dropped is replaced at once, without a retry or its backoff', async () => {
    const { client: c, clock, url } = await client((socket, { head, connection }) => {
      if (connection === 0 && server!.requests.filter((r) => r.connection === 0).length === 2) return void socket.destroy()
      partial(socket, head, content)
    })
    const first = await c.readRange(url, 0, 9)
    await first.deliver(bufferSink(10).sink)
    const second = await c.readRange(url, 10, 19)
    const sink = bufferSink(10)
    await second.deliver(sink.sink)
    expect(sink.bytes().equals(content.subarray(10, 20))).toBe(true)
    expect(server!.connections).toHaveLength(2)
    expect(clock.sleeps).toEqual([])
  })

  it('holds at most maxConnectionsPerOrigin connections; the next request waits for one to come back', async () => {
    const { client: c, url } = await client((socket, { head }) => partial(socket, head, content), { maxConnectionsPerOrigin: 1 })
    const a = await c.readRange(url, 0, undefined)
    let bStarted = false
    const b = c.readRange(url, 0, 99).then((r) => {
      bStarted = true
      return r
    })
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(bStarted).toBe(false)
    const aSink = bufferSink(content.length)
    await a.deliver(aSink.sink)
    const bSink = bufferSink(100)
    await (await b).deliver(bSink.sink)
    expect(aSink.bytes().equals(content)).toBe(true)
    expect(bSink.bytes().equals(content.subarray(0, 100))).toBe(true)
    expect(server!.connections).toHaveLength(1)
  })

  it('skips interim 1xx responses and decodes a chunked body', async () => {
    const { client: c, url } = await client((socket, { head }) => {
      const [start, end] = rangeOf(head, content.length)
      const body = content.subarray(start, end + 1)
      socket.write('HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n')
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${content.length}\r\nTransfer-Encoding: chunked\r\n\r\n`)
      for (let at = 0; at < body.length; at += 100_000) {
        const piece = body.subarray(at, at + 100_000)
        socket.write(`${piece.length.toString(16)}\r\n`)
        socket.write(piece)
        socket.write('\r\n')
      }
      socket.write('0\r\n\r\n')
    })
    const range = await c.readRange(url, 1000, 700_000)
    const sink = bufferSink(700_000 - 1000 + 1, 4096)
    await range.deliver(sink.sink)
    expect(sink.bytes().equals(content.subarray(1000, 700_001))).toBe(true)
    // the chunked body ended cleanly: the connection serves the next request
    await (await c.readRange(url, 0, 0)).deliver(bufferSink(1).sink)
    expect(server!.connections).toHaveLength(1)
  })

  it('a body without a length runs until the server closes, and that connection is not reused', async () => {
    const { client: c, url } = await client((socket, { head }) => {
      const [start, end] = rangeOf(head, content.length)
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${content.length}\r\n\r\n`)
      socket.end(content.subarray(start, end + 1))
    })
    for (let i = 0; i < 2; i++) {
      const sink = bufferSink(content.length)
      await (await c.readRange(url, 7, undefined)).deliver(sink.sink)
      expect(sink.bytes().equals(content.subarray(7))).toBe(true)
    }
    expect(server!.connections).toHaveLength(2)
  })

  it('honours the server’s keep-alive hint: a connection it will close within a second is not reused', async () => {
    const { client: c, url } = await client((socket, { head }) => partial(socket, head, content, { 'Keep-Alive': 'timeout=1' }))
    for (let i = 0; i < 2; i++) await (await c.readRange(url, 0, 9)).deliver(bufferSink(10).sink)
    expect(server!.connections).toHaveLength(2)
  })

  it('never delivers bytes past Content-Length, and does not reuse a connection that sent them', async () => {
    const { client: c, url } = await client((socket, { head }) => {
      partial(socket, head, content)
      socket.write('GARBAGE AFTER THE BODY')
    })
    const range = await c.readRange(url, 0, 9)
    const sink = bufferSink(100)
    await range.deliver(sink.sink)
    expect(sink.bytes().equals(content.subarray(0, 10))).toBe(true)
    await (await c.readRange(url, 0, 9)).deliver(bufferSink(10).sink)
    expect(server!.connections).toHaveLength(2)
  })

  it('drains a small error page and reuses the connection; the page never reaches a sink', async () => {
    const { client: c, url } = await client((socket, { head, index }) => {
      if (index === 0) return void socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot Found')
      partial(socket, head, content)
    })
    await expect(c.readRange(url, 0, 9)).rejects.toMatchObject({ code: 'IK_NOT_FOUND', status: 404 })
    const sink = bufferSink(10)
    await (await c.readRange(url, 0, 9)).deliver(sink.sink)
    expect(sink.bytes().equals(content.subarray(0, 10))).toBe(true)
    expect(server!.connections).toHaveLength(1)
  })

  it('refuses a compressed body and a malformed head as IK_BAD_RESPONSE', async () => {
    const { client: c, url } = await client((socket, { head, index }) => {
      if (index === 0) return partial(socket, head, content, { 'Content-Encoding': 'gzip' })
      socket.write('HTTP/1.1 206 Partial Content\r\nbroken header line\r\n\r\n')
    }, { maxRetries: 0 })
    await expect(c.readRange(url, 0, 9)).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE' })
    await expect(c.readRange(url, 0, 9)).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE' })
  })

  it('times out a server that never answers, and a body that stalls', async () => {
    const { client: c, url } = await client((socket, { head, index }) => {
      if (index === 0) return // no answer at all
      const [start, end] = rangeOf(head, content.length)
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${content.length}\r\nContent-Length: ${end - start + 1}\r\n\r\n`)
      socket.write(content.subarray(start, start + 1000)) // then nothing more
    }, { requestTimeoutMs: 300, maxRetries: 0 })
    await expect(c.readRange(url, 0, 9)).rejects.toMatchObject({ code: 'IK_TIMEOUT' })
    const range = await c.readRange(url, 0, undefined)
    const sink = bufferSink(content.length)
    const error = await range.deliver(sink.sink).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageKitError)
    expect((error as ImageKitError).code).toBe('IK_TIMEOUT')
    expect(sink.bytes().equals(content.subarray(0, 1000))).toBe(true)
  })

  it('a body cut short fails delivery with a retriable IK_NETWORK; what arrived is exact', async () => {
    const { client: c, url } = await client((socket, { head }) => {
      const [start, end] = rangeOf(head, content.length)
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${content.length}\r\nContent-Length: ${end - start + 1}\r\n\r\n`)
      socket.end(content.subarray(start, start + 5000))
    })
    const range = await c.readRange(url, 0, undefined)
    const sink = bufferSink(content.length)
    await expect(range.deliver(sink.sink)).rejects.toMatchObject({ code: 'IK_NETWORK', retriable: true })
    expect(sink.bytes().equals(content.subarray(0, 5000))).toBe(true)
  })

  it('close() and the caller’s abort stop the body: no byte lands after, the connection is not reused', async () => {
    const big = randomBytes(32 * 1024 * 1024)
    const { client: c, url } = await client((socket, { head }) => partial(socket, head, big))
    const ranges: RangeResponse[] = []
    const abort = new AbortController()
    ranges.push(await c.readRange(url, 0, undefined))
    ranges.push(await c.readRange(url, 0, undefined, { signal: abort.signal }))
    for (const [i, range] of ranges.entries()) {
      const sink = bufferSink(big.length)
      const done = range.deliver(sink.sink)
      await waitFor(() => sink.state.filled > 0)
      if (i === 0) range.close()
      else abort.abort()
      await done
      const filled = sink.state.filled
      for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r))
      expect(sink.state.filled).toBe(filled)
      expect(sink.bytes().equals(big.subarray(0, filled))).toBe(true)
    }
    expect(server!.connections).toHaveLength(2)
  })
})

describe('DeliveryPool over TLS', () => {
  it('reads a body over https byte for byte, and reuses the connection', async () => {
    const content = randomBytes(2 * 1024 * 1024 + 3)
    server = await rawServer((socket, { head }) => partial(socket, head, content), true)
    const pool = new DeliveryPool({
      maxConnectionsPerOrigin: 4, connectTimeoutMs: 5000, keepAliveTimeoutMs: 5000,
      ca: readFileSync(join(TLS_DIR, 'localhost-cert.pem')),
    })
    cleanup = () => pool.close()
    const url = new URL(`${server.url}/demo/f.bin`)
    for (let i = 0; i < 2; i++) {
      const { connection } = await pool.acquire(url)
      const { id, head } = connection.request(`GET /demo/f.bin HTTP/1.1\r\nhost: ${url.host}\r\nrange: bytes=0-\r\n\r\n`, 5000)
      expect((await head).statusCode).toBe(206)
      const sink = bufferSink(content.length, 300_000)
      await connection.deliver(id, sink.sink)
      expect(sink.bytes().equals(content)).toBe(true)
    }
    expect(server.connections).toHaveLength(1)
    expect(pool.connections).toBe(1)
  })
})
