/**
 * One cap on bytes buffered by in-flight reads (partially filled blocks), shared by every stream
 * (mountpoint-s3's memory limiter). At the cap, reservations wait. Two priorities: a reservation for
 * a block someone is waiting on ("demanded") goes before read-ahead, and read-ahead is only granted
 * while no demanded reservation waits, so read-ahead can never starve a reader. Holders are streams
 * actively filling a block, which always finish (or fail) and release: waiting cannot deadlock.
 * A demanded reservation larger than the whole cap is granted when nothing else is held.
 */

interface Waiter {
  bytes: number
  demanded: () => boolean
  resolve: () => void
  reject: (e: unknown) => void
  signal: AbortSignal | undefined
  onAbort: () => void
}

export class ByteBudget {
  #used = 0
  #peak = 0
  readonly #waiters: Waiter[] = []

  constructor(readonly maxBytes: number) {}

  get used(): number {
    return this.#used
  }
  /** Highest `used` seen. */
  get peak(): number {
    return this.#peak
  }
  get waiting(): number {
    return this.#waiters.length
  }

  /** Resolves once `bytes` are reserved; `demanded()` is asked again whenever the budget is re-examined. */
  reserve(bytes: number, demanded: () => boolean, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes, demanded, resolve, reject, signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter)
          if (i >= 0) this.#waiters.splice(i, 1)
          reject(signal?.reason)
          this.#pump()
        },
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.#waiters.push(waiter)
      this.#pump()
    })
  }

  /**
   * Reserves `bytes` at once if that needs no waiting: within the cap and nobody queued ahead (so it
   * cannot overtake a waiting reader). False means: call reserve() and wait.
   */
  tryReserve(bytes: number): boolean {
    if (this.#waiters.length > 0 || this.#used + bytes > this.maxBytes) return false
    this.#used += bytes
    if (this.#used > this.#peak) this.#peak = this.#used
    return true
  }

  release(bytes: number): void {
    this.#used -= bytes
    if (this.#used < 0) throw new Error(`budget released more than reserved (${this.#used})`)
    this.#pump()
  }

  /** Re-examines waiters (a block became demanded). */
  poke(): void {
    this.#pump()
  }

  #grant(w: Waiter): void {
    this.#waiters.splice(this.#waiters.indexOf(w), 1)
    w.signal?.removeEventListener('abort', w.onAbort)
    this.#used += w.bytes
    if (this.#used > this.#peak) this.#peak = this.#used
    w.resolve()
  }

  #pump(): void {
    for (;;) {
      const demanded = this.#waiters.find((w) => w.demanded())
      if (demanded) {
        if (this.#used + demanded.bytes <= this.maxBytes || this.#used === 0) {
          this.#grant(demanded)
          continue
        }
        return // read-ahead must not overtake a waiting reader
      }
      const next = this.#waiters[0]
      if (next && this.#used + next.bytes <= this.maxBytes) {
        this.#grant(next)
        continue
      }
      return
    }
  }
}
