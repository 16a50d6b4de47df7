/** Fault injection (faults.ts) and the /_emulator admin routes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPrng, FaultInjector, defaultFaultSettings } from '../../../src/emulator/faults.js'
import { basicAuth, startTestEmulator, type TestEmulator } from './helpers.js'

describe('FaultInjector', () => {
  it('is deterministic per seed and restarts its sequence on reset', () => {
    const a = createPrng(42), b = createPrng(42)
    const seqA = Array.from({ length: 5 }, a), seqB = Array.from({ length: 5 }, b)
    expect(seqA).toEqual(seqB)
    const f = new FaultInjector({ ...defaultFaultSettings(0), errorRate: 0.5, seed: 7 })
    const run = () => Array.from({ length: 20 }, () => f.decide('api').errorStatus)
    const first = run()
    f.reset()
    expect(run()).toEqual(first)
    expect(first.some((s) => s !== undefined) && first.some((s) => s === undefined)).toBe(true)
  })

  it('hits only its scopes and validates settings', () => {
    const f = new FaultInjector({ ...defaultFaultSettings(0), errorRate: 1, scope: ['upload'] })
    expect(f.decide('api').errorStatus).toBeUndefined()
    expect([500, 502, 503, 504]).toContain(f.decide('upload').errorStatus)
    expect(() => f.set({ errorRate: 2 })).toThrow(/errorRate/)
    expect(() => f.set({ scope: ['moon' as never] })).toThrow(/scope/)
  })
})

describe('faults over HTTP', () => {
  let t: TestEmulator
  beforeAll(async () => {
    t = await startTestEmulator()
    await t.put('/f/big.bin', Buffer.alloc(256 * 1024, 7))
  })
  afterAll(async () => { await t.stop() })

  it('injects 5xx with the JSON error body, only in scope', async () => {
    t.emu.faults.set({ errorRate: 1, errorStatuses: [503], scope: ['api'] })
    const res = await t.api('GET', '/v1/files')
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ message: expect.stringMatching(/injected/), help: expect.any(String) })
    expect((await fetch(t.emu.urlEndpoint + '/f/big.bin')).status).toBe(200)
    t.emu.faults.reset()
    expect((await t.api('GET', '/v1/files')).status).toBe(200)
  })

  it('resets the connection mid-body', async () => {
    t.emu.faults.set({ resetRate: 1, scope: ['delivery'] })
    const res = await fetch(t.emu.urlEndpoint + '/f/big.bin')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe(String(256 * 1024))
    await expect(res.arrayBuffer()).rejects.toThrow()
    t.emu.faults.reset()
    expect((await (await fetch(t.emu.urlEndpoint + '/f/big.bin')).arrayBuffer()).byteLength).toBe(256 * 1024)
  })

  it('admin routes: health without auth, faults with the private key', async () => {
    const health = await fetch(t.emu.url + '/_emulator/health')
    expect(await health.json()).toMatchObject({ status: 'ok', files: 1 })
    expect((await fetch(t.emu.url + '/_emulator/faults')).status).toBe(401)
    expect((await fetch(t.emu.url + '/_emulator/faults', { headers: { authorization: basicAuth('private_nope') } })).status).toBe(403)
    const set = await t.api('POST', '/_emulator/faults', { errorRate: 1, errorStatuses: [502], scope: ['upload'] })
    expect(await set.json()).toMatchObject({ errorRate: 1, errorStatuses: [502], scope: ['upload'] })
    expect(t.emu.faults.get().errorRate).toBe(1)
    expect((await t.upload({ file: Buffer.from('x'), fileName: 'x.txt' })).status).toBe(502)
    expect((await t.api('POST', '/_emulator/faults', { errorRate: 'lots' })).status).toBe(400)
    await t.api('POST', '/_emulator/faults', { errorRate: 0 })
    expect((await t.upload({ file: Buffer.from('x'), fileName: 'x.txt' })).status).toBe(200)
    const read = (await (await t.api('GET', '/_emulator/faults')).json()) as { rateLimit: { perSecond: number } }
    expect(read.rateLimit).toEqual({ perSecond: 0 })
  })

  it('changes rangeIgnoreRate at run time, as --range-ignore-rate sets it, and refuses unknown settings', async () => {
    t.emu.faults.reset()
    const ranged = () => fetch(t.emu.urlEndpoint + '/f/big.bin', { headers: { range: 'bytes=0-9' } })
    expect((await ranged()).status).toBe(206)
    const set = await t.api('POST', '/_emulator/faults', { rangeIgnoreRate: 1 })
    expect(await set.json()).toMatchObject({ rangeIgnoreRate: 1 })
    const whole = await ranged()
    expect(whole.status).toBe(200)
    expect((await whole.arrayBuffer()).byteLength).toBe(256 * 1024)
    t.emu.faults.set({ scope: ['api'] })
    expect((await ranged()).status).toBe(206)
    expect((await t.api('POST', '/_emulator/faults', { rangeIgnoreRate: 2 })).status).toBe(400)
    const unknown = await t.api('POST', '/_emulator/faults', { errorRat: 1 })
    expect(unknown.status).toBe(400)
    expect(await unknown.json()).toMatchObject({ message: expect.stringMatching(/errorRat/) })
    expect(t.emu.faults.get()).not.toHaveProperty('errorRat')
    t.emu.faults.reset()
    expect(t.emu.faults.get().rangeIgnoreRate).toBe(0)
  })

  it('does the work of a call that changes the library, then answers an error instead of its success', async () => {
    t.emu.faults.set({ errorAfterWorkRate: 1, errorStatuses: [504], scope: ['api', 'upload'] })
    const folder = await t.api('POST', '/v1/folder', { folderName: 'done', parentFolderPath: '/' })
    expect(folder.status).toBe(504)
    expect(await folder.json()).toMatchObject({ message: expect.stringMatching(/injected/) })
    const upload = await t.upload({ file: Buffer.from('kept'), fileName: 'after-work.txt', useUniqueFileName: 'false' })
    expect(upload.status).toBe(504)
    // Reads are not touched, and an error the work itself answers passes unchanged.
    const listed = await t.api('GET', '/v1/files?type=all')
    expect(listed.status).toBe(200)
    const names = ((await listed.json()) as { name: string }[]).map((f) => f.name)
    expect(names).toEqual(expect.arrayContaining(['done', 'after-work.txt']))
    expect((await t.api('PUT', '/v1/files/rename', { filePath: '/nowhere.txt', newFileName: 'x.txt' })).status).toBe(404)
    expect(() => t.emu.faults.set({ errorAfterWorkRate: 1.5 })).toThrow(/errorAfterWorkRate/)
    t.emu.faults.reset()
    expect(t.emu.faults.get().errorAfterWorkRate).toBe(0)
    expect((await t.api('POST', '/v1/folder', { folderName: 'done2', parentFolderPath: '/' })).status).toBe(201)
  })

  it('resets an upload while its body arrives (nothing stored) or after storing it (the answer cut short)', async () => {
    t.emu.faults.set({ resetRate: 1, resetPhase: 'request', scope: ['upload'] })
    await expect(t.upload({ file: Buffer.alloc(100_000, 1), fileName: 'cut-early.bin' })).rejects.toThrow()
    t.emu.faults.set({ resetPhase: 'response' })
    const late = await t.upload({ file: Buffer.alloc(100_000, 2), fileName: 'cut-late.bin' })
    expect(late.status).toBe(200)
    await expect(late.text()).rejects.toThrow()
    t.emu.faults.reset()
    const names = ((await (await t.api('GET', '/v1/files')).json()) as { name: string }[]).map((f) => f.name)
    expect(names.filter((n) => n.startsWith('cut-late'))).toHaveLength(1)
    expect(names.filter((n) => n.startsWith('cut-early'))).toEqual([])
    expect(() => t.emu.faults.set({ resetPhase: 'sometimes' as never })).toThrow(/resetPhase/)
    // both: an upload's resets fall on either side, two draws per request as before (sequences replay).
    const f = new FaultInjector({ ...defaultFaultSettings(0), resetRate: 1, seed: 3 })
    const phases = new Set(Array.from({ length: 40 }, () => f.decide('upload').reset))
    expect(phases).toEqual(new Set(['request', 'response']))
    expect(new Set(Array.from({ length: 10 }, () => f.decide('delivery').reset))).toEqual(new Set(['response']))
  })
})
