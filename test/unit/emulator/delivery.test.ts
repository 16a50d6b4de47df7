/** URL endpoint (§6): ranges, HEAD, headers, 404, image optimisation vs orig-true, versions, stale CDN, purge. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readdirSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { ManualClock } from '../../../src/clock.js'
import { OPTIMISED_MARKER } from '../../../src/emulator/routes/delivery.js'
import { computeSignature, NEVER_EXPIRES } from '../../../src/emulator/signature.js'
import { makePng, PRIVATE_KEY, startTestEmulator, type TestEmulator } from './helpers.js'

const BYTES = Buffer.from('0123456789abcdefghij')

describe('URL endpoint', () => {
  let t: TestEmulator
  const clock = new ManualClock(1_800_000_000_000)
  beforeAll(async () => {
    t = await startTestEmulator({ clock, cdnStaleMs: 60_000 })
    await t.put('/data/file.bin', BYTES)
  })
  afterAll(async () => { await t.stop() })

  const get = (path: string, headers: Record<string, string> = {}) => fetch(t.emu.urlEndpoint + path, { headers })

  it('serves the whole file with the documented headers', async () => {
    const res = await get('/data/file.bin')
    expect(res.status).toBe(200)
    expect(Buffer.from(await res.arrayBuffer())).toEqual(BYTES)
    expect(res.headers.get('content-length')).toBe('20')
    expect(res.headers.get('accept-ranges')).toBe('bytes')
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{24}"$/)
    expect(res.headers.get('last-modified')).toBe(new Date(1_800_000_000_000).toUTCString())
    expect(res.headers.get('cache-control')).toBe('public, s-maxage=15552000, max-age=15552000, must-revalidate')
    expect(res.headers.get('x-ik-requestid')).toBeTruthy()
  })

  it.each([
    ['bytes=0-0', 206, 'bytes 0-0/20', '0'],
    ['bytes=19-19', 206, 'bytes 19-19/20', 'j'],
    ['bytes=5-9', 206, 'bytes 5-9/20', '56789'],
    ['bytes=15-', 206, 'bytes 15-19/20', 'fghij'],
    ['bytes=-3', 206, 'bytes 17-19/20', 'hij'],
    ['bytes=-50', 206, 'bytes 0-19/20', BYTES.toString()],
    ['bytes=10-999', 206, 'bytes 10-19/20', 'abcdefghij'],
    ['bytes=9-3', 200, null, BYTES.toString()],
    ['bytes=abc', 200, null, BYTES.toString()],
    ['items=0-3', 200, null, BYTES.toString()],
    ['bytes=4-5,0-1', 200, null, BYTES.toString()],
    ['bytes=0-5,3-8', 200, null, BYTES.toString()],
    ['bytes=0-1,x', 200, null, BYTES.toString()],
    ['bytes=0-1,25-30', 206, 'bytes 0-1/20', '01'],
  ])('Range %s → %i', async (range, status, contentRange, body) => {
    const res = await get('/data/file.bin?tr=orig-true', { range })
    expect(res.status).toBe(status)
    expect(res.headers.get('content-range')).toBe(contentRange)
    expect(await res.text()).toBe(body)
  })

  it.each(['bytes=20-', 'bytes=25-30', 'bytes=-0'])('unsatisfiable Range %s → 416 with bytes */SIZE', async (range) => {
    const res = await get('/data/file.bin', { range })
    expect(res.status).toBe(416)
    expect(res.headers.get('content-range')).toBe('bytes */20')
  })

  it('several ranges in ascending order without overlap: one 206 multipart/byteranges answer, as CloudFront gives', async () => {
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(t.emu.urlEndpoint + '/data/file.bin?tr=orig-true', { method, headers: { range: 'bytes=0-1, 4-5,-3' } })
      expect(res.status).toBe(206)
      expect(res.headers.get('content-range')).toBeNull()
      const boundary = /^multipart\/byteranges; boundary=(\S+)$/.exec(res.headers.get('content-type') ?? '')?.[1]
      expect(boundary).toBeDefined()
      const body = Buffer.from(await res.arrayBuffer()).toString('latin1')
      const whole = [['0-1', '01'], ['4-5', '45'], ['17-19', 'hij']]
        .map(([r, bytes], i) => `${i > 0 ? '\r\n' : ''}--${boundary}\r\ncontent-type: application/octet-stream\r\ncontent-range: bytes ${r}/20\r\n\r\n${bytes}`)
        .join('') + `\r\n--${boundary}--\r\n`
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(whole, 'latin1')))
      expect(body).toBe(method === 'GET' ? whole : '')
    }
  })

  it('If-None-Match with the ETag (or *), or If-Modified-Since not before Last-Modified: 304 without a body', async () => {
    const first = await get('/data/file.bin')
    await first.arrayBuffer()
    const etag = first.headers.get('etag') as string
    const lastModified = first.headers.get('last-modified') as string
    const matching: Record<string, string>[] = [{ 'if-none-match': etag }, { 'if-none-match': `"other", W/${etag}` }, { 'if-none-match': '*' }, { 'if-modified-since': lastModified }]
    for (const headers of matching) {
      const res = await get('/data/file.bin', headers)
      expect(res.status, JSON.stringify(headers)).toBe(304)
      expect(res.headers.get('etag')).toBe(etag)
      expect(res.headers.get('last-modified')).toBe(lastModified)
      expect(res.headers.get('cache-control')).toBe(first.headers.get('cache-control'))
      expect((await res.arrayBuffer()).byteLength).toBe(0)
    }
    const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString()
    const stale: Record<string, string>[] = [{ 'if-none-match': '"other"' }, { 'if-modified-since': earlier }, { 'if-none-match': '"other"', 'if-modified-since': lastModified }]
    for (const headers of stale) {
      const res = await get('/data/file.bin', headers)
      expect(res.status, JSON.stringify(headers)).toBe(200)
      expect((await res.arrayBuffer()).byteLength).toBe(Number(first.headers.get('content-length')))
    }
  })

  it('If-Range: the range applies while the ETag (strong) or the Last-Modified date still match, else the whole body', async () => {
    const first = await get('/data/file.bin?tr=orig-true')
    await first.arrayBuffer()
    const etag = first.headers.get('etag') as string
    const lastModified = first.headers.get('last-modified') as string
    const ranged = (ifRange: string) => get('/data/file.bin?tr=orig-true', { range: 'bytes=0-1', 'if-range': ifRange })
    for (const ifRange of [etag, lastModified]) expect((await ranged(ifRange)).status, ifRange).toBe(206)
    for (const ifRange of ['"other"', `W/${etag}`, new Date(Date.parse(lastModified) - 1000).toUTCString()]) {
      const res = await ranged(ifRange)
      expect(res.status, ifRange).toBe(200)
      expect(Buffer.from(await res.arrayBuffer())).toEqual(BYTES)
    }
  })

  it('HEAD answers headers without a body, also for ranges', async () => {
    const head = await fetch(t.emu.urlEndpoint + '/data/file.bin', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe('20')
    expect((await head.arrayBuffer()).byteLength).toBe(0)
    const ranged = await fetch(t.emu.urlEndpoint + '/data/file.bin', { method: 'HEAD', headers: { range: 'bytes=2-5' } })
    expect(ranged.status).toBe(206)
    expect(ranged.headers.get('content-length')).toBe('4')
  })

  it('answers a missing file with a plain 404 and an ik-error header', async () => {
    const res = await get('/data/nope.bin')
    expect(res.status).toBe(404)
    expect(await res.text()).toBe('Not Found')
    expect(res.headers.get('ik-error')).toMatch(/^ENOENT - /)
    expect((await fetch(t.emu.url + '/elsewhere/x')).status).toBe(404)
  })

  it('does not deliver unpublished files, signed or not (404 as for a missing file), until they are published', async () => {
    const draft = await t.put('/pub/draft.txt', 'draft bytes', { isPublished: 'false' })
    const expectMissing = async (res: Response) => {
      expect(res.status).toBe(404)
      expect(await res.text()).toBe('Not Found')
      expect(res.headers.get('ik-error')).toMatch(/^ENOENT - /)
    }
    await expectMissing(await get('/pub/draft.txt'))
    await expectMissing(await get('/pub/draft.txt?tr=orig-true'))
    const signedPart = 'pub/draft.txt?tr=orig-true'
    await expectMissing(await get(`/${signedPart}&ik-s=${computeSignature(PRIVATE_KEY, signedPart, NEVER_EXPIRES)}`))
    await t.put('/pub/live.txt', 'live bytes')
    expect(await (await get('/pub/live.txt?seen=1')).text()).toBe('live bytes')
    const live = (await (await t.api('GET', '/v1/files?path=/pub')).json()) as { fileId: string; name: string }[]
    const liveId = live.find((f) => f.name === 'live.txt')!.fileId
    expect((await t.api('PATCH', `/v1/files/${liveId}/details`, { publish: { isPublished: false } })).status).toBe(200)
    await expectMissing(await get('/pub/live.txt?seen=1'))
    expect((await t.api('PATCH', `/v1/files/${draft.fileId as string}/details`, { publish: { isPublished: true } })).status).toBe(200)
    expect(await (await get('/pub/draft.txt')).text()).toBe('draft bytes')
  })

  it('serves images optimised (different bytes) unless orig-true is asked for', async () => {
    const png = makePng(3, 2)
    await t.put('/img/pic.png', png)
    const original = Buffer.from(await (await get('/img/pic.png?tr=orig-true')).arrayBuffer())
    expect(original).toEqual(png)
    const pathForm = Buffer.from(await (await get('/tr:orig-true/img/pic.png')).arrayBuffer())
    expect(pathForm).toEqual(png)
    const optimised = await get('/img/pic.png')
    const optimisedBytes = Buffer.from(await optimised.arrayBuffer())
    expect(optimisedBytes.equals(png)).toBe(false)
    expect(optimisedBytes).toEqual(Buffer.concat([png, OPTIMISED_MARKER]))
    expect(optimised.headers.get('content-type')).toBe('image/png')
    const transformed = Buffer.from(await (await get('/tr:w-100,h-50/img/pic.png')).arrayBuffer())
    expect(transformed).toEqual(optimisedBytes)
    // A range over the optimised form reaches into the marker.
    const tail = await get('/img/pic.png', { range: `bytes=${png.length}-` })
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(OPTIMISED_MARKER)
  })

  it('says which transformations it did not apply (header), serving the stored image; none with orig-true or without any', async () => {
    const png = makePng(4, 4)
    await t.put('/img/tr.png', png)
    const header = 'x-ik-emulator-transformation-not-applied'
    const cases: [string, string | null][] = [
      ['/img/tr.png?tr=w-100,h-50', 'w-100,h-50'],
      ['/tr:w-100:rt-90/img/tr.png', 'w-100,rt-90'],
      ['/img/tr.png?tr=n-ik_ml_thumbnail', 'n-ik_ml_thumbnail'],
      ['/img/tr.png?tr=l-text,i-caf%C3%A9,l-end', 'l-text,i-caf%C3%A9,l-end'],
      ['/img/tr.png', null],
      ['/img/tr.png?tr=orig-true', null],
      ['/img/tr.png?tr=w-100,orig-true', null], // orig-true wins on the real CDN too: the others are ignored there as well
    ]
    for (const [path, expected] of cases) {
      const res = await get(path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get(header), path).toBe(expected)
      const bytes = Buffer.from(await res.arrayBuffer())
      expect(bytes.subarray(0, png.length).equals(png), path).toBe(true)
    }
    await t.put('/img/notes.txt', 'plain text')
    expect((await get('/img/notes.txt?tr=w-10')).headers.get(header)).toBe('w-10')
  })

  it('encoded names: spaces, unicode, ? and # in names', async () => {
    await t.put('/odd dir/a b(1),ç?#.txt', 'odd')
    const list = (await (await t.api('GET', '/v1/files?path=' + encodeURIComponent('/odd dir'))).json()) as { url: string }[]
    expect(list[0]?.url).toContain('/odd%20dir/a%20b(1),%C3%A7%3F%23.txt?updatedAt=')
    expect(await (await fetch(list[0]!.url)).text()).toBe('odd')
    expect(await (await get('/odd%20dir/a%20b%281%29%2C%C3%A7%3F%23.txt')).text()).toBe('odd')
  })

  it('encoded names: | ^ [ ] escaped in the API url by default (encodeURI), and delivered in either form', async () => {
    await t.put('/pipes/a|b^[c] {d}.txt', 'pipes')
    const list = (await (await t.api('GET', '/v1/files?path=%2Fpipes')).json()) as { url: string }[]
    expect(list[0]?.url).toContain('/pipes/a%7Cb%5E%5Bc%5D%20%7Bd%7D.txt?updatedAt=')
    expect(await (await fetch(list[0]!.url)).text()).toBe('pipes')
    expect(await (await get('/pipes/a|b^[c]%20%7Bd%7D.txt')).text()).toBe('pipes')
  })

  it('serves old versions by ik-obj-version token', async () => {
    await t.put('/v/doc.txt', 'version one')
    await t.put('/v/doc.txt', 'version two')
    const up = (await (await t.api('GET', '/v1/files?type=file-version&path=/v')).json()) as { url: string }[]
    expect(up).toHaveLength(1)
    expect(up[0]!.url).toMatch(/\?ik-obj-version=[A-Za-z0-9._]{32}&updatedAt=\d+$/)
    expect(await (await fetch(up[0]!.url)).text()).toBe('version one')
    expect((await get('/v/doc.txt?ik-obj-version=' + 'x'.repeat(32))).status).toBe(404)
  })

  it('stale CDN: a served URL keeps the old bytes after overwrite until the window passes; new query or purge gets new bytes', async () => {
    const first = await t.put('/cdn/a.txt', 'old bytes')
    expect(await (await get('/cdn/a.txt')).text()).toBe('old bytes')
    expect(await (await get('/cdn/a.txt?v=1')).text()).toBe('old bytes')
    await t.put('/cdn/a.txt', 'new bytes')
    expect(first.url).toBe(t.emu.urlEndpoint + '/cdn/a.txt')
    expect(await (await get('/cdn/a.txt')).text()).toBe('old bytes')
    expect(await (await get('/cdn/a.txt?v=2')).text()).toBe('new bytes')
    const details = (await (await t.api('GET', '/v1/files?path=/cdn')).json()) as { url: string }[]
    expect(await (await fetch(details[0]!.url)).text()).toBe('new bytes')
    // purge one URL
    const purge = await t.api('POST', '/v1/files/purge', { url: t.emu.urlEndpoint + '/cdn/a.txt' })
    expect(purge.status).toBe(201)
    expect(await (await get('/cdn/a.txt')).text()).toBe('new bytes')
    expect(await (await get('/cdn/a.txt?v=1')).text()).toBe('old bytes')
    clock.advance(60_000)
    expect(await (await get('/cdn/a.txt?v=1')).text()).toBe('new bytes')
  })

  it('stale CDN: wildcard purge and the admin expire route drop remembered URLs', async () => {
    await t.put('/cdn2/deep/b.txt', 'one')
    expect(await (await get('/cdn2/deep/b.txt?x=1')).text()).toBe('one')
    await t.put('/cdn2/deep/b.txt', 'two')
    expect(await (await get('/cdn2/deep/b.txt?x=1')).text()).toBe('one')
    await t.api('POST', '/v1/files/purge', { url: t.emu.urlEndpoint + '/cdn2/deep/*' })
    expect(await (await get('/cdn2/deep/b.txt?x=1')).text()).toBe('two')
    await get('/cdn2/deep/b.txt?y=1')
    await t.put('/cdn2/deep/b.txt', 'three')
    expect(await (await get('/cdn2/deep/b.txt?y=1')).text()).toBe('two')
    const expire = await t.api('POST', '/_emulator/cdn/expire')
    expect(expire.status).toBe(200)
    expect(await (await get('/cdn2/deep/b.txt?y=1')).text()).toBe('three')
    expect((await t.api('POST', '/v1/files/purge', { url: 'not a url' })).status).toBe(400)
  })

  it.each([
    ['/images/upload*', 201, 'two folder levels'],
    ['/cdn2/deep/*', 201, 'two folder levels, ending in /'],
    ['/fifteen-chars-ok*', 201, 'at least 15 characters'],
    ['/sample.jpg*', 201, 'a complete file path'],
    ['/sample.jpg?tr=w-100*', 201, 'a complete file path with a query'],
    ['/tr:w-100/a/b*', 201, 'a path transformation and two levels'],
    ['/images*', 400, 'one level, short, no extension'],
    ['/images/*', 400, 'one level, short'],
    ['/folder/*/sample.jpg', 400, 'a wildcard inside the path'],
    ['/folder/deep/**', 400, 'two wildcards'],
    ['/media/catalog/*', 400, 'refused unconditionally'],
    ['/s/files/*', 400, 'refused unconditionally'],
    ['/*', 400, 'the whole endpoint'],
  ])('purge %s → %i (%s)', async (path, status) => {
    const res = await t.api('POST', '/v1/files/purge', { url: t.emu.urlEndpoint + path })
    expect(res.status).toBe(status)
    if (status === 400) expect(await res.json()).toMatchObject({ message: 'The URL is not valid for cache purging.' })
  })

  it.each([
    ['another host', (e: string) => e.replace('127.0.0.1', 'elsewhere.example')],
    ['another port', (e: string) => e.replace(/:(\d+)\//, (_m, port: string) => `:${Number(port) + 1}/`)],
    ['https instead of http', (e: string) => e.replace('http:', 'https:')],
  ])('purge of a URL on %s is refused, and drops nothing', async (_what, move) => {
    await t.put('/elsewhere/p.txt', 'first')
    expect(await (await get('/elsewhere/p.txt?k=1')).text()).toBe('first')
    await t.put('/elsewhere/p.txt', 'second')
    const res = await t.api('POST', '/v1/files/purge', { url: move(t.emu.urlEndpoint) + '/elsewhere/p.txt?k=1' })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ message: 'The URL is not valid for cache purging.' })
    expect(await (await get('/elsewhere/p.txt?k=1')).text()).toBe('first')
  })

  it('purge takes the endpoint by its loopback name too (localhost for 127.0.0.1: the same URL endpoint)', async () => {
    const res = await t.api('POST', '/v1/files/purge', { url: t.emu.urlEndpoint.replace('127.0.0.1', 'localhost') + '/any/file.txt' })
    expect(res.status).toBe(201)
  })

  it('a refused wildcard purge drops nothing: the URL under it keeps its stale bytes', async () => {
    await t.put('/short/w.txt', 'first')
    expect(await (await get('/short/w.txt?k=1')).text()).toBe('first')
    await t.put('/short/w.txt', 'second')
    expect((await t.api('POST', '/v1/files/purge', { url: t.emu.urlEndpoint + '/short/*' })).status).toBe(400)
    expect(await (await get('/short/w.txt?k=1')).text()).toBe('first')
    expect((await t.api('POST', '/v1/files/purge', { url: t.emu.urlEndpoint + '/short/w.txt*' })).status).toBe(201)
    expect(await (await get('/short/w.txt?k=1')).text()).toBe('second')
  })

  it('a renamed file stays reachable at its old URL until purged (rename purgeCache)', async () => {
    await t.put('/r/old.txt', 'renamed bytes')
    expect((await get('/r/old.txt')).status).toBe(200)
    expect((await t.api('PUT', '/v1/files/rename', { filePath: '/r/old.txt', newFileName: 'new.txt' })).status).toBe(200)
    expect(await (await get('/r/old.txt')).text()).toBe('renamed bytes')
    expect((await get('/r/other-query.txt')).status).toBe(404)
    const res = await t.api('PUT', '/v1/files/rename', { filePath: '/r/new.txt', newFileName: 'newer.txt', purgeCache: true })
    expect(await res.json()).toEqual({ purgeRequestId: expect.any(String) })
    expect(await (await get('/r/newer.txt')).text()).toBe('renamed bytes')
  })

  it('stale CDN: a served URL keeps serving a deleted file until the window passes or a purge', async () => {
    const gone = (await t.put('/del/gone.txt', 'deleted bytes')).fileId as string
    expect(await (await get('/del/gone.txt')).text()).toBe('deleted bytes')
    expect(await (await get('/del/gone.txt?q=1')).text()).toBe('deleted bytes')
    expect((await t.api('DELETE', `/v1/files/${gone}`)).status).toBe(204)
    expect(await (await get('/del/gone.txt')).text()).toBe('deleted bytes')
    expect((await get('/del/gone.txt?never-served=1')).status).toBe(404)
    await t.api('POST', '/v1/files/purge', { url: t.emu.urlEndpoint + '/del/gone.txt' })
    expect((await get('/del/gone.txt')).status).toBe(404)
    expect(await (await get('/del/gone.txt?q=1')).text()).toBe('deleted bytes')
    clock.advance(60_000)
    expect((await get('/del/gone.txt?q=1')).status).toBe(404)
    expect(readdirSync(join(t.dataDir, '.ikemu', 'tmp', 'cdn'))).toEqual([]) // the kept bytes went with their URLs
  })

  it('stale CDN: a file moved onto a same-named one stays served at its old URL', async () => {
    await t.put('/mv/a/x.txt', 'moved bytes')
    await t.put('/mv/b/x.txt', 'target bytes')
    expect(await (await get('/mv/a/x.txt')).text()).toBe('moved bytes')
    expect((await t.api('POST', '/v1/files/move', { sourceFilePath: '/mv/a/x.txt', destinationPath: '/mv/b' })).status).toBe(204)
    expect(await (await get('/mv/a/x.txt')).text()).toBe('moved bytes')
    expect((await get('/mv/a/x.txt?fresh=1')).status).toBe(404)
  })

  it('stale CDN: a served version URL keeps serving a deleted version for the window', async () => {
    const one = await t.put('/del/v.txt', 'version one')
    await t.put('/del/v.txt', 'version two')
    const [old] = (await (await t.api('GET', '/v1/files?type=file-version&path=/del')).json()) as { url: string; versionInfo: { id: string } }[]
    expect(await (await fetch(old!.url)).text()).toBe('version one')
    expect((await t.api('DELETE', `/v1/files/${one.fileId as string}/versions/${old!.versionInfo.id}`)).status).toBe(204)
    expect(await (await fetch(old!.url)).text()).toBe('version one')
    clock.advance(60_000)
    expect((await fetch(old!.url)).status).toBe(404)
  })

  it('rangeIgnoreRate answers some valid ranges with 200 and the full body', async () => {
    await t.restart({ rangeIgnoreRate: 1 })
    const res = await get('/data/file.bin', { range: 'bytes=2-3' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe(BYTES.toString())
    await t.restart({ rangeIgnoreRate: 0 })
  })

  it('counts delivered bytes in the usage API, on the day they were sent: a window without that day reports none', async () => {
    await get('/data/file.bin')
    const day = (offsetDays: number) => new Date(clock.now() + offsetDays * 86_400_000).toISOString().slice(0, 10)
    const usage = async (start: string, end: string) =>
      (await (await t.api('GET', `/v1/accounts/usage?startDate=${start}&endDate=${end}`)).json()) as Record<string, number>
    const today = await usage(day(-1), day(1))
    expect(today.bandwidthBytes).toBeGreaterThanOrEqual(20)
    expect(today.mediaLibraryStorageBytes).toBeGreaterThan(20)
    expect((await usage(day(-60), day(-30))).bandwidthBytes).toBe(0)
  })

  it('rejects other methods on the URL endpoint', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(t.emu.urlEndpoint + '/data/file.bin', { method: 'DELETE' }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(405)
  })
})

describe('URL endpoint with urlEncoding sdk (whether the API escapes | ^ [ ] is unconfirmed)', () => {
  let t: TestEmulator
  beforeAll(async () => {
    t = await startTestEmulator({ urlEncoding: 'sdk' })
  })
  afterAll(async () => { await t.stop() })

  it('the API url keeps | [ ] (and ^ where the runtime URL keeps it) as the SDKs do; % \\ ? # and the rest stay escaped', async () => {
    await t.put('/pipes/a|b^[c] {d}%\\?#.txt', 'pipes')
    const list = (await (await t.api('GET', '/v1/files?path=%2Fpipes')).json()) as { url: string }[]
    const caret = new URL('http://x/^').pathname === '/^' ? '^' : '%5E'
    expect(list[0]?.url).toContain(`/pipes/a|b${caret}[c]%20%7Bd%7D%25%5C%3F%23.txt?updatedAt=`)
    expect(await (await fetch(list[0]!.url)).text()).toBe('pipes')
    expect(await (await fetch(t.emu.urlEndpoint + '/pipes/a%7Cb%5E%5Bc%5D%20%7Bd%7D%25%5C%3F%23.txt')).text()).toBe('pipes')
  })
})
