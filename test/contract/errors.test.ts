/**
 * The SDK's error classes by status, each reached through a real error path of the emulator (§1 error body,
 * §4 per-endpoint errors). The SDK picks the class from the status alone, so these pin the statuses.
 */
import {
  AuthenticationError, BadRequestError, ConflictError, ImageKit, NotFoundError, PermissionDeniedError, RateLimitError,
} from '@imagekit/nodejs'
import type { APIError } from '@imagekit/nodejs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startTestEmulator } from '../helpers/emulator.js'
import type { TestEmulator } from '../helpers/emulator.js'
import { rejectionOf, sdkFor, uploadBytes } from './sdk.js'

let t: TestEmulator
let ik: ImageKit

beforeAll(async () => {
  t = await startTestEmulator()
  ik = sdkFor(t)
})
afterEach(() => {
  t.emu.faults.reset()
})
afterAll(async () => {
  await t?.stop()
})

const SUPPORT_HELP = 'For support kindly contact us at support@imagekit.io.'

/** §1: every error body is `{ message, help, reason? }`. */
function expectErrorBody(e: unknown, status: number, message?: string | RegExp): void {
  const error = (e as APIError).error as Record<string, unknown>
  expect((e as APIError).status).toBe(status)
  expect(typeof error.message).toBe('string')
  expect(error.help).toBe(SUPPORT_HELP)
  if (error.reason !== undefined) expect(error.reason).toMatch(/^[A-Z_]+$/)
  if (message !== undefined) expect(error.message).toMatch(message)
}

describe('error classes', () => {
  it('400 BadRequestError: list limit over 1000', async () => {
    const e = await rejectionOf(() => ik.assets.list({ limit: 2000 }))
    expect(e).toBeInstanceOf(BadRequestError)
    expectErrorBody(e, 400, 'Maximum value of limit parameter is 1000. Value sent is 2000.')
  })

  it('400 BadRequestError: negative skip and an unknown type', async () => {
    const skip = await rejectionOf(() => ik.assets.list({ skip: -1 }))
    expect(skip).toBeInstanceOf(BadRequestError)
    expectErrorBody(skip, 400, 'The value of skip parameter should be greater than or equal to 0. Value sent is -1.')
    const type = await rejectionOf(() => ik.assets.list({ type: 'everything' as 'all' }))
    expect(type).toBeInstanceOf(BadRequestError)
    expectErrorBody(type, 400, /invalid value for type parameter/)
  })

  it('401 AuthenticationError: no Authorization header', async () => {
    const e = await rejectionOf(() => ik.assets.list({}, { headers: { Authorization: null } }))
    expect(e).toBeInstanceOf(AuthenticationError)
    expectErrorBody(e, 401, 'Your request does not contain private API key.')
  })

  it('401 AuthenticationError on upload without a key too', async () => {
    const e = await rejectionOf(() =>
      ik.files.upload({ file: new File([Buffer.from('x')], 'x.txt'), fileName: 'x.txt' }, { headers: { Authorization: null } }),
    )
    expect(e).toBeInstanceOf(AuthenticationError)
    expectErrorBody(e, 401)
  })

  it('400 BadRequestError: bulk delete with an empty list', async () => {
    const e = await rejectionOf(() => ik.files.bulk.delete({ fileIds: [] }))
    expect(e).toBeInstanceOf(BadRequestError)
    expectErrorBody(e, 400)
  })

  it('403 PermissionDeniedError: a wrong private key, on the Media API and on upload', async () => {
    const wrong = sdkFor(t, { privateKey: `${t.privateKey}x` })
    const e = await rejectionOf(() => wrong.assets.list())
    expect(e).toBeInstanceOf(PermissionDeniedError)
    expectErrorBody(e, 403, 'Your account cannot be authenticated.')
    const upload = await rejectionOf(() => uploadBytes(wrong, '/err', 'x.txt', Buffer.from('x\n')))
    expect(upload).toBeInstanceOf(PermissionDeniedError)
  })

  it('404 NotFoundError: details of an unknown fileId', async () => {
    const e = await rejectionOf(() => ik.files.get('0123456789abcdef01234567'))
    expect(e).toBeInstanceOf(NotFoundError)
    expectErrorBody(e, 404, 'The requested file does not exist.')
  })

  it('409 ConflictError: rename onto an existing name (FILE_ALREADY_EXISTS)', async () => {
    await uploadBytes(ik, '/err', 'one.txt', Buffer.from('1\n'))
    await uploadBytes(ik, '/err', 'two.txt', Buffer.from('2\n'))
    const e = await rejectionOf(() => ik.files.rename({ filePath: '/err/one.txt', newFileName: 'two.txt' }))
    expect(e).toBeInstanceOf(ConflictError)
    expectErrorBody(e, 409)
    expect((e as ConflictError).error).toMatchObject({ reason: 'FILE_ALREADY_EXISTS' })
  })

  it('400 on upload: overwriteFile=false onto an existing file', async () => {
    await uploadBytes(ik, '/err', 'keep.txt', Buffer.from('keep\n'))
    const e = await rejectionOf(() => uploadBytes(ik, '/err', 'keep.txt', Buffer.from('other\n'), { overwriteFile: false }))
    expect(e).toBeInstanceOf(BadRequestError)
    expectErrorBody(e, 400, /already exists/)
  })

  // The account-settings calls @imagekit/nodejs exposes that the emulator does not emulate: each answers at once
  // with the API's own error shape (404, message and help, a request id), never a crash or a hang.
  it.each([
    ['accounts.origins.list', () => ik.accounts.origins.list()],
    ['accounts.origins.create', () => ik.accounts.origins.create({ type: 'WEB_FOLDER', name: 'o', baseUrl: 'https://example.com' } as never)],
    ['accounts.urlEndpoints.list', () => ik.accounts.urlEndpoints.list()],
    ['accounts.usageAnalytics', () => (ik.accounts as unknown as { usageAnalytics: { get(q: unknown): Promise<unknown> } }).usageAnalytics.get({ startDate: '2026-01-01', endDate: '2026-01-02' })],
    ['savedExtensions.list', () => ik.savedExtensions.list()],
    ['savedExtensions.create', () => ik.savedExtensions.create({ name: 'x', description: 'x', config: { name: 'remove-bg' } } as never)],
    ['namedTransformations.list', () => (ik as unknown as { namedTransformations: { list(): Promise<unknown> } }).namedTransformations.list()],
  ])('404 NotFoundError for %s, which the emulator does not emulate, saying so', async (_name, call) => {
    const e = await rejectionOf(call)
    expect(e).toBeInstanceOf(NotFoundError)
    expectErrorBody(e, 404, /^The ImageKit emulator does not emulate the (origins|URL endpoints|usage analytics|saved extensions|named transformations) API \((GET|POST) \/[a-z/-]+\)\.$/)
    expect((e as NotFoundError).headers.get('x-ik-requestid')).toMatch(/\S/)
  })

  it('every error answer carries a request id and the support help, whatever the call', async () => {
    const up = await uploadBytes(ik, '/err', 'ids.txt', Buffer.from('ids\n'))
    const failures: Array<[string, () => Promise<unknown>]> = [
      ['list', () => ik.assets.list({ limit: 0 })],
      ['details', () => ik.files.get('0123456789abcdef01234567')],
      ['update', () => ik.files.update(up.fileId!, { tags: 'x' as never })],
      ['versions.get', () => ik.files.versions.get('0123456789abcdef01234567', { fileId: up.fileId! })],
      ['versions.delete current', () => ik.files.versions.delete(up.versionInfo!.id!, { fileId: up.fileId! })],
      ['copy', () => ik.files.copy({ sourceFilePath: '/err/none.txt', destinationPath: '/err2' })],
      ['move', () => ik.files.move({ sourceFilePath: '/err/ids.txt', destinationPath: '/err' })],
      ['rename', () => ik.files.rename({ filePath: '/err/ids.txt', newFileName: 'ids.txt' })],
      ['bulk delete', () => ik.files.bulk.delete({ fileIds: ['0123456789abcdef01234567'] })],
      ['bulk addTags', () => ik.files.bulk.addTags({ fileIds: ['0123456789abcdef01234567'], tags: ['t'] })],
      ['folder delete', () => ik.folders.delete({ folderPath: '/err/none' })],
      ['folder copy', () => ik.folders.copy({ sourceFolderPath: '/err/none', destinationPath: '/err2' })],
      ['job', () => ik.folders.job.get('0123456789abcdef01234567')],
      ['field delete', () => ik.customMetadataFields.delete('0123456789abcdef01234567')],
      ['usage', () => ik.accounts.usage.get({ startDate: '2026-01-02', endDate: '2026-01-01' })],
      ['purge', () => ik.cache.invalidation.create({ url: 'https://elsewhere.example/demo/a.jpg' })],
      ['purge status', () => ik.cache.invalidation.get('nope')],
      ['metadata', () => ik.files.metadata.get('0123456789abcdef01234567')],
      ['upload', () => ik.files.upload({ file: '', fileName: 'empty.txt' })],
    ]
    for (const [name, call] of failures) {
      const e = (await rejectionOf(call)) as APIError
      expect(e.status, name).toBeGreaterThanOrEqual(400)
      expect(e.status, name).toBeLessThan(500)
      expect((e.error as Record<string, unknown>).help, name).toBe(SUPPORT_HELP)
      expect(typeof (e.error as Record<string, unknown>).message, name).toBe('string')
      expect(e.headers?.get('x-ik-requestid'), name).toMatch(/\S/)
    }
  })

  it('429 RateLimitError with the X-RateLimit-* headers; upload is not rate limited', async () => {
    t.emu.faults.set({ rateLimit: { perSecond: 50 }, rateLimitStorm: true })
    const e = await rejectionOf(() => ik.assets.list())
    expect(e).toBeInstanceOf(RateLimitError)
    const headers = (e as RateLimitError).headers
    expect(Number(headers.get('x-ratelimit-limit'))).toBeGreaterThan(0)
    expect(Number.isFinite(Number(headers.get('x-ratelimit-reset')))).toBe(true)
    expect(Number(headers.get('x-ratelimit-interval'))).toBeGreaterThan(0)
    expect(typeof ((e as RateLimitError).error as { message?: unknown }).message).toBe('string')
    const up = await uploadBytes(ik, '/err', 'during-storm.txt', Buffer.from('ok\n'))
    expect(up.name).toBe('during-storm.txt')
  })
})
