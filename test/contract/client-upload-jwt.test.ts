/**
 * Secure client-side uploads (§4.18, Upload API v2, the docs' "Secure client side file upload"): the browser
 * sends the form with a `token`, a JWT its app server signed with the private key: header
 * `{ alg: HS256, typ: JWT, kid: <public key> }`, payload = every other form field but `file`, values as
 * strings, plus `iat`/`exp` as jsonwebtoken's `expiresIn` adds them (less than an hour apart). The request's
 * fields must equal the payload's; a token works once. The client here is @imagekit/nodejs's
 * `beta.v2.files.upload` with its Basic auth removed, as in a browser. The messages are the emulator's own.
 */
import { createHmac } from 'node:crypto'
import { AuthenticationError, BadRequestError, PermissionDeniedError, toFile } from '@imagekit/nodejs'
import { describe, expect, it } from 'vitest'
import {
  EXPIRED_JWT_MESSAGE, INVALID_JWT_MESSAGE, JWT_MISMATCH_MESSAGE,
} from '../../src/emulator/upload-jwt.js'
import { REUSED_TOKEN_MESSAGE } from '../../src/emulator/client-auth.js'
import { fetchBytes, rejectionOf, withOrig, useSdkEmulator } from './sdk.js'

const env = useSdkEmulator()

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url')

/** Each token gets its own `iat`, counting down from the file's start (identical tokens would be one token, used once). */
const FIRST_IAT_S = Math.floor(Date.now() / 1000)
let signed = 0

/** The docs' backend (jsonwebtoken's sign with expiresIn), written out with node:crypto. */
function signUploadToken(payload: Record<string, string>, options: { expiresInS?: number; key?: string; kid?: string; iatS?: number } = {}): string {
  const iat = options.iatS ?? FIRST_IAT_S - signed++
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: options.kid ?? env.t.publicKey }))
  const body = base64url(JSON.stringify({ ...payload, iat, exp: iat + (options.expiresInS ?? 600) }))
  const signature = createHmac('sha256', options.key ?? env.t.privateKey).update(`${header}.${body}`).digest('base64url')
  return `${header}.${body}.${signature}`
}

/** What @imagekit/nodejs sends for these parameters (booleans and tags as strings). */
const payload = { fileName: 'jwt.txt', folder: '/jwt', useUniqueFileName: 'false', tags: 'a,b' }
const bytes = Buffer.from('uploaded with a JWT\n')

/** A browser's v2 upload of `bytes` with `token` and the parameters the payload names (or `extra` ones). */
async function browserUpload(token: string, extra: Record<string, unknown> = {}) {
  return env.ik.beta.v2.files.upload(
    { file: await toFile(bytes, 'jwt.txt'), fileName: 'jwt.txt', folder: '/jwt', useUniqueFileName: false, tags: ['a', 'b'], token, ...extra },
    { headers: { Authorization: null } },
  )
}

async function expectRefused(call: () => Promise<unknown>, kind: typeof BadRequestError, message: string): Promise<void> {
  const e = await rejectionOf(call)
  expect(e).toBeInstanceOf(kind)
  expect((e as BadRequestError).error).toMatchObject({ message })
}

describe('secure client-side upload (v2, JWT)', () => {
  it('stores the file when the token signs exactly the fields sent', async () => {
    const r = await browserUpload(signUploadToken(payload))
    expect(r).toMatchObject({ name: 'jwt.txt', filePath: '/jwt/jwt.txt', size: bytes.length })
    expect((await fetchBytes(withOrig(r.url!))).bytes.equals(bytes)).toBe(true)
    expect((await env.ik.files.get(r.fileId!)).tags).toEqual(['a', 'b'])
  })

  it('refuses a field the token does not sign, or signs with another value, and a token used before', async () => {
    await expectRefused(() => browserUpload(signUploadToken(payload), { isPrivateFile: true }), BadRequestError, JWT_MISMATCH_MESSAGE)
    await expectRefused(() => browserUpload(signUploadToken({ ...payload, folder: '/elsewhere' })), BadRequestError, JWT_MISMATCH_MESSAGE)
    await expectRefused(() => browserUpload(signUploadToken({ ...payload, description: 'signed, not sent' })), BadRequestError, JWT_MISMATCH_MESSAGE)
    const once = signUploadToken(payload)
    await browserUpload(once)
    await expectRefused(() => browserUpload(once), BadRequestError, REUSED_TOKEN_MESSAGE)
  })

  it('takes a signature only in its one base64url spelling: another spelling of the same bytes is no new token', async () => {
    const once = signUploadToken(payload)
    await browserUpload(once)
    // 32 bytes are 43 characters, the last one's two low bits unused: 'A'..'D' (and so on) decode alike, as does padding.
    const last = once.at(-1)!
    const twin = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const i = twin.indexOf(last)
    const sameBits = once.slice(0, -1) + twin[i ^ 1]
    expect(Buffer.from(sameBits.split('.')[2]!, 'base64url').equals(Buffer.from(once.split('.')[2]!, 'base64url'))).toBe(true)
    await expectRefused(() => browserUpload(sameBits), BadRequestError, INVALID_JWT_MESSAGE)
    await expectRefused(() => browserUpload(once + '='), BadRequestError, INVALID_JWT_MESSAGE)
  })

  it('refuses an expired token, one valid an hour or more, one signed with another key, and another account\'s kid', async () => {
    const now = Math.floor(Date.now() / 1000)
    await expectRefused(() => browserUpload(signUploadToken(payload, { iatS: now - 700, expiresInS: 600 })), BadRequestError, EXPIRED_JWT_MESSAGE)
    await expectRefused(() => browserUpload(signUploadToken(payload, { expiresInS: 3600 })), BadRequestError, EXPIRED_JWT_MESSAGE)
    // An iat ahead of the clock does not stretch it: this one would be good for the next 2 h 10 min.
    await expectRefused(() => browserUpload(signUploadToken(payload, { iatS: now + 7200, expiresInS: 600 })), BadRequestError, EXPIRED_JWT_MESSAGE)
    await expectRefused(() => browserUpload(signUploadToken(payload, { key: 'private_not_this_account' })), BadRequestError, INVALID_JWT_MESSAGE)
    await expectRefused(() => browserUpload('not.a-jwt'), BadRequestError, INVALID_JWT_MESSAGE)
    expect(await rejectionOf(() => browserUpload(signUploadToken(payload, { kid: 'public_someone_else' })))).toBeInstanceOf(PermissionDeniedError)
    expect(await rejectionOf(() => browserUpload(undefined as never))).toBeInstanceOf(AuthenticationError) // no token, no key
    expect(await env.ik.assets.list({ path: '/jwt' })).toHaveLength(1)
  })
})
