/**
 * Every documented upload field through @imagekit/nodejs (§4.18), and the details-update and bulk fields the
 * other contract tests leave out (§4.3 removeAITags, §4.6 removeAITags, §4.1 the SDK's RELEVANCE sorts):
 * what the emulator stores and answers for each.
 */
import { describe, expect, it } from 'vitest'
import { toFile } from '@imagekit/nodejs'
import { makePng } from '../../src/emulator/seed/images.js'
import { expectFileObject, expectUploadResponse } from './shapes.js'
import { fetchBytes, uploadBytes, useSdkEmulator, withOrig } from './sdk.js'

const env = useSdkEmulator()

describe('upload fields', () => {
  it('isPrivateFile, isPublished, description, customCoordinates, tags and every responseFields value', async () => {
    const r = await uploadBytes(env.ik, '/fields', 'all.png', makePng(6, 4), {
      isPrivateFile: true, isPublished: false, description: 'a test image', customCoordinates: '1,2,3,4', tags: ['a', 'b'],
      responseFields: ['tags', 'customCoordinates', 'isPrivateFile', 'embeddedMetadata', 'isPublished', 'customMetadata', 'metadata'],
    })
    expectUploadResponse(r)
    expect(r).toMatchObject({ tags: ['a', 'b'], customCoordinates: '1,2,3,4', isPrivateFile: true, isPublished: false, customMetadata: {}, embeddedMetadata: {} })
    expect(r.metadata).toMatchObject({ width: 6, height: 4, format: 'png' })
    expect(r.description).toBe('a test image') // not one of the responseFields: the SDK types it as always there when set
    expect(await uploadBytes(env.ik, '/fields', 'plain.png', makePng(2, 2))).not.toHaveProperty('description')
    const details = await env.ik.files.get(r.fileId!)
    expectFileObject(details, { isPrivateFile: true, isPublished: false, description: 'a test image', customCoordinates: '1,2,3,4', tags: ['a', 'b'] })
  })

  it('overwriteTags and overwriteCustomMetadata false keep what the new version does not send; true (the default) drops it', async () => {
    await env.ik.customMetadataFields.create({ name: 'shot', label: 'Shot', schema: { type: 'Text' } })
    const first = await uploadBytes(env.ik, '/fields', 'keep.txt', Buffer.from('1'), { tags: ['kept'], customMetadata: { shot: 'one' } })
    await uploadBytes(env.ik, '/fields', 'keep.txt', Buffer.from('2'), { overwriteTags: false, overwriteCustomMetadata: false })
    expect(await env.ik.files.get(first.fileId!)).toMatchObject({ tags: ['kept'], customMetadata: { shot: 'one' }, versionInfo: { name: 'Version 2' } })
    await uploadBytes(env.ik, '/fields', 'keep.txt', Buffer.from('3'))
    expect(await env.ik.files.get(first.fileId!)).toMatchObject({ tags: null, customMetadata: {}, versionInfo: { name: 'Version 3' } })
  })

  it('transformation (pre and post) and webhookUrl are accepted; the stored file is the one sent (transformations are not applied)', async () => {
    const bytes = makePng(8, 8)
    const r = await uploadBytes(env.ik, '/fields', 'tr.png', bytes, {
      transformation: { pre: 'w-4,h-4', post: [{ type: 'thumbnail', value: 'w-2' }, { type: 'transformation', value: 'h-2' }] },
      webhookUrl: 'http://127.0.0.1:9/never-called',
    })
    expect(r).toMatchObject({ width: 8, height: 8, size: bytes.length })
    expect((await fetchBytes(withOrig(r.url!))).bytes.equals(bytes)).toBe(true)
  })

  it('a video with a pre-transformation answers 202 "queued" (async for videos, the docs say); without one, the upload answer', async () => {
    const bytes = Buffer.from('not really a video')
    const { data, response } = await env.ik.files
      .upload({ file: await toFile(bytes, 'clip.mp4'), fileName: 'clip.mp4', folder: '/fields', useUniqueFileName: false, transformation: { pre: 'w-100' } })
      .withResponse()
    expect(response.status).toBe(202)
    expect(data).toEqual({ message: 'The pre-transformation has been queued successfully.' })
    const stored = await env.ik.assets.list({ path: '/fields', searchQuery: 'name = "clip.mp4"' })
    expect(stored).toHaveLength(1)
    const plain = await uploadBytes(env.ik, '/fields', 'clip2.mp4', bytes, { transformation: { post: [{ type: 'thumbnail' }] } })
    expectUploadResponse(plain, { name: 'clip2.mp4', size: bytes.length })
  })

  it('checks: a file that passes is stored, one that fails is refused with a 400', async () => {
    expect((await uploadBytes(env.ik, '/fields', 'small.txt', Buffer.from('x'), { checks: '"file.size" < "1kb"' })).name).toBe('small.txt')
    await expect(uploadBytes(env.ik, '/fields', 'big.txt', Buffer.alloc(2048, 1), { checks: '"file.size" < "1kb"' })).rejects.toMatchObject({ status: 400 })
    expect((await env.ik.assets.list({ path: '/fields', searchQuery: 'name = "big.txt"' }))).toEqual([])
  })
})

describe('other fields', () => {
  it('update removeAITags ("all" or a list) and bulk removeAITags answer the file object / the ids', async () => {
    const r = await uploadBytes(env.ik, '/fields', 'ai.png', makePng(4, 4))
    expectFileObject(await env.ik.files.update(r.fileId!, { removeAITags: ['Nope'] }), { AITags: null })
    expectFileObject(await env.ik.files.update(r.fileId!, { removeAITags: 'all' }), { AITags: null })
    expect(await env.ik.files.bulk.removeAITags({ fileIds: [r.fileId!], AITags: ['Nope'] })).toEqual({ successfullyUpdatedFileIds: [r.fileId] })
  })

  it('list takes the RELEVANCE sorts @imagekit/nodejs types, and fileType non-image', async () => {
    await uploadBytes(env.ik, '/rel', 'a.txt', Buffer.from('a'))
    await uploadBytes(env.ik, '/rel', 'b.png', makePng(2, 2))
    for (const sort of ['ASC_RELEVANCE', 'DESC_RELEVANCE'] as const) {
      expect((await env.ik.assets.list({ path: '/rel', sort })).map((f) => ('name' in f ? f.name : '')).sort()).toEqual(['a.txt', 'b.png'])
    }
    expect((await env.ik.assets.list({ path: '/rel', fileType: 'non-image' })).map((f) => ('name' in f ? f.name : ''))).toEqual(['a.txt'])
  })

})
