/**
 * API and upload answers are collected into memory without a stream per response (buffered-request.ts): the
 * whole body of a 2xx, the first bytes of an error page, repeated headers, and undici's own errors when the
 * connection fails before the head (the request) or before the body's end (body()).
 */
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { Agent } from 'undici'
import { requestBuffered, type BufferedRequest } from '../../../src/imagekit/buffered-request.js'
import { sendCutShort, startRawServer, startServer, type TestServer } from './helpers.js'

let server: TestServer | undefined
const agent = new Agent({ connections: 2 })
afterEach(async () => {
  await server?.close()
  server = undefined
})

function get(url: string, extra: Partial<BufferedRequest> = {}): Promise<Awaited<ReturnType<typeof requestBuffered>>> {
  return requestBuffered({
    dispatcher: agent, url: new URL(url), method: 'GET', headers: {}, headersTimeout: 5_000, bodyTimeout: 5_000, errorBodyLimit: 16, ...extra,
  })
}

describe('requestBuffered', () => {
  it('gives the status, lower-case headers (a repeated one with all its values) and the whole body of a 2xx', async () => {
    const body = Buffer.alloc(300_000, 7)
    server = await startRawServer((_req, res) => {
      res.setHeader('X-Ik-RequestId', 'r1')
      res.setHeader('Set-Cookie', ['a=1', 'b=2'])
      res.writeHead(200, { 'content-length': String(body.length) })
      res.write(body.subarray(0, 100_000))
      setImmediate(() => res.end(body.subarray(100_000)))
    })
    const response = await get(`${server.url}/x?q=1`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['x-ik-requestid']).toBe('r1')
    expect(response.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect((await response.body()).equals(body)).toBe(true)
    expect(await response.body()).toBe(await response.body()) // read once, the same answer after
  })

  it('sends the method, path with query, headers and body as given', async () => {
    server = await startServer((_req, res) => res.end('{}'))
    await (await get(`${server.url}/api/v1/files/upload?a=b`, { method: 'POST', headers: { 'x-test': 'yes' }, body: Buffer.from('payload') })).body()
    expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/api/v1/files/upload?a=b', body: Buffer.from('payload') })
    expect(server.requests[0]!.headers['x-test']).toBe('yes')
  })

  it('keeps only errorBodyLimit bytes of an error answer', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' })
      res.end('x'.repeat(100_000))
    })
    const response = await get(server.url)
    expect(response.statusCode).toBe(503)
    expect((await response.body()).toString()).toBe('x'.repeat(16))
  })

  it('rejects body() when the connection drops before the end of a 2xx; the request itself resolved', async () => {
    server = await startRawServer((_req, res) => sendCutShort(res, '{"fileId":'))
    const response = await get(server.url)
    expect(response.statusCode).toBe(200)
    await expect(response.body()).rejects.toMatchObject({ code: expect.stringMatching(/^UND_ERR/) })
  })

  it('rejects the request when no answer comes (refused), and when the signal aborts while it waits', async () => {
    server = await startRawServer(() => undefined) // never answers
    const closed = `http://127.0.0.1:1`
    await expect(get(closed)).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    const abort = new AbortController()
    const pending = get(server.url, { signal: abort.signal })
    setTimeout(() => abort.abort(new Error('stop')), 50)
    await expect(pending).rejects.toThrow('stop')
    const aborted = new AbortController()
    aborted.abort(new Error('before'))
    await expect(get(server.url, { signal: aborted.signal })).rejects.toThrow('before')
  })

  it('a stream body of a request whose connection is refused is stopped without an unhandled error event', async () => {
    const uncaught: unknown[] = []
    const onUncaught = (e: unknown) => uncaught.push(e)
    process.on('uncaughtException', onUncaught)
    try {
      const body = Readable.from((async function* () {
        yield Buffer.from('head')
        yield Buffer.from('rest')
      })(), { objectMode: false })
      await expect(get('http://127.0.0.1:1', { method: 'POST', body })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(body.destroyed).toBe(true)
      expect(uncaught).toEqual([])
    } finally {
      process.off('uncaughtException', onUncaught)
    }
  })
})
