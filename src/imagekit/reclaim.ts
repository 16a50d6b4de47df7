/**
 * Taking back connections that paused responses hold, for both delivery readers.
 *
 * A ranged response whose reader stops taking bytes (a RangeStream ahead of its reader) stays paused on its
 * connection, TCP holding the server back. Every open file read partway holds one that way, so a program that
 * reads a little of many files in turn (`paste f1 … f33`, `sort -m`) would hold all of --max-connections and
 * then wait forever for one more. So when a request waits for a connection of a full pool, the response
 * paused the longest gives its connection up: its `deliver` rejects with IK_RECLAIMED, and its reader reads
 * on from its next byte with a new range once it wants more. A response paused only until `deliver` is
 * called (its head just arrived) is never taken back: its reader is about to read it.
 *
 * A request still waits when no response is paused (every connection is busy downloading), but never longer
 * than the request timeout: then it fails with a retriable IK_TIMEOUT (NO_FREE_CONNECTION).
 */

/** A response holding a connection; `reclaim` closes that connection (called at most once). */
export interface Reclaimable {
  reclaim(): void
}

/** The error code (a socket-style `code`) of a connection taken back; http.ts makes it IK_RECLAIMED. */
export const CONNECTION_RECLAIMED = 'IKFS_CONNECTION_RECLAIMED'
/** The error code of a wait for a connection that outlived the request timeout; http.ts makes it IK_TIMEOUT. */
export const NO_FREE_CONNECTION = 'IKFS_NO_FREE_CONNECTION'

/** Responses paused by their readers, the longest paused first (a Set keeps insertion order). */
export class PausedResponses<T extends Reclaimable> {
  readonly #paused = new Set<T>()

  get size(): number {
    return this.#paused.size
  }

  paused(response: T): void {
    this.#paused.delete(response)
    this.#paused.add(response)
  }

  /** It reads again, or is gone. */
  resumed(response: T): void {
    this.#paused.delete(response)
  }

  /** Takes back the connections of up to `count` responses, the longest paused first; returns how many. */
  reclaim(count: number): number {
    let taken = 0
    for (const response of this.#paused) {
      if (taken >= count) break
      this.#paused.delete(response)
      response.reclaim()
      taken++
    }
    return taken
  }
}

/**
 * What the undici reader knows of one origin's connections (undici does not say which requests wait for
 * one): requests on a connection, requests dispatched but not on one yet, and the paused ones among the first.
 * A response taken back stops holding at once (its connection closes a moment later, and undici gives the
 * next connection to the request first in its queue).
 */
export class OriginConnectionUse<T extends Reclaimable> {
  /** Requests on a connection (from their start until they are done). */
  holding = 0
  /** Requests dispatched and not started yet: waiting for a connection. */
  waiting = 0
  readonly paused = new PausedResponses<T>()

  constructor(readonly maxConnections: number) {}

  /** Takes back as many paused responses' connections as waiting requests need beyond the free ones. */
  reclaimForWaiting(): void {
    const needed = this.waiting - Math.max(0, this.maxConnections - this.holding)
    if (needed > 0) this.paused.reclaim(needed)
  }
}

/** OriginConnectionUse per origin, made on first use. */
export class ConnectionUse<T extends Reclaimable> {
  readonly #origins = new Map<string, OriginConnectionUse<T>>()

  constructor(readonly maxConnectionsPerOrigin: number) {}

  for(origin: string): OriginConnectionUse<T> {
    let use = this.#origins.get(origin)
    if (!use) {
      use = new OriginConnectionUse<T>(this.maxConnectionsPerOrigin)
      this.#origins.set(origin, use)
    }
    return use
  }
}
