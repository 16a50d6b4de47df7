/**
 * Uploads whose body is streamed (chunked transfer encoding, no Content-Length), as a real server treats
 * them: a complete body is stored like any other; a body cut short (connection dropped mid-file, or ended
 * without the closing boundary) is refused and leaves nothing behind, no file and no version; and with
 * `refuseChunkedUploads` the emulator answers 411 before reading the body.
 */
import { request, type ClientRequest } from 'node:http'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Agent, request as undiciRequest } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basicAuth, startTestEmulator, waitFor, type TestEmulator } from './helpers.js'

const BOUNDARY = '----ikfsstreamtest'

function head(fileName: string, folder = '/s'): Buffer {
  const field = (name: string, value: string) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
  return Buffer.from(
    field('fileName', fileName) + field('folder', folder) + field('useUniqueFileName', 'false') +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  )
}
const TAIL = Buffer.from(`\r\n--${BOUNDARY}--\r\n`)

/** A chunked POST to the upload route; `answer` settles with the status, or with -1 when the connection died first. */
function chunkedUpload(t: TestEmulator): { req: ClientRequest; answer: Promise<{ status: number; body: string }> } {
  const url = new URL(t.emu.url + '/api/v1/files/upload')
  const req = request({
    host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
    headers: { authorization: basicAuth(), 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' },
  })
  const answer = new Promise<{ status: number; body: string }>((resolve) => {
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', () => resolve({ status: -1, body: '' }))
  })
  return { req, answer }
}

describe('streamed (chunked) uploads', () => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator() })
  afterAll(async () => { await t.stop() })

  /** Temp files holding upload bodies (idle `ready-*` files made ahead of need do not count). */
  const tmpFiles = async (): Promise<string[]> =>
    (await readdir(join(t.dataDir, '.ikemu', 'tmp')).catch((): string[] => [])).filter((n) => n.startsWith('upload-'))
  const listed = async (folder: string): Promise<string[]> =>
    ((await (await t.api('GET', `/v1/files?path=${folder}`)).json()) as { name: string }[]).map((f) => f.name)

  it('a complete chunked body is stored byte for byte', async () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024, 7)
    const { req, answer } = chunkedUpload(t)
    req.write(head('whole.bin'))
    for (let i = 0; i < 3; i++) req.write(bytes.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024))
    req.end(TAIL)
    expect((await answer).status).toBe(200)
    expect((await readFile(join(t.dataDir, 'files/s/whole.bin'))).equals(bytes)).toBe(true)
  })

  it('a connection dropped mid-file stores nothing: no file, no version, no temp file', async () => {
    await t.put('/s/kept.bin', 'version one')
    const { req, answer } = chunkedUpload(t)
    req.write(head('kept.bin'))
    req.write(Buffer.alloc(2 * 1024 * 1024, 1)) // past what the emulator keeps in memory: it spills to a temp file
    await waitFor(async () => (await tmpFiles()).length === 1) // the emulator is receiving it
    req.destroy()
    expect((await answer).status).toBe(-1)
    await waitFor(async () => (await tmpFiles()).length === 0)
    expect(await readFile(join(t.dataDir, 'files/s/kept.bin'), 'utf8')).toBe('version one')
    const { fileId } = ((await (await t.api('GET', '/v1/files?path=/s&searchQuery=name%3D%22kept.bin%22')).json()) as { fileId: string }[])[0]!
    expect((await (await t.api('GET', `/v1/files/${fileId}/versions`)).json()) as unknown[]).toHaveLength(1)
  })

  it('a body that ends without its closing boundary is refused with 400 and stores nothing', async () => {
    const { req, answer } = chunkedUpload(t)
    req.write(head('cut.bin'))
    req.end(Buffer.alloc(1000, 2))
    const { status, body } = await answer
    expect(status).toBe(400)
    expect(body).toMatch(/multipart body/)
    expect(await listed('/s')).not.toContain('cut.bin')
    await waitFor(async () => (await tmpFiles()).length === 0)
  })

  it('refuseChunkedUploads answers 411 before reading the body; uploads with a Content-Length still work', async () => {
    t.emu.faults.set({ refuseChunkedUploads: true })
    try {
      const { req, answer } = chunkedUpload(t)
      req.write(head('refused.bin'))
      req.write(Buffer.alloc(1000, 3)) // never ended: the answer must not wait for the body
      const { status, body } = await answer
      req.destroy()
      expect(status).toBe(411)
      expect(JSON.parse(body)).toMatchObject({ message: expect.stringMatching(/^Length Required/) })
      expect(await listed('/s')).not.toContain('refused.bin')
      await t.put('/s/with-length.bin', 'fine')
    } finally {
      t.emu.faults.set({ refuseChunkedUploads: false })
    }
  })
})

describe('refused uploads', () => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator({ maxUploadBytes: 1024 * 1024 }) })
  afterAll(async () => { await t.stop() })

  it('an upload over the limit is answered while the client still sends (the connection lingers), and the emulator goes on', async () => {
    const { req, answer } = chunkedUpload(t)
    req.write(head('big.bin'))
    for (let i = 0; i < 4; i++) req.write(Buffer.alloc(1024 * 1024, 9)) // never ended: the answer must not wait
    const { status, body } = await answer
    req.destroy()
    expect(status).toBe(400)
    expect(JSON.parse(body)).toMatchObject({ message: expect.stringMatching(/file size exceeds 1048576 bytes limit/) })
    await t.put('/s/after.bin', 'still serving')
    expect(await readFile(join(t.dataDir, 'files/s/after.bin'), 'utf8')).toBe('still serving')
  })

  it('the rest of a refused body is read and dropped, so the kept-alive connection answers the next request', async () => {
    // The parser's early exit had destroyed the request: the rest of the body stayed unread and the next
    // request on that connection (undici keeps it, as ikfs's client does) hung until the connection was reset.
    const agent = new Agent({ connections: 1 })
    try {
      const body = Buffer.concat([head('big.bin'), Buffer.alloc(2 * 1024 * 1024, 7), TAIL])
      const headers = { authorization: basicAuth(), 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }
      const answers: (number | string)[] = []
      for (let i = 0; i < 3; i++) {
        answers.push(await undiciRequest(t.emu.url + '/api/v1/files/upload', { method: 'POST', dispatcher: agent, body, headers, headersTimeout: 30_000 })
          .then(async (r) => { await r.body.text(); return r.statusCode }, (e: { code?: string }) => e.code ?? 'failed'))
      }
      expect(answers).toEqual([400, 400, 400])
    } finally {
      await agent.close()
    }
  })
})
