/** The upload `file` given as a URL (§4.18, url-source.ts): what the fetch holds to besides the answer's status. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { fetchIntoSink, UrlFetchError } from '../../../src/emulator/url-source.js'

/** Collects what the fetch writes. */
function memorySink() {
  const chunks: Buffer[] = []
  return { chunks, ended: false, async write(c: Buffer) { chunks.push(c) }, async end() { this.ended = true } }
}

let origin: Server | undefined
afterEach(async () => {
  origin?.closeAllConnections()
  await new Promise<void>((resolve) => (origin ? origin.close(() => resolve()) : resolve()))
  origin = undefined
})

/** An origin whose answer is `serve`'s; its URL. */
async function serving(serve: Parameters<typeof createServer>[1]): Promise<string> {
  origin = createServer(serve)
  await new Promise<void>((resolve) => origin!.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(origin.address() as AddressInfo).port}/f`
}

describe('fetchIntoSink', () => {
  it('gives up on a body that stops arriving after its headers (the upload would otherwise wait forever)', async () => {
    const url = await serving((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' })
      res.write('the first bytes, then nothing')
    })
    const sink = memorySink()
    const e = await fetchIntoSink(url, sink as never, { headersMs: 5_000, idleMs: 200 }).then(() => undefined, (err: unknown) => err)
    expect(e).toBeInstanceOf(UrlFetchError)
    expect((e as Error).message).toMatch(/sent nothing for/)
    expect(sink.ended).toBe(false)
  })

  it('takes a body that keeps coming, however long it takes in all', async () => {
    const url = await serving((_req, res) => {
      res.writeHead(200)
      let n = 0
      const tick = setInterval(() => {
        res.write(`part ${n}\n`)
        if (++n === 25) {
          clearInterval(tick)
          res.end()
        }
      }, 50)
    })
    const sink = memorySink()
    await fetchIntoSink(url, sink as never, { headersMs: 5_000, idleMs: 1_000 })
    expect(Buffer.concat(sink.chunks).toString()).toBe(Array.from({ length: 25 }, (_, i) => `part ${i}\n`).join(''))
    expect(sink.ended).toBe(true)
  })
})
