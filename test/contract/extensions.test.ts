/**
 * Extensions (§2.3, §4.3): an upload or a details update that asks for extensions is answered with
 * `extensionStatus`, one entry per extension asked for, valued `success`, `pending` or `failed` as the SDK
 * types say; without extensions the field is absent. The emulator runs no extension (no AI tagging, no
 * background removal), so it answers `failed` ("will not be retried": no webhook follows), which real
 * responses show too (`{ 'google-auto-tagging': 'failed' }`).
 */
import { BadRequestError } from '@imagekit/nodejs'
import { describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { expectFileObject, expectUploadResponse } from './shapes.js'
import { rejectionOf, uploadBytes, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

const png = makePng(16, 16)

describe('extensionStatus', () => {
  it('upload: one failed entry per extension asked for, nothing changed on the file', async () => {
    const r = await uploadBytes(env.ik, '/ext', 'tagged.png', png, {
      extensions: [{ name: 'google-auto-tagging', maxTags: 5, minConfidence: 90 }, { name: 'remove-bg' }],
      webhookUrl: 'https://example.com/hook',
    })
    expectUploadResponse(r, { AITags: null })
    expect(r.extensionStatus).toEqual({ 'google-auto-tagging': 'failed', 'remove-bg': 'failed' })
    expect(await env.ik.files.get(r.fileId!)).not.toHaveProperty('extensionStatus')
  })

  it('upload without extensions: no extensionStatus', async () => {
    const r = await uploadBytes(env.ik, '/ext', 'plain.png', png)
    expect(r).not.toHaveProperty('extensionStatus')
  })

  it('update details: extensionStatus with the file object; tags set in the same call are kept', async () => {
    const up = await uploadBytes(env.ik, '/ext', 'update.png', png)
    const updated = await env.ik.files.update(up.fileId!, {
      tags: ['kept'],
      extensions: [{ name: 'aws-auto-tagging', maxTags: 3, minConfidence: 80 }, { name: 'ai-auto-description' }],
    })
    expectFileObject(updated, { fileId: up.fileId, tags: ['kept'] })
    expect(updated.extensionStatus).toEqual({ 'aws-auto-tagging': 'failed', 'ai-auto-description': 'failed' })
    const plain = await env.ik.files.update(up.fileId!, { tags: ['again'] })
    expect(plain).not.toHaveProperty('extensionStatus')
  })

  it('refuses an extension the API does not know (400) and stores nothing', async () => {
    const e = await rejectionOf(() => uploadBytes(env.ik, '/ext', 'unknown.png', png, { extensions: [{ name: 'make-it-pretty' } as never] }))
    expect(e).toBeInstanceOf(BadRequestError)
    expect(await env.ik.assets.list({ path: '/ext', searchQuery: 'name = "unknown.png"' })).toEqual([])
  })
})
