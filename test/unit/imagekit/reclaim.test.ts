/**
 * A read never waits forever for a delivery connection (reclaim.ts), on both readers. Each open file read
 * partway keeps its ranged response paused on a connection; with --max-connections N, a program reading a
 * little of N+1 files in turn (`paste f1 … f33`, `sort -m`) used to wait forever for the (N+1)th: the queue
 * for a free connection had no deadline, and nothing took a connection back from a paused response.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { BodySink, ImageKitApi, RangeResponse } from '../../../src/imagekit/api.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { ByteBudget } from '../../../src/vfs/budget.js'
import { BlockCache } from '../../../src/vfs/reader/block-cache.js'
import { BlockPool } from '../../../src/vfs/reader/block-pool.js'
import { BLOCK_BYTES, readAheadBlocks } from '../../../src/vfs/reader/file-reader.js'
import { MAX_RESUME_ATTEMPTS } from '../../../src/vfs/reader/range-stream.js'
import { ReaderPool } from '../../../src/vfs/reader/reader-pool.js'
import { Counters } from '../../../src/vfs/stats.js'
import { collectingSink, makeClient, type TestClient } from './helpers.js'

const CONTENT = randomBytes(4 * 1024 * 1024 + 17)

let made: TestClient | undefined
let closeServer: (() => Promise<void>) | undefined
afterEach(async () => {
  await made?.client.close()
  made = undefined
  await closeServer?.()
  closeServer = undefined
})

/** A server answering ranges of CONTENT with 206; counts connections. */
async function startRangeServer(): Promise<{ url: string; connections: () => number }> {
  const sockets = new Set<Socket>()
  let connections = 0
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
    const start = Number(match?.[1] ?? 0)
    const end = match?.[2] ? Number(match[2]) : CONTENT.length - 1
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${CONTENT.length}`, 'content-length': end - start + 1 })
    res.end(CONTENT.subarray(start, end + 1))
  })
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closeServer = () => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections }
}

/** A sink that takes `room` bytes, then has no room (its reader is elsewhere): the response pauses. */
function pausingSink(room: number): BodySink & { taken: number; room: number } {
  let region = new Uint8Array(0)
  const sink = {
    taken: 0,
    room,
    nextRegion() {
      if (sink.taken >= sink.room) return undefined
      region = new Uint8Array(Math.min(65_536, sink.room - sink.taken))
      return region
    },
    wrote(n: number) {
      sink.taken += n
    },
  }
  return sink
}


describe.each(['sockets', 'undici'] as const)('a read waiting for a connection (%s)', (reader) => {
  it('with every connection held by a paused response, the longest paused one gives its connection up', async () => {
    const server = await startRangeServer()
    made = makeClient(server.url, { deliveryClient: reader, maxConnectionsPerOrigin: 2 })
    const { client, lines } = made
    const url = `${server.url}/demo/f.bin?tr=orig-true`
    const paused = []
    for (const start of [0, 1000]) {
      const range = await client.readRange(url, start, undefined)
      const sink = pausingSink(100_000)
      const delivered = range.deliver(sink).then(() => 'ended', (e: unknown) => e)
      await new Promise<void>((resolve) => {
        const check = () => (sink.taken >= 100_000 ? resolve() : setImmediate(check))
        check()
      })
      paused.push({ range, sink, delivered })
    }
    const third = await client.readRange(url, 5000, 5000 + 199_999)
    const sink = collectingSink(65_536)
    await third.deliver(sink)
    expect(sink.bytes().equals(CONTENT.subarray(5000, 205_000))).toBe(true)
    // The first paused response gave its connection up (a retriable failure its reader resumes from)…
    expect(await paused[0]!.delivered).toMatchObject({ code: 'IK_RECLAIMED', retriable: true })
    // …the second one still holds its own and reads on when its reader has room again.
    paused[1]!.sink.room = Number.POSITIVE_INFINITY
    paused[1]!.range.resume()
    expect(await paused[1]!.delivered).toBe('ended')
    expect(paused[1]!.sink.taken).toBe(CONTENT.length - 1000)
    expect(server.connections()).toBe(3)
    expect(lines.some((line) => /"level":(40|50)/.test(line))).toBe(false)
  })

  it('with every connection busy and none paused by its reader, the wait ends after the request timeout (IK_TIMEOUT, retriable)', async () => {
    const server = await startRangeServer()
    made = makeClient(server.url, { deliveryClient: reader, maxConnectionsPerOrigin: 2, requestTimeoutMs: 300, maxRetries: 0 })
    const { client } = made
    const url = `${server.url}/demo/f.bin?tr=orig-true`
    // Heads arrived, delivery not started: their readers are about to read them, so they are not taken back.
    const held = [await client.readRange(url, 0, undefined), await client.readRange(url, 10, undefined)]
    const waited = await client.readRange(url, 20, undefined).catch((e: unknown) => e)
    expect(waited).toMatchObject({ code: 'IK_TIMEOUT', retriable: true })
    expect((waited as Error).message).toContain('no connection became free in time')
    for (const range of held) range.close()
    // The pool is not left broken: the next read gets a connection.
    const sink = collectingSink(65_536)
    await (await client.readRange(url, 30, 39)).deliver(sink)
    expect(sink.bytes().equals(CONTENT.subarray(30, 40))).toBe(true)
  })

  it('paste f1 f2 f3 with --max-connections 2: reads of three open files in turn all return, byte-exact', async () => {
    const server = await startRangeServer()
    made = makeClient(server.url, { deliveryClient: reader, maxConnectionsPerOrigin: 2 })
    const { client, lines } = made
    const blockPool = new BlockPool(BLOCK_BYTES)
    const cacheBytes = 8 * BLOCK_BYTES
    const cache = new BlockCache(cacheBytes, (block) => blockPool.release(block))
    const counters = new Counters()
    const readers = new ReaderPool({
      api: client, cache, pool: blockPool, budget: new ByteBudget(64 * BLOCK_BYTES), counters, maxWindowBlocks: readAheadBlocks(cacheBytes),
    })
    const files = [0, 1, 2].map((f) => readers.acquire({
      fileId: `id${f}`, versionId: `v${f}`, size: CONTENT.length, filePath: `/f${f}.bin`, url: `${server.url}/demo/f${f}.bin?updatedAt=1`, isPrivateFile: false,
    }))
    const STEP = 256 * 1024
    for (let pos = 0; pos < CONTENT.length; pos += STEP) {
      for (const file of files) {
        const got = await file.read(pos, STEP)
        expect(got.equals(CONTENT.subarray(pos, pos + STEP)), `at ${pos}`).toBe(true)
      }
    }
    expect(counters.streamResumes).toBeGreaterThan(0) // connections were taken back and streams read on
    readers.closeAll()
    expect(lines.some((line) => /"level":(40|50)/.test(line))).toBe(false)
  })
})

describe('a read whose response was taken back', () => {
  it(`is no failure of the stream: taken back ${MAX_RESUME_ATTEMPTS + 2} times before any byte, the read still returns its bytes`, async () => {
    let takenBack = 0
    const range = (start: number): RangeResponse => ({
      start,
      totalSize: CONTENT.length,
      get body(): never {
        throw new Error('not used')
      },
      deliver(sink) {
        if (takenBack < MAX_RESUME_ATTEMPTS + 2) {
          takenBack++
          return Promise.reject(new ImageKitError('IK_RECLAIMED', 'GET /f.bin: taken back', { retriable: true }))
        }
        let at = start
        while (at < CONTENT.length) {
          const region = sink.nextRegion()
          if (!region) return Promise.resolve() // the test reads one block: the rest is never asked for
          const n = Math.min(region.length, CONTENT.length - at)
          region.set(CONTENT.subarray(at, at + n))
          sink.wrote(n)
          at += n
        }
        return Promise.resolve()
      },
      resume() {},
      close() {},
    })
    const api = { deliveryUrl: () => 'https://ik.example.test/demo/f.bin', readRange: (_url: string, start: number) => Promise.resolve(range(start)) }
    const blockPool = new BlockPool(BLOCK_BYTES)
    const counters = new Counters()
    const readers = new ReaderPool({
      api: api as unknown as ImageKitApi, cache: new BlockCache(4 * BLOCK_BYTES, (block) => blockPool.release(block)), pool: blockPool,
      budget: new ByteBudget(16 * BLOCK_BYTES), counters, maxWindowBlocks: 1,
    })
    const file = readers.acquire({ fileId: 'id', versionId: 'v', size: CONTENT.length, filePath: '/f.bin', url: 'https://ik.example.test/demo/f.bin', isPrivateFile: false })
    expect((await file.read(0, 4096)).equals(CONTENT.subarray(0, 4096))).toBe(true)
    expect(takenBack).toBe(MAX_RESUME_ATTEMPTS + 2)
    readers.closeAll()
  })
})
