/**
 * URL building and signing against the worked examples of shared/imagekit-api.md §6.4, the SDK's published
 * test vector, and the `imagekit` 6.0.0 SDK's own url() over many awkward names.
 */
import ImageKit from 'imagekit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { EXPIRY_WINDOW_SECONDS, NEVER_EXPIRES, expiryFor, signUrl, stringToSign, urlSignature } from '../../../src/imagekit/sign.js'
import { appendQuery, apiUrl, buildUrl, encodeRemotePath } from '../../../src/imagekit/url.js'

const KEY = 'private_EmuTestKey_0123456789abcdef='
const ENDPOINT = 'https://ik.imagekit.io/demo_emulator'

describe('worked examples (imagekit-api.md §6.4)', () => {
  it('A: never expires', () => {
    const url = buildUrl({ urlEndpoint: ENDPOINT, filePath: '/photos/2024/sunset.jpg' })
    expect(stringToSign(url, ENDPOINT, NEVER_EXPIRES)).toBe('photos/2024/sunset.jpg9999999999')
    expect(signUrl({ url, urlEndpoint: ENDPOINT, privateKey: KEY })).toBe(
      'https://ik.imagekit.io/demo_emulator/photos/2024/sunset.jpg?ik-s=b418494360a9eb639499bde3bdb2bfd03bf41498',
    )
  })

  it('B: existing query plus tr=orig-true, expiring', () => {
    const url = appendQuery(`${ENDPOINT}/photos/2024/sunset.jpg?updatedAt=1700000000000`, { tr: 'orig-true' })
    expect(stringToSign(url, ENDPOINT, 1700003600)).toBe('photos/2024/sunset.jpg?updatedAt=1700000000000&tr=orig-true1700003600')
    expect(signUrl({ url, urlEndpoint: ENDPOINT, privateKey: KEY, expiresAt: 1700003600 })).toBe(
      'https://ik.imagekit.io/demo_emulator/photos/2024/sunset.jpg?updatedAt=1700000000000&tr=orig-true&ik-t=1700003600&ik-s=6f92396f66c8b2bbebf60b059e1be65691ead2c5',
    )
  })

  it('C: non-ASCII name', () => {
    const url = buildUrl({ urlEndpoint: ENDPOINT, filePath: '/photos/café.jpg' })
    expect(stringToSign(url, ENDPOINT, NEVER_EXPIRES)).toBe('photos/caf%C3%A9.jpg9999999999')
    expect(signUrl({ url, urlEndpoint: ENDPOINT, privateKey: KEY })).toBe(
      'https://ik.imagekit.io/demo_emulator/photos/caf%C3%A9.jpg?ik-s=7080b375d0199630bb549cdab79ed50f4d051c3c',
    )
  })

  it('D: path transformation', () => {
    const url = buildUrl({ urlEndpoint: ENDPOINT, filePath: '/photos/2024/sunset.jpg', transformationPath: 'w-300,h-200' })
    expect(signUrl({ url, urlEndpoint: `${ENDPOINT}/`, privateKey: KEY })).toBe(
      'https://ik.imagekit.io/demo_emulator/tr:w-300,h-200/photos/2024/sunset.jpg?ik-s=f8395c2e681c561f4daf58961430cf632f0f1adb',
    )
  })

  it('the SDK test vector', () => {
    expect(
      urlSignature({
        url: 'https://test-domain.com/test-endpoint/tr:w-100/test-signed-url.png',
        urlEndpoint: 'https://test-domain.com/test-endpoint',
        privateKey: 'private_key_test',
        expiresAt: 9999999999,
      }),
    ).toBe('41b3075c40bc84147eb71b8b49ae7fbf349d0f00')
  })
})

describe('agreement with the imagekit 6.0.0 SDK url()', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  const NAMES = [
    'plain.jpg', 'file name.txt', 'Hello, 世界.png', 'café.jpg', 'Fjällräven.png', 'emoji 😀.gif', 'hash#tag.jpg',
    'question?.jpg', 'plus+sign.jpg', 'and&amp.jpg', 'equals=.jpg', 'at@home.jpg', 'semi;colon.jpg', 'colon:x.jpg',
    "quote'single.jpg", 'quote"double.jpg', '<angle>.jpg', 'brackets[1].jpg', 'braces{1}.jpg', 'pipe|x.jpg',
    'caret^x.jpg', 'back`tick.jpg', 'dollar$.jpg', 'comma,x.jpg', 'paren (1) (2).png', 'tilde~x.jpg', 'star*.jpg',
    'excl!.jpg', ' leading and trailing ', 'ChatGPT Image May 22, 2025, 05_35_44 PM.webp',
  ]
  const FOLDERS = ['', '/nested', '/a b/c d', '/Ünïcödé', '/x#y?z']

  const sdk = new ImageKit({ publicKey: 'public_test', privateKey: KEY, urlEndpoint: ENDPOINT })

  for (const folder of FOLDERS) {
    it(`matches for names in "${folder || '/'}"`, () => {
      vi.useFakeTimers()
      vi.setSystemTime(new Date(1_700_000_000_000))
      const expiresAt = 1_700_000_000 + 600
      for (const name of NAMES) {
        const filePath = `${folder}/${name}`
        const query = { updatedAt: '1700000000000', tr: 'orig-true' }
        const theirs = sdk.url({ path: filePath, signed: true, expireSeconds: 600, queryParameters: query })
        const ours = signUrl({ url: buildUrl({ urlEndpoint: ENDPOINT, filePath, query }), urlEndpoint: ENDPOINT, privateKey: KEY, expiresAt })
        expect(ours, filePath).toBe(theirs)
        const theirsUnsigned = sdk.url({ path: filePath })
        expect(buildUrl({ urlEndpoint: ENDPOINT, filePath }), filePath).toBe(theirsUnsigned)
      }
    })
  }

  it('differs on purpose for % and \\ (the SDK leaves % raw and turns \\ into /)', () => {
    expect(sdk.url({ path: '/100%.jpg' })).toBe(`${ENDPOINT}/100%.jpg`)
    expect(buildUrl({ urlEndpoint: ENDPOINT, filePath: '/100%.jpg' })).toBe(`${ENDPOINT}/100%25.jpg`)
    expect(sdk.url({ path: '/a\\b.jpg' })).toBe(`${ENDPOINT}/a/b.jpg`)
    expect(buildUrl({ urlEndpoint: ENDPOINT, filePath: '/a\\b.jpg' })).toBe(`${ENDPOINT}/a%5Cb.jpg`)
  })
})

describe('encoding', () => {
  it('encodes each segment and keeps the slashes', () => {
    expect(encodeRemotePath('/a b/c#d/e?f.jpg')).toBe('/a%20b/c%23d/e%3Ff.jpg')
    expect(encodeRemotePath('/keep/$&+,:;=@[]|!~*\'()')).toBe('/keep/$&+,:;=@[]|!~*\'()')
  })

  it('encodes ^ as this runtime\'s URL does, as the SDKs do (Node 24 encodes it, Node 20 and 22 keep it)', () => {
    const runtime = new URL('http://x/a^b').pathname
    expect(['/a^b', '/a%5Eb']).toContain(runtime)
    expect(encodeRemotePath('/a^b')).toBe(runtime)
  })

  it('API query strings use %20 for spaces and expand route parameters', () => {
    expect(apiUrl('http://h/', '/v1/files/{fileId}/details', { fileId: 'a/b c' }, { path: '/x y/', limit: 10, skip: undefined })).toBe(
      'http://h/v1/files/a%2Fb%20c/details?path=%2Fx%20y%2F&limit=10',
    )
  })

  it('appendQuery keeps an existing query byte for byte', () => {
    const url = 'https://cdn.example/a.png?ik-obj-version=Ab.c_9&updatedAt=1'
    expect(appendQuery(url, { tr: 'orig-true' })).toBe(`${url}&tr=orig-true`)
    expect(appendQuery('https://cdn.example/a.png', { tr: 'orig-true' })).toBe('https://cdn.example/a.png?tr=orig-true')
  })
})

describe('expiry', () => {
  it('is at least the lifetime ahead and rounded up to the window, so URLs are stable within it', () => {
    const now = 1_700_000_123_456
    const expiry = expiryFor(now, 3600)
    expect(expiry % EXPIRY_WINDOW_SECONDS).toBe(0)
    expect(expiry).toBeGreaterThanOrEqual(Math.ceil(now / 1000) + 3600)
    expect(expiry).toBeLessThan(Math.ceil(now / 1000) + 3600 + EXPIRY_WINDOW_SECONDS)
    expect(expiryFor(now + 1000, 3600)).toBe(expiry)
  })

  it('never expires only when asked for explicitly', () => {
    expect(expiryFor(0, Number.POSITIVE_INFINITY)).toBe(NEVER_EXPIRES)
    expect(expiryFor(Date.UTC(2030, 0, 1), 3600)).not.toBe(NEVER_EXPIRES)
  })
})
