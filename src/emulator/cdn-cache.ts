/**
 * The stale CDN (§6.2): delivery answers are remembered per full request URL (path + query, minus the
 * signature). After a file changes (overwrite, restore, rename, move, delete) a remembered URL keeps serving
 * the version it served before for `staleMs`, unless purged. A URL never seen before is a miss and gets the
 * current bytes, which is why clients bust caches with `updatedAt`.
 *
 * Deleting a file or version does not purge it either (§4.4): before its bytes go, every URL that served it
 * keeps a hard link to them (in `retainDir`) with the version's record, removed when the entry is dropped.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import { keepCopy } from './bytes.js'
import { newObjectId } from './ids.js'
import type { VersionRecord } from './records.js'

/** Bound of remembered URLs; far more than a test or demo touches, small enough to scan on purge. */
export const CDN_MAX_ENTRIES = 10_000

export interface CdnEntry {
  fileId: string
  versionId: string
  /** When the file changed after this URL was served; undefined while the entry is fresh. */
  staleSince?: number
  /** The version served, kept after it was deleted from the library. */
  retained?: { version: VersionRecord; bytesPath: string }
}

export class CdnCache {
  readonly #entries: LRUCache<string, CdnEntry>
  readonly #keysByFile = new Map<string, Set<string>>()
  /** Keys whose entry holds bytes of a deleted version. */
  readonly #retainedKeys = new Set<string>()

  /** `retainDir`: where bytes of deleted versions are kept while a URL still serves them (emptied at start). */
  constructor(readonly staleMs: number, readonly clock: Clock, readonly retainDir: string, maxEntries = CDN_MAX_ENTRIES) {
    this.#entries = new LRUCache<string, CdnEntry>({
      max: maxEntries,
      dispose: (entry, key) => {
        const keys = this.#keysByFile.get(entry.fileId)
        keys?.delete(key)
        if (keys?.size === 0) this.#keysByFile.delete(entry.fileId)
        if (entry.retained) {
          this.#retainedKeys.delete(key)
          rmSync(entry.retained.bytesPath, { force: true })
        }
      },
    })
  }

  get size(): number {
    return this.#entries.size
  }

  /** The remembered answer for this URL, unless it went stale longer than `staleMs` ago (then forgotten). */
  lookup(key: string): CdnEntry | undefined {
    const entry = this.#entries.get(key)
    if (!entry) return undefined
    if (entry.staleSince !== undefined && this.clock.now() - entry.staleSince >= this.staleMs) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  remember(key: string, fileId: string, versionId: string): void {
    this.#entries.set(key, { fileId, versionId })
    let keys = this.#keysByFile.get(fileId)
    if (!keys) {
      keys = new Set()
      this.#keysByFile.set(fileId, keys)
    }
    keys.add(key)
  }

  forget(key: string): void {
    this.#entries.delete(key)
  }

  /** The file changed: every URL that served it starts its stale window now. */
  markChanged(fileId: string): void {
    const now = this.clock.now()
    for (const key of this.#keysByFile.get(fileId) ?? []) {
      const entry = this.#entries.peek(key)
      if (entry && entry.staleSince === undefined) entry.staleSince = now
    }
  }

  /**
   * `versions` of the file are about to be deleted (bytes at `bytesPathOf`): URLs that served one keep its
   * bytes and record, and their stale window starts now. URLs past their window are dropped on the way.
   */
  async retainDeleted(fileId: string, versions: readonly VersionRecord[], bytesPathOf: (v: VersionRecord) => string): Promise<void> {
    this.#dropExpiredRetained()
    const now = this.clock.now()
    for (const key of [...(this.#keysByFile.get(fileId) ?? [])]) {
      const entry = this.#entries.peek(key)
      const version = versions.find((v) => v.id === entry?.versionId)
      if (!entry || !version || entry.retained) continue
      const bytesPath = join(this.retainDir, newObjectId())
      try {
        await keepCopy(bytesPathOf(version), bytesPath)
      } catch {
        continue // bytes already gone (removed by hand): the URL is forgotten at its next request
      }
      if (this.#entries.peek(key) !== entry) {
        rmSync(bytesPath, { force: true }) // purged meanwhile
        continue
      }
      entry.retained = { version, bytesPath }
      entry.staleSince ??= now
      this.#retainedKeys.add(key)
    }
  }

  /** Kept bytes are freed when their window ends, not only when the URL is requested again. */
  #dropExpiredRetained(): void {
    const now = this.clock.now()
    for (const key of [...this.#retainedKeys]) {
      const entry = this.#entries.peek(key)
      if (entry?.staleSince !== undefined && now - entry.staleSince >= this.staleMs) this.#entries.delete(key)
    }
  }

  /** Drops one URL, or with `prefix` every URL starting with `key`. Returns how many were dropped. */
  purge(key: string, prefix: boolean): number {
    const doomed = prefix ? [...this.#entries.keys()].filter((k) => k.startsWith(key)) : this.#entries.has(key) ? [key] : []
    for (const k of doomed) this.#entries.delete(k)
    return doomed.length
  }

  clear(): void {
    this.#entries.clear()
  }
}
