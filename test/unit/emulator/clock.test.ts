/**
 * The emulator's time is its clock option's, also in the Date header of every answer (Node's http server
 * stamps the machine's own): a client comparing clocks (`ikfs doctor`, `ikfs mount`) sees an emulator started
 * with a skewed clock as skewed, as it would a real ImageKit whose clock differs from the machine's.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { expiryFor, signUrl } from '../../../src/imagekit/sign.js'
import { PRIVATE_KEY, basicAuth, startTestEmulator, type TestEmulator } from './helpers.js'

/** 2023-11-14T22:13:20Z: years away from the machine's clock, so the machine's time cannot pass for it. */
const FROZEN_MS = 1_700_000_000_000

describe("the emulator's Date header", () => {
  let t: TestEmulator | undefined
  afterEach(async () => { await t?.stop(); t = undefined })

  it('follows its clock on every host and status: the Media API, the upload host, the URL endpoint, errors', async () => {
    const clock = new ManualClock(FROZEN_MS)
    t = await startTestEmulator({ clock })
    const stamp = (ms: number) => new Date(ms).toUTCString()
    const uploaded = await t.upload({ file: { data: Buffer.from('bytes'), filename: 'a.txt' }, fileName: 'a.txt', useUniqueFileName: 'false' })
    expect(uploaded.status).toBe(200)
    expect(uploaded.headers.get('date')).toBe(stamp(FROZEN_MS))
    await uploaded.arrayBuffer()
    clock.advance(90_000)
    const listed = await t.api('GET', '/v1/files?limit=1')
    expect(listed.status).toBe(200)
    expect(listed.headers.get('date')).toBe(stamp(FROZEN_MS + 90_000))
    expect(((await listed.json()) as { createdAt: string }[]).map((f) => Date.parse(f.createdAt))).toEqual([FROZEN_MS])
    const read = await fetch(`${t.emu.urlEndpoint}/a.txt`)
    expect([read.status, await read.text()]).toEqual([200, 'bytes'])
    expect(read.headers.get('date')).toBe(stamp(FROZEN_MS + 90_000))
    const missing = await fetch(`${t.emu.urlEndpoint}/missing.txt`)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('date')).toBe(stamp(FROZEN_MS + 90_000))
    const refused = await fetch(`${t.emu.url}/v1/files`, { headers: { authorization: basicAuth('private_wrong') } })
    expect(refused.status).toBe(403)
    expect(refused.headers.get('date')).toBe(stamp(FROZEN_MS + 90_000))
    await Promise.all([read, missing, refused].map((r) => r.arrayBuffer().catch(() => undefined)))
  })

  it('clockOffsetMs (--clock-offset-ms) sets its clock ahead of the machine\'s: Date, and the expiry of signed URLs', async () => {
    const aheadMs = 2 * 3600_000
    t = await startTestEmulator({ clockOffsetMs: aheadMs, restrictUnsigned: true })
    await t.put('/a.txt', 'bytes')
    const listed = await t.api('GET', '/v1/files?limit=1')
    await listed.arrayBuffer()
    // A minute either way is the request's time and the header's second, nothing like the 2 hours.
    expect(Math.abs(Date.parse(listed.headers.get('date') ?? '') - (Date.now() + aheadMs))).toBeLessThan(60_000)
    const signed = (lifetimeSeconds: number) => signUrl({
      url: `${t!.emu.urlEndpoint}/a.txt`, urlEndpoint: t!.emu.urlEndpoint, privateKey: PRIVATE_KEY, expiresAt: expiryFor(Date.now(), lifetimeSeconds),
    })
    // Signed for an hour by this machine's clock: already expired by the emulator's, as by an ImageKit 2 h ahead.
    const refused = await fetch(signed(3600))
    await refused.arrayBuffer()
    expect([refused.status, refused.headers.get('ik-error')]).toEqual([401, 'EUNAUTHORIZED - The signed URL has expired.'])
    const served = await fetch(signed(3 * 3600))
    expect([served.status, await served.text()]).toEqual([200, 'bytes'])
  })
})
