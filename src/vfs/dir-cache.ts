/**
 * The listing cache: fresh listings by remote folder path, in an LRU bounded by folder count and
 * total entries (see inode.ts for the cost of one entry). Stale listings stay until evicted so that
 * a re-listing keeps inode numbers. Concurrent requests for the same folder share one fetch.
 *
 * When a re-listing fails because the API cannot be reached (network, timeouts, 5xx or 429 after the
 * client's retries), the stale listing is served instead of an error and tried again after
 * UNREACHABLE_RETRY_MS: browsing keeps working through an outage, and each `ls` does not wait out the
 * client's retries again. Answers that say something about the request (401, 404, ...) are never masked.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import { isImageKitError, type ImageKitCode } from '../imagekit/errors.js'
import type { FileObject } from '../imagekit/types.js'
import { DirListing, ListingBuilder, type ListingBuilderDeps } from './dir-node.js'
import { fromImageKitError } from './from-imagekit-error.js'
import type { DirInode, Inode } from './inode.js'
import type { Counters } from './stats.js'

/** Total cached entries across folders: ~500 B each (inode.ts) → ~500 MB worst case; one 100k-file folder fits many times. */
export const MAX_CACHED_ENTRIES = 1_000_000

/** How long a stale listing is served after a re-listing found the API unreachable, before trying again. */
export const UNREACHABLE_RETRY_MS = 30_000
const UNREACHABLE: ReadonlySet<ImageKitCode> = new Set(['IK_NETWORK', 'IK_TIMEOUT', 'IK_SERVER', 'IK_RATE_LIMITED'])

export interface DirCacheOptions {
  ttlMs: number
  /** Told about each listing fetched (debug level: tests count them to prove probes cost no API call). */
  onListing?: (remotePath: string, items: number, ms: number) => void
  /** Told when a stale listing is served because the API could not be reached. */
  onStaleServed?: (remotePath: string, error: unknown) => void
  maxDirs: number
  versions: boolean
  maxEntries?: number
}

/** A folder's fetch under way: this mount's changes to apply to its answer, and whether it was expired meanwhile. */
interface FetchState {
  changes: ((listing: DirListing) => void)[]
  expired: boolean
}

export class DirCache {
  readonly #lru: LRUCache<string, DirListing>
  /** Fetches under way; one that a refresh or an expiry overtook is `stale`: later callers start their own. */
  readonly #inflight = new Map<string, { fetch: Promise<DirListing>; stale: boolean }>()
  /** Bumped by forget() and clear(): a fetch that started before it does not store its (maybe outdated) result. */
  #generation = 0
  /** What happened to each folder while its listing was being fetched (see FetchState). */
  readonly #duringFetch = new Map<string, Set<FetchState>>()

  constructor(
    readonly api: ImageKitApi,
    readonly clock: Clock,
    readonly deps: ListingBuilderDeps,
    readonly counters: Counters,
    readonly options: DirCacheOptions,
  ) {
    const maxSize = options.maxEntries ?? MAX_CACHED_ENTRIES
    this.#lru = new LRUCache<string, DirListing>({
      max: Math.max(1, options.maxDirs),
      maxSize,
      // A folder larger than the whole bound is kept alone (the cache would refuse to store it at all, and
      // every lookup in it would list it again).
      sizeCalculation: (l) => Math.min(l.children.size + 1, maxSize),
      // Listings dropped (evicted, forgotten) leave their nodes' numbers behind for the next listing.
      dispose: (l, _key, reason) => {
        if (reason !== 'set') for (const node of l.children.values()) deps.inodes.remember(node)
      },
    })
  }

  /** A fresh listing of `dir`, fetching it (once, shared) when missing or expired. */
  async listing(dir: DirInode): Promise<DirListing> {
    const key = dir.remotePath
    const cached = this.#lru.get(key)
    if (cached && this.#isFresh(cached)) {
      this.counters.dirCacheHits++
      return cached
    }
    const inflight = this.#inflight.get(key)
    if (inflight && !inflight.stale) return inflight.fetch
    this.counters.dirCacheMisses++
    const entry = { fetch: this.#fetch(key), stale: false }
    entry.fetch = entry.fetch.finally(() => {
      if (this.#inflight.get(key) === entry) this.#inflight.delete(key)
    })
    this.#inflight.set(key, entry)
    return entry.fetch
  }

  async #fetch(remotePath: string): Promise<DirListing> {
    const generation = this.#generation
    const startedMs = this.clock.now()
    const builder = new ListingBuilder(remotePath, this.#lru.peek(remotePath), this.deps)
    let items = 0
    const during: FetchState = { changes: [], expired: false }
    const fetches = this.#duringFetch.get(remotePath) ?? new Set<FetchState>()
    fetches.add(during)
    this.#duringFetch.set(remotePath, fetches)
    // With --versions, the old versions are listed beside the folder (two round trips at once, not in a row).
    const stopVersions = new AbortController()
    const versions = this.options.versions
      ? collect(this.api.listFiles({ path: remotePath, type: 'file-version' }, { signal: stopVersions.signal }))
      : undefined
    versions?.catch(() => undefined) // awaited below unless the folder's own listing fails first
    try {
      for await (const item of this.api.listFiles({ path: remotePath, type: 'all' })) {
        builder.add(item)
        items++
      }
      for (const item of (await versions) ?? []) {
        builder.addVersion(item as FileObject)
        items++
      }
    } catch (e) {
      stopVersions.abort()
      const stale = this.#lru.peek(remotePath)
      if (stale && isImageKitError(e) && UNREACHABLE.has(e.code) && generation === this.#generation) return this.#serveStale(stale, e)
      throw fromImageKitError(e, { op: 'list', target: remotePath })
    } finally {
      fetches.delete(during)
      if (fetches.size === 0) this.#duringFetch.delete(remotePath)
    }
    this.counters.listingsFetched++
    this.counters.listingItems += items
    this.options.onListing?.(remotePath, items, this.clock.now() - startedMs)
    const listing = builder.finish(this.clock.now())
    for (const change of during.changes) change(listing)
    if (generation === this.#generation && !during.expired) this.#lru.set(remotePath, listing)
    return listing
  }

  /** The stale listing, counted fresh for UNREACHABLE_RETRY_MS more (same children: changes made meanwhile stay). */
  #serveStale(stale: DirListing, error: unknown): DirListing {
    const fetchedAtMs = this.clock.now() - this.options.ttlMs + UNREACHABLE_RETRY_MS
    const served = new DirListing(stale.remotePath, fetchedAtMs, stale.children, stale.hidden, stale.listedAtMs)
    this.#lru.set(stale.remotePath, served)
    this.counters.staleListingsServed++
    this.options.onStaleServed?.(stale.remotePath, error)
    return served
  }

  /** The cached listings of `remotePath` and below (all when undefined), fresh or not. */
  *listingsUnder(remotePath?: string): Iterable<DirListing> {
    const prefix = remotePath === undefined || remotePath === '/' ? '/' : remotePath + '/'
    for (const listing of this.#lru.values()) {
      if (prefix === '/' || listing.remotePath === remotePath || listing.remotePath.startsWith(prefix)) yield listing
    }
  }

  /** Drops listings of `remotePath` and below (all when undefined). */
  forget(remotePath?: string): void {
    this.#generation++
    const all = remotePath === undefined || remotePath === '/'
    const prefix = remotePath + '/'
    const under = (key: string): boolean => all || key === remotePath || key.startsWith(prefix)
    for (const [key, inflight] of this.#inflight) if (under(key)) inflight.stale = true
    if (all) return this.#lru.clear()
    for (const key of [...this.#lru.keys()]) if (under(key)) this.#lru.delete(key)
  }

  /**
   * Applies this mount's own change to a cached listing (no-op when not cached), and to the answer of a fetch
   * of that folder under way, which may predate it (an upload that landed meanwhile, and left the spool,
   * would be missing from it). Fetches of other folders are not concerned.
   */
  setChild(remotePath: string, name: string, node: Inode | undefined): void {
    const cached = this.#lru.peek(remotePath)
    if (cached) {
      cached.setChild(name, node)
      // Counted again against the bound (a folder `cp -r` fills grows); lru-cache recounts a replaced value only.
      this.#lru.set(remotePath, new DirListing(cached.remotePath, cached.fetchedAtMs, cached.children, cached.hidden, cached.listedAtMs))
    }
    for (const during of this.#duringFetch.get(remotePath) ?? []) during.changes.push((listing) => listing.setChild(name, node))
  }

  /**
   * Takes the old versions of a file this mount deleted (ImageKit deletes them with it, W8) out of a cached
   * listing, so they do not stay beside no file until the next listing. Only --versions shows them.
   */
  dropVersionsOf(remotePath: string, fileId: string): void {
    if (!this.options.versions) return
    const drop = (listing: DirListing) => {
      for (const [name, node] of listing.children) {
        if (node.kind === 'file' && node.isVersion && node.fileId === fileId) listing.setChild(name, undefined)
      }
    }
    const cached = this.#lru.peek(remotePath)
    if (cached) drop(cached)
    for (const during of this.#duringFetch.get(remotePath) ?? []) during.changes.push(drop)
  }

  /**
   * A file in this folder gained a version through this mount, and its node was set already: with --versions
   * the version it replaced is now an old one, which only a new listing shows; without, nothing is missing.
   */
  versionAdded(remotePath: string): void {
    if (this.options.versions) this.expire(remotePath)
  }

  /**
   * A file was renamed or moved through this mount, and its node was set already: with --versions its old
   * versions went along (ImageKit renames them all), which only new listings of both folders show.
   */
  fileMoved(fromFolder: string, toFolder: string): void {
    if (!this.options.versions) return
    this.expire(fromFolder)
    this.expire(toFolder)
  }

  /** True when asking for this folder's listing would fetch it: nothing fresh is cached and no fetch is under way. */
  needsListing(remotePath: string): boolean {
    if (this.#inflight.has(remotePath)) return false
    const cached = this.#lru.peek(remotePath)
    return !cached || !this.#isFresh(cached)
  }

  #isFresh(listing: DirListing): boolean {
    return listing.isFresh(this.clock.now(), this.options.ttlMs)
  }

  /** The cached listing of a folder, fresh or not, without fetching. */
  peek(remotePath: string): DirListing | undefined {
    return this.#lru.peek(remotePath)
  }

  /** Marks one listing as expired (a stale read detected a change) without losing inode numbers. */
  expire(remotePath: string): void {
    const l = this.#lru.peek(remotePath)
    if (l) this.#lru.set(remotePath, new DirListing(l.remotePath, Number.NEGATIVE_INFINITY, l.children, l.hidden, Number.NEGATIVE_INFINITY))
    // A fetch under way may have been answered before the change that was detected: not stored either.
    for (const during of this.#duringFetch.get(remotePath) ?? []) during.expired = true
    const inflight = this.#inflight.get(remotePath)
    if (inflight) inflight.stale = true
  }

  get size(): number {
    return this.#lru.size
  }

  /** Every cached node (for statfs `files` and invariant checks). */
  *nodes(): Iterable<Inode> {
    for (const l of this.#lru.values()) yield* l.children.values()
  }

  get entryCount(): number {
    return this.#lru.calculatedSize
  }

  clear(): void {
    this.#generation++
    this.#lru.clear()
  }
}

/** Array.fromAsync, which Node 20 lacks. */
async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}
