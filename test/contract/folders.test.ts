/**
 * Folders through the official SDK: create/delete (§4.11, §4.12) and the asynchronous copy/move/rename jobs,
 * polled through `folders.job.get` until Completed (§4.13).
 */
import { BadRequestError, ImageKit, NotFoundError } from '@imagekit/nodejs'
import { beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/emulator.js'
import { expectFolderObject } from './shapes.js'
import { fetchBytes, noContent, rejectionOf, uploadBytes, withOrig, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

type JobType = 'COPY_FOLDER' | 'MOVE_FOLDER' | 'RENAME_FOLDER'

/** Polls the job; every status seen must be Pending or Completed (§4.13), the last one Completed. */
async function waitForJob(jobId: string, type: JobType): Promise<ImageKit.Folders.JobGetResponse> {
  const seen = new Set<string | undefined>()
  const done = await waitFor(async () => {
    const job = await env.ik.folders.job.get(jobId)
    seen.add(job.status)
    return job.status === 'Completed' ? job : undefined
  }, `job ${type}`)
  expect([...seen].every((s) => s === 'Pending' || s === 'Completed')).toBe(true)
  expect(done).toMatchObject({ jobId, type, status: 'Completed' })
  return done
}

async function folderNames(path: string): Promise<(string | undefined)[]> {
  return (await env.ik.assets.list({ path, type: 'folder', sort: 'ASC_NAME' })).map((f) => f.name)
}

async function fileNames(path: string): Promise<(string | undefined)[]> {
  return (await env.ik.assets.list({ path, type: 'file', sort: 'ASC_NAME' })).map((f) => f.name)
}

describe('create and delete', () => {
  it('creates a folder, missing ancestors included, and lists it as a folder object', async () => {
    expect(await env.ik.folders.create({ folderName: 'albums', parentFolderPath: '/cf/deep/' })).toEqual({})
    const [deep] = await env.ik.assets.list({ path: '/cf', type: 'folder' })
    expectFolderObject(deep!, { name: 'deep', folderPath: '/cf/deep' })
    const [albums] = await env.ik.assets.list({ path: '/cf/deep', type: 'folder' })
    expectFolderObject(albums!, { name: 'albums', folderPath: '/cf/deep/albums' })
  })

  it('creating an existing folder succeeds and changes nothing', async () => {
    const before = await env.ik.assets.list({ path: '/cf/deep', type: 'folder' })
    expect(await env.ik.folders.create({ folderName: 'albums', parentFolderPath: '/cf/deep' })).toEqual({})
    expect(await env.ik.assets.list({ path: '/cf/deep', type: 'folder' })).toEqual(before)
  })

  it('deletes a folder recursively, files included', async () => {
    const up = await uploadBytes(env.ik, '/cf/trash/inner', 'x.txt', Buffer.from('x\n'))
    expect(await noContent(env.ik.folders.delete({ folderPath: '/cf/trash/' }))).toBe(204)
    expect(await folderNames('/cf')).not.toContain('trash')
    expect(await rejectionOf(() => env.ik.files.get(up.fileId!))).toBeInstanceOf(NotFoundError)
  })

  it('answers 404 FOLDER_NOT_FOUND for a missing folder', async () => {
    const e = await rejectionOf(() => env.ik.folders.delete({ folderPath: '/cf/never' }))
    expect(e).toBeInstanceOf(NotFoundError)
    expect((e as NotFoundError).error).toMatchObject({ reason: 'FOLDER_NOT_FOUND', message: expect.any(String), help: expect.any(String) })
  })
})

describe('bulk jobs', () => {
  beforeAll(async () => {
    await uploadBytes(env.ik, '/jobs/src/photos', 'a.txt', Buffer.from('file a\n'))
    await uploadBytes(env.ik, '/jobs/src/photos/nested', 'b.txt', Buffer.from('file b\n'))
    await env.ik.folders.create({ folderName: 'copy-dest', parentFolderPath: '/jobs' })
    await env.ik.folders.create({ folderName: 'move-dest', parentFolderPath: '/jobs' })
  })

  it('copies a folder into the destination (COPY_FOLDER)', async () => {
    const started = await env.ik.folders.copy({ sourceFolderPath: '/jobs/src/photos', destinationPath: '/jobs/copy-dest' })
    expect(Object.keys(started)).toEqual(['jobId'])
    expect(typeof started.jobId).toBe('string')
    await waitForJob(started.jobId, 'COPY_FOLDER')
    expect(await fileNames('/jobs/copy-dest/photos')).toEqual(['a.txt'])
    expect(await fileNames('/jobs/copy-dest/photos/nested')).toEqual(['b.txt'])
    expect(await fileNames('/jobs/src/photos')).toEqual(['a.txt'])
    const copied = await fetchBytes(withOrig(`${env.t.urlEndpoint}/jobs/copy-dest/photos/nested/b.txt`))
    expect(copied.bytes.toString()).toBe('file b\n')
  })

  it('copyFolder with includeVersions (the @imagekit/nodejs name) copies the files\' old versions too', async () => {
    await uploadBytes(env.ik, '/cv/src', 'v.txt', Buffer.from('1'))
    await uploadBytes(env.ik, '/cv/src', 'v.txt', Buffer.from('2'))
    const { jobId } = await env.ik.folders.copy({ sourceFolderPath: '/cv/src', destinationPath: '/cv/dst', includeVersions: true })
    await waitForJob(jobId, 'COPY_FOLDER')
    const [copy] = await env.ik.assets.list({ path: '/cv/dst/src' })
    expect(await env.ik.files.versions.list((copy as { fileId: string }).fileId)).toHaveLength(2)
  })

  it('moves a folder into the destination (MOVE_FOLDER)', async () => {
    const started = await env.ik.folders.move({ sourceFolderPath: '/jobs/copy-dest/photos', destinationPath: '/jobs/move-dest/' })
    await waitForJob(started.jobId, 'MOVE_FOLDER')
    expect(await folderNames('/jobs/copy-dest')).toEqual([])
    expect(await fileNames('/jobs/move-dest/photos/nested')).toEqual(['b.txt'])
  })

  it('renames a folder in place, nested paths included (RENAME_FOLDER)', async () => {
    const [before] = await env.ik.assets.list({ path: '/jobs/move-dest/photos/nested' })
    const started = await env.ik.folders.rename({ folderPath: '/jobs/move-dest/photos', newFolderName: 'pictures' })
    await waitForJob(started.jobId, 'RENAME_FOLDER')
    expect(await folderNames('/jobs/move-dest')).toEqual(['pictures'])
    const [after] = await env.ik.assets.list({ path: '/jobs/move-dest/pictures/nested' })
    expect(after).toMatchObject({ name: 'b.txt', filePath: '/jobs/move-dest/pictures/nested/b.txt' })
    expect((after as ImageKit.File).fileId).toBe((before as ImageKit.File).fileId)
  })

  it('rename with purgeCache reports a purgeRequestId on the job', async () => {
    const started = await env.ik.folders.rename({ folderPath: '/jobs/move-dest/pictures', newFolderName: 'pics', purgeCache: true })
    const done = await waitForJob(started.jobId, 'RENAME_FOLDER')
    expect(typeof done.purgeRequestId).toBe('string')
  })

  it('refuses to move a folder into its own child (400 INVALID_DESTINATION_PATH)', async () => {
    await uploadBytes(env.ik, '/jobs/parent/child', 'p.txt', Buffer.from('p\n'))
    const e = await rejectionOf(() => env.ik.folders.move({ sourceFolderPath: '/jobs/parent', destinationPath: '/jobs/parent/child' }))
    expect(e).toBeInstanceOf(BadRequestError)
    expect((e as BadRequestError).error).toMatchObject({ reason: 'INVALID_DESTINATION_PATH' })
  })

  it('answers 404 NO_FILES_FOLDER for a missing source and 404 for an unknown job', async () => {
    const e = await rejectionOf(() => env.ik.folders.copy({ sourceFolderPath: '/jobs/none', destinationPath: '/jobs/copy-dest' }))
    expect(e).toBeInstanceOf(NotFoundError)
    expect((e as NotFoundError).error).toMatchObject({ reason: 'NO_FILES_FOLDER' })
    expect(await rejectionOf(() => env.ik.folders.job.get('000000000000000000000000'))).toBeInstanceOf(NotFoundError)
  })
})
