/**
 * A 206's Content-Length must be its Content-Range's span, on both readers. Both used to take the body's
 * length from Content-Length alone: a 206 for `bytes 0-99/1000` with a 200-byte body handed out 200 bytes as
 * the file's first 200, the last 100 of them not the file's at all. The raw TCP server writes the exact bytes.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { collectingSink, makeClient, startTcpServer, type TestClient } from './helpers.js'

const SIZE = 1000
const FILE = Buffer.alloc(SIZE, 'a')
const JUNK = Buffer.alloc(100, 'X')

let made: TestClient | undefined
let closeServer: (() => Promise<void>) | undefined
afterEach(async () => {
  await made?.client.close()
  made = undefined
  await closeServer?.()
  closeServer = undefined
})

/** A TCP server that answers each request head with the bytes `answer` gives. */
async function rawServer(answer: () => Buffer): Promise<string> {
  const server = await startTcpServer((_head, _index, socket) => socket.write(answer()))
  closeServer = () => server.close()
  return server.url
}

function head(lines: string): Buffer {
  return Buffer.from(`HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 0-99/${SIZE}\r\n${lines}\r\n`, 'latin1')
}


describe.each(['sockets', 'undici'] as const)('a 206 whose length disagrees with its Content-Range (%s)', (deliveryClient) => {
  it.each([
    ['longer', Buffer.concat([FILE.subarray(0, 100), JUNK])],
    ['shorter', FILE.subarray(0, 50)],
  ])('a Content-Length %s than the span is IK_BAD_RESPONSE, no byte handed out', async (_what, body) => {
    const base = await rawServer(() => Buffer.concat([head(`content-length: ${body.length}\r\n`), body]))
    made = makeClient(base, { deliveryClient, maxRetries: 0 })
    const failure = await made.client.readRange(`${base}/demo/f.bin?tr=orig-true`, 0, undefined).catch((e: unknown) => e)
    expect(failure).toMatchObject({ code: 'IK_BAD_RESPONSE' })
    expect((failure as Error).message).toContain(`Content-Length (${body.length}) is not the length of its Content-Range 0-99 (100 bytes)`)
  })

  it('a chunked body longer than the span: only the span is handed out', async () => {
    const body = Buffer.concat([FILE.subarray(0, 100), JUNK])
    const base = await rawServer(() => Buffer.concat([
      head('transfer-encoding: chunked\r\n'), Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n'),
    ]))
    made = makeClient(base, { deliveryClient, maxRetries: 0 })
    const range = await made.client.readRange(`${base}/demo/f.bin?tr=orig-true`, 0, undefined)
    const sink = collectingSink(4096)
    await range.deliver(sink)
    expect(sink.bytes().equals(FILE.subarray(0, 100))).toBe(true)
  })
})
