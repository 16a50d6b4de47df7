/** Custom metadata fields (§4.17): the fields API, and files' customMetadata held to the account's fields. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestEmulator, type TestEmulator } from './helpers.js'

type Obj = Record<string, any>

describe('custom metadata fields', () => {
  let t: TestEmulator
  beforeAll(async () => { t = await startTestEmulator() })
  afterAll(async () => { await t.stop() })

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await t.api(method, path, body)
    const text = await res.text()
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any }
  }
  const create = (name: string, schema: Obj, label = name) => call('POST', '/v1/customMetadataFields', { name, label, schema })
  const details = async (fileId: string) => (await call('GET', `/v1/files/${fileId}/details`)).body as Obj

  it('creates, lists, updates and deletes fields; names stay taken after a delete, labels do not', async () => {
    const made = await create('sku', { type: 'Text', maxLength: 10 }, 'SKU')
    expect(made).toEqual({ status: 201, body: { id: expect.stringMatching(/^[0-9a-f]{24}$/), name: 'sku', label: 'SKU', schema: { type: 'Text', maxLength: 10 } } })
    const id = made.body.id as string
    expect((await call('GET', '/v1/customMetadataFields')).body).toContainEqual(made.body)
    expect(await create('sku', { type: 'Text' }, 'Other')).toMatchObject({ status: 400, body: { message: 'A custom metadata field with this name already exists.' } })
    expect(await create('sku2', { type: 'Text' }, 'SKU')).toMatchObject({ status: 400, body: { message: 'A custom metadata field with this label already exists.' } })

    // The type cannot change: it is ignored when sent, and the schema is checked against the field's own.
    const updated = await call('PATCH', `/v1/customMetadataFields/${id}`, { label: 'Stock unit', schema: { type: 'Number', minLength: 2 } })
    expect(updated).toEqual({ status: 200, body: { id, name: 'sku', label: 'Stock unit', schema: { type: 'Text', minLength: 2 } } })
    expect(await call('PATCH', `/v1/customMetadataFields/${id}`, { schema: { minValue: 3 } }))
      .toMatchObject({ status: 400, body: { message: 'Invalid field object', errors: { minValue: 'not allowed for this type' } } })
    expect(await call('PATCH', `/v1/customMetadataFields/${id}`, {})).toMatchObject({ status: 400, body: { message: 'Invalid field object' } })
    expect(await call('PATCH', `/v1/customMetadataFields/${id}`, { label: ' ' })).toMatchObject({ status: 400, body: { errors: { label: 'should be a non-empty string' } } })
    expect(await call('POST', '/v1/customMetadataFields', { label: 'No name', schema: { type: 'Text' } }))
      .toMatchObject({ status: 400, body: { errors: { name: 'is required and should be a non-empty string' } } })

    expect((await call('DELETE', `/v1/customMetadataFields/${id}`)).status).toBe(204)
    expect((await call('GET', '/v1/customMetadataFields')).body.map((f: Obj) => f.id)).not.toContain(id)
    expect((await call('GET', '/v1/customMetadataFields?includeDeleted=true')).body.map((f: Obj) => f.id)).toContain(id)
    expect((await call('DELETE', `/v1/customMetadataFields/${id}`)).status).toBe(404)
    expect((await call('PATCH', `/v1/customMetadataFields/${id}`, { label: 'x' })).status).toBe(404)
    expect((await create('sku', { type: 'Text' }, 'New label')).status).toBe(400)
    expect((await create('sku-again', { type: 'Text' }, 'SKU')).status).toBe(201)
  })

  it.each([
    [{}, { type: 'is required' }],
    [{ type: 'Colour' }, { type: 'should be one of Text, Textarea, Number, Date, Boolean, SingleSelect, MultiSelect' }],
    [{ type: 'Number', minValue: 'low', maxLength: 3 }, { minValue: 'should be of type number', maxLength: 'not allowed for this type' }],
    [{ type: 'Number', minValue: 5, maxValue: 1 }, { minValue: 'should not be more than maxValue' }],
    [{ type: 'Date', maxValue: 'tomorrow' }, { maxValue: 'should be a date in ISO 8601 format' }],
    [{ type: 'SingleSelect' }, { selectOptions: 'should be a non-empty array of strings, numbers or booleans' }],
    [{ type: 'Text', selectOptions: ['a'] }, { selectOptions: 'not allowed for this type' }],
    [{ type: 'Boolean', isValueRequired: true }, { defaultValue: 'is required when isValueRequired is true' }],
    [{ type: 'SingleSelect', selectOptions: ['S', 'M'], defaultValue: 'XL' }, { defaultValue: 'should be one of the field\'s selectOptions' }],
    [{ type: 'Text', shade: 'blue' }, { shade: 'is not allowed' }],
  ])('refuses the schema %j with every error named', async (schema, errors) => {
    expect(await create(`bad${Math.random().toString(16).slice(2)}`, schema)).toEqual({
      status: 400, body: { message: 'Invalid field object', help: expect.any(String), errors },
    })
  })

  it('holds uploads and detail updates to the fields: unknown keys and misfit values are refused and change nothing', async () => {
    await create('price', { type: 'Number', minValue: 1, maxValue: 100 })
    await create('shot', { type: 'Date', minValue: '2020-01-01T00:00:00.000Z' })
    await create('size', { type: 'SingleSelect', selectOptions: ['S', 'M', 'L'] })
    await create('colours', { type: 'MultiSelect', selectOptions: ['red', 'blue'] })
    await create('archived', { type: 'Boolean' })

    const refusedUpload = await t.upload({ file: Buffer.from('x'), fileName: 'u.txt', folder: '/cm-new', useUniqueFileName: 'false', customMetadata: '{"brand":"acme"}' })
    expect(refusedUpload.status).toBe(400)
    expect(await refusedUpload.json()).toMatchObject({ message: 'Invalid custom metadata.', errors: { brand: expect.stringContaining('is not a custom metadata field') } })
    expect((await call('GET', '/v1/files?type=all&path=/')).body.map((f: Obj) => f.name)).not.toContain('cm-new') // not even the folder

    const up = await t.put('/cm/f.txt', 'x', { customMetadata: JSON.stringify({ price: 5, size: 'M' }) })
    const fileId = up.fileId as string
    expect((await details(fileId)).customMetadata).toEqual({ price: 5, size: 'M' })
    for (const [sent, key] of [
      [{ price: 500 }, 'price'], [{ price: '5' }, 'price'], [{ shot: '2019-05-01' }, 'shot'], [{ shot: 'yesterday' }, 'shot'],
      [{ size: 'XL' }, 'size'], [{ colours: ['red', 'green'] }, 'colours'], [{ colours: 'red' }, 'colours'], [{ archived: 'yes' }, 'archived'],
    ] as const) {
      const res = await call('PATCH', `/v1/files/${fileId}/details`, { customMetadata: sent })
      expect(res, JSON.stringify(sent)).toMatchObject({ status: 400, body: { message: 'Invalid custom metadata.', errors: { [key]: expect.any(String) } } })
    }
    expect((await details(fileId)).customMetadata).toEqual({ price: 5, size: 'M' })
    const ok = await call('PATCH', `/v1/files/${fileId}/details`, { customMetadata: { price: null, shot: '2024-02-03T04:05:06.000Z', colours: ['blue'], archived: false } })
    expect(ok.body.customMetadata).toEqual({ size: 'M', shot: '2024-02-03T04:05:06.000Z', colours: ['blue'], archived: false })
  })

  it('gives a required field its default where no value is given, and refuses removing it', async () => {
    await create('licence', { type: 'SingleSelect', selectOptions: ['own', 'stock'], isValueRequired: true, defaultValue: 'own' })
    const up = await t.put('/req/a.txt', 'a', { responseFields: 'customMetadata' })
    expect(up.customMetadata).toMatchObject({ licence: 'own' })
    const set = await call('PATCH', `/v1/files/${up.fileId as string}/details`, { customMetadata: { licence: 'stock' } })
    expect(set.body.customMetadata).toMatchObject({ licence: 'stock' })
    expect(await call('PATCH', `/v1/files/${up.fileId as string}/details`, { customMetadata: { licence: null } }))
      .toMatchObject({ status: 400, body: { errors: { licence: 'is required and cannot be removed' } } })
    const kept = await t.put('/req/a.txt', 'b', { overwriteCustomMetadata: 'false', responseFields: 'customMetadata' })
    expect(kept.customMetadata).toMatchObject({ licence: 'stock' })
    const reset = await t.put('/req/a.txt', 'c', { responseFields: 'customMetadata' })
    expect(reset.customMetadata).toMatchObject({ licence: 'own' })
  })

  it('keeps fields across a restart', async () => {
    const made = await create('persisted', { type: 'Textarea', minLength: 1 }, 'Persisted')
    await call('DELETE', `/v1/customMetadataFields/${(await create('gone', { type: 'Text' })).body.id as string}`)
    await t.restart()
    const all = (await call('GET', '/v1/customMetadataFields?includeDeleted=true')).body as Obj[]
    expect(all).toContainEqual(made.body)
    expect(all.map((f) => f.name)).toContain('gone')
    expect((await call('GET', '/v1/customMetadataFields')).body.map((f: Obj) => f.name)).not.toContain('gone')
  })
})
