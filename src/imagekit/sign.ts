/**
 * Delivery URL signing, exactly as the official SDKs do it (shared/imagekit-api.md §6.4). Pure functions:
 * the caller supplies the time.
 *
 * stringToSign = the final URL with the first occurrence of `urlEndpoint + "/"` removed, followed by the
 * expiry in unix seconds; signature = lowercase hex HMAC-SHA1 keyed with the private key; then
 * `ik-t=<expiry>&ik-s=<signature>` is appended (only `ik-s` for a URL that never expires).
 */
import { createHmac } from 'node:crypto'
import { appendQuery, trimTrailingSlashes } from './url.js'

/** The expiry the SDKs sign with when a URL never expires (and then `ik-t` is not sent). */
export const NEVER_EXPIRES = 9999999999

/**
 * Expiry times are rounded up to a multiple of this, so every URL built for one file within the same
 * 5 minutes is identical and the CDN can serve it from cache.
 */
export const EXPIRY_WINDOW_SECONDS = 300

export interface SignUrlOptions {
  /** The final URL, already encoded, without `ik-t`/`ik-s`. */
  url: string
  urlEndpoint: string
  privateKey: string
  /** Unix seconds; `undefined` signs a never-expiring URL (no `ik-t`). */
  expiresAt?: number
}

/** The string the signature covers (exposed for tests and for the emulator's own check). */
export function stringToSign(url: string, urlEndpoint: string, expiresAt: number): string {
  return encodeNonAscii(url.replace(`${trimTrailingSlashes(urlEndpoint)}/`, '') + String(expiresAt))
}

/**
 * The SDK's `encodeStringIfRequired`: a string with non-ASCII characters gets `encodeURI` on the part before
 * the first `?`, as a server sees it. URLs built by url.ts are already ASCII; this only matters for an API
 * `url` field that carries raw non-ASCII.
 */
function encodeNonAscii(text: string): string {
  if (!/[^\x00-\x7f]/.test(text)) return text
  const queryAt = text.indexOf('?')
  return queryAt === -1 ? encodeURI(text) : `${encodeURI(text.slice(0, queryAt))}${text.slice(queryAt)}`
}

export function urlSignature(options: SignUrlOptions): string {
  const expiresAt = options.expiresAt ?? NEVER_EXPIRES
  return createHmac('sha1', options.privateKey).update(stringToSign(options.url, options.urlEndpoint, expiresAt)).digest('hex')
}

/** The URL with `ik-t` (when it expires) and `ik-s` appended. */
export function signUrl(options: SignUrlOptions): string {
  const signature = urlSignature(options)
  const params: Record<string, string> =
    options.expiresAt === undefined || options.expiresAt === NEVER_EXPIRES
      ? { 'ik-s': signature }
      : { 'ik-t': String(options.expiresAt), 'ik-s': signature }
  return appendQuery(options.url, params)
}

/**
 * The expiry (unix seconds) for a URL signed at `nowMs` that must stay valid at least `lifetimeSeconds`:
 * rounded up to the next multiple of `windowSeconds`. An infinite lifetime means "never expires".
 */
export function expiryFor(nowMs: number, lifetimeSeconds: number, windowSeconds = EXPIRY_WINDOW_SECONDS): number {
  if (lifetimeSeconds === Number.POSITIVE_INFINITY) return NEVER_EXPIRES
  const earliest = Math.ceil(nowMs / 1000) + lifetimeSeconds
  return Math.ceil(earliest / windowSeconds) * windowSeconds
}
