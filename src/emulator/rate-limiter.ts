/** One per-second budget shared by all rate-limited API calls (§1: limits are per account, not per key). */
import type { Clock } from '../clock.js'
import { ApiError } from './http-io.js'

/** §1: the limit headers describe a one-second interval. */
export const RATE_LIMIT_INTERVAL_MS = 1000
export const RATE_LIMIT_MESSAGE = 'You have exceeded the rate limit. Please try again after some time.'

/**
 * What a rate-limited call gets: the limit headers (§1: docs say every API response carries them; the server
 * sends them on a 2xx only with `rateLimitHeaders: 'every'`), and a 429, which always carries them, once the budget is spent.
 */
export interface RateLimitDecision {
  headers: Record<string, string>
  refusal?: ApiError
}

export class RateLimiter {
  #windowStart = 0
  #used = 0
  constructor(readonly clock: Clock) {}

  /** Takes one request from the budget (`perSecond` 0 = no limit, no headers). `storm` refuses everything. */
  take(perSecond: number, storm: boolean): RateLimitDecision {
    const now = this.clock.now()
    const windowStart = now - (now % RATE_LIMIT_INTERVAL_MS)
    if (windowStart !== this.#windowStart) {
      this.#windowStart = windowStart
      this.#used = 0
    }
    const limited = perSecond > 0 || storm
    const headers: Record<string, string> = limited
      ? {
          'X-RateLimit-Limit': String(perSecond),
          'X-RateLimit-Reset': String(Math.max(1, windowStart + RATE_LIMIT_INTERVAL_MS - now)),
          'X-RateLimit-Interval': String(RATE_LIMIT_INTERVAL_MS),
        }
      : {}
    if (!storm && (perSecond <= 0 || this.#used < perSecond)) {
      this.#used += 1
      return { headers }
    }
    return { headers, refusal: new ApiError(429, RATE_LIMIT_MESSAGE, {}, headers) }
  }
}
