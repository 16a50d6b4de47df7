/**
 * The client through a forward proxy (HTTP_PROXY / HTTPS_PROXY): API calls and delivery reads reach an
 * origin that only the proxy can resolve, a proxy's refusals read as what they are, and its password never
 * shows in a message or a log line.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ImageKitClientOptions } from '../../../src/imagekit/client.js'
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js'
import { HttpTransport } from '../../../src/imagekit/http.js'
import { defaultRetryPolicy } from '../../../src/imagekit/retry.js'
import { capturingLogger, InstantClock, makeClient, sendJson, startServer, type TestServer } from './helpers.js'

const CONTENT = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251))
const PASSWORD = 'pr0xy-s3cret'
let origin: TestServer | undefined
let proxy: TestProxy | undefined

afterEach(async () => {
  await origin?.close()
  await proxy?.close()
  origin = proxy = undefined
})

/** An origin reachable only as `library.test:<port>` through the proxy. */
async function setup(proxyOptions: Parameters<typeof startTestProxy>[0] = {}) {
  origin = await startServer((req, res) => {
    if (req.url?.startsWith('/v1/files')) return sendJson(res, 200, [])
    const [, start = '0'] = /bytes=(\d+)-/.exec(req.headers.range ?? '') ?? []
    const from = Number(start)
    res.writeHead(206, { 'content-range': `bytes ${from}-${CONTENT.length - 1}/${CONTENT.length}`, 'content-length': CONTENT.length - from })
    res.end(CONTENT.subarray(from))
  })
  proxy = await startTestProxy({ hosts: { 'library.test': '127.0.0.1' }, ...proxyOptions })
  const base = `http://library.test:${new URL(origin.url).port}`
  return { base, proxyHost: new URL(proxy.url).host }
}

function client(base: string, proxySettings: ImageKitClientOptions['proxy']) {
  return makeClient(base, { proxy: proxySettings, maxRetries: 1 })
}

describe('HTTP(S)_PROXY', () => {
  it('API calls and delivery reads (the default socket reader hands them to undici) go through the proxy', async () => {
    const { base, proxyHost } = await setup({ credentials: `alice:${PASSWORD}` })
    const { client: c, lines } = client(base, { httpProxy: `http://alice:${PASSWORD}@${proxyHost}/` })
    try {
      await c.verifyCredentials()
      const range = await c.readRange(`${base}/demo/a.bin?tr=orig-true`, 1000, undefined)
      const chunks: Buffer[] = []
      for await (const chunk of range.body) chunks.push(chunk as Buffer)
      expect(Buffer.concat(chunks).equals(CONTENT.subarray(1000))).toBe(true)
    } finally {
      await c.close()
    }
    expect(proxy!.seen.map((r) => `${r.method} ${r.target}${r.path.replace(/\?.*/, '')}`)).toEqual([
      `GET library.test:${new URL(origin!.url).port}/v1/files`,
      `GET library.test:${new URL(origin!.url).port}/demo/a.bin`,
    ])
    // The origin got the Authorization header (API) and none of the proxy's.
    expect(origin!.requests[0]?.headers.authorization).toMatch(/^Basic /)
    expect(origin!.requests.every((r) => r.headers['proxy-authorization'] === undefined)).toBe(true)
    expect(lines.join('')).not.toContain(PASSWORD)
  })

  it('through a proxy, http URLs keep the cap on connections per origin (--max-connections): was one unbounded pool to the proxy', async () => {
    let inFlight = 0
    let most = 0
    origin = await startServer((_req, res) => {
      most = Math.max(most, ++inFlight)
      setTimeout(() => {
        inFlight--
        sendJson(res, 200, { type: 'file', fileId: 'f', name: 'a', filePath: '/a', size: 1, url: 'u', isPrivateFile: false })
      }, 100)
    })
    proxy = await startTestProxy({ hosts: { 'library.test': '127.0.0.1' } })
    const base = `http://library.test:${new URL(origin.url).port}`
    const { client: c } = makeClient(base, { proxy: { httpProxy: proxy.url }, maxConnectionsPerOrigin: 2 })
    try {
      await Promise.all(Array.from({ length: 8 }, (_, i) => c.getFileDetails(`f${i}`)))
    } finally {
      await c.close()
    }
    expect(proxy.seen).toHaveLength(8)
    expect(most).toBe(2)
  })

  it('a proxy that wants credentials: a 407 answer (http URLs) and a refused tunnel (https URLs) say so, without retrying', async () => {
    const { base, proxyHost } = await setup({ credentials: `alice:${PASSWORD}` })
    const plain = client(base, { httpProxy: `http://${proxyHost}/` }).client
    const tunnel = client('https://library.test', { httpsProxy: `http://alice:wrong-${PASSWORD}@${proxyHost}/` }).client
    try {
      await expect(plain.verifyCredentials()).rejects.toThrow(
        `cannot reach ${base} through proxy http://${proxyHost}: the proxy wants credentials (407): give them in the proxy URL, http://user:password@host:port`,
      )
      const refused = await tunnel.verifyCredentials().then(() => undefined, (e: unknown) => e as Error)
      expect(refused?.message).toBe(
        `cannot reach https://library.test through proxy http://[REDACTED]@${proxyHost}: the proxy wants credentials (407): give them in the proxy URL, http://user:password@host:port`,
      )
      expect(refused?.message).not.toContain(PASSWORD)
    } finally {
      await plain.close()
      await tunnel.close()
    }
    expect(proxy!.seen.map((r) => r.method)).toEqual(['GET', 'CONNECT'])
    expect(proxy!.seen[1]?.target).toBe('library.test:443')
  })

  it('a URL that goes direct while a proxy is set for the other scheme says why in messages', async () => {
    const transport = new HttpTransport({
      apiUrl: 'https://api.imagekit.io', uploadUrl: 'https://upload.imagekit.io', privateKey: 'private_x', userAgent: 'test',
      requestTimeoutMs: 1000, maxConnectionsPerOrigin: 1, policy: defaultRetryPolicy(0), clock: new InstantClock(), random: () => 0,
      log: capturingLogger().logger, proxy: { httpProxy: 'http://plain.proxy:3128/', noProxy: 'intranet.test' },
    })
    try {
      expect(transport.viaProxy('https://api.imagekit.io')).toBe(' directly (HTTP_PROXY serves http:// URLs only; set HTTPS_PROXY for https:// ones)')
      expect(transport.viaProxy('http://cdn.example/demo')).toBe(' through proxy http://plain.proxy:3128')
      expect(transport.viaProxy('https://intranet.test')).toBe('')
    } finally {
      await transport.close()
    }
  })

  it('a gateway given as --api-url that answers 407 itself gets the same explanation', async () => {
    origin = await startServer((_req, res) => sendJson(res, 407, { message: 'login first' }))
    const { client: c } = makeClient(origin.url, { maxRetries: 3 })
    try {
      await expect(c.verifyCredentials()).rejects.toThrow(`cannot reach ${origin.url}: the proxy wants credentials (407)`)
    } finally {
      await c.close()
    }
    expect(origin.requests).toHaveLength(1)
  })

  it('an unreachable proxy is named in the message; NO_PROXY and loopback origins go direct', async () => {
    const { base, proxyHost } = await setup()
    const dead = client(base, { httpProxy: 'http://127.0.0.1:9/' }).client
    const bypass = client(origin!.url, { httpProxy: `http://${proxyHost}/` }).client
    const listed = client(origin!.url.replace('127.0.0.1', 'localhost'), { httpProxy: `http://${proxyHost}/`, noProxy: 'elsewhere.test' }).client
    try {
      await expect(dead.verifyCredentials()).rejects.toThrow(`cannot reach ${base} through proxy http://127.0.0.1:9: connection refused`)
      await bypass.verifyCredentials()
      await listed.verifyCredentials()
    } finally {
      await dead.close()
      await bypass.close()
      await listed.close()
    }
    expect(proxy!.seen).toEqual([])
    expect(origin!.requests).toHaveLength(2)
  })
})
