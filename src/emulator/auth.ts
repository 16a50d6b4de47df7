/** HTTP Basic auth of the Upload, Media and admin APIs (§1): username = private key, password ignored. */
import { timingSafeEqual, createHash } from 'node:crypto'
import { ApiError } from './http-io.js'

export const MISSING_KEY_MESSAGE = 'Your request does not contain private API key.'
export const WRONG_KEY_MESSAGE = 'Your account cannot be authenticated.'

function sameSecret(a: string, b: string): boolean {
  // Hash first so the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/** Undefined when authorised; otherwise the 401/403 to send. Never echoes the key. */
export function checkBasicAuth(header: string | undefined, privateKey: string): ApiError | undefined {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null
  if (!match?.[1]) return new ApiError(401, MISSING_KEY_MESSAGE)
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon < 0 ? decoded : decoded.slice(0, colon)
  if (user === '') return new ApiError(401, MISSING_KEY_MESSAGE)
  return sameSecret(user, privateKey) ? undefined : new ApiError(403, WRONG_KEY_MESSAGE)
}
