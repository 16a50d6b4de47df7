/**
 * What `ikfs mount` and `ikfs doctor` both say of this machine's clock: one threshold (NOTABLE_CLOCK_SKEW_MS,
 * imagekit/clock-skew.ts, which is also where signing starts to follow ImageKit's time) and one measure (the API's
 * Date header against the middle of the round trip, clockSkewOf), so the two never disagree. Beyond it: by how
 * much, what that breaks, the fix. Neither refuses: the mount goes on, the doctor warns.
 */
import { NOTABLE_CLOCK_SKEW_MS } from '../imagekit/clock-skew.js'
import { duration } from '../status/render.js'

export const TIME_SYNC_FIX = 'turn on time sync: timedatectl set-ntp true'

export interface ClockSkewProblem {
  /** By how much and what it breaks. */
  what: string
  fix: string
}

/** How far off the clock may be before either command says so (the Date header is exact to the second only). */
export const CLOCK_SKEW_TOLERANCE_MS = NOTABLE_CLOCK_SKEW_MS

/**
 * `clockSkewMs`: how far the API's clock is ahead of this machine's (negative: behind); undefined: unknown.
 * Undefined within CLOCK_SKEW_TOLERANCE_MS. Uploads are named in both cases because they are unaffected: ikfs
 * uploads with the private key (Basic auth), whose requests carry no signature or expiry.
 */
export function clockSkewProblem(clockSkewMs: number | undefined): ClockSkewProblem | undefined {
  if (clockSkewMs === undefined || Math.abs(clockSkewMs) <= CLOCK_SKEW_TOLERANCE_MS) return undefined
  // To the nearest unit shown (duration() truncates): the measure is good to a second either way.
  const skewMs = Math.abs(clockSkewMs)
  const unitMs = skewMs >= 3600_000 ? 60_000 : 1_000
  const by = duration(Math.round(skewMs / unitMs) * unitMs)
  if (clockSkewMs > 0) {
    return {
      what: `this machine's clock is ${by} behind ImageKit's (the API's Date header): ImageKit checks the expiry of signed URLs ` +
        `(private files, --only-signed) by its own clock, so ikfs signs them by ImageKit's time instead (by this machine's, ` +
        `every signed read would be refused once the clock is behind by more than --signed-url-expiry); uploads carry no signature and are not affected`,
      fix: TIME_SYNC_FIX,
    }
  }
  return {
    what: `this machine's clock is ${by} ahead of ImageKit's (the API's Date header): signed URLs (private files, --only-signed) ` +
      `stay valid that much longer than --signed-url-expiry, and an upload whose answer was lost may be stored twice (two versions); ` +
      `uploads carry no signature and are not refused`,
    fix: TIME_SYNC_FIX,
  }
}

/** `ikfs mount`'s one line: the problem and its fix. */
export function clockSkewWarning(clockSkewMs: number | undefined): string | undefined {
  const problem = clockSkewProblem(clockSkewMs)
  return problem && `${problem.what}; ${problem.fix}`
}
