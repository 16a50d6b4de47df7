/**
 * Transport and retry behaviour against real loopback servers that misbehave on purpose: 429 with
 * X-RateLimit-Reset, 503 storms, plain-text 500s, sockets destroyed mid-body, refused connections,
 * timeouts, aborts. Also guards that no secret reaches an error or a log line.
 */
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { ImageKitError, isLostAnswer } from '../../../src/imagekit/errors.js'
import { RATE_LIMIT_TOTAL_WAIT_MS } from '../../../src/imagekit/retry.js'
import { ManualClock } from '../../../src/clock.js'
import { PRIVATE_KEY, makeClient, waitFor, sendCutShort, sendJson, serializeError, startServer, type TestServer } from './helpers.js'

/** What ImageKit's Upload API answers to an upload without a file. */
const MISSING_FILE = 'Your request is missing file parameter.'

const FILE = {
  type: 'file', fileId: 'f1', name: 'a.jpg', filePath: '/a.jpg', size: 3, url: 'x', isPrivateFile: false,
}

let server: TestServer | undefined
const clients: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await server?.close()
  server = undefined
})

function track<T extends { client: { close(): Promise<void> } }>(made: T): T {
  clients.push(made.client)
  return made
}

async function rejection(promise: Promise<unknown>): Promise<ImageKitError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ImageKitError)
    return error as ImageKitError
  }
  throw new Error('expected a rejection')
}

describe('authentication', () => {
  it('sends Basic base64(privateKey:) and a user agent to the API', async () => {
    server = await startServer((_req, res) => sendJson(res, 200, FILE))
    const { client } = track(makeClient(server.url))
    await client.getFileDetails('f1')
    expect(server.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`${PRIVATE_KEY}:`).toString('base64')}`)
    expect(server.requests[0]?.headers['user-agent']).toMatch(/^ikfs/)
    expect(server.requests[0]?.url).toBe('/v1/files/f1/details')
  })

  it('401/403 from the API is IK_UNAUTHORIZED, not retried, and the message quotes the API', async () => {
    server = await startServer((_req, res) =>
      sendJson(res, 403, { message: 'Your account cannot be authenticated.', help: '' }, { 'x-ik-requestid': 'req-403' }),
    )
    const { client } = track(makeClient(server.url))
    const error = await rejection(client.getFileDetails('f1'))
    expect(error.code).toBe('IK_UNAUTHORIZED')
    expect(error.message).toBe('GET /v1/files/{fileId}/details: 403 Your account cannot be authenticated. (requestId req-403)')
    expect(error.requestId).toBe('req-403')
    expect(server.requests).toHaveLength(1)
  })
})

describe('validation answers', () => {
  it('a 400 with an errors object names each refused field in the message, once, not retried', async () => {
    server = await startServer((_req, res) =>
      sendJson(res, 400, { message: 'Invalid custom metadata.', help: '', errors: { price: 'should be at most 5', mood: 'is not a custom metadata field' } }),
    )
    const { client } = track(makeClient(server.url))
    const error = await rejection(client.updateFileDetails('f1', { customMetadata: { price: 9, mood: 'calm' } }))
    expect(error.code).toBe('IK_BAD_REQUEST')
    expect(error.message).toBe('PATCH /v1/files/{fileId}/details: 400 Invalid custom metadata. (price: should be at most 5; mood: is not a custom metadata field)')
    expect(server.requests).toHaveLength(1)
  })
})

describe('retries', () => {
  it('429 waits as long as X-RateLimit-Reset says, then succeeds', async () => {
    server = await startServer((_req, res, _body, index) =>
      index < 2
        ? sendJson(res, 429, { message: 'Too many requests' }, { 'x-ratelimit-reset': '1234', 'x-ratelimit-limit': '10' })
        : sendJson(res, 200, FILE),
    )
    const { client, clock } = track(makeClient(server.url, { maxRetries: 0 }))
    const file = await client.getFileDetails('f1')
    expect(file.fileId).toBe('f1')
    expect(server.requests).toHaveLength(3)
    // 429s do not use up maxRetries (0 here) and wait exactly what the server asked.
    expect(clock.sleeps).toEqual([1234, 1234])
  })

  it('429 waits the whole X-RateLimit-Reset, also beyond a minute, for API calls and reads alike', async () => {
    server = await startServer((req, res, _body, index) => {
      if (index % 2 === 0) return sendJson(res, 429, { message: 'Too many requests' }, { 'x-ratelimit-reset': '90000' })
      if (req.url?.startsWith('/demo/')) {
        res.writeHead(206, { 'content-range': 'bytes 0-2/3', 'content-length': 3 })
        return res.end('abc')
      }
      return sendJson(res, 200, FILE)
    })
    const { client, clock } = track(makeClient(server.url))
    await expect(client.getFileDetails('f1')).resolves.toMatchObject({ fileId: 'f1' })
    const range = await client.readRange(`${server.url}/demo/a.jpg?tr=orig-true`, 0, undefined)
    range.close()
    expect(clock.sleeps).toEqual([90_000, 90_000])
  })

  it('429 whose reset is further off than the 429 budget fails at once, saying how long the API asked to wait', async () => {
    server = await startServer((_req, res) =>
      sendJson(res, 429, { message: 'Too many requests' }, { 'x-ratelimit-reset': '900000', 'x-ik-requestid': 'rid-1' }),
    )
    const { client, clock } = track(makeClient(server.url))
    const error = await rejection(client.getFileDetails('f1'))
    expect(error).toMatchObject({ code: 'IK_RATE_LIMITED', status: 429, retryAfterMs: 900_000, retriable: false })
    expect(error.message).toBe(
      'GET /v1/files/{fileId}/details: 429 Too many requests (requestId rid-1): the API asks to wait 900 s before the next ' +
      `request (X-RateLimit-Reset), longer than the ${RATE_LIMIT_TOTAL_WAIT_MS / 1000} s a request waits out rate limits`,
    )
    expect(server.requests).toHaveLength(1)
    expect(clock.sleeps).toEqual([])
  })

  it('429 waits add up to the budget: a reset beyond what is left of it fails then, without another request', async () => {
    server = await startServer((_req, res) => sendJson(res, 429, { message: 'Too many requests' }, { 'x-ratelimit-reset': '120000' }))
    const { client, clock } = track(makeClient(server.url))
    const error = await rejection(client.getFileDetails('f1'))
    expect(error.code).toBe('IK_RATE_LIMITED')
    expect(error.message).toContain('asks to wait 120 s before the next request (X-RateLimit-Reset), longer than the 60 s left of the 300 s')
    expect(clock.sleeps).toEqual([120_000, 120_000])
    expect(server.requests).toHaveLength(3)
  })

  it('503 twice then 200: retried with capped exponential backoff', async () => {
    server = await startServer((_req, res, _body, index) =>
      index < 2 ? sendJson(res, 503, { message: 'Service unavailable' }) : sendJson(res, 200, FILE),
    )
    const { client, clock, lines } = track(makeClient(server.url))
    await expect(client.getFileDetails('f1')).resolves.toMatchObject({ fileId: 'f1' })
    expect(server.requests).toHaveLength(3)
    // random() = 0.5: half of 200 ms, then half of 400 ms.
    expect(clock.sleeps).toEqual([100, 200])
    expect(lines.filter((l) => l.includes('"retrying"'))).toHaveLength(2)
  })

  it('a plain-text 500 is IK_SERVER after maxRetries, with the text in the message', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain', 'x-ik-requestid': 'req-500' })
      res.end('Internal Server Error\n  upstream exploded')
    })
    const { client, lines } = track(makeClient(server.url, { maxRetries: 2 }))
    const error = await rejection(client.getFileDetails('f1'))
    expect(error.code).toBe('IK_SERVER')
    expect(error.retriable).toBe(true)
    expect(error.message).toBe('GET /v1/files/{fileId}/details: 500 Internal Server Error upstream exploded (requestId req-500)')
    expect(server.requests).toHaveLength(3)
    // Said at debug: the caller's line (the op's errno, the upload's next attempt) is the warning.
    expect(lines.filter((l) => l.includes('giving up')).map((l) => (JSON.parse(l) as { level: number }).level)).toEqual([20])
  })

  it('408 is retried like a dropped connection, also for a rename (the server says it did not act on the request)', async () => {
    server = await startServer((_req, res, _body, index) =>
      index === 0 ? sendJson(res, 408, { message: 'Request timed out waiting for body' }) : sendJson(res, 200, {}),
    )
    const { client, clock } = track(makeClient(server.url))
    await client.renameFile('/a.jpg', 'b.jpg')
    expect(server.requests).toHaveLength(2)
    expect(clock.sleeps).toHaveLength(1) // a backoff wait, counted against maxRetries
  })

  it.each([400, 401, 403, 404, 409, 410, 413, 422])('%i on a rename is not retried (no 4xx but 408 and 429 is)', async (status) => {
    server = await startServer((_req, res) => sendJson(res, status, { message: 'refused' }))
    const { client } = track(makeClient(server.url))
    const error = await rejection(client.renameFile('/a.jpg', 'b.jpg'))
    expect(error.retriable).toBe(false)
    expect(server.requests).toHaveLength(1)
  })

  it('404 is never retried', async () => {
    server = await startServer((_req, res) => sendJson(res, 404, { message: 'The requested file does not exist.', help: '' }))
    const { client } = track(makeClient(server.url))
    const error = await rejection(client.getFileDetails('nope'))
    expect(error.code).toBe('IK_NOT_FOUND')
    expect(error.retriable).toBe(false)
    expect(server.requests).toHaveLength(1)
  })

  it('409 keeps the API reason', async () => {
    server = await startServer((_req, res) =>
      sendJson(res, 409, { reason: 'FILE_ALREADY_EXISTS', message: 'File with name b.jpg already exists at the same location.' }),
    )
    const { client } = track(makeClient(server.url))
    const error = await rejection(client.renameFile('/a.jpg', 'b.jpg'))
    expect(error.code).toBe('IK_CONFLICT')
    expect(error.reason).toBe('FILE_ALREADY_EXISTS')
    expect(JSON.parse(server.requests[0]!.body.toString())).toEqual({ filePath: '/a.jpg', newFileName: 'b.jpg', purgeCache: false })
  })

  it('a socket destroyed mid-body is retried for an idempotent GET', async () => {
    server = await startServer((_req, res, _body, index) => {
      if (index === 0) return sendCutShort(res, '[{"type":"file"')
      sendJson(res, 200, [FILE])
    })
    const { client } = track(makeClient(server.url))
    const items = []
    for await (const item of client.listFiles({})) items.push(item)
    expect(items).toHaveLength(1)
    expect(server.requests).toHaveLength(2)
  })

  it('a non-idempotent call whose 2xx body is cut short is not repeated', async () => {
    server = await startServer((_req, res) => sendCutShort(res, '{"jobId"'))
    const { client } = track(makeClient(server.url))
    const error = await rejection(client.moveFolder('/a', '/b'))
    expect(error.code).toBe('IK_NETWORK')
    expect(error.status).toBe(200) // the server accepted it: isLostAnswer
    expect(isLostAnswer(error)).toBe(true)
    expect(server.requests).toHaveLength(1)
  })

  it('a rename or move whose 2xx body is cut short is done: no error, no repeat', async () => {
    server = await startServer((_req, res) => sendCutShort(res, '{"purge'))
    const { client } = track(makeClient(server.url))
    await client.renameFile('/a.jpg', 'b.jpg')
    await client.moveFile('/a.jpg', '/dir')
    expect(server.requests.map((r) => r.url)).toEqual(['/v1/files/rename', '/v1/files/move'])
  })

  it('a refused connection is IK_NETWORK after retries; verifyCredentials says so plainly', async () => {
    const port = await freePort()
    const { client, clock } = track(makeClient(`http://127.0.0.1:${port}`, { maxRetries: 2 }))
    const error = await rejection(client.getFileDetails('f1'))
    expect(error.code).toBe('IK_NETWORK')
    expect(error.message).toBe('GET /v1/files/{fileId}/details: connection refused (ECONNREFUSED)')
    expect(clock.sleeps).toHaveLength(2)
    const preflight = await rejection(client.verifyCredentials())
    expect(preflight.code).toBe('IK_NETWORK')
    expect(preflight.message).toBe(`cannot reach http://127.0.0.1:${port}: connection refused`)
  })

  it('verifyCredentials turns a 403 into a clear IK_UNAUTHORIZED', async () => {
    server = await startServer((_req, res) => sendJson(res, 403, { message: 'Your account cannot be authenticated.' }))
    const { client } = track(makeClient(server.url))
    const error = await rejection(client.verifyCredentials())
    expect(error.code).toBe('IK_UNAUTHORIZED')
    expect(error.message).toBe(`${server.url} rejected the private key: 403 Your account cannot be authenticated.`)
    expect(server.requests[0]?.url).toBe('/v1/files?limit=1')
  })

  it('checkHosts: any HTTP answer from the URL endpoint will do, without credentials; a host that does not answer is named', async () => {
    server = await startServer((req, res) =>
      req.method === 'POST' ? sendJson(res, 400, { message: MISSING_FILE }) : sendJson(res, 404, { message: 'not here' }))
    const port = await freePort()
    const answering = track(makeClient(server.url)).client
    await answering.checkHosts()
    expect(server.requests.map((r) => [r.method, r.url]).sort()).toEqual([
      ['HEAD', '/demo'],
      ['POST', '/api/v1/files/upload'],
    ])
    expect(server.requests.find((r) => r.method === 'HEAD')?.headers.authorization).toBeUndefined()
    const noEndpoint = track(makeClient(server.url, { urlEndpoint: `http://127.0.0.1:${port}/acme` })).client
    const endpointError = await rejection(noEndpoint.checkHosts())
    expect(endpointError.code).toBe('IK_NETWORK')
    expect(endpointError.message).toBe(`cannot reach the URL endpoint http://127.0.0.1:${port}/acme: connection refused`)
    const noUpload = track(makeClient(server.url, { uploadUrl: `http://127.0.0.1:${port}` })).client
    expect((await rejection(noUpload.checkHosts())).message).toBe(`cannot reach the upload host http://127.0.0.1:${port}: connection refused`)
    await noUpload.checkHosts({ uploads: false }) // a read-only mount needs the URL endpoint only
    const silent = await startServer(() => undefined)
    try {
      const hanging = track(makeClient(server.url, { urlEndpoint: `${silent.url}/acme`, requestTimeoutMs: 150 })).client
      const timeout = await rejection(hanging.checkHosts())
      expect(timeout.code).toBe('IK_TIMEOUT')
      expect(timeout.message).toMatch(/^cannot reach the URL endpoint http:\/\/127\.0\.0\.1:\d+\/acme: /)
    } finally {
      await silent.close()
    }
  })

  it('checkHosts: the upload host must answer an upload without a file as the Upload API does (400, a JSON message), or be busy for now', async () => {
    let answer: (res: ServerResponse) => void = (res) => sendJson(res, 400, { message: MISSING_FILE })
    server = await startServer((req, res) => (req.method === 'POST' ? answer(res) : sendJson(res, 404, { message: 'not here' })))
    const { client } = track(makeClient(server.url))
    await client.checkHosts()
    const probe = server.requests.find((r) => r.method === 'POST')
    // Authenticated, a form with a name and no file: the Upload API stores nothing.
    expect(probe?.headers.authorization).toBe(`Basic ${Buffer.from(`${PRIVATE_KEY}:`).toString('base64')}`)
    expect(probe?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
    expect(probe?.body.toString()).toMatch(/name="fileName"\r\n\r\nikfs-upload-check\r\n/)
    expect(probe?.body.toString()).not.toContain('name="file"')
    const host = `the upload host ${server.url}`
    const cases: [(res: ServerResponse) => void, string | undefined][] = [
      [(res) => sendJson(res, 403, { message: 'Your account cannot be authenticated.' }), `${host} rejected the private key: 403 Your account cannot be authenticated.`],
      // Quoted as every API error is: on one line (errors print one line), with the fields a validation names.
      [(res) => sendJson(res, 401, { message: 'Your account\n  cannot be authenticated.' }), `${host} rejected the private key: 401 Your account cannot be authenticated.`],
      [(res) => sendJson(res, 401, { message: 'Invalid key', errors: { publicKey: 'missing' } }), `${host} rejected the private key: 401 Invalid key (publicKey: missing)`],
      [(res) => void res.writeHead(404).end('<h1>Not Found</h1>'), `${host} is not the ImageKit Upload API (is the upload URL right?): POST /api/v1/files/upload: 404`],
      [(res) => void res.writeHead(400).end('Bad Request'), `${host} is not the ImageKit Upload API (is the upload URL right?): POST /api/v1/files/upload: 400`],
      [(res) => sendJson(res, 200, { message: 'ok' }), `${host} is not the ImageKit Upload API (is the upload URL right?): POST /api/v1/files/upload: 200 ok`],
      [(res) => sendJson(res, 405, { message: 'Only GET and HEAD' }), `${host} is not the ImageKit Upload API (is the upload URL right?): POST /api/v1/files/upload: 405 Only GET and HEAD`],
      [(res) => void res.writeHead(503).end('busy'), undefined],
      [(res) => sendJson(res, 429, { message: 'slow down' }), undefined],
    ]
    for (const [answering, problem] of cases) {
      answer = answering
      if (problem === undefined) await client.checkHosts()
      else expect((await rejection(client.checkHosts())).message).toBe(problem)
    }
  })

  it('a server that never answers is IK_TIMEOUT; each retry of it is logged at info (the caller has waited that long)', async () => {
    server = await startServer(() => undefined)
    const { client, lines } = track(makeClient(server.url, { requestTimeoutMs: 150, maxRetries: 1 }))
    const error = await rejection(client.getFileDetails('f1'))
    expect(error.code).toBe('IK_TIMEOUT')
    expect(server.requests).toHaveLength(2)
    const retries = lines.filter((l) => l.includes('"retrying"'))
    expect(retries).toHaveLength(1)
    expect(retries[0]).toMatch(/"level":30,.*"operation":"GET \/v1\/files\/\{fileId\}\/details","code":"IK_TIMEOUT"/)
  })

  it('the caller aborting is IK_ABORTED and stops retries', async () => {
    server = await startServer(() => undefined)
    const { client } = track(makeClient(server.url))
    const controller = new AbortController()
    const pending = client.getFileDetails('f1', { signal: controller.signal })
    await waitFor(() => server!.requests.length === 1)
    controller.abort()
    const error = await rejection(pending)
    expect(error.code).toBe('IK_ABORTED')
    expect(server.requests).toHaveLength(1)
  })
})

describe('aborting a backoff wait', () => {
  it('ends the wait at once with IK_ABORTED, even on a clock that ignores signals', async () => {
    server = await startServer((_req, res) => sendJson(res, 503, { message: 'busy' }))
    const clock = new ManualClock()
    const { client, lines } = track(makeClient(server.url, { clock }))
    const controller = new AbortController()
    const pending = client.getFileDetails('f1', { signal: controller.signal })
    // The 503 has arrived and the retry loop sleeps on a clock that never moves.
    await waitFor(() => lines.some((line) => line.includes('"retrying"')))
    controller.abort()
    const error = await rejection(pending)
    expect(error.code).toBe('IK_ABORTED')
    expect(error.route).toBe('/v1/files/{fileId}/details')
    expect(server.requests).toHaveLength(1)
  })
})

describe('secrets', () => {
  it('never appear in errors or log lines, even when the server echoes them', async () => {
    server = await startServer((req, res, _body, index) => {
      const echoed = `bad key ${PRIVATE_KEY} header ${String(req.headers.authorization)} url https://x/y.jpg?ik-t=1&ik-s=deadbeef`
      if (index === 0) sendJson(res, 503, { message: echoed })
      else sendJson(res, 400, { message: echoed })
    })
    const { client, lines } = track(makeClient(server.url))
    const error = await rejection(client.getFileDetails('f1'))
    const auth = Buffer.from(`${PRIVATE_KEY}:`).toString('base64')
    const everything = serializeError(error) + lines.join('')
    expect(error.code).toBe('IK_BAD_REQUEST')
    expect(everything).not.toContain(PRIVATE_KEY)
    expect(everything).not.toContain(auth)
    expect(everything).not.toContain('deadbeef')
  })
})

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}
