/**
 * How far the API's clock is from this machine's, read from the Date header of one of its answers. ImageKit
 * checks the expiry of signed URLs by its own clock, so a machine behind it signs URLs that are already past
 * (every signed read refused once behind by more than --signed-url-expiry); the client then signs by the
 * API's time (client.ts deliveryUrl), and `ikfs mount` / `ikfs doctor` say so.
 */

/**
 * Skews up to this are not acted on: the Date header's second and the round trip make smaller figures noise,
 * and the upload check's tolerance (vfs/upload/stored-copy.ts) is the same minute.
 */
export const NOTABLE_CLOCK_SKEW_MS = 60_000

/**
 * How far the API's clock was ahead of this machine's (ms; negative: behind it) when it answered between
 * `sentMs` and `receivedMs` (this machine's clock) with `dateHeader`; undefined without a usable header.
 * The header is truncated to the second: compared with the middle of the round trip, allowing half of it.
 */
export function clockSkewOf(dateHeader: unknown, sentMs: number, receivedMs: number): number | undefined {
  const serverMs = typeof dateHeader === 'string' ? Date.parse(dateHeader) : Number.NaN
  if (Number.isNaN(serverMs)) return undefined
  return serverMs + 500 - (sentMs + receivedMs) / 2
}

/**
 * What to add to this machine's time when signing: the skew when the API is ahead by more than
 * NOTABLE_CLOCK_SKEW_MS, else nothing. Never less than this machine's own time: a wrong Date header (a proxy's)
 * may then make a URL live longer than asked, but never expire it early.
 */
export function signingOffsetMs(clockSkewMs: number | undefined): number {
  return clockSkewMs !== undefined && clockSkewMs > NOTABLE_CLOCK_SKEW_MS ? Math.round(clockSkewMs) : 0
}
