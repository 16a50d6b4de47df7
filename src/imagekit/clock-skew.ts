/**
 * How far the API's clock is from this machine's, read from the Date header of its answers. ImageKit
 * checks the expiry of signed URLs by its own clock, so a machine behind it signs URLs that are already past
 * (every signed read refused once behind by more than --signed-url-expiry); the client then signs by the
 * API's time (client.ts deliveryUrl), and `ikfs mount` / `ikfs doctor` say so. The figure follows the API's
 * latest answers (ClockSkew), so a mount whose clock is stepped later (NTP) signs by the new figure.
 */

/**
 * Skews up to this are not acted on: the Date header's second and the round trip make smaller figures noise.
 * The one threshold: signing follows the API's time beyond it, `ikfs mount` and `ikfs doctor` warn beyond it
 * (cli/clock-warning.ts), and the upload check's tolerance (vfs/upload/stored-copy.ts) is this minute.
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

/**
 * Answers that took longer are not measured: the API's time is taken as the middle of the round trip, so a
 * long one (an upload's body, whose answer is dated at its end) would be off by half of it; 30 s keeps the
 * error within a quarter of NOTABLE_CLOCK_SKEW_MS. Nor are those whose round trip this machine's clock stepped
 * over: forward, it looks long; back, it looks shorter than nothing.
 */
export const MAX_MEASURED_ROUND_TRIP_MS = 30_000

/**
 * The skew as the API's latest answers show it. Each answer costs a string compare: the figure is derived
 * again only from a Date header other than the last one taken, or received in another second of this
 * machine's clock (either changes once a second at most), so a stream of answers parses a date at most about
 * twice a second, and a step of either clock shows from the first answer after it.
 */
export class ClockSkew {
  #lastDate: string | undefined
  #lastSecond: number | undefined
  #skewMs: number | undefined

  /** One API answer with `dateHeader`, sent and received at `sentMs` and `receivedMs` by this machine's clock. */
  observe(dateHeader: unknown, sentMs: number, receivedMs: number): void {
    // A round trip shorter than nothing: this machine's clock stepped back during it, its middle is half the step off.
    const roundTripMs = receivedMs - sentMs
    if (typeof dateHeader !== 'string' || roundTripMs < 0 || roundTripMs > MAX_MEASURED_ROUND_TRIP_MS) return
    const second = Math.floor(receivedMs / 1000)
    if (dateHeader === this.#lastDate && second === this.#lastSecond) return
    const skewMs = clockSkewOf(dateHeader, sentMs, receivedMs)
    if (skewMs === undefined) return
    this.#lastDate = dateHeader
    this.#lastSecond = second
    this.#skewMs = skewMs
  }

  /** How far the API's clock is ahead of this machine's (ms; negative: behind); undefined before a dated answer. */
  get skewMs(): number | undefined {
    return this.#skewMs
  }

  /** What to add to this machine's time when signing now (signingOffsetMs). */
  get signingOffsetMs(): number {
    return signingOffsetMs(this.#skewMs)
  }
}
