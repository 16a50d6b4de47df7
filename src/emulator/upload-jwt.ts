/**
 * Secure client-side upload (§4.18, Upload API v2; the docs' "Secure client side file upload"): instead of
 * Basic auth the form carries `token`, a JWT the app's server signed with the private key: header
 * `{ alg: "HS256", typ: "JWT", kid: <public key> }`, payload = every other form field except `file`, values
 * as strings, plus `iat`/`exp` (jsonwebtoken's `expiresIn`, "less than one hour"). The request's fields must
 * be exactly the payload's ("if there is a mismatch ... the upload request will fail"), and a token works once,
 * as v1's tokens (client-auth.ts). The messages are the emulator's own: the service's are unconfirmed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { MISSING_KEY_MESSAGE, WRONG_KEY_MESSAGE } from './auth.js'
import { MAX_EXPIRE_AHEAD_S, REUSED_TOKEN_MESSAGE, type ClientAuthKeys, type UsedTokens } from './client-auth.js'
import { ApiError, badRequest } from './http-io.js'

export const INVALID_JWT_MESSAGE = 'Your request contains an invalid token parameter. It should be a JWT signed (HS256) with your private API key.'
export const EXPIRED_JWT_MESSAGE = 'Your request contains an expired token parameter. A token should be valid for less than 1 hour.'
export const JWT_MISMATCH_MESSAGE = 'Your request parameters do not match the ones signed in the token parameter.'

/** Claims the signer adds beside the upload parameters; never compared with form fields. */
const TOKEN_CLAIMS = new Set(['iat', 'exp', 'nbf'])

function jsonPart(part: string | undefined): Record<string, unknown> | undefined {
  if (part === undefined || !/^[A-Za-z0-9_-]+$/.test(part)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Undefined when the form's JWT holds; otherwise the error to send. `fields` are the form's text fields. */
export function checkUploadJwt(fields: ReadonlyMap<string, string>, keys: ClientAuthKeys, used: UsedTokens, nowMs: number): ApiError | undefined {
  const token = fields.get('token')
  if (!token) return new ApiError(401, MISSING_KEY_MESSAGE)
  const [headerPart, payloadPart, signaturePart, ...more] = token.split('.')
  const header = jsonPart(headerPart)
  const payload = jsonPart(payloadPart)
  if (!header || !payload || signaturePart === undefined || more.length > 0 || header.alg !== 'HS256') return badRequest(INVALID_JWT_MESSAGE)
  const nowS = Math.floor(nowMs / 1000)
  const exp = typeof payload.exp === 'number' ? payload.exp : Number.NaN
  if (header.kid !== keys.publicKey) return new ApiError(403, WRONG_KEY_MESSAGE)
  // Compared as text, in its one unpadded base64url spelling: decoding it first took other spellings of the
  // same bytes (the last character's unused bits, a trailing '='), each a token not used yet, so replayable.
  const expected = Buffer.from(createHmac('sha256', keys.privateKey).update(`${headerPart}.${payloadPart}`).digest('base64url'))
  const given = Buffer.from(signaturePart)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return badRequest(INVALID_JWT_MESSAGE)
  // Burnt once known to be signed with the key (a failed request's included): forged tokens, which anyone may
  // send with any exp, would fill the bounded table and push the used ones out, to be replayed.
  if (used.burn(token, exp, nowS)) return badRequest(REUSED_TOKEN_MESSAGE)
  // Less than an hour from when it was signed, and from now: an iat ahead of the clock stretches nothing.
  const iat = typeof payload.iat === 'number' ? Math.min(payload.iat, nowS) : nowS
  if (!(exp > nowS && exp - iat < MAX_EXPIRE_AHEAD_S)) return badRequest(EXPIRED_JWT_MESSAGE)
  const signed = Object.keys(payload).filter((k) => !TOKEN_CLAIMS.has(k))
  const sent = [...fields.keys()].filter((k) => k !== 'token')
  const same = signed.length === sent.length && signed.every((k) => fields.get(k) === String(payload[k]))
  return same ? undefined : badRequest(JWT_MISMATCH_MESSAGE)
}
