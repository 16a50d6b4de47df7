/**
 * Completed blocks of file content, shared by all readers, bounded by bytes (LRU). Keyed by
 * (fileId, versionId, block index): a new version never sees an old version's bytes.
 * With the blocks of a version it keeps the ETag of the responses they came from, for as long as one of them
 * is here: a reader of that version opened later (the first one closed) checks its ranges against it, so a
 * URL that has come to deliver another version's bytes (a same-size overwrite elsewhere, once the CDN forgot
 * the old bytes) cannot add them to the blocks of this one (R5).
 */
import { LRUCache } from 'lru-cache'

interface CachedVersion {
  blocks: number
  etag: string | undefined
}

export class BlockCache {
  readonly #lru: LRUCache<string, Buffer> | undefined
  readonly #versions = new Map<string, CachedVersion>()

  /** `onDrop` gets every block that leaves the cache (evicted, replaced or cleared), or is refused by it. */
  constructor(maxBytes: number, readonly onDrop: (block: Buffer) => void = () => undefined) {
    // lru-cache needs a positive maxSize; 0 disables caching (blocks still reach their waiters).
    this.#lru = maxBytes > 0
      ? new LRUCache<string, Buffer>({
        maxSize: maxBytes,
        sizeCalculation: (b) => Math.max(1, b.length),
        dispose: (block, key) => {
          this.#left(key)
          onDrop(block)
        },
      })
      : undefined
  }

  static key(fileId: string, versionId: string, block: number): string {
    return `${versionKey(fileId, versionId)}\u0000${block}`
  }

  get(key: string): Buffer | undefined {
    return this.#lru?.get(key)
  }
  has(key: string): boolean {
    return this.#lru?.has(key) ?? false
  }
  /** `etag`: of the response the block came from (undefined: it had none). */
  set(key: string, block: Buffer, etag?: string): void {
    if (!this.#lru) return this.onDrop(block)
    this.#lru.set(key, block)
    if (this.#lru.peek(key) !== block) return this.onDrop(block) // larger than the whole cache: not kept
    const version = versionOfKey(key)
    const entry = this.#versions.get(version) ?? { blocks: 0, etag: undefined }
    entry.blocks++
    entry.etag = etag ?? entry.etag
    this.#versions.set(version, entry)
  }
  /** The ETag of the version's cached blocks; undefined when none is cached (or they came without one). */
  etagOf(fileId: string, versionId: string): string | undefined {
    return this.#versions.get(versionKey(fileId, versionId))?.etag
  }
  /** The CDN gives the version's bytes (unchanged, as its details say) under another ETag: the next block sets it. */
  forgetEtag(fileId: string, versionId: string): void {
    const entry = this.#versions.get(versionKey(fileId, versionId))
    if (entry) entry.etag = undefined
  }
  get bytes(): number {
    return this.#lru?.calculatedSize ?? 0
  }
  get blocks(): number {
    return this.#lru?.size ?? 0
  }
  /** Versions with blocks here (each keeps its ETag). */
  get versions(): number {
    return this.#versions.size
  }
  clear(): void {
    this.#lru?.clear()
  }

  #left(key: string): void {
    const version = versionOfKey(key)
    const entry = this.#versions.get(version)
    if (entry && --entry.blocks <= 0) this.#versions.delete(version)
  }
}

function versionKey(fileId: string, versionId: string): string {
  return `${fileId}\u0000${versionId}`
}

/** The versionKey part of a block's key (BlockCache.key). */
function versionOfKey(key: string): string {
  return key.slice(0, key.lastIndexOf('\u0000'))
}
