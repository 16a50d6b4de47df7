/**
 * Group commit: callers arriving while a sync runs share the next one. The spool's journal (one fdatasync of
 * its log) and its data folder (one fsync of `data/`) both use it, so N files committed together cost about
 * two syncs, not N.
 *
 * Writes are noted (`wrote`) and a caller asks for every write noted before it to be durable (`covered`):
 * at once when a finished sync began after them; with the sync running now when it began after them; else
 * with the next one, which begins when the running one ends (failed or not) and is shared by every caller
 * until it begins. `sync` asks for a sync begun after the call itself. Never two syncs at once; a sync's
 * failure reaches everyone who shared it, and the next caller starts another.
 */
export class GroupSync {
  readonly #run: () => Promise<void>
  /** Writes noted so far, and how many of them a finished sync covers. */
  #written = 0
  #covered = 0
  /** The sync running now, and the writes it covers (those noted before it began). */
  #running: { done: Promise<void>; upTo: number } | undefined
  /** The sync to begin once the running one ends. */
  #next: Promise<void> | undefined

  /** `run` makes what was written so far durable; it is called when a sync begins (never while one runs). */
  constructor(run: () => Promise<void>) {
    this.#run = run
  }

  /** Notes a write: the next `covered` waits for a sync begun after it. */
  wrote(): void {
    this.#written++
  }

  /** Resolves once a sync begun after every write noted so far ended (see above). */
  covered(): Promise<void> {
    const wanted = this.#written
    if (this.#covered >= wanted) return Promise.resolve()
    // One is queued already (the running one may have just ended: it begins next): it covers these writes too.
    if (this.#next !== undefined) return this.#next
    if (this.#running === undefined) return this.#start()
    if (this.#running.upTo >= wanted) return this.#running.done
    this.#next = this.#running.done.catch(() => undefined).then(() => {
      this.#next = undefined
      return this.#start()
    })
    return this.#next
  }

  /** Resolves once a sync begun after this call ended. */
  sync(): Promise<void> {
    this.wrote()
    return this.covered()
  }

  /** Resolves once no sync runs or waits to (their failures are their callers'). */
  async settled(): Promise<void> {
    for (let s = this.#next ?? this.#running?.done; s !== undefined; s = this.#next ?? this.#running?.done) {
      await s.catch(() => undefined)
    }
  }

  #start(): Promise<void> {
    const upTo = this.#written
    const done: Promise<void> = (async () => this.#run())()
      .then(() => {
        this.#covered = Math.max(this.#covered, upTo)
      })
      .finally(() => {
        if (this.#running?.done === done) this.#running = undefined
      })
    this.#running = { done, upTo }
    return done
  }
}
