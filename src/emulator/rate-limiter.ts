/** One per-second budget shared by all rate-limited API calls (§1: limits are per account, not per key). */
import type { Clock } from '../clock.js'
import { ApiError } from './http-io.js'

/** §1: the limit headers describe a one-second interval. */
export const RATE_LIMIT_INTERVAL_MS = 1000
export const RATE_LIMIT_MESSAGE = 'You have exceeded the rate limit. Please try again after some time.'

export class RateLimiter {
  #windowStart = 0
  #used = 0
  constructor(readonly clock: Clock) {}

  /** Takes one request from the budget, or returns the 429 to send. `storm` refuses everything. */
  take(perSecond: number, storm: boolean): ApiError | undefined {
    const now = this.clock.now()
    const windowStart = now - (now % RATE_LIMIT_INTERVAL_MS)
    if (windowStart !== this.#windowStart) {
      this.#windowStart = windowStart
      this.#used = 0
    }
    if (!storm && (perSecond <= 0 || this.#used < perSecond)) {
      this.#used += 1
      return undefined
    }
    const resetMs = Math.max(1, windowStart + RATE_LIMIT_INTERVAL_MS - now)
    return new ApiError(429, RATE_LIMIT_MESSAGE, {}, {
      'x-ratelimit-limit': String(perSecond),
      'x-ratelimit-reset': String(resetMs),
      'x-ratelimit-interval': String(RATE_LIMIT_INTERVAL_MS),
    })
  }
}
