/**
 * Folders whose lock in the kernel a request in flight may hold: the kernel holds a folder's lock while a
 * lookup or readdir in it waits for ikfs (shared), and while a create, mkdir, unlink, rmdir or rename in it
 * does (exclusive).
 *
 * A notification about a name in such a folder (missing-names.ts) waits for that lock in an uninterruptible
 * sleep. Were the daemon killed then (kill -9), that thread would keep it from exiting, so /dev/fuse would
 * stay open, the request holding the lock would never be answered or aborted, and the mount would hang until
 * aborted by hand. Notifications therefore wait here until nothing is in flight in their folder.
 */
/** setTimeout's largest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class BusyFolders {
  readonly #inFlight = new Map<string, number>()
  readonly #waiters = new Map<string, Set<() => void>>()

  /** A request holds these folders until the returned release is called (once is enough). */
  enter(folders: readonly string[]): () => void {
    for (const folder of folders) this.#inFlight.set(folder, (this.#inFlight.get(folder) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      for (const folder of folders) this.#leave(folder)
    }
  }

  isBusy(folder: string): boolean {
    return this.#inFlight.has(folder)
  }

  /** True once nothing is in flight in `folder` (at once when nothing is); false when that takes over `withinMs`. */
  idle(folder: string, withinMs: number): Promise<boolean> {
    if (!this.#inFlight.has(folder)) return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      let waiters = this.#waiters.get(folder)
      if (!waiters) this.#waiters.set(folder, (waiters = new Set()))
      const done = (idle: boolean): void => {
        clearTimeout(timer)
        waiters.delete(wake)
        if (waiters.size === 0 && this.#waiters.get(folder) === waiters) this.#waiters.delete(folder)
        resolve(idle)
      }
      const wake = (): void => done(true)
      const timer = setTimeout(() => done(false), Math.min(withinMs, MAX_TIMER_MS))
      timer.unref()
      waiters.add(wake)
    })
  }

  #leave(folder: string): void {
    const left = (this.#inFlight.get(folder) ?? 1) - 1
    if (left > 0) {
      this.#inFlight.set(folder, left)
      return
    }
    this.#inFlight.delete(folder)
    for (const wake of [...(this.#waiters.get(folder) ?? [])]) wake()
  }
}
