/**
 * Multipart upload: the fields ImageKit needs, the exact file bytes with a known Content-Length (a small
 * file from one buffer, read through the caller's handle when given), a replay from the file on retry,
 * IK_TOO_LARGE not retried, and a 50 MiB file that is read chunk-wise (the server sees bytes before the
 * client has read the whole file).
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile, open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { makeClient, parseMultipart, sendCutShort, sendJson, startRawServer, startServer, waitFor, type TestServer } from './helpers.js'

const RESPONSE = { fileId: 'f1', name: 'photo 1.jpg', size: 0, filePath: '/dir/photo 1.jpg', versionInfo: { id: 'v', name: 'Version 1' } }

let server: TestServer | undefined
let closeClient: (() => Promise<void>) | undefined
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ikfs-upload-test-'))
})
afterEach(async () => {
  await closeClient?.()
  closeClient = undefined
  await server?.close()
  server = undefined
  await rm(dir, { recursive: true, force: true })
})

describe('uploadFile', () => {
  it('sends the fields, the file bytes and a Content-Length, with Basic auth, to /api/v1/files/upload', async () => {
    const content = randomBytes(200_000)
    const localFile = join(dir, 'spool-1')
    await writeFile(localFile, content)
    server = await startServer((_req, res) => sendJson(res, 200, { ...RESPONSE, size: content.length }))
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const progress: number[] = []
    const result = await made.client.uploadFile({
      localFile,
      folder: '/dir',
      fileName: 'photo 1.jpg',
      tags: ['a', 'b c'],
      customMetadata: { rating: 5 },
      customCoordinates: '1,2,3,4',
      isPrivateFile: true,
      keepExistingMetadata: true,
      onProgress: (sent) => progress.push(sent),
    })
    expect(result.fileId).toBe('f1')
    const request = server.requests[0]!
    expect(request.method).toBe('POST')
    expect(request.url).toBe('/api/v1/files/upload')
    expect(request.headers.authorization).toMatch(/^Basic /)
    expect(Number(request.headers['content-length'])).toBe(request.body.length)
    const parts = parseMultipart(request.body, request.headers['content-type'] ?? '')
    const fields = Object.fromEntries(parts.filter((p) => p.name !== 'file').map((p) => [p.name, p.data.toString()]))
    expect(fields).toEqual({
      fileName: 'photo 1.jpg',
      folder: '/dir',
      useUniqueFileName: 'false',
      tags: 'a,b c',
      isPrivateFile: 'true',
      customCoordinates: '1,2,3,4',
      customMetadata: '{"rating":5}',
      overwriteTags: 'false',
      overwriteCustomMetadata: 'false',
      overwriteAITags: 'false',
      responseFields: 'tags,customCoordinates,isPrivateFile,customMetadata,isPublished',
    })
    const filePart = parts.find((p) => p.name === 'file')
    expect(filePart?.filename).toBe('photo 1.jpg')
    expect(filePart?.data.equals(content)).toBe(true)
    expect(progress.at(-1)).toBe(content.length)
    expect(progress.every((value, i) => i === 0 || value >= progress[i - 1]!)).toBe(true)
  })

  it('each upload has its own boundary: the process\'s random prefix and a counter, not random bytes drawn per upload', async () => {
    server = await startServer((_req, res) => sendJson(res, 200, RESPONSE))
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const localFile = join(dir, 'spool-b')
    await writeFile(localFile, 'same bytes')
    for (let i = 0; i < 3; i++) await made.client.uploadFile({ localFile, folder: '/dir', fileName: 'b.txt' })
    const boundaries = server.requests.map((r) => /boundary=(.+)$/.exec(r.headers['content-type'] ?? '')?.[1] ?? '')
    const shape = /^-{26}ikfs([0-9a-f]{24})([0-9a-f]{12})$/
    for (const b of boundaries) expect(b).toMatch(shape)
    expect(new Set(boundaries.map((b) => shape.exec(b)?.[1])).size).toBe(1)
    expect(new Set(boundaries).size).toBe(3)
    for (const r of server.requests) {
      expect(parseMultipart(r.body, r.headers['content-type'] ?? '').find((p) => p.name === 'file')?.data.toString()).toBe('same bytes')
    }
  })

  it('leaves out optional fields and overwrite flags when not asked for', async () => {
    const localFile = join(dir, 'spool-2')
    await writeFile(localFile, 'hello')
    server = await startServer((_req, res) => sendJson(res, 200, { ...RESPONSE, size: 5 }))
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await made.client.uploadFile({ localFile, folder: '/', fileName: 'x.txt' })
    const request = server.requests[0]!
    const names = parseMultipart(request.body, request.headers['content-type'] ?? '').map((p) => p.name)
    expect(names).toEqual(['fileName', 'folder', 'useUniqueFileName', 'responseFields', 'file'])
  })

  it('replays the whole file on a retry after a 503', async () => {
    const content = randomBytes(100_000)
    const localFile = join(dir, 'spool-3')
    await writeFile(localFile, content)
    server = await startServer((_req, res, _body, index) =>
      index === 0 ? sendJson(res, 503, { message: 'busy' }) : sendJson(res, 200, { ...RESPONSE, size: content.length }),
    )
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await made.client.uploadFile({ localFile, folder: '/dir', fileName: 'a.bin' })
    expect(server.requests).toHaveLength(2)
    for (const request of server.requests) {
      const file = parseMultipart(request.body, request.headers['content-type'] ?? '').find((p) => p.name === 'file')
      expect(file?.data.equals(content)).toBe(true)
    }
  })

  it('holds the file (UploadRequest.reading) while each request reads it, never across the waits between requests', async () => {
    const content = randomBytes(8 * 1024 * 1024) // read as it is sent
    const localFile = join(dir, 'spool-held')
    await writeFile(localFile, content)
    const events: string[] = []
    let held = false
    let requests = 0
    server = await startRawServer((req, res) => {
      const index = requests++
      events.push(`request ${index}${held ? ' (held)' : ''}`)
      let received = 0
      req.on('data', (chunk: Buffer) => {
        received += chunk.length
        // The first two answered 503 before the body has all arrived (the connection closes under it).
        if (index < 2 && received >= 1024 * 1024 && !res.headersSent) {
          res.writeHead(503, { 'content-type': 'application/json', connection: 'close' })
          res.end(JSON.stringify({ message: 'busy' }))
        }
      })
      req.on('end', () => {
        if (!res.headersSent) sendJson(res, 200, { ...RESPONSE, size: content.length })
      })
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await made.client.uploadFile({
      localFile, folder: '/dir', fileName: 'held.bin',
      reading: async () => {
        expect(held).toBe(false)
        held = true
        events.push('hold')
        return () => {
          expect(held).toBe(true)
          held = false
          events.push('release')
        }
      },
    })
    expect(events).toEqual(['hold', 'request 0 (held)', 'release', 'hold', 'request 1 (held)', 'release', 'hold', 'request 2 (held)', 'release'])
  })

  it('sends the file again when the 2xx answer was cut short (the server stored it; a repeat is one more version)', async () => {
    const content = randomBytes(10_000)
    const localFile = join(dir, 'spool-cut')
    await writeFile(localFile, content)
    server = await startServer((_req, res, _body, index) => {
      if (index > 0) return sendJson(res, 200, { ...RESPONSE, size: content.length })
      sendCutShort(res, '{"fileId"')
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const stored = await made.client.uploadFile({ localFile, folder: '/dir', fileName: 'a.bin' })
    expect(stored.size).toBe(content.length)
    expect(server.requests).toHaveLength(2)
    const file = parseMultipart(server.requests[1]!.body, server.requests[1]!.headers['content-type'] ?? '').find((p) => p.name === 'file')
    expect(file?.data.equals(content)).toBe(true)
  })

  it('before a repeat asks storedBefore, with the error the attempt ended in; a version it finds is the result, not sent again', async () => {
    const content = randomBytes(1000)
    const localFile = join(dir, 'spool-stored')
    await writeFile(localFile, content)
    // Every upload is answered 504 (as a gateway that timed out after the store); the first repeat finds it, the second not.
    server = await startServer((_req, res) => sendJson(res, 504, { message: 'Gateway Timeout' }))
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const stored = { ...RESPONSE, size: content.length, url: 'https://ik.example.test/dir/a.bin', fileType: 'non-image' as const, thumbnailUrl: '', AITags: null }
    const asked: unknown[] = []
    const result = await made.client.uploadFile({
      localFile, folder: '/dir', fileName: 'a.bin',
      storedBefore: async (previous) => {
        asked.push(previous.status)
        return asked.length === 2 ? stored : undefined
      },
    })
    expect(result).toBe(stored)
    expect(asked).toEqual([504, 504])
    expect(server.requests).toHaveLength(2) // was: every repeat sent, each a version (then IK_SERVER after the retries)
  })

  it('a small file is read through the caller\'s open handle (no reopen) and sent with its exact length', async () => {
    const content = randomBytes(64 * 1024)
    const localFile = join(dir, 'spool-handle')
    await writeFile(localFile, content)
    const handle = await open(localFile, 'r')
    await rm(localFile) // only the handle can still read it
    server = await startServer((_req, res) => sendJson(res, 200, { ...RESPONSE, size: content.length }))
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    let progress = 0
    try {
      await made.client.uploadFile({ localFile, localFileHandle: handle, folder: '/', fileName: 'h.bin', onProgress: (sent) => (progress = sent) })
    } finally {
      await handle.close()
    }
    const request = server.requests[0]!
    expect(Number(request.headers['content-length'])).toBe(request.body.length)
    const file = parseMultipart(request.body, request.headers['content-type'] ?? '').find((p) => p.name === 'file')
    expect(file?.data.equals(content)).toBe(true)
    expect(progress).toBe(content.length)
  })

  it('400 "file size exceeds" is IK_TOO_LARGE and not retried', async () => {
    const localFile = join(dir, 'spool-4')
    await writeFile(localFile, 'big enough')
    server = await startServer((_req, res) =>
      sendJson(res, 400, { message: 'Your request contains invalid file parameter. The file size exceeds 26214400 bytes limit.' }),
    )
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await expect(made.client.uploadFile({ localFile, folder: '/', fileName: 'big.bin' })).rejects.toMatchObject({
      code: 'IK_TOO_LARGE',
      status: 400,
    })
    expect(server.requests).toHaveLength(1)
  })

  // As real servers (and the emulator) do, the server reads and drops the rest of the body after answering: one that
  // closed at once would reset the connection, and the reset may reach the client before the answer does.
  it('a "file size exceeds" answer sent before the body has all arrived is IK_TOO_LARGE at once, not a dropped connection', async () => {
    const localFile = join(dir, 'spool-early')
    await writeFile(localFile, randomBytes(64 * 1024 * 1024))
    let requests = 0
    server = await startRawServer((req, res) => {
      requests++
      let received = 0
      req.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received < 1024 * 1024 || res.headersSent) return
        res.writeHead(400, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ message: 'Your request contains invalid file parameter. The file size exceeds 1048576 bytes limit.' }))
      })
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await expect(made.client.uploadFile({ localFile, folder: '/', fileName: 'big.bin' })).rejects.toMatchObject({ code: 'IK_TOO_LARGE', status: 400 })
    expect(requests).toBe(1)
  })

  it('413 from a proxy in front of the Upload API is IK_TOO_LARGE and not retried', async () => {
    const localFile = join(dir, 'spool-413')
    await writeFile(localFile, 'big enough')
    server = await startServer((_req, res) => {
      res.writeHead(413, { 'content-type': 'text/html' })
      res.end('<html><body><h1>413 Request Entity Too Large</h1></body></html>')
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await expect(made.client.uploadFile({ localFile, folder: '/', fileName: 'big.bin' })).rejects.toMatchObject({ code: 'IK_TOO_LARGE', status: 413 })
    expect(server.requests).toHaveLength(1)
  })

  it('a 400 for the file as such is IK_BAD_REQUEST and not retried; the 400 that says "try again later" is retried as a 429', async () => {
    const localFile = join(dir, 'spool-400')
    await writeFile(localFile, 'some bytes')
    const answers = [
      { message: 'You have sent too many requests to update the file recently. Please try again later.' },
      { message: 'A file can have at most 100 versions.', reason: 'VERSION_LIMIT_EXCEEDED' },
    ]
    server = await startServer((_req, res) => sendJson(res, 400, answers.shift() ?? { message: 'unexpected third request' }))
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await expect(made.client.uploadFile({ localFile, folder: '/', fileName: 'f.bin' })).rejects.toMatchObject({
      code: 'IK_BAD_REQUEST', status: 400, retriable: false, reason: 'VERSION_LIMIT_EXCEEDED',
    })
    expect(server.requests).toHaveLength(2)
  })

  it('streams a 50 MiB file: the server receives bytes long before the client has read the file', async () => {
    const size = 50 * 1024 * 1024
    const localFile = join(dir, 'spool-big')
    const handle = await open(localFile, 'w')
    const block = randomBytes(1024 * 1024)
    for (let i = 0; i < 50; i++) await handle.write(block)
    await handle.close()

    let progress = 0
    let progressWhenServerHadOneMiB = -1
    let received = 0
    let declaredLength = -1
    let head = Buffer.alloc(0)
    server = await startRawServer((req, res) => {
      req.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (head.length < 64 * 1024) head = Buffer.concat([head, chunk]).subarray(0, 64 * 1024)
        if (progressWhenServerHadOneMiB === -1 && received >= 1024 * 1024) progressWhenServerHadOneMiB = progress
      })
      req.on('end', () => {
        declaredLength = Number(req.headers['content-length'])
        sendJson(res, 200, { ...RESPONSE, size })
      })
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const result = await made.client.uploadFile({ localFile, folder: '/', fileName: 'big.bin', onProgress: (sent) => (progress = sent) })
    expect(result.size).toBe(size)
    expect(progress).toBe(size)
    expect(received).toBeGreaterThan(size)
    expect(declaredLength).toBe(received)
    expect(head.toString('latin1')).toContain('name="fileName"')
    // Had the client buffered the file, progress would already be at 50 MiB when the first MiB arrived.
    expect(progressWhenServerHadOneMiB).toBeGreaterThanOrEqual(0)
    expect(progressWhenServerHadOneMiB).toBeLessThan(size / 2)
  })
})

describe('uploadFileStream', () => {
  /** Yields `chunks` one by one, each after `gate` resolves (to interleave with the server). */
  async function* produce(chunks: Buffer[], gate?: (i: number) => Promise<void>): AsyncGenerator<Buffer> {
    for (const [i, chunk] of chunks.entries()) {
      if (gate) await gate(i)
      yield chunk
    }
  }

  it('sends the same fields and the bytes as they come, chunked (no Content-Length), in one attempt', async () => {
    const chunks = [randomBytes(300_000), randomBytes(5), randomBytes(200_000)]
    let receivedBeforeLast = 0
    let received = 0
    let releaseLast!: () => void
    const last = new Promise<void>((r) => (releaseLast = r))
    const bodies: Buffer[] = []
    let headers: Record<string, string | string[] | undefined> = {}
    server = await startRawServer((req, res) => {
      headers = req.headers
      req.on('data', (chunk: Buffer) => {
        bodies.push(chunk)
        received += chunk.length
        if (received > 300_000) releaseLast()
      })
      req.on('end', () => sendJson(res, 200, { ...RESPONSE, size: 500_005 }))
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const result = await made.client.uploadFileStream({
      folder: '/dir', fileName: 'video.mp4', tags: ['t'], isPrivateFile: true, keepExistingMetadata: true, customCoordinates: '1,2,3,4',
      body: produce(chunks, async (i) => {
        if (i === 2) {
          await last // the server has the first chunk before the producer made the last one
          receivedBeforeLast = received
        }
      }),
    })
    expect(result.fileId).toBe('f1')
    expect(receivedBeforeLast).toBeGreaterThan(300_000)
    expect(headers['content-length']).toBeUndefined()
    expect(headers['transfer-encoding']).toBe('chunked')
    const parts = parseMultipart(Buffer.concat(bodies), String(headers['content-type']))
    const fields = Object.fromEntries(parts.filter((p) => p.name !== 'file').map((p) => [p.name, p.data.toString()]))
    expect(fields).toEqual({
      fileName: 'video.mp4', folder: '/dir', useUniqueFileName: 'false', tags: 't', isPrivateFile: 'true', customCoordinates: '1,2,3,4',
      overwriteTags: 'false', overwriteCustomMetadata: 'false', overwriteAITags: 'false', responseFields: 'tags,customCoordinates,isPrivateFile,customMetadata,isPublished',
    })
    expect(parts.find((p) => p.name === 'file')?.data.equals(Buffer.concat(chunks))).toBe(true)
  })

  it('lent chunks (a buffer reused two chunks later) arrive intact, however slowly the server reads', async () => {
    // The contract vfs/upload/growing-file.ts relies on: undici is done with a chunk before it asks for the
    // next but one. Each chunk is written into a ring of 3 buffers just before it is yielded.
    const CHUNK = 256 * 1024
    const COUNT = 48
    const ring = [Buffer.alloc(CHUNK), Buffer.alloc(CHUNK), Buffer.alloc(CHUNK)]
    const expected = createHash('sha256')
    async function* lent(): AsyncGenerator<Buffer> {
      for (let i = 0; i < COUNT; i++) {
        const chunk = ring[i % ring.length]!
        chunk.fill(i & 255)
        chunk.writeUInt32LE(i, 0)
        expected.update(chunk)
        yield chunk
      }
    }
    const received = createHash('sha256')
    let total = 0
    server = await startRawServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        req.pause() // a slow reader: the client's socket backs up
        setTimeout(() => req.resume(), 1)
      })
      req.on('end', () => {
        const parts = parseMultipart(Buffer.concat(chunks), String(req.headers['content-type']))
        const file = parts.find((p) => p.name === 'file')!.data
        total = file.length
        received.update(file)
        sendJson(res, 200, { ...RESPONSE, size: file.length })
      })
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    await made.client.uploadFileStream({ folder: '/', fileName: 'lent.bin', body: lent() })
    expect(total).toBe(CHUNK * COUNT)
    expect(received.digest('hex')).toBe(expected.digest('hex'))
  })

  it('an abort cuts the body short (the server never sees the closing boundary) and rejects IK_ABORTED', async () => {
    let body = Buffer.alloc(0)
    let ended: 'end' | 'aborted' | undefined
    server = await startRawServer((req) => {
      req.on('data', (chunk: Buffer) => (body = Buffer.concat([body, chunk])))
      req.on('end', () => (ended = 'end'))
      req.on('aborted', () => (ended = 'aborted'))
      req.on('error', () => undefined)
    })
    const made = makeClient(server.url)
    closeClient = () => made.client.close()
    const abort = new AbortController()
    const forever = (async function* () {
      yield randomBytes(100_000)
      await new Promise(() => undefined)
    })()
    const upload = made.client.uploadFileStream({ folder: '/', fileName: 'cut.bin', body: forever }, { signal: abort.signal })
    await waitFor(() => body.length >= 100_000)
    abort.abort()
    await expect(upload).rejects.toMatchObject({ code: 'IK_ABORTED' })
    await waitFor(() => ended !== undefined)
    expect(ended).toBe('aborted')
    expect(body.toString('latin1')).not.toMatch(/--\r\n$/)
  })

  it('a refusal (411) and a server error (503) are not retried: a stream cannot be replayed', async () => {
    for (const status of [411, 503]) {
      let requests = 0
      server = await startRawServer((req, res) => {
        requests++
        res.setHeader('connection', 'close')
        sendJson(res, status, { message: status === 411 ? 'Length Required' : 'busy' })
        req.resume()
      })
      const made = makeClient(server.url)
      const never = (async function* () {
        yield Buffer.from('x')
        await new Promise(() => undefined)
      })()
      await expect(made.client.uploadFileStream({ folder: '/', fileName: 'r.bin', body: never })).rejects.toMatchObject({ status })
      expect(requests).toBe(1)
      await made.client.close()
      await server.close()
      server = undefined
    }
  })
})
