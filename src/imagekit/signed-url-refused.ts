/**
 * A signed delivery URL the CDN refused (401/403): ImageKit checks its expiry (`ik-t`, made from this
 * machine's clock plus --signed-url-expiry) by its own clock, so a machine whose clock is behind by more than
 * that lifetime gets every signed read refused, and reads fail with EACCES. The refusal's message says so, as
 * the likely cause: the CDN's own words ("The signed URL has expired.", or nothing useful) do not name it.
 */
import { ImageKitError } from './errors.js'

/** Whether `url` carries a signature (`ik-s`, always the last parameter of a URL signUrl made). */
export function isSignedUrl(url: string): boolean {
  return /[?&]ik-s=[0-9a-f]+$/.test(url)
}

const EXPIRING_SIGNATURE = /[?&]ik-t=(\d+)&ik-s=[0-9a-f]+$/

/** A URL signUrl made with an expiry: the URL it signed and that expiry (unix seconds); else undefined. */
export function signedParts(url: string): { unsigned: string; expiresAt: number } | undefined {
  const match = EXPIRING_SIGNATURE.exec(url)
  return match ? { unsigned: url.slice(0, match.index), expiresAt: Number(match[1]) } : undefined
}

/** Whether `e` is the CDN's refusal (401/403) of a delivery URL. */
export function isDeliveryRefusal(e: unknown): boolean {
  return e instanceof ImageKitError && e.code === 'IK_FORBIDDEN'
}

/** `e`, with the likely cause added when it is the CDN's refusal of a signed URL. */
export function explainSignedUrlRefusal(e: unknown, lifetimeSeconds: number): unknown {
  if (!(e instanceof ImageKitError) || e.code !== 'IK_FORBIDDEN') return e
  const hint = `a signed URL was refused: this machine's clock may be behind ImageKit's by more than --signed-url-expiry ` +
    `(${lifetimeText(lifetimeSeconds)}), which ImageKit checks by its own clock (\`ikfs doctor\` compares the clocks; turn on time sync)`
  return new ImageKitError(e.code, `${e.message}; ${hint}`, {
    status: e.status, method: e.method, route: e.route, requestId: e.requestId, reason: e.reason, retriable: e.retriable, cause: e.cause,
  })
}

function lifetimeText(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`
  if (seconds % 60 === 0) return `${seconds / 60}m`
  return `${seconds}s`
}
