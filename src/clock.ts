/** Time as a dependency: TTLs, backoff and expiry read `clock.now()`, so tests can move time. */
export interface Clock {
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error)
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
      const onAbort = () => {
        clearTimeout(timer)
        reject(signal?.reason as Error)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    }),
}

/** `base` read `offsetMs` later, an offset that can be changed while it runs: a clock that is stepped (NTP, by hand). */
export class SteppedClock implements Clock {
  constructor(
    readonly base: Clock,
    public offsetMs: number,
  ) {}
  now(): number {
    return this.base.now() + this.offsetMs
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.base.sleep(ms, signal)
  }
}

/** A clock that only moves when told to; for unit tests of TTLs and backoff. */
export class ManualClock implements Clock {
  #now: number
  #sleepers: { until: number; resolve: () => void }[] = []
  constructor(start = 1_700_000_000_000) {
    this.#now = start
  }
  now(): number {
    return this.#now
  }
  /** Like systemClock's, a sleep ends early, rejected, when its signal aborts (a Vfs closed while it retries). */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error)
      const sleeper = { until: this.#now + ms, resolve }
      this.#sleepers.push(sleeper)
      signal?.addEventListener('abort', () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper)
        reject(signal.reason as Error)
      }, { once: true })
    })
  }
  advance(ms: number): void {
    this.#now += ms
    const due = this.#sleepers.filter((s) => s.until <= this.#now)
    this.#sleepers = this.#sleepers.filter((s) => s.until > this.#now)
    for (const s of due) s.resolve()
  }
}
