/**
 * The hand-written SDK `imagekit` 6.0.0 as a client of the whole emulator: its Media API calls (hard-coded to
 * api.imagekit.io, routed here by sdk.ts) and its uploads. It speaks an older dialect than @imagekit/nodejs:
 * `GET /v1/files/` with a trailing slash, legacy `tags`/`name`/`includeFolder` list parameters, `tags` joined
 * by commas, `includeFileVersions` for copyFolder, errors as the JSON body plus `$ResponseMetadata`.
 */
import type ImageKitV6 from 'imagekit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { waitFor } from '../helpers/emulator.js'
import { expectFileObject, expectFolderObject, expectMetadata, expectUploadResponse } from './shapes.js'
import { fetchBytes, rejectionOf, routeV6MediaApiTo, useSdkEmulator, v6For, withOrig } from './sdk.js'

const env = useSdkEmulator()
let v6: ImageKitV6
let unroute: () => void

beforeAll(() => {
  v6 = v6For(env.t)
  unroute = routeV6MediaApiTo(env.t)
})
afterAll(() => {
  unroute?.()
})

const png = makePng(24, 18)

/** v6 rejects with the API's error body, its status in the non-enumerable `$ResponseMetadata`. */
async function v6Error(call: () => Promise<unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const e = (await rejectionOf(call)) as Record<string, unknown> & { $ResponseMetadata?: { statusCode: number } }
  return { status: e.$ResponseMetadata?.statusCode ?? 0, body: { ...e } }
}

async function jobDone(jobId: string): Promise<void> {
  await waitFor(async () => ((await v6.getBulkJobStatus(jobId)) as unknown as { status: string }).status === 'Completed' || undefined, `job ${jobId}`)
}

describe('imagekit 6 against the emulator', () => {
  let fileId: string

  it('uploads with tags, customCoordinates and responseFields', async () => {
    const r = await v6.upload({ file: png, fileName: 'a.png', folder: '/v6', useUniqueFileName: false, tags: ['red', 'pic'], customCoordinates: '1,2,3,4', responseFields: ['tags', 'customCoordinates'] })
    expectUploadResponse(r as never, { name: 'a.png', filePath: '/v6/a.png', size: png.length, width: 24, height: 18, tags: ['red', 'pic'], customCoordinates: '1,2,3,4' })
    expect(r.$ResponseMetadata.statusCode).toBe(200)
    fileId = r.fileId
    await v6.upload({ file: Buffer.from('text\n'), fileName: 'b.txt', folder: '/v6', useUniqueFileName: false, tags: ['doc'] })
    await v6.upload({ file: Buffer.from('deep\n'), fileName: 'c.txt', folder: '/v6/sub', useUniqueFileName: false })
  })

  it('lists with the legacy tags, name and includeFolder parameters, and with searchQuery, sort and paging', async () => {
    const names = (items: { name: string }[]) => items.map((i) => i.name)
    expect(names(await v6.listFiles({ path: '/v6', tags: ['pic', 'nothing'] }))).toEqual(['a.png'])
    expect(names(await v6.listFiles({ path: '/v6', tags: 'doc' }))).toEqual(['b.txt'])
    expect(names(await v6.listFiles({ path: '/v6', name: 'b.txt' }))).toEqual(['b.txt'])
    const withFolders = await v6.listFiles({ path: '/v6', includeFolder: true, sort: 'ASC_NAME' })
    expect(names(withFolders)).toEqual(['a.png', 'b.txt', 'sub'])
    expectFolderObject(withFolders[2] as never, { folderPath: '/v6/sub' })
    expect(names(await v6.listFiles({ path: '/v6', searchQuery: 'name : "b."' }))).toEqual(['b.txt'])
    expect(names(await v6.listFiles({ path: '/v6', fileType: 'image' }))).toEqual(['a.png'])
    expect(names(await v6.listFiles({ path: '/v6', sort: 'DESC_NAME', skip: 1, limit: 1 }))).toEqual(['a.png'])
  })

  it('gets details, versions and metadata (by fileId and by URL)', async () => {
    const details = await v6.getFileDetails(fileId)
    expectFileObject(details as never, { fileId, name: 'a.png', tags: ['red', 'pic'], customCoordinates: '1,2,3,4' })
    const versions = (await v6.getFileVersions(fileId)) as unknown as { versionInfo: { id: string } }[]
    expect(versions.map((v) => v.versionInfo.id)).toEqual([fileId])
    expect(await v6.getFileVersionDetails({ fileId, versionId: fileId })).toMatchObject({ fileId, type: 'file' })
    expectMetadata(await v6.getFileMetadata(fileId) as never, { width: 24, height: 18, format: 'png' })
    expectMetadata(await v6.getFileMetadata(`${env.t.urlEndpoint}/v6/a.png`) as never, { width: 24, height: 18 })
  })

  it('updates details and tags in bulk, AI tags included', async () => {
    expect(await v6.updateFileDetails(fileId, { tags: ['x'], customCoordinates: null as never })).toMatchObject({ tags: ['x'], customCoordinates: null })
    expect(await v6.bulkAddTags([fileId], ['y'])).toEqual({ successfullyUpdatedFileIds: [fileId] })
    expect(await v6.bulkRemoveTags([fileId], ['x'])).toEqual({ successfullyUpdatedFileIds: [fileId] })
    expect(await v6.bulkRemoveAITags([fileId], ['none'])).toEqual({ successfullyUpdatedFileIds: [fileId] })
    expect((await v6.getFileDetails(fileId)).tags).toEqual(['y'])
  })

  it('copies, moves and renames a file (purgeCache answers a purgeRequestId)', async () => {
    await v6.copyFile({ sourceFilePath: '/v6/b.txt', destinationPath: '/v6-copy', includeFileVersions: false })
    await v6.moveFile({ sourceFilePath: '/v6-copy/b.txt', destinationPath: '/v6-moved' })
    const renamed = await v6.renameFile({ filePath: '/v6-moved/b.txt', newFileName: 'renamed.txt', purgeCache: true })
    expect(typeof renamed.purgeRequestId).toBe('string')
    expect((await fetchBytes(withOrig(`${env.t.urlEndpoint}/v6-moved/renamed.txt`))).bytes.toString()).toBe('text\n')
  })

  it('copies a folder with its files\' old versions when asked with includeFileVersions (copyFolder)', async () => {
    await v6.upload({ file: Buffer.from('one\n'), fileName: 'v.txt', folder: '/v6-versions/src', useUniqueFileName: false })
    await v6.upload({ file: Buffer.from('two\n'), fileName: 'v.txt', folder: '/v6-versions/src', useUniqueFileName: false })
    const { jobId } = await v6.copyFolder({ sourceFolderPath: '/v6-versions/src', destinationPath: '/v6-versions/dst', includeFileVersions: true })
    await jobDone(jobId)
    const [copy] = await v6.listFiles({ path: '/v6-versions/dst/src' })
    expect(copy).toMatchObject({ name: 'v.txt' })
    const versions = (await v6.getFileVersions((copy as { fileId: string }).fileId)) as unknown as unknown[]
    expect(versions).toHaveLength(2)
  })

  it('creates, moves and deletes folders', async () => {
    expect(await v6.createFolder({ folderName: 'made', parentFolderPath: '/v6' })).toEqual({})
    const { jobId } = await v6.moveFolder({ sourceFolderPath: '/v6/made', destinationPath: '/v6/sub' })
    await jobDone(jobId)
    expect((await v6.listFiles({ path: '/v6/sub', type: 'folder' })).map((f) => f.name)).toEqual(['made'])
    await v6.deleteFolder('/v6/sub/made')
    expect(await v6.listFiles({ path: '/v6/sub', type: 'folder' })).toEqual([])
  })

  it('purges the cache and reads the purge status', async () => {
    const { requestId } = await v6.purgeCache(`${env.t.urlEndpoint}/v6/a.png`)
    expect(['Pending', 'Completed']).toContain((await v6.getPurgeCacheStatus(requestId)).status)
  })

  it('manages custom metadata fields', async () => {
    const field = await v6.createCustomMetadataField({ name: 'score', label: 'Score', schema: { type: 'Number', minValue: 0, maxValue: 10 } })
    expect(field).toMatchObject({ id: expect.any(String), name: 'score' })
    expect(await v6.getCustomMetadataFields({ includeDeleted: false })).toContainEqual(expect.objectContaining({ id: field.id }))
    expect(await v6.updateCustomMetadataField(field.id, { label: 'Points' })).toMatchObject({ label: 'Points' })
    await v6.deleteCustomMetadataField(field.id)
  })

  it('deletes files one by one and in bulk; errors carry the status and the API\'s body', async () => {
    await v6.deleteFile(fileId)
    expect(await v6Error(() => v6.getFileDetails(fileId))).toEqual({ status: 404, body: { message: 'The requested file does not exist.', help: expect.any(String) } })
    expect(await v6Error(() => v6.bulkDeleteFiles([fileId]) as Promise<unknown>)).toMatchObject({ status: 404, body: { missingFileIds: [fileId] } })
    const wrong = v6For(env.t, `${env.t.privateKey}x`)
    expect(await v6Error(() => wrong.listFiles({}))).toMatchObject({ status: 403, body: { message: 'Your account cannot be authenticated.' } })
  })
})
