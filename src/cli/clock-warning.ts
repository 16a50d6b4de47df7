/**
 * `ikfs mount`'s one line about this machine's clock when the key check found it more than a minute off the
 * API's (imagekit/clock-skew.ts): by how much, what that breaks, the fix. The mount goes on either way.
 */
import { NOTABLE_CLOCK_SKEW_MS } from '../imagekit/clock-skew.js'
import { duration } from '../status/render.js'

export const TIME_SYNC_FIX = 'turn on time sync: timedatectl set-ntp true'

/** `clockSkewMs`: how far the API's clock is ahead of this machine's (negative: behind); undefined: unknown. */
export function clockSkewWarning(clockSkewMs: number | undefined): string | undefined {
  if (clockSkewMs === undefined || Math.abs(clockSkewMs) <= NOTABLE_CLOCK_SKEW_MS) return undefined
  // To the nearest unit shown (duration() truncates): the measure is good to a second either way.
  const skewMs = Math.abs(clockSkewMs)
  const unitMs = skewMs >= 3600_000 ? 60_000 : 1_000
  const by = duration(Math.round(skewMs / unitMs) * unitMs)
  if (clockSkewMs > 0) {
    return `this machine's clock is ${by} behind ImageKit's (the API's Date header): ImageKit checks the expiry of signed URLs ` +
      `(private files, --only-signed) by its own clock, so this mount signs them by ImageKit's time instead; ${TIME_SYNC_FIX}`
  }
  return `this machine's clock is ${by} ahead of ImageKit's (the API's Date header): signed URLs (private files, --only-signed) ` +
    `stay valid that much longer than --signed-url-expiry, and an upload whose answer was lost may be stored twice (two versions); ${TIME_SYNC_FIX}`
}
