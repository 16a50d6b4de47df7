/**
 * Ranged reads of delivery URLs: 206 checked against the asked start, a 200 that ignored the range is
 * skipped locally, error pages never come back as content, mid-body deaths error the stream.
 */
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { beforeEach, describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { DeliveryClient } from '../../../src/imagekit/read.js'
import { PRIVATE_KEY, readAll, serializeError, useClientPerTest, type Handler } from './helpers.js'

const CONTENT = randomBytes(300_000)

const perTest = useClientPerTest()

function parseRange(header: string | undefined): [number, number | undefined] {
  const match = /^bytes=(\d+)-(\d*)$/.exec(header ?? '')
  if (!match) throw new Error(`bad range ${header}`)
  return [Number(match[1]), match[2] ? Number(match[2]) : undefined]
}

/** The reader the current describe block tests. */
let deliveryClient: DeliveryClient = 'sockets'

async function setup(handler: Handler) {
  const made = await perTest.setup(handler, { deliveryClient })
  return { ...made, url: `${perTest.server.url}/demo/dir/a%20b.jpg?updatedAt=1&tr=orig-true` }
}

describe.each(['sockets', 'undici'] as const)('readRange (%s)', (reader) => {
  beforeEach(() => {
    deliveryClient = reader
  })

  it('206: returns the bytes of the range, the total size and the etag; sends no Authorization', async () => {
    const { client, url } = await setup((req, res) => {
      const [start, end = CONTENT.length - 1] = parseRange(req.headers.range)
      res.writeHead(206, {
        'content-range': `bytes ${start}-${end}/${CONTENT.length}`,
        'content-length': end - start + 1,
        etag: '"v1"',
        'x-ik-requestid': 'r1',
      })
      res.end(CONTENT.subarray(start, end + 1))
    })
    const range = await client.readRange(url, 1000, 1999)
    expect(range).toMatchObject({ start: 1000, totalSize: CONTENT.length, etag: '"v1"', requestId: 'r1' })
    expect((await readAll(range.body)).equals(CONTENT.subarray(1000, 2000))).toBe(true)
    const open = await client.readRange(url, 250_000, undefined)
    expect((await readAll(open.body)).equals(CONTENT.subarray(250_000))).toBe(true)
    expect(perTest.server.requests.map((r) => r.headers.range)).toEqual(['bytes=1000-1999', 'bytes=250000-'])
    expect(perTest.server.requests.every((r) => r.headers.authorization === undefined)).toBe(true)
    expect(perTest.server.requests[0]?.url).toBe('/demo/dir/a%20b.jpg?updatedAt=1&tr=orig-true')
  })

  it('200 (range ignored): skips to the start itself and stops at the end', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': CONTENT.length })
      res.end(CONTENT)
    })
    const bounded = await client.readRange(url, 100_000, 100_099)
    expect(bounded.start).toBe(100_000)
    expect(bounded.totalSize).toBe(CONTENT.length)
    expect((await readAll(bounded.body)).equals(CONTENT.subarray(100_000, 100_100))).toBe(true)
    const open = await client.readRange(url, 123_457, undefined)
    expect((await readAll(open.body)).equals(CONTENT.subarray(123_457))).toBe(true)
  })

  it('206 starting elsewhere than asked is IK_BAD_RESPONSE, not data', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 0-99/${CONTENT.length}`, 'content-length': 100 })
      res.end(CONTENT.subarray(0, 100))
    })
    await expect(client.readRange(url, 500, 599)).rejects.toMatchObject({ code: 'IK_BAD_RESPONSE', status: 206 })
    expect(perTest.server.requests).toHaveLength(1)
  })

  it('416 is IK_RANGE_NOT_SATISFIABLE, not retried', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(416, { 'content-range': `bytes */${CONTENT.length}` })
      res.end()
    })
    await expect(client.readRange(url, CONTENT.length + 10, undefined)).rejects.toMatchObject({ code: 'IK_RANGE_NOT_SATISFIABLE', status: 416 })
    expect(perTest.server.requests).toHaveLength(1)
  })

  it('403 and 404 error pages are errors, never content; the message holds the path, not the signature', async () => {
    const { client } = await setup((req, res) => {
      res.writeHead(req.url?.includes('missing') ? 404 : 403, { 'content-type': 'text/html' })
      res.end('<html>Forbidden page body</html>')
    })
    const signed = `${perTest.server.url}/demo/private.jpg?tr=orig-true&ik-t=1700000000&ik-s=abcdef0123456789`
    const error = await client.readRange(signed, 0, undefined).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageKitError)
    expect((error as ImageKitError).code).toBe('IK_FORBIDDEN')
    // A signed URL refused: the likely cause (signed-url-refused.ts) follows the path; the signature never does.
    expect((error as ImageKitError).message).toMatch(/^GET \/demo\/private\.jpg: 403; a signed URL was refused: this machine's clock may be behind/)
    expect((error as ImageKitError).message).not.toContain('abcdef')
    // An unsigned URL refused is not about the clock.
    await expect(client.readRange(`${perTest.server.url}/demo/public.jpg`, 0, undefined)).rejects.toThrow(/^GET \/demo\/public\.jpg: 403$/)
    await expect(client.readRange(`${perTest.server.url}/demo/missing.jpg`, 0, undefined)).rejects.toMatchObject({ code: 'IK_NOT_FOUND' })
  })

  it('the CDN\'s ik-error header is in the message, without the request\'s query, its signature or the key', async () => {
    const signature = 'abcdef0123456789abcdef0123456789abcdef01'
    const query = `?tr=orig-true&ik-t=1700000000&ik-s=${signature}`
    const { client } = await setup((req, res) => {
      const echo = req.url?.includes('echo-key') ? `key ${PRIVATE_KEY}` : `${req.url} (signature ${signature})`
      res.writeHead(404, { 'content-type': 'text/plain', 'ik-error': `ENOENT - No such object: ${echo}`, 'x-ik-requestid': 'rid-404' })
      res.end('Not Found')
    })
    const error = await client.readRange(`${perTest.server.url}/demo/missing.jpg${query}`, 0, undefined).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'IK_NOT_FOUND', status: 404 })
    expect((error as Error).message).toBe('GET /demo/missing.jpg: 404 ENOENT - No such object: /demo/missing.jpg?[query] (signature [REDACTED]) (requestId rid-404)')
    const keyed = await client.readRange(`${perTest.server.url}/demo/echo-key.jpg`, 0, undefined).catch((e: unknown) => e)
    expect((keyed as Error).message).toBe('GET /demo/echo-key.jpg: 404 ENOENT - No such object: key [REDACTED] (requestId rid-404)')
    for (const e of [error, keyed]) {
      const shown = serializeError(e)
      expect(shown).not.toContain(signature)
      expect(shown).not.toContain('ik-t=')
      expect(shown).not.toContain(PRIVATE_KEY)
    }
  })

  it('retries a 503 before the body starts', async () => {
    const { client, url } = await setup((_req, res, _body, index) => {
      if (index === 0) {
        res.writeHead(503, { 'content-type': 'text/plain' })
        res.end('try later')
        return
      }
      res.writeHead(206, { 'content-range': `bytes 0-9/${CONTENT.length}`, 'content-length': 10 })
      res.end(CONTENT.subarray(0, 10))
    })
    const range = await client.readRange(url, 0, 9)
    expect((await readAll(range.body)).equals(CONTENT.subarray(0, 10))).toBe(true)
    expect(perTest.server.requests).toHaveLength(2)
  })

  it('a body that dies mid-stream errors the Readable with an ImageKitError', async () => {
    const { client, url } = await setup((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 0-${CONTENT.length - 1}/${CONTENT.length}`, 'content-length': CONTENT.length })
      res.write(CONTENT.subarray(0, 5000), () => res.socket?.destroy())
    })
    const range = await client.readRange(url, 0, undefined)
    const error = await readAll(range.body).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageKitError)
    expect((error as ImageKitError).code).toBe('IK_NETWORK')
    expect(perTest.server.requests).toHaveLength(1)
  })
})
