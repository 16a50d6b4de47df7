/**
 * Signed delivery URLs (shared/imagekit-api.md §6.4): the verifier is checked against the published SDK
 * test vector and the four worked examples computed with both official SDKs, then end to end through
 * the URL endpoint (tampered, expired, private files, restrict-unsigned).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { computeSignature, splitSignedTarget, verifySignedTarget, NEVER_EXPIRES } from '../../../src/emulator/signature.js'
import { PRIVATE_KEY, startTestEmulator, type TestEmulator } from './helpers.js'

const WORKED = {
  A: '/demo_emulator/photos/2024/sunset.jpg?ik-s=b418494360a9eb639499bde3bdb2bfd03bf41498',
  B: '/demo_emulator/photos/2024/sunset.jpg?updatedAt=1700000000000&tr=orig-true&ik-t=1700003600&ik-s=6f92396f66c8b2bbebf60b059e1be65691ead2c5',
  C: '/demo_emulator/photos/caf%C3%A9.jpg?ik-s=7080b375d0199630bb549cdab79ed50f4d051c3c',
  D: '/demo_emulator/tr:w-300,h-200/photos/2024/sunset.jpg?ik-s=f8395c2e681c561f4daf58961430cf632f0f1adb',
}
const FROZEN_MS = 1_700_000_000_000

describe('signature verifier (pure)', () => {
  it('matches the published SDK test vector', () => {
    expect(computeSignature('private_key_test', 'tr:w-100/test-signed-url.png', NEVER_EXPIRES)).toBe('41b3075c40bc84147eb71b8b49ae7fbf349d0f00')
    const v = verifySignedTarget('/test-endpoint/tr:w-100/test-signed-url.png?ik-s=41b3075c40bc84147eb71b8b49ae7fbf349d0f00', '/test-endpoint', 'private_key_test', FROZEN_MS)
    expect(v).toEqual({ kind: 'valid', expiresAt: NEVER_EXPIRES })
  })

  it.each(Object.entries(WORKED))('accepts worked example %s', (_name, target) => {
    expect(verifySignedTarget(target, '/demo_emulator', PRIVATE_KEY, FROZEN_MS).kind).toBe('valid')
  })

  it('strips only the signature parameters from what was signed', () => {
    expect(splitSignedTarget(WORKED.B, '/demo_emulator')).toEqual({
      signedPart: 'photos/2024/sunset.jpg?updatedAt=1700000000000&tr=orig-true', expiresAt: 1700003600, signature: '6f92396f66c8b2bbebf60b059e1be65691ead2c5',
    })
  })

  it('refuses a tampered path, a tampered signature, the wrong key and an expired URL', () => {
    expect(verifySignedTarget(WORKED.A.replace('sunset', 'sunsex'), '/demo_emulator', PRIVATE_KEY, FROZEN_MS)).toEqual({ kind: 'invalid', why: 'mismatch' })
    expect(verifySignedTarget(WORKED.A.replace('b4184', 'b4185'), '/demo_emulator', PRIVATE_KEY, FROZEN_MS)).toEqual({ kind: 'invalid', why: 'mismatch' })
    expect(verifySignedTarget(WORKED.A, '/demo_emulator', 'private_other', FROZEN_MS).kind).toBe('invalid')
    expect(verifySignedTarget(WORKED.B, '/demo_emulator', PRIVATE_KEY, 1_700_003_601_000)).toEqual({ kind: 'invalid', why: 'expired' })
    expect(verifySignedTarget(WORKED.B, '/demo_emulator', PRIVATE_KEY, 1_700_003_600_000).kind).toBe('valid')
    expect(verifySignedTarget('/demo_emulator/a.jpg?ik-s=zz', '/demo_emulator', PRIVATE_KEY, FROZEN_MS)).toEqual({ kind: 'invalid', why: 'malformed' })
    expect(verifySignedTarget('/demo_emulator/a.jpg?x=1', '/demo_emulator', PRIVATE_KEY, FROZEN_MS)).toEqual({ kind: 'unsigned' })
  })
})

describe('signed URLs at the URL endpoint', () => {
  let t: TestEmulator | undefined
  afterEach(async () => { await t?.stop(); t = undefined })

  const get = (path: string) => fetch(t!.emu.url + path)

  it('serves the worked examples, refuses tampered and expired ones with 401', async () => {
    const clock = new ManualClock(FROZEN_MS)
    t = await startTestEmulator({ id: 'demo_emulator', clock, restrictUnsigned: true })
    await t.put('/photos/2024/sunset.jpg', 'sunset bytes')
    await t.put('/photos/café.jpg', 'cafe bytes')
    for (const target of Object.values(WORKED)) {
      const res = await get(target)
      expect(res.status, target).toBe(200)
    }
    expect(await (await get(WORKED.B)).text()).toBe('sunset bytes')
    // C has no orig-true: an image by name, so the optimised (marked) form is served.
    expect(await (await get(WORKED.C)).text()).toMatch(/^cafe bytes.+/s)
    const unsigned = await get('/demo_emulator/photos/2024/sunset.jpg')
    expect(unsigned.status).toBe(401)
    expect(unsigned.headers.get('ik-error')).toMatch(/^EUNAUTHORIZED - /)
    expect((await get(WORKED.A.replace('b4184', 'c4184'))).status).toBe(401)
    expect((await get(WORKED.B.replace('orig-true', 'orig-false'))).status).toBe(401)
    clock.advance(3_601_000)
    expect((await get(WORKED.B)).status).toBe(401)
    expect((await get(WORKED.A)).status).toBe(200)
  })

  it('private files need a signature, except for named transformations', async () => {
    t = await startTestEmulator()
    await t.put('/secret.txt', 'private bytes', { isPrivateFile: 'true' })
    await t.put('/open.txt', 'public bytes')
    expect((await get('/demo/open.txt')).status).toBe(200)
    expect((await get('/demo/secret.txt')).status).toBe(401)
    expect((await get('/demo/secret.txt?tr=orig-true')).status).toBe(401)
    expect((await get('/demo/secret.txt?tr=n-ik_ml_thumbnail')).status).toBe(200)
    expect((await get('/demo/tr:n-ik_ml_thumbnail/secret.txt')).status).toBe(200)
    // Only a named transformation alone goes unsigned; the original never does.
    expect((await get('/demo/secret.txt?tr=n-ik_ml_thumbnail,orig-true')).status).toBe(401)
    expect((await get('/demo/secret.txt?tr=n-x:orig-true')).status).toBe(401)
    expect((await get('/demo/tr:n-x/secret.txt?tr=orig-true')).status).toBe(401)
    expect((await get('/demo/secret.txt?tr=w-100,n-x')).status).toBe(401)
    expect((await get('/demo/tr:n-a/secret.txt?tr=n-b')).status).toBe(401)
    const signedPart = 'secret.txt?tr=orig-true'
    const res = await get(`/demo/${signedPart}&ik-s=${computeSignature(PRIVATE_KEY, signedPart, NEVER_EXPIRES)}`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('private bytes')
    const expiring = `/demo/${signedPart}&ik-t=1000&ik-s=${computeSignature(PRIVATE_KEY, signedPart, 1000)}`
    expect((await get(expiring)).status).toBe(401)
  })
})
