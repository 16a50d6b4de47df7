/**
 * Extensions (§2.3, §4.3): an upload or a details update that asks for extensions is answered with
 * `extensionStatus`, one entry per extension asked for, valued `success`, `pending` or `failed` as the SDK
 * types say; without extensions the field is absent. By default the emulator answers `pending`, as the real
 * API answers asynchronous extensions, and stores its stand-in results (AITags, description) a moment later;
 * `extensions: 'success'` stores them before answering, `'failed'` runs none.
 */
import { BadRequestError } from '@imagekit/nodejs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { startTestEmulator, waitFor, type TestEmulator } from '../helpers/emulator.js'
import { expectFileObject, expectUploadResponse } from './shapes.js'
import { rejectionOf, sdkFor, uploadBytes, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

const png = makePng(32, 16)

describe('extensionStatus (default: pending, then done)', () => {
  it('upload: one pending entry per extension asked for; the AI tags arrive on the file later', async () => {
    const r = await uploadBytes(env.ik, '/ext', 'tagged.png', png, {
      extensions: [{ name: 'google-auto-tagging', maxTags: 5, minConfidence: 90 }, { name: 'remove-bg' }],
      webhookUrl: 'https://example.com/hook',
    })
    expectUploadResponse(r, { AITags: null })
    expect(r.extensionStatus).toEqual({ 'google-auto-tagging': 'pending', 'remove-bg': 'pending' })
    const tagged = await waitFor(async () => {
      const file = await env.ik.files.get(r.fileId!)
      return file.AITags ? file : undefined
    }, 'AI tags stored')
    expect(tagged).not.toHaveProperty('extensionStatus')
    expect(tagged.AITags!.length).toBeGreaterThan(0)
    for (const tag of tagged.AITags!) {
      expect(tag).toEqual({ name: expect.any(String), confidence: expect.any(Number), source: 'google-auto-tagging' })
      expect(tag.confidence).toBeGreaterThanOrEqual(90)
    }
    // The tags are searchable as AI tags are (`tags IN` matches AITags, §4.1).
    const found = await env.ik.assets.list({ path: '/ext', searchQuery: `tags IN ["${tagged.AITags![0]!.name}"] AND name = "tagged.png"` })
    expect(found.map((f) => (f as { fileId?: string }).fileId)).toEqual([r.fileId])
  })

  it('maxTags and minConfidence bound the tags', async () => {
    const r = await uploadBytes(env.ik, '/ext', 'one-tag.png', png, { extensions: [{ name: 'aws-auto-tagging', maxTags: 1, minConfidence: 0 }] })
    const file = await waitFor(async () => {
      const f = await env.ik.files.get(r.fileId!)
      return f.AITags ? f : undefined
    }, 'AI tags stored')
    expect(file.AITags).toEqual([{ name: expect.any(String), confidence: expect.any(Number), source: 'aws-auto-tagging' }])
  })

  it('upload without extensions: no extensionStatus', async () => {
    const r = await uploadBytes(env.ik, '/ext', 'plain.png', png)
    expect(r).not.toHaveProperty('extensionStatus')
  })

  it('a non-image: image extensions fail at once, nothing arrives later', async () => {
    const r = await uploadBytes(env.ik, '/ext', 'notes.txt', Buffer.from('not an image\n'), { extensions: [{ name: 'google-auto-tagging', maxTags: 5, minConfidence: 0 }] })
    expect(r.extensionStatus).toEqual({ 'google-auto-tagging': 'failed' })
    const tagged = await uploadBytes(env.ik, '/ext', 'after-notes.png', png, { extensions: [{ name: 'google-auto-tagging', maxTags: 5, minConfidence: 0 }] })
    await waitFor(async () => (await env.ik.files.get(tagged.fileId!)).AITags ?? undefined, 'the image after it tagged')
    expect((await env.ik.files.get(r.fileId!)).AITags).toBeNull()
  })

  it('update details: extensionStatus with the file object; tags set in the same call are kept; the description arrives later', async () => {
    const up = await uploadBytes(env.ik, '/ext', 'update.png', png)
    const updated = await env.ik.files.update(up.fileId!, {
      tags: ['kept'],
      extensions: [{ name: 'aws-auto-tagging', maxTags: 3, minConfidence: 80 }, { name: 'ai-auto-description' }],
    })
    expectFileObject(updated, { fileId: up.fileId, tags: ['kept'] })
    expect(updated.extensionStatus).toEqual({ 'aws-auto-tagging': 'pending', 'ai-auto-description': 'pending' })
    const described = await waitFor(async () => {
      const f = await env.ik.files.get(up.fileId!)
      return f.description ? f : undefined
    }, 'description stored')
    expect(described.description).toMatch(/32×16 PNG/)
    expect(described.tags).toEqual(['kept'])
    expect(described.AITags?.every((t) => t.source === 'aws-auto-tagging')).toBe(true)
    const plain = await env.ik.files.update(up.fileId!, { tags: ['again'] })
    expect(plain).not.toHaveProperty('extensionStatus')
  })

  it('refuses an extension the API does not know (400) and stores nothing', async () => {
    const e = await rejectionOf(() => uploadBytes(env.ik, '/ext', 'unknown.png', png, { extensions: [{ name: 'make-it-pretty' } as never] }))
    expect(e).toBeInstanceOf(BadRequestError)
    expect(await env.ik.assets.list({ path: '/ext', searchQuery: 'name = "unknown.png"' })).toEqual([])
  })
})

describe.each(['success', 'failed'] as const)('extensionStatus with extensions: %s', (mode) => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator({ extensions: mode }) })
  afterAll(async () => { await t?.stop() })

  it(`upload and update answer ${mode}; the results are ${mode === 'success' ? 'in the answer' : 'never stored'}`, async () => {
    const ik = sdkFor(t)
    const r = await uploadBytes(ik, '/ext', 'now.png', png, { extensions: [{ name: 'google-auto-tagging', maxTags: 5, minConfidence: 0 }, { name: 'ai-auto-description' }] })
    expect(r.extensionStatus).toEqual({ 'google-auto-tagging': mode, 'ai-auto-description': mode })
    const updated = await ik.files.update(r.fileId!, { extensions: [{ name: 'ai-auto-description' }] })
    expect(updated.extensionStatus).toEqual({ 'ai-auto-description': mode })
    if (mode === 'success') {
      expect(r.AITags?.length).toBeGreaterThan(0)
      expect(r.description).toMatch(/PNG/)
      expect(updated.description).toMatch(/PNG/)
    } else {
      expect(r.AITags).toBeNull()
      expect(r).not.toHaveProperty('description')
      expect(updated).not.toHaveProperty('description')
    }
  })
})
