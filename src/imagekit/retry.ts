/**
 * Retry policy for every ImageKit call: which failures retry, and how long to wait.
 *
 * - Retriable failures are marked by the code that saw them (`ImageKitError.retriable`): 500, 502, 503,
 *   504, 429, 408, network errors and timeouts before a response, and (for idempotent calls only) a body
 *   cut short. 408 Request Timeout retries like a dropped connection, for non-idempotent calls too: the
 *   server says it did not receive the whole request, so it did not act on it, and HTTP lets a client
 *   repeat such a request (RFC 9110 §15.5.9). Everything else, notably every other 4xx and the caller's
 *   abort, fails at once.
 * - Failures wait with capped exponential backoff and full jitter (AWS "full jitter": a uniform random
 *   delay between 0 and the exponential cap), and count against `maxRetries`.
 * - 429 waits exactly as long as `X-RateLimit-Reset` says (a backoff step when it says nothing), against a
 *   separate budget of total waiting time instead of `maxRetries`: being throttled is not the server failing.
 *   A reset further off than what is left of that budget fails at once with IK_RATE_LIMITED, saying how
 *   long the API asked to wait: trying again before the reset would only spend requests into the limit.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { ImageKitError } from './errors.js'

/** First backoff step; ImageKit's 5xx are usually brief blips. */
export const RETRY_BASE_DELAY_MS = 200
/** Longest single backoff wait; beyond this the caller (a FUSE op) is better served by an error. */
export const RETRY_MAX_DELAY_MS = 10_000
/**
 * Total time one call may spend waiting out 429s before it fails with IK_RATE_LIMITED: a FUSE op that waits
 * longer is better served by an error (a limit over a 15-minute window may ask for a reset that far off).
 */
export const RATE_LIMIT_TOTAL_WAIT_MS = 300_000
/** Hard cap on 429 retries of one call, so a server sending `X-RateLimit-Reset: 0` cannot loop us forever. */
export const RATE_LIMIT_MAX_RETRIES = 50

export interface RetryPolicy {
  /** Retries after failures (not counting 429 waits). */
  maxRetries: number
  baseDelayMs: number
  maxDelayMs: number
  rateLimitTotalWaitMs: number
}

export function defaultRetryPolicy(maxRetries: number): RetryPolicy {
  return {
    maxRetries,
    baseDelayMs: RETRY_BASE_DELAY_MS,
    maxDelayMs: RETRY_MAX_DELAY_MS,
    rateLimitTotalWaitMs: RATE_LIMIT_TOTAL_WAIT_MS,
  }
}

/** Full-jitter backoff for the n-th retry (0-based): uniform in [0, min(max, base * 2^n)). */
export function backoffDelayMs(retryIndex: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retryIndex, 30))
  return Math.floor(random() * ceiling)
}

export interface RetryContext {
  policy: RetryPolicy
  clock: Clock
  random: () => number
  log: Logger
  /** `GET /v1/files`: for log lines. */
  operation: string
  signal?: AbortSignal
  /** Asked before each retry: true ends the call with the failure at hand (RequestOptions.giveUp). */
  giveUp?: (failure: ImageKitError) => boolean
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retriable error, or the budget is spent.
 * `attempt` receives the attempt number (0 for the first try).
 */
export async function withRetry<T>(attempt: (attemptNumber: number) => Promise<T>, context: RetryContext): Promise<T> {
  const { policy, log, operation } = context
  let failures = 0
  let rateLimitRetries = 0
  let rateLimitWaitedMs = 0
  for (let attemptNumber = 0; ; attemptNumber++) {
    throwIfAborted(context.signal, operation)
    try {
      return await attempt(attemptNumber)
    } catch (error) {
      if (!(error instanceof ImageKitError) || !error.retriable || context.signal?.aborted) throw error
      if (context.giveUp?.(error)) {
        log.debug({ operation, requestId: error.requestId, attempts: attemptNumber + 1, code: error.code }, 'not retrying: the caller gave up')
        throw error
      }
      let waitMs: number
      if (error.code === 'IK_RATE_LIMITED') {
        const askedMs = error.retryAfterMs ?? 0
        const leftMs = policy.rateLimitTotalWaitMs - rateLimitWaitedMs
        if (askedMs > leftMs) {
          log.warn({ operation, requestId: error.requestId, askedMs, leftMs, code: error.code }, 'giving up: the rate limit resets later than a request waits')
          throw resetTooFarOff(error, askedMs, leftMs, policy.rateLimitTotalWaitMs)
        }
        waitMs = askedMs > 0 ? askedMs : backoffDelayMs(rateLimitRetries, policy, context.random)
        rateLimitRetries++
        if (rateLimitWaitedMs + waitMs > policy.rateLimitTotalWaitMs || rateLimitRetries > RATE_LIMIT_MAX_RETRIES) {
          log.warn({ operation, requestId: error.requestId, waitedMs: rateLimitWaitedMs, code: error.code }, 'giving up: still rate limited')
          throw error
        }
        rateLimitWaitedMs += waitMs
      } else {
        if (failures >= policy.maxRetries) {
          // Debug: the error goes on to the caller, whose own line says what failed (the op's errno, an upload's
          // next attempt), with this request id; a warning here too made two for one failure.
          log.debug({ operation, requestId: error.requestId, attempts: attemptNumber + 1, code: error.code }, 'giving up after retries')
          throw error
        }
        waitMs = backoffDelayMs(failures, policy, context.random)
        failures++
      }
      // A request that got no answer within the request timeout has kept its caller (an `ls`, a read) waiting that
      // long already, and the next try may too: that is worth a line at the default level, unlike a brief 5xx.
      const level = error.code === 'IK_TIMEOUT' ? 'info' : 'debug'
      log[level]({ operation, requestId: error.requestId, code: error.code, status: error.status, attempt: attemptNumber + 1, waitMs }, 'retrying')
      await sleepUnlessAborted(context.clock, waitMs, context.signal, operation)
    }
  }
}

/** IK_RATE_LIMITED for a 429 whose `X-RateLimit-Reset` asks for more than `leftMs` of waiting. */
function resetTooFarOff(error: ImageKitError, askedMs: number, leftMs: number, totalMs: number): ImageKitError {
  const left = leftMs === totalMs ? `the ${seconds(totalMs)} a request waits out rate limits` : `the ${seconds(leftMs)} left of the ${seconds(totalMs)} a request waits out rate limits`
  const message = `${error.message}: the API asks to wait ${seconds(askedMs)} before the next request (X-RateLimit-Reset), longer than ${left}`
  return new ImageKitError('IK_RATE_LIMITED', message, {
    status: error.status, method: error.method, route: error.route, requestId: error.requestId, reason: error.reason,
    retryAfterMs: askedMs, retriable: false, cause: error,
  })
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`
}

/** `clock.sleep` that also ends (with IK_ABORTED) when the caller's signal fires, whatever the clock does. */
export async function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal | undefined, operation: string): Promise<void> {
  if (!signal) return clock.sleep(ms)
  throwIfAborted(signal, operation)
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortedError(operation, signal.reason))
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    await Promise.race([clock.sleep(ms, signal).catch(() => undefined), aborted])
    throwIfAborted(signal, operation)
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted) throw abortedError(operation, signal.reason)
}

/** IK_ABORTED for `operation` (`GET /v1/files`: method, space, route template). */
export function abortedError(operation: string, cause?: unknown): ImageKitError {
  const space = operation.indexOf(' ')
  const [method, route] = space === -1 ? [undefined, operation] : [operation.slice(0, space), operation.slice(space + 1)]
  return new ImageKitError('IK_ABORTED', `${operation}: aborted`, { method, route, cause, retriable: false })
}
