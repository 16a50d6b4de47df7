/**
 * One view, shared by every pending upload, of "the library is down". An upload that fails the way an outage
 * does (5xx, a dropped or refused connection, a timeout, a 429 the client could not wait out) after the
 * client's own retries marks the library down. From then on no pending upload starts on its own: each one
 * that fails, or comes due (write-back, the spool's files at mount), waits here, and one of them at a time is
 * the probe, sent after a capped exponential backoff with jitter (at least as long as a 429's
 * `X-RateLimit-Reset` asked). The first attempt that succeeds (the probe's, or a close's) ends the outage and
 * every waiting upload starts again; the uploader's slots bound how many run at once.
 * Before this, each of 200 pending files retried on its own backoff: 200 requests at each step against a
 * library that was down, and a 429 storm made worse.
 */
import type { Clock } from '../../clock.js'
import { hasImageKitCode, isImageKitError, type ImageKitError } from '../../imagekit/errors.js'
import type { Logger } from '../../log.js'

/**
 * Failed requests in a row (of any uploads, no attempt succeeding in between) that mark the library down:
 * one attempt's worth with the default 5 retries. A 25% error rate makes that many in a row about once in
 * 4,000 runs; a false alarm costs one probe's wait.
 */
export const FAILURES_IN_ROW = 6

/** Errors after the client's retries that say the library, not this file, is failing. */
const OUTAGE_CODES: ReadonlySet<string> = new Set(['IK_SERVER', 'IK_NETWORK', 'IK_TIMEOUT', 'IK_RATE_LIMITED'])

export function isOutage(e: unknown): boolean {
  return isImageKitError(e) && OUTAGE_CODES.has(e.code)
}

export interface OutageDeps<T> {
  clock: Clock
  log: Logger
  /** Uniform in [0, 1): the backoff's jitter. */
  random: () => number
  /** The backoff's first step and its cap. */
  baseMs: number
  maxMs: number
  /** What probing with `item` sends (its size): the smallest waiting item is the probe. */
  cost(item: T): number
  /** Starts `item`'s attempt as the probe (its outcome comes back through succeeded or failed). */
  probe(item: T): void
  /** The outage is over: starts the attempts of everything that waited. */
  resume(items: T[]): void
}

export class Outage<T> {
  readonly #d: OutageDeps<T>
  /** Waiting for the library, oldest first. */
  readonly #waiting = new Set<T>()
  #down = false
  /** Requests of uploads that failed since the last attempt that succeeded. */
  #failuresInRow = 0
  /** Probes that failed since the outage began: the backoff's exponent. */
  #failedProbes = 0
  #probing: T | undefined
  /** Items probed in this outage: the next probe is another one while there is one (a file the server fails for itself cannot keep the others waiting). */
  readonly #probed = new Set<T>()
  #timer: AbortController | undefined
  #nextProbeAtMs: number | undefined
  /** A probe came due with nothing to send (the files waiting were deleted): the next item to wait is the probe. */
  #probeDue = false
  #closed = false

  constructor(deps: OutageDeps<T>) {
    this.#d = deps
  }

  get down(): boolean {
    return this.#down
  }

  /** When the next probe is sent (undefined: none planned, or one is under way). */
  get nextProbeAtMs(): number | undefined {
    return this.#nextProbeAtMs
  }

  /** The probe timer (0 or 1), for the uploader's timer count. */
  get timers(): number {
    return this.#timer ? 1 : 0
  }

  /** Is `item` waiting here? */
  holds(item: T): boolean {
    return this.#waiting.has(item)
  }

  /** Is `item`'s attempt the probe (it runs while the library is down)? */
  isProbe(item: T): boolean {
    return this.#probing === item
  }

  /** `item` waits for the library to come back (it was due, or its attempt failed while it was down). */
  hold(item: T): void {
    if (this.#probing === item) this.#probing = undefined
    this.#waiting.add(item)
    if (this.#probing === undefined && !this.#timer) this.#plan(undefined, this.#probeDue ? 0 : undefined)
  }

  /** `item` no longer waits (its upload started by other means, or was cancelled). A probe ends by its outcome. */
  release(item: T): void {
    this.#waiting.delete(item)
  }

  /**
   * A request of an upload failed in a way its client retries: after FAILURES_IN_ROW of them the library is
   * down. True while it is (the upload's background attempt gives up then, and waits here).
   */
  requestFailed(e: ImageKitError): boolean {
    this.#failuresInRow++
    if (!this.#down && isOutage(e) && this.#failuresInRow >= FAILURES_IN_ROW) this.#goDown(e)
    return this.#down
  }

  /** An attempt succeeded: the library answers. Whatever waited starts again. */
  succeeded(): void {
    this.#failuresInRow = 0
    if (!this.#down) return
    this.#down = false
    this.#failedProbes = 0
    this.#probing = undefined
    this.#probeDue = false
    this.#probed.clear()
    this.#stopTimer()
    const items = [...this.#waiting]
    this.#waiting.clear()
    this.#d.log.info({ uploads: items.length }, 'the library answers again; resuming the uploads that waited for it')
    this.#d.resume(items)
  }

  /** The probe ended without asking the library (nothing was left to send): another one goes now. */
  inconclusive(item: T): void {
    if (this.#probing !== item) return
    this.#probing = undefined
    if (this.#down) this.#probeNow() // with nothing waiting, the next item to wait is the probe
  }

  /** `item`'s attempt failed with `e`, an outage error (isOutage): it waits here for the library. */
  failed(item: T, e: unknown): void {
    const wasProbe = this.#probing === item
    if (wasProbe) this.#probing = undefined
    this.#waiting.add(item)
    if (!this.#down) {
      this.#goDown(e)
    } else if (wasProbe) {
      this.#failedProbes++
      this.#plan(e)
    } else if (this.#probing === undefined && !this.#timer) {
      this.#plan(e)
    }
  }

  #goDown(e: unknown): void {
    this.#down = true
    this.#failedProbes = 0
    this.#plan(e)
    this.#d.log.warn({ retryInMs: this.#nextProbeAtMs! - this.#d.clock.now() }, 'the library is not answering uploads; pending uploads wait for one attempt to get through before they go on')
  }

  close(): void {
    this.#closed = true
    this.#stopTimer()
  }

  /**
   * Sets the probe timer: capped exponential backoff, half of it jitter; a 429's reset at the least.
   * `dueMs`: the wait instead (0: a probe that came due with nothing to send).
   */
  #plan(e: unknown, dueMs?: number): void {
    this.#stopTimer()
    if (this.#closed) return
    const { clock, baseMs, maxMs, random } = this.#d
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(20, this.#failedProbes))
    const backoffMs = Math.floor(ceiling / 2 + random() * (ceiling / 2))
    const resetMs = hasImageKitCode(e, 'IK_RATE_LIMITED') ? (e.retryAfterMs ?? 0) : 0
    const delayMs = dueMs ?? Math.max(backoffMs, resetMs)
    const timer = new AbortController()
    this.#timer = timer
    this.#nextProbeAtMs = clock.now() + delayMs
    clock.sleep(delayMs, timer.signal).then(() => {
      if (this.#timer !== timer || timer.signal.aborted) return
      this.#timer = undefined
      this.#probeNow()
    }, () => undefined)
  }

  /**
   * Probes with the smallest waiting item not probed yet in this outage (oldest among equals): a probe that
   * fails sends as little as can be, and each item gets its turn before one is probed again.
   */
  #probeNow(): void {
    this.#nextProbeAtMs = undefined
    if (this.#closed) return
    let smallest: T | undefined
    let smallestCost = Number.POSITIVE_INFINITY
    for (const item of this.#waiting) {
      const cost = this.#d.cost(item)
      if (!this.#probed.has(item) && cost < smallestCost) [smallest, smallestCost] = [item, cost]
    }
    if (smallest === undefined && this.#waiting.size > 0) {
      this.#probed.clear() // every waiting item had its turn
      return this.#probeNow()
    }
    if (smallest === undefined) {
      this.#probeDue = true
      return
    }
    this.#probeDue = false
    this.#waiting.delete(smallest)
    this.#probed.add(smallest)
    this.#probing = smallest
    this.#d.probe(smallest)
  }

  #stopTimer(): void {
    this.#timer?.abort()
    this.#timer = undefined
  }
}
