/** Upload API (§4.18): binary/base64 file, names, overwrite → versions, folders, responseFields, limits, auth. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { resolveOptions } from '../../../src/emulator/options.js'
import { basicAuth, makePng, multipartBody, startTestEmulator, type TestEmulator } from './helpers.js'

describe('Upload API', () => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator({ maxUploadBytes: 1000, maxVersions: 3 }) })
  afterAll(async () => { await t.stop() })

  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> })

  it('stores a binary part and answers the §2.3 shape (no optional fields unless asked)', async () => {
    const png = makePng(4, 3, true)
    const { status, body } = await json(await t.upload({ file: png, fileName: 'pic.png', useUniqueFileName: 'false', folder: 'shots/2024/' }))
    expect(status).toBe(200)
    expect(body).toEqual({
      fileId: expect.stringMatching(/^[0-9a-f]{24}$/),
      name: 'pic.png',
      size: png.length,
      versionInfo: { id: body.fileId, name: 'Version 1' },
      filePath: '/shots/2024/pic.png',
      url: t.emu.urlEndpoint + '/shots/2024/pic.png',
      fileType: 'image',
      width: 4,
      height: 3,
      thumbnailUrl: t.emu.urlEndpoint + '/tr:n-ik_ml_thumbnail/shots/2024/pic.png',
      AITags: null,
    })
    expect(await readFile(join(t.dataDir, 'files/shots/2024/pic.png'))).toEqual(png)
    const folders = (await (await t.api('GET', '/v1/files?type=folder&path=/shots')).json()) as { folderPath: string }[]
    expect(folders.map((f) => f.folderPath)).toEqual(['/shots/2024'])
  })

  it('accepts base64 and data: URI text values, and fetches an http(s) URL', async () => {
    const b64 = await json(await t.upload({ file: Buffer.from('hello base64').toString('base64'), fileName: 'b.txt', useUniqueFileName: 'false' }))
    expect(b64.status).toBe(200)
    expect(await (await fetch(t.emu.urlEndpoint + '/b.txt')).text()).toBe('hello base64')
    const dataUri = await json(await t.upload({ file: 'data:text/plain;base64,' + Buffer.from('from data uri').toString('base64'), fileName: 'd.txt', useUniqueFileName: 'false' }))
    expect(dataUri.status).toBe(200)
    expect(await (await fetch(t.emu.urlEndpoint + '/d.txt')).text()).toBe('from data uri')
    const fromUrl = await json(await t.upload({ file: t.emu.urlEndpoint + '/b.txt', fileName: 'u.txt', useUniqueFileName: 'false' }))
    expect(fromUrl.body).toMatchObject({ filePath: '/u.txt', size: 12 })
    expect(await (await fetch(t.emu.urlEndpoint + '/u.txt')).text()).toBe('hello base64')
    const missing = await json(await t.upload({ file: t.emu.urlEndpoint + '/none.txt', fileName: 'n.txt', useUniqueFileName: 'false' }))
    expect(missing).toEqual({ status: 400, body: { message: 'Your request contains invalid file parameter. The URL answered 404.', help: expect.any(String) } })
    expect(await (await t.api('GET', '/v1/files?searchQuery=' + encodeURIComponent('name = "n.txt"'))).json()).toEqual([])
  })

  it('holds a URL\'s body to the size limit, and stores nothing', async () => {
    const origin = createServer((_req, res) => res.end(Buffer.alloc(1001, 7)))
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/big.bin`
      const big = await json(await t.upload({ file: url, fileName: 'big-url.bin', useUniqueFileName: 'false' }))
      expect(big).toEqual({ status: 400, body: { message: 'Your request contains invalid file parameter. The file size exceeds 1000 bytes limit.', help: expect.any(String) } })
      expect(await (await t.api('GET', '/v1/files?searchQuery=' + encodeURIComponent('name = "big-url.bin"'))).json()).toEqual([])
    } finally {
      await new Promise<void>((resolve) => origin.close(() => resolve()))
    }
  })

  it('adds a unique suffix by default', async () => {
    const a = await json(await t.upload({ file: Buffer.from('x'), fileName: 'same.txt' }))
    const b = await json(await t.upload({ file: Buffer.from('y'), fileName: 'same.txt' }))
    expect(a.body.name).toMatch(/^same_[A-Za-z0-9_-]{9}\.txt$/)
    expect(b.body.name).toMatch(/^same_[A-Za-z0-9_-]{9}\.txt$/)
    expect(a.body.name).not.toBe(b.body.name)
    const noExt = await json(await t.upload({ file: Buffer.from('z'), fileName: 'README' }))
    expect(noExt.body.name).toMatch(/^README_[A-Za-z0-9_-]{9}$/)
  })

  it('overwrite makes a new version; metadata resets unless resent or kept; overwriteFile=false is refused', async () => {
    expect((await t.api('POST', '/v1/customMetadataFields', { name: 'k', label: 'K', schema: { type: 'Number' } })).status).toBe(201)
    const v1 = await t.put('/ow/f.txt', 'one', { tags: 'a,b', customMetadata: '{"k":1}', customCoordinates: '1,2,3,4' })
    const v2 = await t.put('/ow/f.txt', 'two', { responseFields: 'tags,customMetadata,customCoordinates,isPrivateFile' })
    expect(v2.fileId).toBe(v1.fileId)
    expect(v2.versionInfo).toEqual({ id: expect.not.stringMatching(v1.fileId as string), name: 'Version 2' })
    expect(v2.tags).toBeNull()
    expect(v2.customMetadata).toEqual({})
    expect(v2.customCoordinates).toBeNull()
    expect(v2.isPrivateFile).toBe(false)
    await t.put('/ow/g.txt', 'one', { tags: 'keep', customMetadata: '{"k":2}' })
    const kept = await t.put('/ow/g.txt', 'two', { overwriteTags: 'false', overwriteCustomMetadata: 'false', responseFields: 'tags,customMetadata' })
    expect(kept.tags).toEqual(['keep'])
    expect(kept.customMetadata).toEqual({ k: 2 })
    const refused = await json(await t.upload({ file: Buffer.from('3'), fileName: 'f.txt', folder: '/ow', useUniqueFileName: 'false', overwriteFile: 'false' }))
    expect(refused).toEqual({ status: 400, body: {
      message: 'A file with the same name already exists at the exact location. We could not overwrite it because both overwriteFile and useUniqueFileName are set to false.',
      help: 'For support kindly contact us at support@imagekit.io.',
    } })
    expect(await (await fetch(t.emu.urlEndpoint + '/ow/f.txt?fresh=1')).text()).toBe('two')
  })

  it('refuses a version beyond the cap with VERSION_LIMIT_EXCEEDED', async () => {
    await t.put('/cap.txt', '1')
    await t.put('/cap.txt', '2')
    await t.put('/cap.txt', '3')
    const res = await json(await t.upload({ file: Buffer.from('4'), fileName: 'cap.txt', useUniqueFileName: 'false' }))
    expect(res.status).toBe(400)
    expect(res.body.reason).toBe('VERSION_LIMIT_EXCEEDED')
  })

  it('returns optional fields only when asked in responseFields', async () => {
    const png = makePng(2, 2)
    const r = await t.put('/rf/p.png', png, { tags: 't1', isPrivateFile: 'true', responseFields: 'tags,isPrivateFile,isPublished,metadata,embeddedMetadata' })
    expect(r.tags).toEqual(['t1'])
    expect(r.isPrivateFile).toBe(true)
    expect(r.isPublished).toBe(true)
    expect(r.embeddedMetadata).toEqual({})
    expect(r.metadata).toMatchObject({ width: 2, height: 2, format: 'png', size: png.length, pHash: expect.stringMatching(/^[0-9a-f]{16}$/) })
    expect('customCoordinates' in r).toBe(false)
    const bad = await json(await t.upload({ file: Buffer.from('x'), fileName: 'x.txt', responseFields: 'nonsense' }))
    expect(bad.status).toBe(400)
  })

  it('refuses customCoordinates that are not x,y,width,height, as the details update does, and stores nothing', async () => {
    for (const coords of ['hello', '1,2,3', '1,2,3,4,5', '-1,2,3,4']) {
      const res = await json(await t.upload({ file: Buffer.from('x'), fileName: 'cc.txt', folder: '/cc', useUniqueFileName: 'false', customCoordinates: coords }))
      expect(res, coords).toMatchObject({ status: 400, body: { message: 'customCoordinates should be a string in the format x,y,width,height.', reason: 'INVALID_PARAMETER' } })
    }
    expect(await (await t.api('GET', '/v1/files?path=/cc')).json()).toEqual([])
    const ok = await t.put('/cc/ok.txt', 'x', { customCoordinates: ' 10, 20,30 ,40 ', responseFields: 'customCoordinates' })
    expect(ok.customCoordinates).toBe('10,20,30,40')
  })

  it('refuses a transformation that is not the SDK\'s {pre, post} shape (it was stored as if none was sent), and stores nothing', async () => {
    const refused = [
      '{bad', '"w-100"', '[]', '{"pre": 5}', '{"post": {"type": "thumbnail"}}', '{"post": [{"type": "resize"}]}',
      '{"post": [{"type": "transformation"}]}', '{"post": [{"type": "abs", "value": "sr-240_360"}]}', '{"post": ["w-100"]}',
    ]
    for (const transformation of refused) {
      const res = await json(await t.upload({ file: Buffer.from('x'), fileName: 'tr.txt', folder: '/tr', useUniqueFileName: 'false', transformation }))
      expect(res, transformation).toMatchObject({ status: 400, body: { message: 'Your request contains invalid transformation parameter.', reason: 'INVALID_PARAMETER' } })
    }
    expect(await (await t.api('GET', '/v1/files?path=/tr')).json()).toEqual([])
    const accepted = JSON.stringify({
      pre: 'w-100', post: [{ type: 'transformation', value: 'h-10' }, { type: 'thumbnail' }, { type: 'gif-to-video', value: 'q-80' }, { type: 'abs', protocol: 'hls', value: 'sr-240_360' }],
    })
    expect((await t.put('/tr/ok.txt', 'x', { transformation: accepted })).name).toBe('ok.txt')
  })

  it('answers the exact 400s for empty, missing and too large files, and a missing fileName', async () => {
    const empty = await json(await t.upload({ file: Buffer.alloc(0), fileName: 'e.txt' }))
    expect(empty).toEqual({ status: 400, body: { message: 'Your request is missing file parameter.', help: expect.any(String) } })
    const missing = await json(await t.upload({ fileName: 'e.txt' }))
    expect(missing.body.message).toBe('Your request is missing file parameter.')
    const big = await json(await t.upload({ file: Buffer.alloc(1001, 1), fileName: 'big.bin' }))
    expect(big).toEqual({ status: 400, body: { message: 'Your request contains invalid file parameter. The file size exceeds 1000 bytes limit.', help: expect.any(String) } })
    const bigB64 = await json(await t.upload({ file: Buffer.alloc(1001, 1).toString('base64'), fileName: 'big.bin' }))
    expect(bigB64.body.message).toBe('Your request contains invalid file parameter. The file size exceeds 1000 bytes limit.')
    const exact = await json(await t.upload({ file: Buffer.alloc(1000, 1), fileName: 'exact.bin', useUniqueFileName: 'false' }))
    expect(exact.status).toBe(200)
    const noName = await json(await t.upload({ file: Buffer.from('x') }))
    expect(noName.status).toBe(400)
    expect(noName.body.message).toBe('Your request is missing fileName parameter.')
    const dots = await json(await t.upload({ file: Buffer.from('x'), fileName: 'y.txt', folder: '/a/../b' }))
    expect(dots.body).toMatchObject({ reason: 'INVALID_FOLDER_PATH', message: "'.' & '..' can not be used as folder-name" })
  })

  it('refuses a name longer than 255 bytes (the emulator stores each name as a file name on disk) with a 400, never a 500, and stores nothing', async () => {
    const long = 'é'.repeat(128) // 256 bytes in UTF-8
    const refusals = [
      await t.upload({ file: Buffer.from('x'), fileName: long, folder: '/long', useUniqueFileName: 'false' }),
      await t.upload({ file: Buffer.from('x'), fileName: 'a'.repeat(250) + '.txt', folder: '/long' }), // fits, but not with the unique suffix
      await t.upload({ file: Buffer.from('x'), fileName: 'f.txt', folder: `/long/${long}`, useUniqueFileName: 'false' }),
      await t.api('POST', '/v1/folder', { folderName: long, parentFolderPath: '/long' }),
    ]
    await t.put('/long/short.txt', 'x')
    refusals.push(
      await t.api('PUT', '/v1/files/rename', { filePath: '/long/short.txt', newFileName: long }),
      await t.api('POST', '/v1/files/copy', { sourceFilePath: '/long/short.txt', destinationPath: `/long/${long}` }),
    )
    for (const res of refusals) {
      expect(res.status).toBe(400)
      expect(((await res.json()) as { message: string }).message).toMatch(/longer than 255 bytes/)
    }
    expect((await (await t.api('GET', '/v1/files?path=/long&type=all')).json() as { name: string }[]).map((f) => f.name)).toEqual(['short.txt'])
    const deep = Array.from({ length: 20 }, () => 'b'.repeat(250)).join('/') // each name fits; the whole path does not fit the disk's 4096 bytes
    const tooDeep = await t.upload({ file: Buffer.from('x'), fileName: 'f.txt', folder: `/long/${deep}`, useUniqueFileName: 'false' })
    expect(tooDeep.status).toBe(400)
    expect(await tooDeep.json()).toMatchObject({ message: 'File path is too long.' })
    const longest = 'é'.repeat(125) + 'a.txt' // 255 bytes: still taken
    expect((await t.put('/long/' + longest, 'x')).name).toBe(longest)
  })

  it('keeps names as sent in permissive mode, except / and NUL', async () => {
    const r = await t.put('/names/Hello, 世界 (1)!.txt', 'x')
    expect(r.name).toBe('Hello, 世界 (1)!.txt')
    const slash = await json(await t.upload({ file: Buffer.from('x'), fileName: 'a/b.txt', folder: '/names', useUniqueFileName: 'false' }))
    expect(slash.body.name).toBe('a_b.txt')
    const dot = await json(await t.upload({ file: Buffer.from('x'), fileName: '..', useUniqueFileName: 'false' }))
    expect(dot.status).toBe(400)
  })

  it('streams a chunked body without Content-Length (as rclone sends)', async () => {
    const { body, contentType } = multipartBody({ file: { data: Buffer.from('chunked payload'), filename: 'c.txt' }, fileName: 'c.txt', useUniqueFileName: 'false' })
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(t.emu.url + '/api/v2/files/upload', {
        method: 'POST', headers: { authorization: basicAuth(), 'content-type': contentType, 'transfer-encoding': 'chunked' },
      }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      for (let i = 0; i < body.length; i += 7) req.write(body.subarray(i, i + 7))
      req.end()
    })
    expect(status).toBe(200)
    expect(await (await fetch(t.emu.urlEndpoint + '/c.txt')).text()).toBe('chunked payload')
  })

  it('needs the private key: 401 without, 403 with a wrong one; the password is ignored', async () => {
    const none = await json(await t.upload({ file: Buffer.from('x'), fileName: 'a.txt' }, { authorization: '' }))
    expect(none).toEqual({ status: 401, body: { message: 'Your request does not contain private API key.', help: expect.any(String) } })
    const wrong = await json(await t.upload({ file: Buffer.from('x'), fileName: 'a.txt' }, { authorization: basicAuth('private_wrong') }))
    expect(wrong).toEqual({ status: 403, body: { message: 'Your account cannot be authenticated.', help: expect.any(String) } })
    const v7 = await t.upload({ file: Buffer.from('x'), fileName: 'a.txt' }, { authorization: basicAuth(undefined, 'do_not_set') })
    expect(v7.status).toBe(200)
  })
})

describe('Upload API, urlUploads off', () => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator({ urlUploads: false }) })
  afterAll(async () => { await t.stop() })

  it('refuses a file given as a URL without fetching it', async () => {
    await t.put('/here.txt', 'here')
    const res = await t.upload({ file: t.emu.urlEndpoint + '/here.txt', fileName: 'copy.txt' })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { message: string }).message).toMatch(/^Your request contains invalid file parameter\. .*urlUploads off/)
    expect((await (await t.api('GET', '/v1/files')).json()) as unknown[]).toHaveLength(1)
  })
})

describe('Upload API, strict names', () => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator({ names: 'strict' }) })
  afterAll(async () => { await t.stop() })

  it('rewrites characters outside the documented set to _', async () => {
    const r = await t.put('/my folder!/Hello, 世界 (1).txt', 'x')
    expect(r.name).toBe('Hello__世界__1_.txt')
    expect(r.filePath).toBe('/my_folder_/Hello__世界__1_.txt')
  })
})

describe('Upload API, body larger than the limit', () => {
  it('answers 400 without buffering and keeps serving (connection drained)', async () => {
    const t = await startTestEmulator({ maxUploadBytes: 1024 })
    try {
      const res = await t.upload({ file: Buffer.alloc(8 * 1024 * 1024, 3), fileName: 'huge.bin' })
      expect(res.status).toBe(400)
      expect(((await res.json()) as { message: string }).message).toBe('Your request contains invalid file parameter. The file size exceeds 1024 bytes limit.')
      expect((await t.upload({ file: Buffer.from('ok'), fileName: 'ok.txt' })).status).toBe(200)
      expect((await (await t.api('GET', '/v1/files')).json()) as unknown[]).toHaveLength(1)
    } finally {
      await t.stop()
    }
  })

  it('a video has its own, larger limit (the plans: 25 MB for images and raw files, 100 MB for videos)', async () => {
    const t = await startTestEmulator({ maxUploadBytes: 1024, maxVideoUploadBytes: 4096 })
    try {
      const message = async (res: Response) => ((await res.json()) as { message: string }).message
      expect((await t.upload({ file: Buffer.alloc(3000, 1), fileName: 'clip.mp4', useUniqueFileName: 'false' })).status).toBe(200)
      const raw = await t.upload({ file: Buffer.alloc(3000, 1), fileName: 'blob.bin' })
      expect(raw.status).toBe(400)
      expect(await message(raw)).toBe('Your request contains invalid file parameter. The file size exceeds 1024 bytes limit.')
      const bigVideo = await t.upload({ fileName: 'big.mp4', file: { data: Buffer.alloc(5000, 1), filename: 'big.mp4' } })
      expect(bigVideo.status).toBe(400)
      expect(await message(bigVideo)).toBe('Your request contains invalid file parameter. The file size exceeds 4096 bytes limit.')
      const bigRaw = await t.upload({ fileName: 'big.bin', file: { data: Buffer.alloc(5000, 1), filename: 'big.bin' } })
      expect(await message(bigRaw)).toBe('Your request contains invalid file parameter. The file size exceeds 1024 bytes limit.')
      expect(((await (await t.api('GET', '/v1/files')).json()) as { name: string }[]).map((f) => f.name)).toEqual(['clip.mp4'])
    } finally {
      await t.stop()
    }
  })

  it('the video limit is the free plan\'s 100 MiB by default, never below the general one', () => {
    const base = { dataDir: 'd', privateKey: 'k', publicKey: 'p' }
    expect(resolveOptions(base)).toMatchObject({ maxUploadBytes: 26_214_400, maxVideoUploadBytes: 104_857_600 })
    expect(resolveOptions({ ...base, maxUploadBytes: 2 ** 31 })).toMatchObject({ maxVideoUploadBytes: 2 ** 31 })
  })
})
