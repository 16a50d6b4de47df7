/**
 * Signed delivery URLs made by both official SDKs (`imagekit` 6.0.0 `url()`, `@imagekit/nodejs` 7.11.0
 * `helper.buildSrc()`) must open the emulator's URL endpoint when unsigned URLs are restricted and for
 * private files (§5.3, §6.4); `tr=orig-true` returns the exact bytes uploaded (§6.1). Tampered and expired
 * signatures are refused with 401. URLs are never printed: a failure shows statuses only.
 */
import { ImageKit } from '@imagekit/nodejs'
import type ImageKitV6 from 'imagekit'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { makeGif, makeJpeg, makePng } from '../../src/emulator/seed/images.js'
import { ImageKitClient } from '../../src/imagekit/client.js'
import type { FileObject, ListItem } from '../../src/imagekit/types.js'
import { signUrl } from '../../src/imagekit/sign.js'
import { buildUrl } from '../../src/imagekit/url.js'
import { createLogger } from '../../src/log.js'
import { startTestEmulator } from '../helpers/emulator.js'
import type { TestEmulator } from '../helpers/emulator.js'
import { fetchBytes, sdkFor, uploadBytes, v6For } from './sdk.js'

const pngBytes = makePng(40, 30, { alpha: true })
const jpegBytes = makeJpeg(40, 30)
const gifBytes = makeGif(20, 10)

const HOUR_S = 3600
/** Names whose characters encodeURI escapes but the SDKs' URLs (the runtime's URL) keep, or escape otherwise. */
const ODD_NAMES = ['a|b^[c].png', 'x{y}`z "q" <1>.png', 'é|[1] ^2.png', "p;=@$&+,:!'()*~.png"]

/** Status and whether the body is exactly `expected`; keeps signed URLs out of assertion messages. */
async function open(url: string, expected?: Buffer): Promise<{ status: number; same: boolean }> {
  const got = await fetchBytes(url)
  return { status: got.status, same: expected !== undefined && got.bytes.equals(expected) }
}

/** Asserts on a signed URL's form without printing it (a failure shows the pattern, never the signature). */
function expectShape(url: string, pattern: RegExp | string): void {
  const ok = typeof pattern === 'string' ? url.includes(pattern) : pattern.test(url)
  expect(ok, `signed URL should match ${String(pattern)}`).toBe(true)
}

/** Changes one hex digit of the `ik-s` value. */
function tamperSignature(url: string): string {
  return url.replace(/(ik-s=[0-9a-f]{10})([0-9a-f])/, (_, head: string, c: string) => `${head}${c === '0' ? '1' : '0'}`)
}

afterEach(() => {
  vi.useRealTimers()
})

describe('restrictUnsigned on: every URL needs a signature', () => {
  let t: TestEmulator
  let ik: ImageKit
  let v6: ImageKitV6

  beforeAll(async () => {
    t = await startTestEmulator({ restrictUnsigned: true })
    ik = sdkFor(t)
    v6 = v6For(t)
    await uploadBytes(ik, '/signed/2024', 'a.png', pngBytes)
    await uploadBytes(ik, '/signed/2024', 'b.jpg', jpegBytes)
    await uploadBytes(ik, '/signed', 'café menü.gif', gifBytes)
    for (const name of ODD_NAMES) await uploadBytes(ik, '/signed/odd', name, pngBytes)
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('refuses an unsigned URL', async () => {
    const { status } = await open(`${t.urlEndpoint}/signed/2024/a.png?tr=orig-true`)
    expect([401, 403]).toContain(status)
  })

  it('imagekit 6: signed, tr in the query, never expiring', async () => {
    const url = v6.url({ path: '/signed/2024/a.png', signed: true, transformation: [{ original: 'true' }], transformationPosition: 'query' })
    expectShape(url, /\?tr=orig-true&ik-s=[0-9a-f]{40}$/)
    expect(await open(url, pngBytes)).toEqual({ status: 200, same: true })
  })

  it('imagekit 6: signed, tr in the path (its default), expiring, with extra query parameters', async () => {
    const url = v6.url({
      path: '/signed/2024/b.jpg',
      signed: true,
      expireSeconds: HOUR_S,
      transformation: [{ original: 'true' }],
      queryParameters: { v: '2' },
    })
    expectShape(url, '/tr:orig-true/signed/2024/b.jpg?v=2&ik-t=')
    expect(await open(url, jpegBytes)).toEqual({ status: 200, same: true })
  })

  it('imagekit 6: a non-ASCII name with a space, signed over its encoded form', async () => {
    const url = v6.url({ path: '/signed/café menü.gif', signed: true, transformation: [{ original: 'true' }], transformationPosition: 'query' })
    expectShape(url, 'caf%C3%A9%20men%C3%BC.gif')
    expect(await open(url, gifBytes)).toEqual({ status: 200, same: true })
  })

  it('@imagekit/nodejs buildSrc: signed with expiresIn and tr=orig-true', async () => {
    const url = ik.helper.buildSrc({
      src: '/signed/2024/a.png',
      urlEndpoint: t.urlEndpoint,
      signed: true,
      expiresIn: HOUR_S,
      transformation: [{ original: true }],
    })
    expectShape(url, /\?tr=orig-true&ik-t=\d+&ik-s=[0-9a-f]{40}$/)
    expect(await open(url, pngBytes)).toEqual({ status: 200, same: true })
  })

  it('@imagekit/nodejs buildTransformationString in a path segment, and buildSrc\'s chained steps in the query: signed, served, every step named as not applied', async () => {
    const steps: ImageKit.Transformation[] = [{ width: 300, height: 200 }, { rotation: 90 }, { named: 'square' }]
    const chain = ik.helper.buildTransformationString(steps)
    expect(chain).toBe('w-300,h-200:rt-90:n-square')
    const inPath = ik.helper.buildSrc({ src: `/tr:${chain}/signed/2024/a.png`, urlEndpoint: t.urlEndpoint, signed: true })
    const inQuery = ik.helper.buildSrc({ src: '/signed/2024/a.png', urlEndpoint: t.urlEndpoint, signed: true, transformation: steps })
    expectShape(inQuery, `?tr=${chain}&ik-s=`)
    for (const url of [inPath, inQuery]) {
      const got = await fetchBytes(url)
      expect(got.status).toBe(200)
      expect(got.headers.get('x-ik-emulator-transformation-not-applied')).toBe('w-300,h-200,rt-90,n-square')
      expect(got.bytes.subarray(0, pngBytes.length).equals(pngBytes)).toBe(true)
    }
  })

  it('@imagekit/nodejs buildSrc: signing the API `url` (which already has a query)', async () => {
    const [file] = await ik.assets.list({ path: '/signed/2024', searchQuery: 'name = "b.jpg"' })
    const apiUrl = (file as ImageKit.File).url!
    const url = ik.helper.buildSrc({ src: apiUrl, urlEndpoint: t.urlEndpoint, signed: true, transformation: [{ original: true }] })
    expect(url.startsWith(`${apiUrl.split('?')[0]}?`)).toBe(true)
    expect(await open(url, jpegBytes)).toEqual({ status: 200, same: true })
  })

  it('ikfs signs names with | ^ [ ] { } ` and more exactly as both SDKs do, and the emulator serves them', async () => {
    for (const name of ODD_NAMES) {
      const path = `/signed/odd/${name}`
      const ikfs = signUrl({ url: buildUrl({ urlEndpoint: t.urlEndpoint, filePath: path, query: { tr: 'orig-true' } }), urlEndpoint: t.urlEndpoint, privateKey: t.privateKey, expiresAt: undefined })
      const fromV6 = v6.url({ path, signed: true, transformation: [{ original: 'true' }], transformationPosition: 'query' })
      const fromV7 = ik.helper.buildSrc({ src: path, urlEndpoint: t.urlEndpoint, signed: true, transformation: [{ original: true }] })
      expect(ikfs === fromV6 && ikfs === fromV7, `ikfs's signed URL for ${name} is both SDKs'`).toBe(true)
      expect(await open(ikfs, pngBytes), name).toEqual({ status: 200, same: true })
    }
  })

  it('refuses a signature with one digit changed (401)', async () => {
    const url = ik.helper.buildSrc({ src: '/signed/2024/a.png', urlEndpoint: t.urlEndpoint, signed: true, transformation: [{ original: true }] })
    const tampered = tamperSignature(url)
    expect(tampered === url, 'the tampered URL differs').toBe(false)
    expect((await open(tampered)).status).toBe(401)
    const v6Url = v6.url({ path: '/signed/2024/a.png', signed: true, expireSeconds: HOUR_S })
    expect((await open(tamperSignature(v6Url))).status).toBe(401)
  })

  it('refuses a valid signature moved to another path or another query (401)', async () => {
    const url = v6.url({ path: '/signed/2024/a.png', signed: true, transformation: [{ original: 'true' }], transformationPosition: 'query' })
    const otherFile = url.replace('/a.png?', '/b.jpg?')
    expect(otherFile === url, 'the moved URL differs').toBe(false)
    expect((await open(otherFile)).status).toBe(401)
    const otherQuery = url.replace('tr=orig-true', 'tr=orig-truf')
    expect((await open(otherQuery)).status).toBe(401)
  })

  it('refuses an expired URL from either SDK (401)', async () => {
    // imagekit 6 takes a negative expiry as given; the new SDK needs its clock moved back two hours.
    const v6Expired = v6.url({ path: '/signed/2024/a.png', signed: true, expireSeconds: -60 })
    expectShape(v6Expired, /ik-t=\d+/)
    expect((await open(v6Expired)).status).toBe(401)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() - 2 * HOUR_S * 1000)
    const v7Expired = ik.helper.buildSrc({ src: '/signed/2024/a.png', urlEndpoint: t.urlEndpoint, expiresIn: HOUR_S })
    vi.useRealTimers()
    expectShape(v7Expired, /ik-t=\d+/)
    expect((await open(v7Expired)).status).toBe(401)
  })

  it('ikfs on a machine whose clock is 2 h behind: the service refuses its first signed read (it checks the expiry by its own clock), ikfs measures the clocks and signs again; a URL refused for another reason names the likely cause, without the signature', async () => {
    const behind = { now: () => Date.now() - 2 * HOUR_S * 1000, sleep: () => Promise.resolve() }
    const client = new ImageKitClient({
      apiUrl: t.emu.url, uploadUrl: t.emu.url, urlEndpoint: t.urlEndpoint, privateKey: t.privateKey, onlySigned: true,
      logger: createLogger({ level: 'silent' }), clock: behind, maxRetries: 0,
    })
    try {
      const target = { filePath: '/signed/2024/a.png', url: '', isPrivateFile: false }
      const url = client.deliveryUrl(target)
      expect((await open(url)).status).toBe(401) // signed by this machine's clock: expired by the service's
      const read = await client.readRange(url, 0, undefined)
      expect(Buffer.concat(await read.body.toArray()).subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true) // the PNG
      // From now on signed by ImageKit's time: an hour ahead of the service's clock, not of this machine's.
      const expiresAt = Number(/ik-t=(\d+)/.exec(client.deliveryUrl(target))?.[1])
      expect(expiresAt * 1000).toBeGreaterThan(Date.now() + 3_500_000)
      const forged = client.deliveryUrl(target).replace(/ik-s=[0-9a-f]+/, 'ik-s=' + '0'.repeat(40))
      const error = await client.readRange(forged, 0, undefined).then(() => undefined, (e: unknown) => e as Error & { code?: string; status?: number })
      expect(error).toMatchObject({ code: 'IK_FORBIDDEN', status: 401 })
      expect(error?.message).toMatch(/this machine's clock may be behind ImageKit's by more than --signed-url-expiry \(1h\)/)
      expect(error?.message).toContain('ikfs doctor')
      expect(error?.message).not.toMatch(/ik-s=|ik-t=/)
    } finally {
      await client.close()
    }
  })
})

describe('private files (restrictUnsigned off)', () => {
  let t: TestEmulator
  let ik: ImageKit
  let v6: ImageKitV6

  beforeAll(async () => {
    t = await startTestEmulator()
    ik = sdkFor(t)
    v6 = v6For(t)
    await uploadBytes(ik, '/private', 'secret.png', pngBytes, { isPrivateFile: true })
    await uploadBytes(ik, '/private', 'public.jpg', jpegBytes)
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('serves a public file unsigned', async () => {
    expect(await open(`${t.urlEndpoint}/private/public.jpg?tr=orig-true`, jpegBytes)).toEqual({ status: 200, same: true })
  })

  it('refuses a private file unsigned', async () => {
    expect([401, 403]).toContain((await open(`${t.urlEndpoint}/private/secret.png?tr=orig-true`)).status)
  })

  it('serves a private file to signed URLs from both SDKs, bytes exact', async () => {
    const v6Url = v6.url({ path: '/private/secret.png', signed: true, expireSeconds: 600, transformation: [{ original: 'true' }], transformationPosition: 'query' })
    expect(await open(v6Url, pngBytes)).toEqual({ status: 200, same: true })
    const v7Url = ik.helper.buildSrc({ src: '/private/secret.png', urlEndpoint: t.urlEndpoint, signed: true, transformation: [{ original: true }] })
    expect(await open(v7Url, pngBytes)).toEqual({ status: 200, same: true })
  })

  it('refuses a private file with a tampered or expired signature (401)', async () => {
    const url = ik.helper.buildSrc({ src: '/private/secret.png', urlEndpoint: t.urlEndpoint, signed: true, transformation: [{ original: true }] })
    expect((await open(tamperSignature(url))).status).toBe(401)
    const expired = v6.url({ path: '/private/secret.png', signed: true, expireSeconds: -5, transformation: [{ original: 'true' }] })
    expect((await open(expired)).status).toBe(401)
  })
})

describe("ikfs's client when the API names another URL endpoint than the one configured", () => {
  let t: TestEmulator
  let ik: ImageKit
  const jpeg = makeJpeg(24, 16)

  beforeAll(async () => {
    // Listings name files by an endpoint that cannot be reached (a custom domain of the account, say).
    t = await startTestEmulator({ restrictUnsigned: true, publicUrlBase: 'http://cdn.invalid/elsewhere' })
    ik = sdkFor(t)
    await uploadBytes(ik, '/other-endpoint', 'a b.jpg', jpeg)
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('signs reads against the configured endpoint, keeping the version the listing pins', async () => {
    const client = new ImageKitClient({
      apiUrl: t.emu.url, uploadUrl: t.emu.url, urlEndpoint: t.urlEndpoint, privateKey: t.privateKey, onlySigned: true,
      logger: createLogger({ level: 'silent' }),
    })
    try {
      const listed: ListItem[] = []
      for await (const item of client.listFiles({ path: '/other-endpoint' })) listed.push(item)
      const file = listed.find((item): item is FileObject => item.type === 'file')!
      expect(file.url.startsWith('http://cdn.invalid/elsewhere/')).toBe(true)
      const url = client.deliveryUrl({ filePath: file.filePath, url: file.url, isPrivateFile: false, versionId: file.versionInfo?.id })
      expectShape(url, `${t.urlEndpoint}/other-endpoint/a%20b.jpg?updatedAt=`)
      const range = await client.readRange(url, 0, undefined)
      const chunks: Buffer[] = []
      for await (const chunk of range.body) chunks.push(chunk as Buffer)
      expect(Buffer.concat(chunks).equals(jpeg)).toBe(true)
    } finally {
      await client.close()
    }
  })
})
