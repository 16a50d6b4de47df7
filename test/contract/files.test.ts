/**
 * Files through the official SDK (@imagekit/nodejs 7.11.0) against the emulator: upload, list/search,
 * details, update, rename, move, copy, delete, bulk delete, bulk tags and metadata. Section numbers refer to
 * shared/imagekit-api.md.
 */
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BadRequestError, ImageKit, NotFoundError, toFile } from '@imagekit/nodejs'
import { beforeAll, describe, expect, it } from 'vitest'
import { makeJpeg, makePng } from '../../src/emulator/seed/images.js'
import { expectFileObject, expectFolderObject, expectMetadata, expectUploadResponse } from './shapes.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { fetchBytes, noContent, rejectionOf, sdkFor, uploadBytes, withOrig, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

const alphaPng = makePng(64, 48, { alpha: true })
const jpeg = makeJpeg(32, 24)

describe('upload (§4.18)', () => {
  it('takes a Buffer through toFile and answers the upload shape (§2.3)', async () => {
    const r = await env.ik.files.upload({
      file: await toFile(alphaPng, 'pic.png'),
      fileName: 'pic.png',
      folder: '/contract/up',
      useUniqueFileName: false,
      tags: ['red', 'green'],
    })
    expectUploadResponse(r, {
      name: 'pic.png',
      filePath: '/contract/up/pic.png',
      size: alphaPng.length,
      fileType: 'image',
      width: 64,
      height: 48,
      versionInfo: { id: r.fileId!, name: 'Version 1' },
    })
    expect(r.url?.startsWith(`${env.t.urlEndpoint}/contract/up/pic.png`)).toBe(true)
    const delivered = await fetchBytes(withOrig(r.url!))
    expect(delivered.status).toBe(200)
    expect(delivered.bytes.equals(alphaPng)).toBe(true)
  })

  it('takes a file stream', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ikfs-contract-'))
    const local = join(dir, 'streamed.jpg')
    await writeFile(local, jpeg)
    const r = await env.ik.files
      .upload({ file: createReadStream(local), fileName: 'streamed.jpg', folder: '/contract/up', useUniqueFileName: false })
      .finally(() => rm(dir, { recursive: true, force: true }))
    expectUploadResponse(r, { name: 'streamed.jpg', size: jpeg.length, fileType: 'image', width: 32, height: 24 })
    expect((await fetchBytes(withOrig(r.url!))).bytes.equals(jpeg)).toBe(true)
  })

  it('adds a unique suffix by default (useUniqueFileName defaults to true)', async () => {
    const r = await env.ik.files.upload({ file: await toFile(Buffer.from('x\n'), 'dup.txt'), fileName: 'dup.txt', folder: '/contract/up' })
    expectUploadResponse(r, { fileType: 'non-image' })
    expect(r.name).toMatch(/^dup_[A-Za-z0-9_-]{6,12}\.txt$/)
    expect(r.filePath).toBe(`/contract/up/${r.name}`)
  })

  it('returns the optional fields asked for in responseFields', async () => {
    const r = await uploadBytes(env.ik, '/contract/up', 'fields.png', alphaPng, {
      tags: ['t1'],
      customCoordinates: '1,2,3,4',
      isPrivateFile: false,
      responseFields: ['tags', 'customCoordinates', 'isPrivateFile', 'metadata'],
    })
    expectUploadResponse(r, { tags: ['t1'], customCoordinates: '1,2,3,4', isPrivateFile: false })
    expectMetadata(r.metadata!, { width: 64, height: 48, format: 'png', hasTransparency: true })
  })
})

describe('upload folder forms (§5.1)', () => {
  it('takes a folder without a leading slash from the root, and a trailing slash as the same folder', async () => {
    const relative = await uploadBytes(env.ik, 'contract/relative', 'r.txt', Buffer.from('r\n'))
    expect(relative.filePath).toBe('/contract/relative/r.txt')
    const trailing = await uploadBytes(env.ik, '/contract/relative/', 's.txt', Buffer.from('s\n'))
    expect(trailing.filePath).toBe('/contract/relative/s.txt')
  })
})

describe('list and search (§4.1)', () => {
  const folder = '/contract/list'
  const sizes = { 'a.txt': 5, 'b.png': 0, 'c.jpg': 0 }
  beforeAll(async () => {
    await uploadBytes(env.ik, folder, 'a.txt', Buffer.from('aaaa\n'), { tags: ['doc'] })
    sizes['b.png'] = (await uploadBytes(env.ik, folder, 'b.png', alphaPng, { tags: ['red', 'pic'] })).size!
    sizes['c.jpg'] = (await uploadBytes(env.ik, folder, 'c.jpg', jpeg, { tags: ['pic'] })).size!
    await uploadBytes(env.ik, `${folder}/sub`, 'd.txt', Buffer.from('nested\n'))
  })
  const names = (items: (ImageKit.File | ImageKit.Folder)[]): (string | undefined)[] => items.map((i) => i.name)

  it('lists the files directly in a folder (one level, files only by default)', async () => {
    const items = await env.ik.assets.list({ path: folder, sort: 'ASC_NAME' })
    expect(names(items)).toEqual(['a.txt', 'b.png', 'c.jpg'])
    for (const item of items) expectFileObject(item as ImageKit.File, { type: 'file' })
    expect(items[1]).toMatchObject({ filePath: `${folder}/b.png`, mime: 'image/png', width: 64, height: 48, hasAlpha: true, tags: ['red', 'pic'] })
    expect(items[0]).toMatchObject({ fileType: 'non-image', size: 5 })
  })

  it('includes folders with type=all and only folders with type=folder', async () => {
    const all = await env.ik.assets.list({ path: folder, type: 'all', sort: 'ASC_NAME' })
    expect(names(all).sort()).toEqual(['a.txt', 'b.png', 'c.jpg', 'sub'])
    const folders = await env.ik.assets.list({ path: folder, type: 'folder' })
    expect(folders).toHaveLength(1)
    expectFolderObject(folders[0]!, { name: 'sub', folderPath: `${folder}/sub` })
  })

  it('accepts the path with a trailing slash', async () => {
    expect(names(await env.ik.assets.list({ path: `${folder}/`, sort: 'ASC_NAME' }))).toEqual(['a.txt', 'b.png', 'c.jpg'])
  })

  it('filters by fileType', async () => {
    expect(names(await env.ik.assets.list({ path: folder, fileType: 'image', sort: 'ASC_NAME' }))).toEqual(['b.png', 'c.jpg'])
    expect(names(await env.ik.assets.list({ path: folder, fileType: 'non-image' }))).toEqual(['a.txt'])
  })

  it('sorts by name and size in both directions', async () => {
    expect(names(await env.ik.assets.list({ path: folder, sort: 'DESC_NAME' }))).toEqual(['c.jpg', 'b.png', 'a.txt'])
    const bySize = await env.ik.assets.list({ path: folder, sort: 'DESC_SIZE' })
    const got = bySize.map((i) => (i as ImageKit.File).size!)
    expect(got).toEqual([...got].sort((a, b) => b - a))
    expect(got).toEqual(Object.values(sizes).sort((a, b) => b - a))
  })

  it('pages with skip and limit', async () => {
    expect(names(await env.ik.assets.list({ path: folder, sort: 'ASC_NAME', limit: 2 }))).toEqual(['a.txt', 'b.png'])
    expect(names(await env.ik.assets.list({ path: folder, sort: 'ASC_NAME', limit: 2, skip: 2 }))).toEqual(['c.jpg'])
    expect(await env.ik.assets.list({ path: folder, sort: 'ASC_NAME', limit: 2, skip: 4 })).toEqual([])
  })

  it('searches with searchQuery (name, tags, type, size)', async () => {
    expect(names(await env.ik.assets.list({ path: folder, searchQuery: 'name = "b.png"' }))).toEqual(['b.png'])
    expect(names(await env.ik.assets.list({ path: folder, searchQuery: 'tags IN ["pic"]', sort: 'ASC_NAME' }))).toEqual(['b.png', 'c.jpg'])
    expect(names(await env.ik.assets.list({ path: folder, searchQuery: 'type = "folder"' }))).toEqual(['sub'])
    expect(names(await env.ik.assets.list({ path: folder, searchQuery: 'type = "file" AND size < 100' }))).toEqual(['a.txt'])
    expect(names(await env.ik.assets.list({ path: folder, searchQuery: 'name : "c."' }))).toEqual(['c.jpg'])
  })

  it('searches the rest of the documented language: path (= one folder, : with subfolders), id, HAS, EXISTS, transparency, years', async () => {
    const search = async (searchQuery: string) => names(await env.ik.assets.list({ searchQuery, sort: 'ASC_NAME' }))
    expect(await search(`path = "${folder}"`)).toEqual(['a.txt', 'b.png', 'c.jpg'])
    expect(await search(`path : "${folder}/"`)).toEqual(['a.txt', 'b.png', 'c.jpg', 'd.txt'])
    expect(await search(`path : "${folder}" AND type = "folder"`)).toEqual(['sub'])
    expect(await search(`path IN ["${folder}/sub"] AND name NOT = "x"`)).toEqual(['d.txt'])
    const [b] = await env.ik.assets.list({ path: folder, searchQuery: 'name = "b.png"' })
    expect(await search(`id = "${(b as ImageKit.File).fileId}"`)).toEqual(['b.png'])
    expect(await search(`path = "${folder}" AND tags NOT EXISTS`)).toEqual([])
    expect(await search(`path : "${folder}" AND tags NOT EXISTS`)).toEqual(['d.txt'])
    expect(await search(`path : "${folder}" AND tags EXISTS AND transparency = true`)).toEqual(['b.png'])
    expect(await search(`path : "${folder}" AND name HAS "NEST"`)).toEqual([])
    expect(await search(`path : "${folder}" AND (name HAS "B PN" OR tags HAS "DO")`)).toEqual(['a.txt', 'b.png'])
    expect(await search(`path : "${folder}" AND createdAt > "1y"`)).toHaveLength(4)
  })

  it('takes the docs\' example queries as written: bare sizes and dates, a date-time with T or a space', async () => {
    const search = async (searchQuery: string) => names(await env.ik.assets.list({ path: folder, searchQuery, sort: 'ASC_NAME' }))
    expect(await search('createdAt > 1w AND size < 50kb')).toEqual(['a.txt', 'b.png', 'c.jpg'])
    expect(await search('createdAt > 2020-01-01T12:12:12 AND name = a.txt')).toEqual(['a.txt'])
    expect(await search('createdAt > 2020-01-01 12:12:12 AND updatedAt < 2999-01-01')).toEqual(['a.txt', 'b.png', 'c.jpg'])
    expect(await search('createdAt < "2020-01-01 12:12:12"')).toEqual([])
  })

  it('refuses a list with a non-numeric value outside double quotes, as the docs warn (tags IN [\'small\'])', async () => {
    for (const searchQuery of ["tags IN ['pic']", 'tags IN [pic]']) {
      const e = await rejectionOf(() => env.ik.assets.list({ path: folder, searchQuery }))
      expect(e, searchQuery).toBeInstanceOf(BadRequestError)
      expect((e as BadRequestError).error, searchQuery).toMatchObject({ message: expect.stringMatching(/^Your request contains invalid syntax for the searchQuery parameter/) })
    }
    expect(names(await env.ik.assets.list({ path: folder, searchQuery: `size IN [5, ${sizes['c.jpg']}]`, sort: 'ASC_NAME' }))).toEqual(['a.txt', 'c.jpg'])
  })
})

describe('details (§4.2) and update (§4.3)', () => {
  let fileId: string
  beforeAll(async () => {
    fileId = (await uploadBytes(env.ik, '/contract/details', 'photo.png', alphaPng, { tags: ['one'] })).fileId!
  })

  it('returns the file object and an x-ik-requestId header', async () => {
    const { data, response } = await env.ik.files.get(fileId).withResponse()
    expectFileObject(data, {
      type: 'file',
      fileId,
      name: 'photo.png',
      filePath: '/contract/details/photo.png',
      size: alphaPng.length,
      mime: 'image/png',
      width: 64,
      height: 48,
      hasAlpha: true,
      isPrivateFile: false,
      tags: ['one'],
      customCoordinates: null,
      versionInfo: { id: fileId, name: 'Version 1' },
    })
    expect(data.url?.startsWith(`${env.t.urlEndpoint}/contract/details/photo.png`)).toBe(true)
    expect(response.headers.get('x-ik-requestid')).toMatch(/.+/)
  })

  it('updates tags and customCoordinates, and null clears them', async () => {
    const updated = await env.ik.files.update(fileId, { tags: ['x', 'y'], customCoordinates: '10,20,30,40' })
    expectFileObject(updated, { fileId, tags: ['x', 'y'], customCoordinates: '10,20,30,40' })
    expect(await env.ik.files.get(fileId)).toMatchObject({ tags: ['x', 'y'], customCoordinates: '10,20,30,40' })
    const cleared = await env.ik.files.update(fileId, { tags: null, customCoordinates: null })
    expectFileObject(cleared, { tags: null, customCoordinates: null })
  })

  it('updates customMetadata of defined fields (a key set to null is removed)', async () => {
    await env.ik.customMetadataFields.create({ name: 'rating', label: 'Rating', schema: { type: 'Number' } })
    await env.ik.customMetadataFields.create({ name: 'caption', label: 'Caption', schema: { type: 'Text' } })
    const set = await env.ik.files.update(fileId, { customMetadata: { rating: 4, caption: 'hi' } })
    expectFileObject(set, { customMetadata: { rating: 4, caption: 'hi' } })
    const removed = await env.ik.files.update(fileId, { customMetadata: { caption: null } })
    expect(removed.customMetadata).toEqual({ rating: 4 })
    expect((await env.ik.files.get(fileId)).customMetadata).toEqual({ rating: 4 })
  })

  it('publishes and unpublishes; publish may not come with other fields (400, the docs\' message)', async () => {
    expect(await env.ik.files.update(fileId, { publish: { isPublished: false } })).toMatchObject({ fileId, isPublished: false })
    expect(await env.ik.files.update(fileId, { publish: { isPublished: true, includeFileVersions: true } })).toMatchObject({ isPublished: true })
    const both = await rejectionOf(() => env.ik.files.update(fileId, { publish: { isPublished: false }, tags: ['t'] } as never))
    expect(both).toBeInstanceOf(BadRequestError)
    expect((both as BadRequestError).error).toMatchObject({ message: 'Your request cannot contain any other parameters when publish is present' })
    expect(await env.ik.files.get(fileId)).toMatchObject({ isPublished: true })
  })

  it('adds and removes tags in bulk (§4.6)', async () => {
    const added = await env.ik.files.bulk.addTags({ fileIds: [fileId], tags: ['bulk1', 'bulk2'] })
    expect(added).toEqual({ successfullyUpdatedFileIds: [fileId] })
    expect((await env.ik.files.get(fileId)).tags).toEqual(expect.arrayContaining(['bulk1', 'bulk2']))
    const removed = await env.ik.files.bulk.removeTags({ fileIds: [fileId], tags: ['bulk1'] })
    expect(removed).toEqual({ successfullyUpdatedFileIds: [fileId] })
    const tags = (await env.ik.files.get(fileId)).tags ?? []
    expect(tags).toContain('bulk2')
    expect(tags).not.toContain('bulk1')
  })

  it('reads image metadata by fileId and by URL (§4.15)', async () => {
    const byId = await env.ik.files.metadata.get(fileId)
    expectMetadata(byId, { width: 64, height: 48, size: alphaPng.length, format: 'png', hasTransparency: true })
    const byUrl = await env.ik.files.metadata.getFromURL({ url: `${env.t.urlEndpoint}/contract/details/photo.png` })
    expectMetadata(byUrl, { width: 64, height: 48, format: 'png' })
    expect(byUrl.pHash).toBe(byId.pHash)
  })

  it('refuses metadata of a file that is neither an image nor a video, by fileId and by URL (§4.15)', async () => {
    for (const name of ['notes.txt', 'doc.pdf']) {
      const up = await uploadBytes(env.ik, '/contract/meta', name, Buffer.from('not an image\n'))
      const byId = await rejectionOf(() => env.ik.files.metadata.get(up.fileId!))
      expect(byId, name).toBeInstanceOf(BadRequestError)
      expect((byId as BadRequestError).error, name).toMatchObject({ message: 'The requested file is corrupt or invalid.' })
      const byUrl = await rejectionOf(() => env.ik.files.metadata.getFromURL({ url: up.url! }))
      expect(byUrl, name).toBeInstanceOf(BadRequestError)
      expect((byUrl as BadRequestError).error, name).toMatchObject({ message: 'The requested file is corrupt or invalid.' })
    }
    const video = await uploadBytes(env.ik, '/contract/meta', 'clip.mp4', Buffer.from('not really a video'))
    expectMetadata(await env.ik.files.metadata.get(video.fileId!), { size: 18, format: 'mp4' })
  })

  it('nonImageMetadata 200: a text file answers a metadata object of zeros', async () => {
    const t = await startTestEmulator({ nonImageMetadata: 200 })
    try {
      const ik = sdkFor(t)
      const up = await uploadBytes(ik, '/contract/meta', 'notes.txt', Buffer.from('text\n'))
      expectMetadata(await ik.files.metadata.get(up.fileId!), { width: 0, height: 0, size: 5, format: 'txt' })
    } finally {
      await t.stop()
    }
  })
})

describe('rename (§4.9), move (§4.8), copy (§4.7)', () => {
  it('renames, keeps the fileId, and returns purgeRequestId only with purgeCache', async () => {
    const up = await uploadBytes(env.ik, '/contract/rename', 'before.jpg', jpeg)
    const plain = await env.ik.files.rename({ filePath: '/contract/rename/before.jpg', newFileName: 'middle.jpg' })
    expect(plain).toEqual({})
    const purged = await env.ik.files.rename({ filePath: '/contract/rename/middle.jpg', newFileName: 'after.jpg', purgeCache: true })
    expect(Object.keys(purged)).toEqual(['purgeRequestId'])
    expect(typeof purged.purgeRequestId).toBe('string')
    const status = await env.ik.cache.invalidation.get(purged.purgeRequestId!)
    expect(['Pending', 'Completed']).toContain(status.status)
    expect(await env.ik.files.get(up.fileId!)).toMatchObject({ name: 'after.jpg', filePath: '/contract/rename/after.jpg' })
    expect(await env.ik.assets.list({ path: '/contract/rename', searchQuery: 'name = "before.jpg"' })).toEqual([])
    expect((await fetchBytes(withOrig(`${env.t.urlEndpoint}/contract/rename/after.jpg`))).bytes.equals(jpeg)).toBe(true)
  })

  it('moves a file into a folder, name and fileId kept', async () => {
    const up = await uploadBytes(env.ik, '/contract/move/src', 'm.png', alphaPng)
    expect(await noContent(env.ik.files.move({ sourceFilePath: '/contract/move/src/m.png', destinationPath: '/contract/move/dst/' }))).toBe(204)
    expect(await env.ik.files.get(up.fileId!)).toMatchObject({ filePath: '/contract/move/dst/m.png', name: 'm.png' })
    expect(await env.ik.assets.list({ path: '/contract/move/src' })).toEqual([])
  })

  it('copies a file into a folder as a new file with the same bytes', async () => {
    const up = await uploadBytes(env.ik, '/contract/copy/src', 'c.txt', Buffer.from('copy me\n'))
    expect(await noContent(env.ik.files.copy({ sourceFilePath: '/contract/copy/src/c.txt', destinationPath: '/contract/copy/dst' }))).toBe(204)
    const [copy] = await env.ik.assets.list({ path: '/contract/copy/dst' })
    expectFileObject(copy as ImageKit.File, { name: 'c.txt', filePath: '/contract/copy/dst/c.txt', size: 8 })
    expect((copy as ImageKit.File).fileId).not.toBe(up.fileId)
    expect(await env.ik.files.get(up.fileId!)).toMatchObject({ filePath: '/contract/copy/src/c.txt' })
    expect((await fetchBytes(withOrig((copy as ImageKit.File).url!))).bytes.toString()).toBe('copy me\n')
  })

  it('rename refuses a missing file (404 FILE_MISSING) and the same name (400 SAME_OLD_AND_NEW_NAME)', async () => {
    const missing = await rejectionOf(() => env.ik.files.rename({ filePath: '/contract/rename/none.jpg', newFileName: 'x.jpg' }))
    expect(missing).toBeInstanceOf(NotFoundError)
    expect((missing as NotFoundError).error).toMatchObject({ reason: 'FILE_MISSING' })
    await uploadBytes(env.ik, '/contract/rename', 'same.txt', Buffer.from('same\n'))
    const same = await rejectionOf(() => env.ik.files.rename({ filePath: '/contract/rename/same.txt', newFileName: 'same.txt' }))
    expect(same).toBeInstanceOf(BadRequestError)
    expect((same as BadRequestError).error).toMatchObject({ reason: 'SAME_OLD_AND_NEW_NAME' })
  })

  it('copy onto an existing same-name file adds a version instead of failing', async () => {
    const target = await uploadBytes(env.ik, '/contract/collide/dst', 'same.txt', Buffer.from('old\n'))
    await uploadBytes(env.ik, '/contract/collide/src', 'same.txt', Buffer.from('incoming\n'))
    expect(await noContent(env.ik.files.copy({ sourceFilePath: '/contract/collide/src/same.txt', destinationPath: '/contract/collide/dst/' }))).toBe(204)
    const versions = await env.ik.files.versions.list(target.fileId!)
    expect(versions).toHaveLength(2)
    expect(await env.ik.assets.list({ path: '/contract/collide/dst' })).toHaveLength(1)
  })

  it('reports a missing source with reason SOURCE_FILE_MISSING (404)', async () => {
    const e = await rejectionOf(() => env.ik.files.copy({ sourceFilePath: '/contract/nothing.jpg', destinationPath: '/contract/' }))
    expect(e).toBeInstanceOf(NotFoundError)
    expect((e as NotFoundError).error).toMatchObject({ reason: 'SOURCE_FILE_MISSING', message: expect.any(String), help: expect.any(String) })
  })
})

describe('delete (§4.4) and bulk delete (§4.5)', () => {
  it('deletes a file (204, no body) and then answers 404', async () => {
    const up = await uploadBytes(env.ik, '/contract/delete', 'gone.txt', Buffer.from('bye\n'))
    expect(await noContent(env.ik.files.delete(up.fileId!))).toBe(204)
    expect(await rejectionOf(() => env.ik.files.get(up.fileId!))).toBeInstanceOf(NotFoundError)
  })

  it('deletes in bulk and names missing ids', async () => {
    const a = (await uploadBytes(env.ik, '/contract/bulk', 'a.txt', Buffer.from('a\n'))).fileId!
    const b = (await uploadBytes(env.ik, '/contract/bulk', 'b.txt', Buffer.from('b\n'))).fileId!
    const done = await env.ik.files.bulk.delete({ fileIds: [a, b] })
    expect(Object.keys(done)).toEqual(['successfullyDeletedFileIds'])
    expect([...(done.successfullyDeletedFileIds ?? [])].sort()).toEqual([a, b].sort())
    expect(await env.ik.assets.list({ path: '/contract/bulk' })).toEqual([])
    const e = await rejectionOf(() => env.ik.files.bulk.delete({ fileIds: [a] }))
    expect(e).toBeInstanceOf(NotFoundError)
    expect((e as NotFoundError).error).toMatchObject({ missingFileIds: [a], message: expect.any(String) })
  })
})
