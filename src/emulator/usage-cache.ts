/**
 * The account usage API's own caching (§4.16): "The response is cached for 6 hours per account, date range
 * and requested metrics" (the API reference, as @imagekit/nodejs 7 quotes it). A second call for the same
 * range within that time gets the first answer, whatever was uploaded or delivered since.
 */
import type { Clock } from '../clock.js'

/** The documented 6 hours. */
export const DEFAULT_USAGE_CACHE_MS = 6 * 3_600_000
/** Ranges remembered at once; the oldest goes first (a client asks for a handful). */
const MAX_RANGES = 1_000

export class UsageCache<T> {
  readonly #answers = new Map<string, { atMs: number; answer: T }>()

  constructor(readonly clock: Clock, readonly ttlMs: number) {}

  /** The answer for `range` given within the last ttlMs, else `compute()`'s, remembered (ttlMs 0: always computed). */
  get(range: string, compute: () => T): T {
    const now = this.clock.now()
    const hit = this.#answers.get(range)
    if (hit && now - hit.atMs < this.ttlMs) return hit.answer
    const answer = compute()
    if (this.ttlMs <= 0) return answer
    this.#answers.delete(range)
    this.#answers.set(range, { atMs: now, answer })
    if (this.#answers.size > MAX_RANGES) this.#answers.delete(this.#answers.keys().next().value as string)
    return answer
  }
}
