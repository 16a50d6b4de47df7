/**
 * Custom metadata fields (§4.17) through the official SDK (@imagekit/nodejs): the fields API, and uploads and
 * detail updates held to the fields, as the SDK's docs say ("create the custom metadata fields before setting
 * these values").
 */
import { BadRequestError, NotFoundError } from '@imagekit/nodejs'
import { describe, expect, it } from 'vitest'
import { rejectionOf, uploadBytes, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

describe('custom metadata fields (§4.17)', () => {
  it('creates, lists, updates and deletes a field in the shapes the SDK types', async () => {
    const field = await env.ik.customMetadataFields.create({ name: 'brand', label: 'Brand', schema: { type: 'SingleSelect', selectOptions: ['acme', 'other'] } })
    expect(field).toEqual({ id: expect.any(String), name: 'brand', label: 'Brand', schema: { type: 'SingleSelect', selectOptions: ['acme', 'other'] } })
    expect(await env.ik.customMetadataFields.list()).toContainEqual(field)
    const updated = await env.ik.customMetadataFields.update(field.id, { label: 'Maker', description: 'who made it' })
    expect(updated).toEqual({ ...field, label: 'Maker', description: 'who made it' })
    await env.ik.customMetadataFields.delete(field.id)
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
})
