/**
 * Custom metadata fields (§4.17) through the official SDK (@imagekit/nodejs): the fields API, and uploads and
 * detail updates held to the fields, as the SDK's docs say ("create the custom metadata fields before setting
 * these values").
 */
import { BadRequestError, NotFoundError } from '@imagekit/nodejs'
import { describe, expect, it } from 'vitest'
import { startTestEmulator } from '../helpers/emulator.js'
import { noContent, rejectionOf, routeV6MediaApiTo, sdkFor, uploadBytes, useSdkEmulator, v6For } from './sdk.js'

const env = useSdkEmulator()

describe('custom metadata fields (§4.17)', () => {
  it('creates, lists, updates and deletes a field in the shapes the SDK types', async () => {
    const field = await env.ik.customMetadataFields.create({ name: 'brand', label: 'Brand', schema: { type: 'SingleSelect', selectOptions: ['acme', 'other'] } })
    expect(field).toEqual({ id: expect.any(String), name: 'brand', label: 'Brand', schema: { type: 'SingleSelect', selectOptions: ['acme', 'other'] } })
    expect(await env.ik.customMetadataFields.list()).toContainEqual(field)
    const updated = await env.ik.customMetadataFields.update(field.id, { label: 'Maker', description: 'who made it' })
    expect(updated).toEqual({ ...field, label: 'Maker', description: 'who made it' })
    expect(await noContent(env.ik.customMetadataFields.delete(field.id))).toBe(204)
    expect(await env.ik.customMetadataFields.list()).not.toContainEqual(expect.objectContaining({ id: field.id }))
    expect(await env.ik.customMetadataFields.list({ includeDeleted: true })).toContainEqual(expect.objectContaining({ id: field.id, name: 'brand' }))
    expect(await rejectionOf(() => env.ik.customMetadataFields.delete(field.id))).toBeInstanceOf(NotFoundError)
    const bad = await rejectionOf(() => env.ik.customMetadataFields.create({ name: 'rating', label: 'Rating', schema: { type: 'Number', minLength: 1 } }))
    expect(bad).toBeInstanceOf(BadRequestError)
    expect((bad as BadRequestError).error).toMatchObject({ message: 'Invalid field object', errors: { minLength: 'not allowed for this type' } })
  })

  it('stores customMetadata of defined fields on upload and update, and refuses any other', async () => {
    await env.ik.customMetadataFields.create({ name: 'rating', label: 'Rating', schema: { type: 'Number', minValue: 1, maxValue: 5 } })
    const up = await uploadBytes(env.ik, '/contract/cmf', 'a.txt', Buffer.from('a'), { customMetadata: { rating: 4 }, responseFields: ['customMetadata'] })
    expect(up.customMetadata).toEqual({ rating: 4 })
    const refused = await rejectionOf(() => env.ik.files.update(up.fileId!, { customMetadata: { rating: 9, mood: 'calm' } }))
    expect(refused).toBeInstanceOf(BadRequestError)
    expect((refused as BadRequestError).error).toMatchObject({ message: 'Invalid custom metadata.', errors: { rating: 'should be at most 5', mood: expect.any(String) } })
    expect((await env.ik.files.get(up.fileId!)).customMetadata).toEqual({ rating: 4 })
    const refusedUpload = await rejectionOf(() => uploadBytes(env.ik, '/contract/cmf', 'b.txt', Buffer.from('b'), { customMetadata: { mood: 'calm' } }))
    expect(refusedUpload).toBeInstanceOf(BadRequestError)
  })

  it('customFieldDeleteStatus 200: the delete answers the `{}` body SDK 7 types, and both SDKs take either answer', async () => {
    const t = await startTestEmulator({ customFieldDeleteStatus: 200 })
    const unroute = routeV6MediaApiTo(t)
    try {
      const ik = sdkFor(t)
      const first = await ik.customMetadataFields.create({ name: 'shade', label: 'Shade', schema: { type: 'Text' } })
      const { data, response } = await ik.customMetadataFields.delete(first.id).withResponse()
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^application\/json/)
      expect(data).toEqual({})
      const second = await ik.customMetadataFields.create({ name: 'tone', label: 'Tone', schema: { type: 'Text' } })
      const v6Answer = (r: unknown) => ({ body: r, status: (r as { $ResponseMetadata: { statusCode: number } }).$ResponseMetadata.statusCode })
      expect(v6Answer(await v6For(t).deleteCustomMetadataField(second.id))).toEqual({ body: {}, status: 200 })
      const third = await env.ik.customMetadataFields.create({ name: 'hue', label: 'Hue', schema: { type: 'Text' } })
      const unrouteDefault = routeV6MediaApiTo(env.t)
      try {
        expect(v6Answer(await v6For(env.t).deleteCustomMetadataField(third.id))).toEqual({ body: {}, status: 204 })
      } finally {
        unrouteDefault()
      }
    } finally {
      unroute()
      await t.stop()
    }
  })
})
