/** Extensions answered `pending` (extensions.ts): when their stand-in results are stored, and on which version. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { makePng, startTestEmulator, waitFor, type TestEmulator } from './helpers.js'

type Obj = Record<string, any>

describe('pending extensions', () => {
  const PENDING_MS = 1_000
  let clock: ManualClock
  let t: TestEmulator
  beforeEach(async () => {
    clock = new ManualClock(1_800_000_000_000)
    t = await startTestEmulator({ clock, jobPendingMs: PENDING_MS })
  })
  afterEach(async () => { await t.stop() })

  const details = async (fileId: string): Promise<Obj> => (await t.api('GET', `/v1/files/${fileId}/details`)).json() as Promise<Obj>
  const tagging = JSON.stringify([{ name: 'google-auto-tagging', maxTags: 10, minConfidence: 0 }])

  it('results are stored when the pending time has passed, not before', async () => {
    const up = await t.put('/ext/a.png', makePng(8, 4), { extensions: tagging })
    expect(up.extensionStatus).toEqual({ 'google-auto-tagging': 'pending' })
    clock.advance(PENDING_MS - 1)
    expect((await details(up.fileId as string)).AITags).toBeNull()
    clock.advance(1)
    await waitFor(async () => (await details(up.fileId as string)).AITags !== null)
    const file = await details(up.fileId as string)
    expect(file.AITags.map((tag: Obj) => tag.name)).toEqual(['Image', 'PNG', 'Landscape'])
    expect(file.updatedAt).toBe(new Date(clock.now()).toISOString())
  })

  it('an extension with no stand-in result (remove-bg) leaves the file as it was: same updatedAt, same url', async () => {
    const bg = await t.put('/ext/bg.png', makePng(8, 8), { extensions: JSON.stringify([{ name: 'remove-bg' }]) })
    expect(bg.extensionStatus).toEqual({ 'remove-bg': 'pending' })
    const before = await details(bg.fileId as string)
    const marker = await t.put('/ext/marker.png', makePng(8, 8), { extensions: tagging }) // due at the same time
    clock.advance(PENDING_MS)
    await waitFor(async () => (await details(marker.fileId as string)).AITags !== null)
    expect(await details(bg.fileId as string)).toEqual(before)
  })

  it('a file overwritten while its extensions were pending: the new version gets nothing', async () => {
    const first = await t.put('/ext/over.png', makePng(8, 8), { extensions: tagging })
    await t.put('/ext/over.png', makePng(6, 6))
    const marker = await t.put('/ext/marker2.png', makePng(8, 8), { extensions: tagging })
    clock.advance(PENDING_MS)
    await waitFor(async () => (await details(marker.fileId as string)).AITags !== null)
    expect((await details(first.fileId as string)).AITags).toBeNull()
  })
})
