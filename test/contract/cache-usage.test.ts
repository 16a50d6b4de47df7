/** Cache purge and its status (§4.14), and account usage (§4.16), through the official SDK. */
import { BadRequestError } from '@imagekit/nodejs'
import { describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { waitFor } from '../helpers/emulator.js'
import { isoDay, rejectionOf, uploadBytes, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

const DAY_MS = 86_400_000

describe('purge', () => {
  it('queues a purge of a file URL and reports it Pending, then Completed', async () => {
    await uploadBytes(env.ik, '/purge/some/deep', 'p.png', makePng(8, 8))
    const created = await env.ik.cache.invalidation.create({ url: `${env.t.urlEndpoint}/purge/some/deep/p.png` })
    expect(Object.keys(created)).toEqual(['requestId'])
    expect(typeof created.requestId).toBe('string')
    const seen = new Set<string | undefined>()
    await waitFor(async () => {
      const { status } = await env.ik.cache.invalidation.get(created.requestId!)
      seen.add(status)
      return status === 'Completed' ? status : undefined
    }, 'purge Completed')
    expect([...seen].every((s) => s === 'Pending' || s === 'Completed')).toBe(true)
  })

  it('accepts a wildcard on a deep enough path', async () => {
    const created = await env.ik.cache.invalidation.create({ url: `${env.t.urlEndpoint}/purge/some/deep/*` })
    expect(typeof created.requestId).toBe('string')
  })

  it('refuses a wildcard on a short one-level path, or inside the path (400, the documented rule)', async () => {
    for (const tail of ['/purge*', '/purge/*', '/purge/*/deep/p.png']) {
      const e = await rejectionOf(() => env.ik.cache.invalidation.create({ url: `${env.t.urlEndpoint}${tail}` }))
      expect(e, tail).toBeInstanceOf(BadRequestError)
      expect((e as BadRequestError).error).toMatchObject({ message: 'The URL is not valid for cache purging.' })
    }
  })

  it('refuses a URL outside the account (400)', async () => {
    const e = await rejectionOf(() => env.ik.cache.invalidation.create({ url: 'https://example.com/elsewhere/file.png' }))
    expect(e).toBeInstanceOf(BadRequestError)
    expect((e as BadRequestError).error).toMatchObject({ message: expect.any(String), help: expect.any(String) })
  })

  it('answers 400 for an unknown request id', async () => {
    const e = await rejectionOf(() => env.ik.cache.invalidation.get('000000000000000000000000'))
    expect(e).toBeInstanceOf(BadRequestError)
  })
})

describe('account usage', () => {
  it('returns the five counters as integers, storage covering what was uploaded', async () => {
    const bytes = makePng(100, 100)
    await uploadBytes(env.ik, '/usage', 'u.png', bytes)
    const now = Date.now()
    const usage = await env.ik.accounts.usage.get({ startDate: isoDay(new Date(now - 30 * DAY_MS)), endDate: isoDay(new Date(now + DAY_MS)) })
    expect(Object.keys(usage).sort()).toEqual([
      'bandwidthBytes', 'extensionUnitsCount', 'mediaLibraryStorageBytes', 'originalCacheStorageBytes', 'videoProcessingUnitsCount',
    ])
    for (const value of Object.values(usage)) expect(Number.isInteger(value)).toBe(true)
    expect(usage.mediaLibraryStorageBytes).toBeGreaterThanOrEqual(bytes.length)
  })

  it('refuses a range over 90 days and a start after the end (400)', async () => {
    const now = Date.now()
    const tooLong = await rejectionOf(() =>
      env.ik.accounts.usage.get({ startDate: isoDay(new Date(now - 120 * DAY_MS)), endDate: isoDay(new Date(now)) }),
    )
    expect(tooLong).toBeInstanceOf(BadRequestError)
    const reversed = await rejectionOf(() =>
      env.ik.accounts.usage.get({ startDate: isoDay(new Date(now)), endDate: isoDay(new Date(now - 5 * DAY_MS)) }),
    )
    expect(reversed).toBeInstanceOf(BadRequestError)
  })
})
