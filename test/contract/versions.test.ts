/**
 * File versions through the official SDK: overwrite creates a version (§5.2), list/get/delete/restore (§4.10),
 * and old versions stay deliverable at their own `url` (`ik-obj-version`, §6.2).
 */
import { BadRequestError, ImageKit, NotFoundError } from '@imagekit/nodejs'
import { beforeAll, describe, expect, it } from 'vitest'
import { expectFileObject, expectUploadResponse } from './shapes.js'
import { fetchBytes, noContent, rejectionOf, uploadBytes, withOrig, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

const v1Bytes = Buffer.from('version one\n')
const v2Bytes = Buffer.from('version two, longer\n')
const v3Bytes = Buffer.from('three\n')

describe('versions', () => {
  let fileId: string
  let v1Id: string
  let v2Id: string

  beforeAll(async () => {
    const first = await uploadBytes(env.ik, '/contract/versions', 'notes.txt', v1Bytes, { tags: ['v1'] })
    fileId = first.fileId!
    v1Id = first.versionInfo!.id!
  })

  it('overwriting the same path keeps the fileId and adds Version 2', async () => {
    const second = await uploadBytes(env.ik, '/contract/versions', 'notes.txt', v2Bytes)
    expectUploadResponse(second, { fileId, size: v2Bytes.length, versionInfo: { id: expect.any(String), name: 'Version 2' } })
    v2Id = second.versionInfo!.id!
    expect(v2Id).not.toBe(v1Id)
    // §5.2: overwrite drops tags that were not resent.
    expect(await env.ik.files.get(fileId)).toMatchObject({ size: v2Bytes.length, tags: null, versionInfo: { id: v2Id } })
  })

  it('lists the current version (file) and the older one (file-version)', async () => {
    const versions = await env.ik.files.versions.list(fileId)
    expect(versions).toHaveLength(2)
    for (const v of versions) expectFileObject(v, { fileId, name: 'notes.txt', filePath: '/contract/versions/notes.txt' })
    const byId = new Map(versions.map((v) => [v.versionInfo?.id, v]))
    expect(byId.get(v2Id)).toMatchObject({ type: 'file', size: v2Bytes.length })
    expect(byId.get(v1Id)).toMatchObject({ type: 'file-version', size: v1Bytes.length, versionInfo: { name: 'Version 1' } })
  })

  it('shows older versions only with type=file-version', async () => {
    const current = await env.ik.assets.list({ path: '/contract/versions' })
    expect(current.map((f) => (f as ImageKit.File).versionInfo?.id)).toEqual([v2Id])
    const old = await env.ik.assets.list({ path: '/contract/versions', type: 'file-version' })
    expect(old).toHaveLength(1)
    expectFileObject(old[0]!, { type: 'file-version', fileId, versionInfo: { id: v1Id, name: 'Version 1' } })
  })

  it('gets one version, whose own url delivers that version\'s bytes', async () => {
    const v1 = await env.ik.files.versions.get(v1Id, { fileId })
    expectFileObject(v1, { type: 'file-version', fileId, size: v1Bytes.length, versionInfo: { id: v1Id } })
    expect(v1.url).toMatch(/[?&]ik-obj-version=[A-Za-z0-9._]+/)
    const old = await fetchBytes(withOrig(v1.url!))
    expect(old.status).toBe(200)
    expect(old.bytes.equals(v1Bytes)).toBe(true)
    const current = await env.ik.files.get(fileId)
    expect((await fetchBytes(withOrig(current.url!))).bytes.equals(v2Bytes)).toBe(true)
  })

  it('restores an old version as the current one', async () => {
    const restored = await env.ik.files.versions.restore(v1Id, { fileId })
    expectFileObject(restored, { type: 'file', fileId, size: v1Bytes.length })
    const details = await env.ik.files.get(fileId)
    expect(details.size).toBe(v1Bytes.length)
    expect((await fetchBytes(withOrig(details.url!))).bytes.equals(v1Bytes)).toBe(true)
  })

  it('deletes a non-current version but refuses the current one', async () => {
    await uploadBytes(env.ik, '/contract/versions', 'notes.txt', v3Bytes)
    const before = await env.ik.files.versions.list(fileId)
    const current = before.find((v) => v.type === 'file')!
    const old = before.find((v) => v.type === 'file-version')!
    expect(await noContent(env.ik.files.versions.delete(old.versionInfo!.id!, { fileId }))).toBe(204)
    const after = await env.ik.files.versions.list(fileId)
    expect(after).toHaveLength(before.length - 1)
    expect(after.map((v) => v.versionInfo?.id)).not.toContain(old.versionInfo?.id)
    const e = await rejectionOf(() => env.ik.files.versions.delete(current.versionInfo!.id!, { fileId }))
    expect(e).toBeInstanceOf(BadRequestError)
    expect((e as BadRequestError).error).toMatchObject({ message: 'You cannot delete current version of a file.' })
  })

  it('answers 404 for an unknown version', async () => {
    const e = await rejectionOf(() => env.ik.files.versions.get('aaaaaaaaaaaaaaaaaaaaaaaa', { fileId }))
    expect(e).toBeInstanceOf(NotFoundError)
  })

  it('restore tells a missing file from a missing version, as its docs page does (404 each)', async () => {
    const unknown = 'aaaaaaaaaaaaaaaaaaaaaaaa'
    const noFile = await rejectionOf(() => env.ik.files.versions.restore(v1Id, { fileId: unknown }))
    expect(noFile).toBeInstanceOf(NotFoundError)
    expect((noFile as NotFoundError).error).toMatchObject({ message: 'The requested file does not exist.' })
    const noVersion = await rejectionOf(() => env.ik.files.versions.restore(unknown, { fileId }))
    expect(noVersion).toBeInstanceOf(NotFoundError)
    expect((noVersion as NotFoundError).error).toMatchObject({ message: 'The requested file version does not exist.' })
  })

  it('deleting the file removes every version', async () => {
    await env.ik.files.delete(fileId)
    expect(await rejectionOf(() => env.ik.files.versions.list(fileId))).toBeInstanceOf(NotFoundError)
    expect(await env.ik.assets.list({ path: '/contract/versions', type: 'file-version' })).toEqual([])
  })
})
