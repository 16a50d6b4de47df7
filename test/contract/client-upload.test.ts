/**
 * Client-side uploads (§4.18): a browser sends the form with `publicKey`, `token`, `expire` and `signature`
 * from the app server's getAuthenticationParameters, and no Basic auth. The parameters come from both
 * official SDKs (@imagekit/nodejs 7 and imagekit 6); the upload is a plain multipart POST, as a browser's.
 * Messages: the expire one is the service's own; the others are the emulator's (src/emulator/client-auth.ts).
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  INVALID_EXPIRE_MESSAGE, INVALID_SIGNATURE_MESSAGE, REUSED_TOKEN_MESSAGE,
} from '../../src/emulator/client-auth.js'
import { MISSING_KEY_MESSAGE, WRONG_KEY_MESSAGE } from '../../src/emulator/auth.js'
import { BOTH_AUTH_MESSAGE } from '../../src/emulator/routes/upload.js'
import { fetchBytes, withOrig, useSdkEmulator, v6For } from './sdk.js'

const env = useSdkEmulator()

interface AuthParams {
  token: string
  expire: number
  signature: string
}

/** A browser's upload: the form alone, or with `headers` (e.g. Basic auth as well). */
async function browserUpload(fields: Record<string, string>, bytes: Buffer, headers: Record<string, string> = {}) {
  const form = new FormData()
  form.append('file', new Blob([bytes]), fields.fileName)
  for (const [k, v] of Object.entries(fields)) form.append(k, v)
  const res = await fetch(`${env.t.emu.url}/api/v1/files/upload`, { method: 'POST', body: form, headers })
  return { status: res.status, headers: res.headers, body: (await res.json()) as { message?: string; fileId?: string; url?: string; filePath?: string } }
}

function formOf(auth: AuthParams, fileName: string, publicKey = env.t.publicKey): Record<string, string> {
  return { fileName, folder: '/client', useUniqueFileName: 'false', publicKey, token: auth.token, expire: String(auth.expire), signature: auth.signature }
}

describe('client-side upload (§4.18)', () => {
  it('stores a file sent with parameters from either SDK and no Basic auth', async () => {
    const bytes = Buffer.from('uploaded from a browser\n')
    const fromV7 = await browserUpload(formOf(env.ik.helper.getAuthenticationParameters(), 'v7.txt'), bytes)
    expect(fromV7.status).toBe(200)
    expect(fromV7.body.filePath).toBe('/client/v7.txt')
    expect((await fetchBytes(withOrig(fromV7.body.url!))).bytes).toEqual(bytes)

    const v6 = v6For(env.t)
    const fromV6 = await browserUpload(formOf(v6.getAuthenticationParameters(), 'v6.txt'), bytes)
    expect(fromV6.status).toBe(200)
    expect((await env.ik.files.get(fromV6.body.fileId!)).filePath).toBe('/client/v6.txt')
  })

  it('refuses a token used before, even when that request failed', async () => {
    const auth = env.ik.helper.getAuthenticationParameters()
    expect((await browserUpload(formOf(auth, 'once.txt'), Buffer.from('1'))).status).toBe(200)
    expect(await browserUpload(formOf(auth, 'twice.txt'), Buffer.from('2'))).toMatchObject({ status: 400, body: expect.objectContaining({ message: REUSED_TOKEN_MESSAGE }) })

    const burnt = env.ik.helper.getAuthenticationParameters()
    const wrongKey = await browserUpload(formOf(burnt, 'failed.txt', 'public_someone_else'), Buffer.from('3'))
    expect(wrongKey).toMatchObject({ status: 403, body: expect.objectContaining({ message: WRONG_KEY_MESSAGE }) })
    expect((await browserUpload(formOf(burnt, 'retry.txt'), Buffer.from('4'))).body.message).toBe(REUSED_TOKEN_MESSAGE)
    const stored = (await env.ik.assets.list({ path: '/client' })).map((f) => ('name' in f ? (f.name ?? '') : ''))
    expect(stored).toContain('once.txt')
    expect(stored.filter((n) => ['twice.txt', 'failed.txt', 'retry.txt'].includes(n))).toEqual([])
  })

  it('refuses an expire in the past or more than an hour ahead, and a signature made with another key', async () => {
    const now = Math.floor(Date.now() / 1000)
    for (const expire of [now - 10, now + 2 * 3600]) {
      const r = await browserUpload(formOf(env.ik.helper.getAuthenticationParameters(undefined, expire), 'late.txt'), Buffer.from('x'))
      expect(r).toMatchObject({ status: 400, body: expect.objectContaining({ message: INVALID_EXPIRE_MESSAGE }) })
    }
    const other = v6For(env.t, 'private_not_this_account')
    const forged = await browserUpload(formOf(other.getAuthenticationParameters(), 'forged.txt'), Buffer.from('x'))
    expect(forged).toMatchObject({ status: 400, body: expect.objectContaining({ message: INVALID_SIGNATURE_MESSAGE }) })
  })

  it('answers a browser\'s CORS preflight, and every answer (refusals included) may be read from any origin, as the real upload host\'s', async () => {
    const preflight = await fetch(`${env.t.emu.url}/api/v1/files/upload`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-requested-with' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/)
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/x-requested-with/i)
    const ok = await browserUpload(formOf(env.ik.helper.getAuthenticationParameters(), 'cors.txt'), Buffer.from('c'), { origin: 'https://app.example' })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe('*')
    expect(ok.headers.get('x-request-id')).toBe(ok.headers.get('x-ik-requestid'))
    // Express's weak ETag, as in the upload answers captured from the real API: W/"<length hex>-<27 base64 chars>".
    const text = JSON.stringify(ok.body)
    expect(ok.headers.get('etag')).toBe(`W/"${Buffer.byteLength(text).toString(16)}-${createHash('sha1').update(text).digest('base64').slice(0, 27)}"`)
    expect(ok.headers.get('etag')).toMatch(/^W\/"[0-9a-f]+-[A-Za-z0-9+/]{27}"$/)
    const refused = await browserUpload({ fileName: 'anon.txt' }, Buffer.from('x'), { origin: 'https://app.example' })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('refuses a form that lacks a parameter, no authentication at all, and both kinds at once', async () => {
    const { token: _, ...noToken } = formOf(env.ik.helper.getAuthenticationParameters(), 'partial.txt')
    expect(await browserUpload(noToken, Buffer.from('x'))).toMatchObject({ status: 400, body: expect.objectContaining({ message: 'Your request is missing token parameter.' }) })
    expect(await browserUpload({ fileName: 'anon.txt' }, Buffer.from('x'))).toMatchObject({ status: 401, body: expect.objectContaining({ message: MISSING_KEY_MESSAGE }) })
    const basic = { authorization: `Basic ${Buffer.from(`${env.t.privateKey}:`).toString('base64')}` }
    const both = await browserUpload(formOf(env.ik.helper.getAuthenticationParameters(), 'both.txt'), Buffer.from('x'), basic)
    expect(both).toMatchObject({ status: 400, body: expect.objectContaining({ message: BOTH_AUTH_MESSAGE }) })
  })
})
