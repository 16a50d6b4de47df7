/**
 * Verifies ImageKit signed delivery URLs (shared/imagekit-api.md §6.4). The one deliberate twin of the
 * client's signer (src/imagekit/sign.ts): tested against the official SDKs' output, never against our client.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** The expiry the SDKs sign with when a URL never expires (§6.4 step 2). */
export const NEVER_EXPIRES = 9999999999

export type SignatureVerdict =
  | { kind: 'unsigned' }
  | { kind: 'valid'; expiresAt: number }
  | { kind: 'invalid'; why: 'mismatch' | 'expired' | 'malformed' }

export interface SignatureParts {
  /** The raw request target without the endpoint prefix and without `ik-t`/`ik-s`. */
  signedPart: string
  expiresAt: number | undefined
  signature: string | undefined
}

/**
 * Splits a raw request target (`/<id>/path?query`) into what was signed and the signature parameters.
 * `endpointPath` is the endpoint's path (`/demo`); the rest is taken verbatim (undecoded), as signed.
 */
export function splitSignedTarget(rawTarget: string, endpointPath: string): SignatureParts | undefined {
  const prefix = endpointPath.replace(/\/+$/, '') + '/'
  if (!rawTarget.startsWith(prefix)) return undefined
  const rest = rawTarget.slice(prefix.length)
  const q = rest.indexOf('?')
  if (q < 0) return { signedPart: rest, expiresAt: undefined, signature: undefined }
  let expiresAt: number | undefined
  let signature: string | undefined
  const kept: string[] = []
  for (const param of rest.slice(q + 1).split('&')) {
    const eq = param.indexOf('=')
    const name = eq < 0 ? param : param.slice(0, eq)
    const value = eq < 0 ? '' : param.slice(eq + 1)
    if (name === 'ik-s') signature = value
    else if (name === 'ik-t') expiresAt = /^\d+$/.test(value) ? Number(value) : Number.NaN
    else kept.push(param)
  }
  return { signedPart: rest.slice(0, q) + (kept.length > 0 ? '?' + kept.join('&') : ''), expiresAt, signature }
}

export function computeSignature(privateKey: string, signedPart: string, expiresAt: number): string {
  return createHmac('sha1', privateKey).update(signedPart + String(expiresAt)).digest('hex')
}

/** `nowMs` is compared with the expiry in seconds: expired when now > E. */
export function verifySignedTarget(rawTarget: string, endpointPath: string, privateKey: string, nowMs: number): SignatureVerdict {
  const parts = splitSignedTarget(rawTarget, endpointPath)
  if (!parts || parts.signature === undefined) {
    return parts?.expiresAt !== undefined ? { kind: 'invalid', why: 'malformed' } : { kind: 'unsigned' }
  }
  const expiresAt = parts.expiresAt ?? NEVER_EXPIRES
  if (!Number.isFinite(expiresAt) || !/^[0-9a-f]{40}$/.test(parts.signature)) return { kind: 'invalid', why: 'malformed' }
  const expected = Buffer.from(computeSignature(privateKey, parts.signedPart, expiresAt), 'latin1')
  const given = Buffer.from(parts.signature, 'latin1')
  if (!timingSafeEqual(expected, given)) return { kind: 'invalid', why: 'mismatch' }
  if (nowMs / 1000 > expiresAt) return { kind: 'invalid', why: 'expired' }
  return { kind: 'valid', expiresAt }
}
