/** Media API (§4): list/search params, details, tags, copy/move/rename, versions, folders, jobs, purge, metadata, usage, 429. */
import { createServer, get as httpGet } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { ManualClock, systemClock } from '../../../src/clock.js'
import { JobRegistry } from '../../../src/emulator/jobs.js'
import { createLogger } from '../../../src/log.js'
import { basicAuth, makePng, startTestEmulator, waitFor, WatchedClock, webhookReceiver, type TestEmulator } from './helpers.js'

type Obj = Record<string, unknown>

describe('Media API', () => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator({ jobPendingMs: 50 }) })
  afterAll(async () => { await t.stop() })

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await t.api(method, path, body)
    const text = await res.text()
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any, headers: res.headers }
  }

  it.each([
    ['skip=-1', 'The value of skip parameter should be greater than or equal to 0. Value sent is -1.'],
    ['limit=0', 'Minimum value of limit parameter is 1. Value sent is 0.'],
    ['limit=2000', 'Maximum value of limit parameter is 1000. Value sent is 2000.'],
    ['sort=SIDEWAYS', 'Your request contains invalid value for sort parameters.'],
    ['type=nope', 'Your request contains invalid value for type parameter. Please provide one of the following: file, file-version, folder, all.'],
  ])('GET /v1/files?%s → 400 with the exact message', async (query, message) => {
    expect(await call('GET', '/v1/files?' + query)).toMatchObject({ status: 400, body: { message, help: 'For support kindly contact us at support@imagekit.io.' } })
  })

  it('lists one level, hides folders and versions by default, and serves the v2 and trailing-slash aliases', async () => {
    await t.put('/lst/a.txt', 'a')
    await t.put('/lst/sub/b.txt', 'b')
    await t.put('/lst/a.txt', 'a2')
    const files = (await call('GET', '/v1/files?path=/lst/')).body as Obj[]
    expect(files.map((f) => f.filePath)).toEqual(['/lst/a.txt'])
    const all = (await call('GET', '/v2/files?type=all&path=lst')).body as Obj[]
    expect(all.map((f) => f.type).sort()).toEqual(['file', 'folder'])
    const versions = (await call('GET', '/v1/files/?type=file-version&path=/lst')).body as Obj[]
    expect(versions).toHaveLength(1)
    expect(versions[0]).toMatchObject({ type: 'file-version', versionInfo: { name: 'Version 1' } })
    expect((await call('GET', '/v1/files?path=/missing')).body).toEqual([])
  })

  it('details GET/PATCH, 400 for malformed ids and 404 for unknown ones', async () => {
    const up = await t.put('/det/x.png', makePng(5, 7))
    const id = up.fileId as string
    const details = (await call('GET', `/v1/files/${id}/details`)).body
    expect(details).toMatchObject({ type: 'file', fileId: id, name: 'x.png', filePath: '/det/x.png', width: 5, height: 7, mime: 'image/png', fileType: 'image', tags: null, customMetadata: {} })
    expect(details.url).toMatch(/\/det\/x\.png\?updatedAt=\d+$/)
    expect(details.thumbnail).toBe(details.url + '&tr=n-ik_ml_thumbnail')
    expect(await call('POST', '/v1/customMetadataFields', { name: 'a', label: 'A', schema: { type: 'Number' } })).toMatchObject({ status: 201 })
    const patched = await call('PATCH', `/v1/files/${id}/details`, { tags: ['t1', 't2'], customCoordinates: '1,2,3,4', customMetadata: { a: 1 } })
    expect(patched.body).toMatchObject({ tags: ['t1', 't2'], customCoordinates: '1,2,3,4', customMetadata: { a: 1 } })
    const cleared = await call('PATCH', `/v1/files/${id}/details`, { tags: null, customMetadata: { a: null } })
    expect(cleared.body).toMatchObject({ tags: null, customMetadata: {} })
    expect((await call('PATCH', `/v1/files/${id}/details`, { tags: 'notalist' })).status).toBe(400)
    expect(await call('GET', '/v1/files/bad%20id!/details')).toMatchObject({ status: 400, body: { message: 'Your request contains invalid fileId parameter.' } })
    expect(await call('GET', '/v1/files/aaaaaaaaaaaaaaaaaaaaaaaa/details')).toMatchObject({ status: 404, body: { message: 'The requested file does not exist.' } })
    const meta = await call('GET', `/v1/files/${id}/metadata`)
    expect(meta.body).toMatchObject({ width: 5, height: 7, format: 'png', hasTransparency: false })
    const byUrl = await call('GET', '/v1/metadata?url=' + encodeURIComponent(t.emu.urlEndpoint + '/det/x.png'))
    expect(byUrl.body).toMatchObject({ width: 5, height: 7 })
    for (const elsewhere of ['https://elsewhere.example/x.png', t.emu.urlEndpoint.replace('127.0.0.1', 'elsewhere.example') + '/det/x.png']) {
      expect(await call('GET', '/v1/metadata?url=' + encodeURIComponent(elsewhere))).toMatchObject({
        status: 400, body: { message: 'The url should be accessible using your ImageKit.io account.' },
      })
    }
  })

  it('a folder job whose paths would not fit the disk is refused at once (400), not left to fail as a job', async () => {
    const inner = `/fit/src/${'i'.repeat(250)}/${'j'.repeat(250)}`
    await t.put(`${inner}/f.txt`, 'f')
    const destination = '/fit/' + Array.from({ length: 15 }, () => 'd'.repeat(250)).join('/') // about 3,770 bytes: fits, but not with 500 more
    expect((await call('POST', '/v1/folder', { folderName: 'e', parentFolderPath: destination })).status).toBe(201)
    for (const [route, body] of [
      ['/v1/bulkJobs/copyFolder', { sourceFolderPath: '/fit/src', destinationPath: destination }],
      ['/v1/bulkJobs/moveFolder', { sourceFolderPath: '/fit/src', destinationPath: destination }],
    ] as const) {
      expect(await call('POST', route, body), route).toMatchObject({ status: 400, body: { message: 'File path is too long.' } })
    }
    expect((await call('GET', `/v1/files?path=${encodeURIComponent(inner)}`)).body).toHaveLength(1)
  })

  it('folders nest at most 50 deep (the docs\' limit): a create, an upload or a folder job that would go deeper is refused (400), none is made', async () => {
    const deep = (n: number) => '/nest/' + Array.from({ length: n - 1 }, (_, i) => `d${i + 2}`).join('/') // n folders deep
    expect((await call('POST', '/v1/folder', { folderName: 'd50', parentFolderPath: deep(49) })).status).toBe(201)
    expect(await call('POST', '/v1/folder', { folderName: 'd51', parentFolderPath: deep(50) })).toMatchObject({
      status: 400, body: { message: 'Folder path can not be more than 50 levels deep.', reason: 'INVALID_FOLDER_PATH' },
    })
    expect((await t.upload({ file: Buffer.from('x'), fileName: 'f.txt', folder: deep(51), useUniqueFileName: 'false' })).status).toBe(400)
    expect((await t.put(`${deep(50)}/in50.txt`, 'x')).filePath).toBe(`${deep(50)}/in50.txt`) // a file may sit in the 50th
    // A tree two folders high moved or copied under a 49-deep folder would reach 51.
    await t.put('/nestsrc/a/b/f.txt', 'f')
    for (const route of ['/v1/bulkJobs/copyFolder', '/v1/bulkJobs/moveFolder']) {
      expect(await call('POST', route, { sourceFolderPath: '/nestsrc/a', destinationPath: deep(49) }), route).toMatchObject({
        status: 400, body: { message: 'Folder path can not be more than 50 levels deep.', reason: 'INVALID_DESTINATION_PATH' },
      })
    }
    expect((await call('GET', `/v1/files?type=folder&path=${encodeURIComponent(deep(49))}`)).body.map((f: Obj) => f.name)).toEqual(['d50'])
    expect((await call('GET', `/v1/files?type=all&path=${encodeURIComponent(deep(50))}`)).body.map((f: Obj) => f.name)).toEqual(['in50.txt'])
    expect((await call('GET', '/v1/files?type=folder&path=/nestsrc/a')).body.map((f: Obj) => f.name)).toEqual(['b'])
  })

  it('--max-folder-depth sets that limit', async () => {
    const low = await startTestEmulator({ maxFolderDepth: 2 })
    try {
      expect((await low.api('POST', '/v1/folder', { folderName: 'b', parentFolderPath: '/a' })).status).toBe(201)
      expect((await low.api('POST', '/v1/folder', { folderName: 'c', parentFolderPath: '/a/b' })).status).toBe(400)
    } finally {
      await low.stop()
    }
  })

  it('a malformed percent-escape in a path parameter gets that endpoint\'s own error, not a 500', async () => {
    expect(await call('GET', '/v1/files/%ZZ/details')).toMatchObject({ status: 400, body: { message: 'Your request contains invalid fileId parameter.' } })
    expect(await call('GET', '/v1/bulkJobs/%E0%A4%A')).toMatchObject({ status: 404, body: { message: 'The requested job does not exist.' } })
    expect(await call('GET', '/v1/files/purge/%')).toMatchObject({ status: 400, body: { message: 'No request found for this requestId.' } })
    expect((await call('PATCH', '/v1/customMetadataFields/%zz', { label: 'x' })).status).toBe(404)
  })

  it('addTags keeps every file within the 500-character tag total, or changes none', async () => {
    const full = (await t.put('/tags500/full.txt', 'f', { tags: 'a'.repeat(300) })).fileId as string
    const empty = (await t.put('/tags500/empty.txt', 'e')).fileId as string
    const tooMuch = await call('POST', '/v1/files/addTags', { fileIds: [empty, full], tags: ['b'.repeat(200)] })
    expect(tooMuch).toMatchObject({ status: 400, body: { message: 'tags can not be longer than 500 characters in total.', reason: 'INVALID_PARAMETER' } })
    expect((await call('GET', `/v1/files/${empty}/details`)).body.tags).toBeNull()
    expect((await call('GET', `/v1/files/${full}/details`)).body.tags).toEqual(['a'.repeat(300)])
    expect((await call('POST', '/v1/files/addTags', { fileIds: [full], tags: ['b'.repeat(199), 'a'.repeat(300)] })).status).toBe(200)
    expect((await call('GET', `/v1/files/${full}/details`)).body.tags).toEqual(['a'.repeat(300), 'b'.repeat(199)])
  })

  it('tags in bulk, bulk delete with missing ids', async () => {
    const a = (await t.put('/tags/a.txt', 'a')).fileId as string
    const b = (await t.put('/tags/b.txt', 'b')).fileId as string
    expect((await call('POST', '/v1/files/addTags', { fileIds: [a, b], tags: ['x', 'y'] })).body).toEqual({ successfullyUpdatedFileIds: [a, b] })
    expect((await call('POST', '/v1/files/removeTags', { fileIds: [a], tags: ['x'] })).status).toBe(200)
    expect((await call('GET', `/v1/files/${a}/details`)).body.tags).toEqual(['y'])
    expect((await call('GET', `/v1/files/${b}/details`)).body.tags).toEqual(['x', 'y'])
    expect((await call('POST', '/v1/files/addTags', { fileIds: ['bbbbbbbbbbbbbbbbbbbbbbbb'], tags: ['x'] })).body).toMatchObject({ missingFileIds: ['bbbbbbbbbbbbbbbbbbbbbbbb'] })
    expect(await call('POST', '/v1/files/batch/deleteByFileIds', {})).toMatchObject({ status: 400, body: { message: 'fileIds parameter is missing.' } })
    expect(await call('POST', '/v1/files/batch/deleteByFileIds', { fileIds: [] })).toMatchObject({ status: 400, body: { message: 'fileIds is empty.' } })
    expect(await call('POST', '/v1/files/batch/deleteByFileIds', { fileIds: 'x' })).toMatchObject({ status: 400, body: { message: 'fileIds should be an Array.' } })
    expect(await call('POST', '/v1/files/batch/deleteByFileIds', { fileIds: Array(101).fill(a) })).toMatchObject({ status: 400, body: { message: 'fileIds cannot have more than 100 items.' } })
    expect(await call('POST', '/v1/files/batch/deleteByFileIds', { fileIds: [a, 'cccccccccccccccccccccccc'] })).toMatchObject({
      status: 404, body: { message: 'The requested file(s) does not exist.', missingFileIds: ['cccccccccccccccccccccccc'] },
    })
    expect((await call('POST', '/v1/files/batch/deleteByFileIds', { fileIds: [a, b] })).body).toEqual({ successfullyDeletedFileIds: [a, b] })
    expect((await call('DELETE', `/v1/files/${a}`)).status).toBe(404)
  })

  it('copy, move and rename (409 on an existing name; copy onto a same-named file adds a version)', async () => {
    const src = await t.put('/cm/src/f.txt', 'source')
    await t.put('/cm/dst/f.txt', 'dest')
    expect((await call('POST', '/v1/files/copy', { sourceFilePath: '/cm/src/f.txt', destinationPath: '/cm/dst/' })).status).toBe(204)
    const dst = (await call('GET', '/v1/files?path=/cm/dst')).body as Obj[]
    expect(dst[0]).toMatchObject({ versionInfo: { name: 'Version 2' } })
    expect(await (await fetch(dst[0]!.url as string)).text()).toBe('source')
    expect(await call('POST', '/v1/files/copy', { sourceFilePath: '/cm/none.txt', destinationPath: '/cm' })).toMatchObject({
      status: 404, body: { reason: 'SOURCE_FILE_MISSING', message: 'No file found with filePath `/cm/none.txt`.' },
    })
    expect((await call('POST', '/v1/files/copy', { destinationPath: '/cm' })).body.reason).toBe('MISSING_PARAMETER')
    expect((await call('POST', '/v1/files/move', { sourceFilePath: '/cm/src/f.txt', destinationPath: '/cm/src' })).body.reason).toBe('SAME_SOURCE_AND_DESTINATION')
    expect((await call('POST', '/v1/files/move', { sourceFilePath: '/cm/src/f.txt', destinationPath: '/cm/moved' })).status).toBe(204)
    const moved = (await call('GET', `/v1/files/${src.fileId as string}/details`)).body
    expect(moved.filePath).toBe('/cm/moved/f.txt')
    await t.put('/cm/moved/g.txt', 'g')
    expect(await call('PUT', '/v1/files/rename', { filePath: '/cm/moved/f.txt', newFileName: 'g.txt' })).toMatchObject({
      status: 409, body: { reason: 'FILE_ALREADY_EXISTS' },
    })
    expect((await call('PUT', '/v1/files/rename', { filePath: '/cm/moved/f.txt', newFileName: 'f.txt' })).body.reason).toBe('SAME_OLD_AND_NEW_NAME')
    expect((await call('PUT', '/v1/files/rename', { filePath: '/cm/nope.txt', newFileName: 'x.txt' })).body).toMatchObject({ reason: 'FILE_MISSING' })
    expect(await call('PUT', '/v1/files/rename', { filePath: '/cm/moved/f.txt', newFileName: 'h.txt' })).toMatchObject({ status: 200, body: {} })
    expect(await (await fetch(t.emu.urlEndpoint + '/cm/moved/h.txt')).text()).toBe('source')
  })

  it('versions: list, get, delete (not the current one), restore', async () => {
    const v1 = await t.put('/ver/doc.txt', 'one')
    await t.put('/ver/doc.txt', 'two')
    await t.put('/ver/doc.txt', 'three')
    const id = v1.fileId as string
    const list = (await call('GET', `/v1/files/${id}/versions`)).body as Obj[]
    expect(list.map((v) => [v.type, (v.versionInfo as Obj).name])).toEqual([['file-version', 'Version 1'], ['file-version', 'Version 2'], ['file', 'Version 3']])
    expect((list[0]!.versionInfo as Obj).id).toBe(id)
    const v2id = (list[1]!.versionInfo as Obj).id as string
    expect((await call('GET', `/v1/files/${id}/versions/${v2id}`)).body).toMatchObject({ type: 'file-version', fileId: id })
    expect((await call('GET', `/v1/files/${id}/versions/dddddddddddddddddddddddd`)).body.message).toBe('The requested file version does not exist.')
    const currentId = (list[2]!.versionInfo as Obj).id as string
    expect((await call('DELETE', `/v1/files/${id}/versions/${currentId}`)).body.message).toBe('You cannot delete current version of a file.')
    const restored = await call('PUT', `/v1/files/${id}/versions/${v2id}/restore`)
    expect(restored.body).toMatchObject({ type: 'file', versionInfo: { id: v2id, name: 'Version 2' } })
    expect(await (await fetch(restored.body.url)).text()).toBe('two')
    expect((await call('DELETE', `/v1/files/${id}/versions/${id}`)).status).toBe(204)
    expect(((await call('GET', `/v1/files/${id}/versions`)).body as Obj[]).map((v) => (v.versionInfo as Obj).name)).toEqual(['Version 2', 'Version 3'])
    expect((await call('DELETE', `/v1/files/${id}/versions/${id}`)).body.message).toBe('The requested asset does not exist.')
  })

  it('folders: create (idempotent), dot names refused, delete recursively, 404 when missing', async () => {
    expect(await call('POST', '/v1/folder', { folderName: 'new', parentFolderPath: '/fold/deep/' })).toMatchObject({ status: 201, body: {} })
    expect((await call('POST', '/v1/folder', { folderName: 'new', parentFolderPath: '/fold/deep' })).status).toBe(201)
    expect(await call('POST', '/v1/folder', { folderName: '..', parentFolderPath: '/' })).toMatchObject({
      status: 400, body: { reason: 'INVALID_FOLDER_PATH', message: "'.' & '..' can not be used as folder-name" },
    })
    await t.put('/fold/deep/new/f.txt', 'x')
    const folders = ((await call('GET', '/v1/files?type=folder&path=/fold/deep')).body as Obj[])
    expect(folders).toEqual([expect.objectContaining({ type: 'folder', name: 'new', folderPath: '/fold/deep/new', folderId: expect.any(String) })])
    expect((await call('DELETE', '/v1/folder', { folderPath: '/fold/' })).status).toBe(204)
    expect((await call('GET', '/v1/files?type=all&path=/fold')).body).toEqual([])
    expect(await call('DELETE', '/v1/folder', { folderPath: '/fold/' })).toMatchObject({
      status: 404, body: { reason: 'FOLDER_NOT_FOUND', message: 'No folder found with folderPath `/fold/`.' },
    })
  })

  it('folder jobs: copy, move, rename complete asynchronously', async () => {
    await t.put('/jobs/a/x.txt', 'x')
    await t.put('/jobs/a/inner/y.txt', 'y')
    await t.api('POST', '/v1/folder', { folderName: 'b', parentFolderPath: '/jobs' })
    const copy = await call('POST', '/v1/bulkJobs/copyFolder', { sourceFolderPath: '/jobs/a', destinationPath: '/jobs/b' })
    expect(copy.body).toEqual({ jobId: expect.any(String) })
    const first = (await call('GET', `/v1/bulkJobs/${copy.body.jobId as string}`)).body
    expect(first).toMatchObject({ jobId: copy.body.jobId, type: 'COPY_FOLDER' })
    await waitFor(async () => (await call('GET', `/v1/bulkJobs/${copy.body.jobId as string}`)).body.status === 'Completed')
    expect(await (await fetch(t.emu.urlEndpoint + '/jobs/b/a/inner/y.txt')).text()).toBe('y')
    expect((await call('POST', '/v1/bulkJobs/moveFolder', { sourceFolderPath: '/jobs/a', destinationPath: '/jobs/a/inner' })).body.reason).toBe('INVALID_DESTINATION_PATH')
    expect((await call('POST', '/v1/bulkJobs/moveFolder', { sourceFolderPath: '/', destinationPath: '/x' })).body.reason).toBe('SOURCE_IS_ROOT')
    expect(await call('POST', '/v1/bulkJobs/copyFolder', { sourceFolderPath: '/jobs/zz', destinationPath: '/x' })).toMatchObject({
      status: 404, body: { reason: 'NO_FILES_FOLDER', message: 'No files & folder found at sourceFolderPath `/jobs/zz`.' },
    })
    const move = await call('POST', '/v1/bulkJobs/moveFolder', { sourceFolderPath: '/jobs/b/a', destinationPath: '/jobs/c' })
    expect(move.status).toBe(200)
    await waitFor(async () => (await call('GET', `/v1/bulkJobs/${move.body.jobId as string}`)).body.status === 'Completed')
    expect(((await call('GET', '/v1/files?path=/jobs/c/a')).body as Obj[]).map((f) => f.name)).toEqual(['x.txt'])
    const rename = await call('POST', '/v1/bulkJobs/renameFolder', { folderPath: '/jobs/c/a', newFolderName: 'renamed', purgeCache: true })
    const status = (await call('GET', `/v1/bulkJobs/${rename.body.jobId as string}`)).body
    expect(status).toMatchObject({ type: 'RENAME_FOLDER', purgeRequestId: expect.any(String) })
    await waitFor(async () => (await call('GET', `/v1/bulkJobs/${rename.body.jobId as string}`)).body.status === 'Completed')
    expect(await (await fetch(t.emu.urlEndpoint + '/jobs/c/renamed/inner/y.txt')).text()).toBe('y')
    expect((await call('GET', '/v1/bulkJobs/eeeeeeeeeeeeeeeeeeeeeeee')).body.message).toBe('The requested job does not exist.')
  })

  it('purge status goes Pending → Completed; unknown ids are 400', async () => {
    const purge = await call('POST', '/v1/files/purge', { url: t.emu.urlEndpoint + '/x.txt' })
    expect(purge).toMatchObject({ status: 201, body: { requestId: expect.any(String) } })
    await waitFor(async () => (await call('GET', `/v1/files/purge/${purge.body.requestId as string}`)).body.status === 'Completed')
    expect(await call('GET', '/v1/files/purge/nope')).toMatchObject({ status: 400, body: { message: 'No request found for this requestId.' } })
  })

  it.each([
    ['', 'startDate and endDate are required in query parameters.'],
    ['startDate=2026-01-01', 'startDate and endDate are required in query parameters.'],
    ['startDate=01-01-2026&endDate=2026-02-01', 'startDate and endDate should be in format YYYY-MM-DD.'],
    ['startDate=2026-02-01&endDate=2026-01-01', 'startDate should be before endDate.'],
    ['startDate=2026-01-01&endDate=2026-06-01', 'startDate and endDate should be within 90 days.'],
    ['startDate=2026-01-01&endDate=2026-04-01', 'startDate and endDate should be within 90 days.'], // 90 days: the span must be shorter
  ])('usage ?%s → 400', async (query, message) => {
    expect(await call('GET', '/v1/accounts/usage?' + query)).toMatchObject({ status: 400, body: { message } })
  })

  it('usage over 89 days (end date excluded) is answered', async () => {
    expect((await call('GET', '/v1/accounts/usage?startDate=2026-01-01&endDate=2026-03-31')).status).toBe(200)
  })

  it('auth: 401 without a key, 403 with a wrong one', async () => {
    expect((await t.api('GET', '/v1/files', undefined, { authorization: '' })).status).toBe(401)
    const res = await t.api('GET', '/v1/files', undefined, { authorization: 'Basic ' + Buffer.from('private_x:').toString('base64') })
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ message: 'Your account cannot be authenticated.', help: 'For support kindly contact us at support@imagekit.io.' })
  })

  it('unknown routes are 404 JSON with a request id', async () => {
    const res = await call('GET', '/v1/nothing')
    expect(res.status).toBe(404)
    expect(res.headers.get('x-ik-requestid')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('Media API pending work: folder jobs and extensions', () => {
  const PENDING_MS = 1_000
  let clock: WatchedClock
  let t: TestEmulator
  beforeEach(async () => {
    clock = new WatchedClock(1_800_000_000_000)
    // usageCacheMs 0: the usage test counts units as they complete, not what the API's 6-hour cache shows.
    t = await startTestEmulator({ clock, jobPendingMs: PENDING_MS, usageCacheMs: 0 })
  })
  afterEach(async () => { await t.stop() })

  const json = async (method: string, path: string, body?: unknown): Promise<any> => (await t.api(method, path, body)).json()
  /** Every folder and file path in the library. */
  const tree = async (): Promise<string[]> => {
    const items = (await json('GET', '/v1/files?type=all')) as Obj[]
    return items.map((i) => (i.folderPath ?? i.filePath) as string).sort()
  }
  const jobStatus = async (jobId: string): Promise<string> => (await json('GET', `/v1/bulkJobs/${jobId}`)).status as string

  it.each([
    ['renameFolder', { folderPath: '/jb/src', newFolderName: 'dst' }, ['/jb', '/jb/dst', '/jb/dst/f.txt', '/jb/other']],
    ['moveFolder', { sourceFolderPath: '/jb/src', destinationPath: '/jb/other' }, ['/jb', '/jb/other', '/jb/other/src', '/jb/other/src/f.txt']],
    ['copyFolder', { sourceFolderPath: '/jb/src', destinationPath: '/jb/other' }, ['/jb', '/jb/other', '/jb/other/src', '/jb/other/src/f.txt', '/jb/src', '/jb/src/f.txt']],
  ])('%s: the tree is unchanged while the job is Pending and changes when it completes, polled or not', async (job, body, after) => {
    await t.put('/jb/src/f.txt', 'f')
    await t.api('POST', '/v1/folder', { folderName: 'other', parentFolderPath: '/jb' })
    const before = await tree()
    const { jobId } = await json('POST', `/v1/bulkJobs/${job}`, body)
    expect(await jobStatus(jobId)).toBe('Pending')
    expect(await tree()).toEqual(before)
    expect((await fetch(t.emu.urlEndpoint + '/jb/src/f.txt')).status).toBe(200)
    clock.advance(PENDING_MS - 1)
    expect(await tree()).toEqual(before)
    clock.advance(1)
    await waitFor(async () => JSON.stringify(await tree()) === JSON.stringify(after)) // no job poll before the change
    await waitFor(async () => (await jobStatus(jobId)) === 'Completed')
  })

  it('validation errors still answer the POST itself', async () => {
    await t.put('/jv/a/f.txt', 'f')
    await t.put('/jv/b/g.txt', 'g')
    expect((await t.api('POST', '/v1/bulkJobs/renameFolder', { folderPath: '/jv/a', newFolderName: 'b' })).status).toBe(409)
    expect((await t.api('POST', '/v1/bulkJobs/moveFolder', { sourceFolderPath: '/jv/none', destinationPath: '/jv/b' })).status).toBe(404)
    expect((await t.api('POST', '/v1/bulkJobs/copyFolder', { sourceFolderPath: '/jv/a', destinationPath: '/jv/a/x' })).status).toBe(400)
  })

  // The real service documents no failure state: with refusedJobsComplete such a job reads Completed.
  it.each([['Failed', false, 'jf'], ['Completed', true, 'jc']] as const)(
    'a job that the library no longer allows when it comes due reads %s and changes nothing',
    async (status, refusedJobsComplete, dir) => {
      t.emu.faults.set({ refusedJobsComplete })
      try {
        await t.put(`/${dir}/a/f.txt`, 'f')
        const { jobId } = await json('POST', '/v1/bulkJobs/renameFolder', { folderPath: `/${dir}/a`, newFolderName: 'b' })
        await t.put(`/${dir}/b/g.txt`, 'g')
        clock.advance(PENDING_MS)
        await waitFor(async () => (await jobStatus(jobId)) !== 'Pending')
        expect(await jobStatus(jobId)).toBe(status)
        expect(await tree()).toEqual([`/${dir}`, `/${dir}/a`, `/${dir}/a/f.txt`, `/${dir}/b`, `/${dir}/b/g.txt`])
      } finally {
        t.emu.faults.set({ refusedJobsComplete: false })
      }
    },
  )

  // Extensions answered `pending` (extensions.ts) wait the same time: when their stand-in results are stored, and on which version.
  const details = async (fileId: string): Promise<Obj> => (await t.api('GET', `/v1/files/${fileId}/details`)).json() as Promise<Obj>
  const tagging = JSON.stringify([{ name: 'google-auto-tagging', maxTags: 10, minConfidence: 0 }])

  it('results are stored when the pending time has passed, not before', async () => {
    const up = await t.put('/ext/a.png', makePng(8, 4), { extensions: tagging })
    expect(up.extensionStatus).toEqual({ 'google-auto-tagging': 'pending' })
    clock.advance(PENDING_MS - 1)
    expect((await details(up.fileId as string)).AITags).toBeNull()
    clock.advance(1)
    await waitFor(async () => (await details(up.fileId as string)).AITags !== null)
    const file = await details(up.fileId as string)
    expect((file.AITags as Obj[]).map((tag) => tag.name)).toEqual(['Image', 'PNG', 'Landscape'])
    expect(file.updatedAt).toBe(new Date(clock.now()).toISOString())
  })

  it('an extension with no stand-in result (remove-bg) leaves the file as it was: same updatedAt, same url', async () => {
    const bg = await t.put('/ext/bg.png', makePng(8, 8), { extensions: JSON.stringify([{ name: 'remove-bg' }]) })
    expect(bg.extensionStatus).toEqual({ 'remove-bg': 'pending' })
    const before = await details(bg.fileId as string)
    const marker = await t.put('/ext/marker.png', makePng(8, 8), { extensions: tagging }) // due at the same time
    clock.advance(PENDING_MS)
    await waitFor(async () => (await details(marker.fileId as string)).AITags !== null)
    expect(await details(bg.fileId as string)).toEqual(before)
  })

  it('a file overwritten while its extensions were pending: the new version gets nothing', async () => {
    const first = await t.put('/ext/over.png', makePng(8, 8), { extensions: tagging })
    await t.put('/ext/over.png', makePng(6, 6))
    const marker = await t.put('/ext/marker2.png', makePng(8, 8), { extensions: tagging })
    clock.advance(PENDING_MS)
    await waitFor(async () => (await details(marker.fileId as string)).AITags !== null)
    expect((await details(first.fileId as string)).AITags).toBeNull()
  })

  it('pending extensions survive a restart of the emulator and complete when due (the service keeps them)', async () => {
    const up = await t.put('/ext/restart.png', makePng(8, 4), { extensions: tagging })
    clock.advance(PENDING_MS / 2)
    await t.restart()
    expect((await details(up.fileId as string)).AITags).toBeNull()
    clock.advance(PENDING_MS / 2)
    await waitFor(async () => (await details(up.fileId as string)).AITags !== null)
    expect(((await details(up.fileId as string)).AITags as Obj[]).map((tag) => tag.name)).toEqual(['Image', 'PNG', 'Landscape'])
  })

  it('usage extensionUnitsCount: one unit per extension run that completed, on its day, within the window asked for', async () => {
    const day = new Date(clock.now()).toISOString().slice(0, 10)
    const next = new Date(clock.now() + 86_400_000).toISOString().slice(0, 10)
    const units = async (startDate: string, endDate: string) =>
      (await json('GET', `/v1/accounts/usage?startDate=${startDate}&endDate=${endDate}`)).extensionUnitsCount as number
    const two = JSON.stringify([{ name: 'google-auto-tagging', maxTags: 10, minConfidence: 0 }, { name: 'remove-bg' }])
    const up = await t.put('/ext/units.png', makePng(8, 4), { extensions: two })
    await t.put('/ext/units.txt', 'not an image', { extensions: tagging }) // failed at once: runs nothing
    expect(await units(day, next)).toBe(0)
    clock.advance(PENDING_MS)
    await waitFor(async () => (await details(up.fileId as string)).AITags !== null)
    expect(await units(day, next)).toBe(2)
    expect(await units(next, new Date(clock.now() + 2 * 86_400_000).toISOString().slice(0, 10))).toBe(0)
  })

  it('a pending extension posts its final status to webhookUrl when it completes: SUCCESS with the file object, one per extension', async () => {
    const hook = await webhookReceiver()
    try {
      const extensions = JSON.stringify([{ name: 'google-auto-tagging', maxTags: 10, minConfidence: 0 }, { name: 'remove-bg' }])
      const up = await t.put('/ext/hook.png', makePng(8, 4), { extensions, webhookUrl: hook.url })
      const gone = await t.put('/ext/hook-gone.png', makePng(8, 4), { extensions: tagging, webhookUrl: hook.url })
      await t.api('DELETE', `/v1/files/${gone.fileId as string}`)
      const patched = await json('PATCH', `/v1/files/${up.fileId as string}/details`, { extensions: [{ name: 'ai-auto-description' }], webhookUrl: hook.url })
      expect(patched.extensionStatus).toEqual({ 'ai-auto-description': 'pending' })
      expect(hook.bodies).toEqual([])
      clock.advance(PENDING_MS)
      await waitFor(() => hook.bodies.length === 4)
      const sent = hook.bodies.map((b) => b.body as Obj)
      for (const b of hook.bodies) expect(b).toMatchObject({ method: 'POST', contentType: 'application/json' })
      const byService = (service: string, fileId: string) => sent.find((b) => b.service === service && ((b.fileObject as Obj | undefined)?.fileId ?? b.fileId) === fileId)
      expect(byService('google-auto-tagging', up.fileId as string)).toMatchObject({
        status: 'SUCCESS', fileObject: { fileId: up.fileId, AITags: expect.arrayContaining([expect.objectContaining({ name: 'Image', source: 'google-auto-tagging' })]) },
      })
      expect(byService('remove-bg', up.fileId as string)).toMatchObject({ status: 'SUCCESS', fileObject: { fileId: up.fileId } })
      expect(byService('ai-auto-description', up.fileId as string)).toMatchObject({ status: 'SUCCESS', fileObject: { description: expect.any(String) } })
      expect(byService('google-auto-tagging', gone.fileId as string)).toEqual({
        service: 'google-auto-tagging', status: 'FAILURE', fileId: gone.fileId, error: { message: expect.any(String) },
      })
    } finally {
      await hook.close()
    }
  })

  it('webhooks: false (--no-webhooks) completes pending extensions and posts nothing', async () => {
    const hook = await webhookReceiver()
    try {
      await t.restart({ webhooks: false })
      const up = await t.put('/ext/quiet.png', makePng(8, 4), { extensions: tagging, webhookUrl: hook.url })
      const marker = await t.put('/ext/quiet-marker.png', makePng(8, 4), { extensions: tagging, webhookUrl: hook.url })
      clock.advance(PENDING_MS)
      await waitFor(async () => (await details(up.fileId as string)).AITags !== null && (await details(marker.fileId as string)).AITags !== null)
      expect(hook.bodies).toEqual([])
    } finally {
      await hook.close()
    }
  })

  it('a webhook answered other than 200 is tried again, spaced out (10 s, then 20 s), until it gets its 200', async () => {
    const hook = await webhookReceiver([500, 503])
    try {
      const up = await t.put('/ext/retry.png', makePng(8, 4), { extensions: tagging, webhookUrl: hook.url })
      clock.advance(PENDING_MS)
      await waitFor(() => hook.bodies.length === 1)
      for (const [tries, waitMs] of [[2, 10_000], [3, 20_000]] as const) {
        await waitFor(() => clock.sleeps.includes(waitMs))
        clock.advance(waitMs)
        await waitFor(() => hook.bodies.length === tries)
      }
      expect(hook.bodies.map((b) => (b.body as Obj).status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS'])
      expect(new Set(hook.bodies.map((b) => JSON.stringify(b.body))).size).toBe(1)
      expect(((hook.bodies[0]?.body as Obj).fileObject as Obj).fileId).toBe(up.fileId)
    } finally {
      await hook.close()
    }
  })
})

describe('account usage cache', () => {
  it('answers a date range with its first numbers for 6 hours, as the API caches them; another range, or after 6 h, the numbers as they are', async () => {
    const clock = new ManualClock(1_800_000_000_000)
    const t = await startTestEmulator({ clock })
    try {
      const day = (offset: number) => new Date(clock.now() + offset * 86_400_000).toISOString().slice(0, 10)
      const storage = async (start: string, end: string) =>
        ((await (await t.api('GET', `/v1/accounts/usage?startDate=${start}&endDate=${end}`)).json()) as { mediaLibraryStorageBytes: number }).mediaLibraryStorageBytes
      const [a, b, c] = [day(-30), day(1), day(-29)]
      await t.put('/usage/one.bin', Buffer.alloc(100))
      expect(await storage(a, b)).toBe(100)
      await t.put('/usage/two.bin', Buffer.alloc(50))
      clock.advance(6 * 3_600_000 - 1)
      expect(await storage(a, b)).toBe(100)
      expect(await storage(c, b)).toBe(150)
      clock.advance(1)
      expect(await storage(a, b)).toBe(150)
    } finally {
      await t.stop()
    }
  })
})

describe('folder job timers', () => {
  afterEach(() => { vi.useRealTimers() })

  it('a job still pending when the registry closes never runs, and leaves no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const before = vi.getTimerCount()
    const jobs = new JobRegistry(systemClock, 60_000, createLogger({ level: 'silent' }))
    let ran = false
    const id = jobs.addJob('RENAME_FOLDER', async () => {
      ran = true
    })
    expect(jobs.job(id)?.status).toBe('Pending')
    expect(vi.getTimerCount()).toBe(before + 1)
    jobs.close()
    expect(vi.getTimerCount()).toBe(before)
    vi.useRealTimers()
    const manual = new ManualClock(0)
    const manualJobs = new JobRegistry(manual, 60_000, createLogger({ level: 'silent' }))
    manualJobs.addJob('RENAME_FOLDER', async () => {
      ran = true
    })
    manualJobs.close()
    manual.advance(60_000) // a clock that does not watch the abort signal
    await new Promise((resolve) => setImmediate(resolve))
    expect(ran).toBe(false)
  })
})

describe('Media API rate limit', () => {
  it('spells the headers on the wire as the reference does: x-ik-requestId, X-RateLimit-Limit/-Reset/-Interval (a 429 and a 2xx)', async () => {
    const t = await startTestEmulator({ rateLimit: { perSecond: 1 } })
    try {
      const rawHeaderNames = (path: string) => new Promise<{ status: number; names: string[] }>((resolve, reject) => {
        httpGet(t.emu.url + path, { headers: { authorization: basicAuth() } }, (res) => {
          res.resume()
          resolve({ status: res.statusCode ?? 0, names: res.rawHeaders.filter((_h, i) => i % 2 === 0) })
        }).on('error', reject)
      })
      const answers = [await rawHeaderNames('/v1/files'), await rawHeaderNames('/v1/files')]
      expect(answers.map((a) => a.status).sort()).toEqual([200, 429])
      for (const { names } of answers) expect(names).toEqual(expect.arrayContaining(['x-ik-requestId', 'X-RateLimit-Limit', 'X-RateLimit-Reset', 'X-RateLimit-Interval']))
    } finally {
      await t.stop()
    }
  })

  /** A 429 of the limiter: the three limit headers, for a budget of `limit` a second. */
  function expectRefusedWithLimits(res: Response, limit: number): void {
    expect(res.status).toBe(429)
    expect(res.headers.get('x-ratelimit-limit')).toBe(String(limit))
    expect(res.headers.get('x-ratelimit-interval')).toBe('1000')
    expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0)
  }

  it('rateLimitHeaders 429 (the spec\'s reading): a 2xx or a 404 carries no X-RateLimit-* header, a 429 all three', async () => {
    const t = await startTestEmulator({ rateLimit: { perSecond: 1 }, rateLimitHeaders: '429' })
    try {
      const names = ['x-ratelimit-limit', 'x-ratelimit-reset', 'x-ratelimit-interval']
      const ok = await t.api('GET', '/v1/files')
      expect(ok.status).toBe(200)
      for (const name of names) expect(ok.headers.get(name), name).toBeNull()
      t.emu.faults.set({ rateLimitStorm: true })
      expectRefusedWithLimits(await t.api('GET', '/v1/files/aaaaaaaaaaaaaaaaaaaaaaaa/details'), 1)
      t.emu.faults.set({ rateLimitStorm: false, rateLimit: { perSecond: 0 } })
      const missing = await t.api('GET', '/v1/files/aaaaaaaaaaaaaaaaaaaaaaaa/details')
      expect(missing.status).toBe(404)
      for (const name of names) expect(missing.headers.get(name), name).toBeNull()
    } finally {
      await t.stop()
    }
  })

  it('answers 429 with the limit headers once the per-second budget is spent; uploads are not limited', async () => {
    const clock = new ManualClock(1_800_000_000_000)
    const t = await startTestEmulator({ rateLimit: { perSecond: 3 }, clock })
    try {
      t.emu.faults.set({ rateLimitStorm: true })
      const res = await t.api('GET', '/v1/files')
      expectRefusedWithLimits(res, 3)
      expect(await res.json()).toEqual({ message: expect.any(String), help: 'For support kindly contact us at support@imagekit.io.' })
      expect((await t.upload({ file: Buffer.from('x'), fileName: 'u.txt' })).status).toBe(200)
      t.emu.faults.set({ rateLimitStorm: false })
      const statuses: number[] = []
      for (let i = 0; i < 8; i++) statuses.push((await t.api('GET', '/v1/files')).status)
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429])
      clock.advance(1000)
      const ok = await t.api('GET', '/v1/files')
      expect(ok.status).toBe(200)
      expect(ok.headers.get('x-ratelimit-limit')).toBe('3')
      expect(ok.headers.get('x-ratelimit-interval')).toBe('1000')
      expect(ok.headers.get('x-ratelimit-reset')).toBe('1000')
      clock.advance(250)
      const failed = await t.api('GET', '/v1/files/aaaaaaaaaaaaaaaaaaaaaaaa/details')
      expect(failed.status).toBe(404)
      expect(failed.headers.get('x-ratelimit-reset')).toBe('750')
      clock.advance(1000)
      expect((await t.api('GET', '/v1/files')).status).toBe(200)
    } finally {
      await t.stop()
    }
  })
})

describe('publicUrlBase', () => {
  it('puts url and thumbnail on the given base, same path layout', async () => {
    const t = await startTestEmulator({ publicUrlBase: 'http://127.0.0.1:9/static/' })
    try {
      await t.put('/pub/a b.txt', 'x')
      const [file] = (await (await t.api('GET', '/v1/files?path=/pub')).json()) as { url: string; thumbnail: string }[]
      expect(file!.url).toMatch(/^http:\/\/127\.0\.0\.1:9\/static\/pub\/a%20b\.txt\?updatedAt=\d+$/)
      expect(file!.thumbnail).toBe(file!.url + '&tr=n-ik_ml_thumbnail')
    } finally {
      await t.stop()
    }
  })
})
