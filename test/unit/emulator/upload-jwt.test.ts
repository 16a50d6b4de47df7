/** Client-side upload checks on their own (v2's JWT, upload-jwt.ts; v1's signed token, client-auth.ts): what a flood of forged tokens can do to the used-token table. */
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checkClientAuth, REUSED_TOKEN_MESSAGE, UsedTokens } from '../../../src/emulator/client-auth.js'
import { checkUploadJwt } from '../../../src/emulator/upload-jwt.js'

const keys = { privateKey: 'private_jwt_test', publicKey: 'public_jwt_test' }
const NOW_MS = 1_800_000_000_000
/** A table this small holds the same rule as the daemon's 100,000, for a flood a test can afford. */
const CAPACITY = 100
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

function token(fields: Record<string, string>, exp: number, key = keys.privateKey): string {
  const signed = `${b64({ alg: 'HS256', typ: 'JWT', kid: keys.publicKey })}.${b64({ ...fields, iat: NOW_MS / 1000, exp })}`
  return `${signed}.${createHmac('sha256', key).update(signed).digest('base64url')}`
}

describe('checkUploadJwt', () => {
  it('a used token stays used however many forged ones come after it (forgeries are not remembered)', () => {
    const used = new UsedTokens(CAPACITY)
    const exp = NOW_MS / 1000 + 600
    const real = token({ fileName: 'a.txt' }, exp)
    const form = (t: string) => new Map([['fileName', 'a.txt'], ['token', t]])
    expect(checkUploadJwt(form(real), keys, used, NOW_MS)).toBeUndefined()
    // Anyone may send these: signed with a key they made up, valid "forever".
    for (let i = 0; i <= CAPACITY; i++) checkUploadJwt(form(token({ fileName: 'a.txt', n: String(i) }, 9e12, 'guessed')), keys, used, NOW_MS)
    expect(checkUploadJwt(form(real), keys, used, NOW_MS)?.message).toBe(REUSED_TOKEN_MESSAGE)
  })
})

describe('checkClientAuth (v1)', () => {
  it('a used token stays used however many forged ones come after it', () => {
    const used = new UsedTokens(CAPACITY)
    const expire = String(NOW_MS / 1000 + 600)
    const form = (t: string, key = keys.privateKey) => new Map([
      ['publicKey', keys.publicKey], ['token', t], ['expire', expire],
      ['signature', createHmac('sha1', key).update(t + expire).digest('hex')],
    ])
    expect(checkClientAuth(form('real-token'), keys, used, NOW_MS)).toBeUndefined()
    for (let i = 0; i <= CAPACITY; i++) checkClientAuth(form(`forged-${i}`, 'guessed'), keys, used, NOW_MS)
    expect(checkClientAuth(form('real-token'), keys, used, NOW_MS)?.message).toBe(REUSED_TOKEN_MESSAGE)
  })
})
