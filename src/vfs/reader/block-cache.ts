/**
 * Completed blocks of file content, shared by all readers, bounded by bytes (LRU). Keyed by
 * (fileId, versionId, block index): a new version never sees an old version's bytes.
 */
import { LRUCache } from 'lru-cache'

export class BlockCache {
  readonly #lru: LRUCache<string, Buffer> | undefined

  /** `onDrop` gets every block that leaves the cache (evicted, replaced or cleared), or is refused by it. */
  constructor(maxBytes: number, readonly onDrop: (block: Buffer) => void = () => undefined) {
    // lru-cache needs a positive maxSize; 0 disables caching (blocks still reach their waiters).
    this.#lru = maxBytes > 0
      ? new LRUCache<string, Buffer>({
        maxSize: maxBytes,
        sizeCalculation: (b) => Math.max(1, b.length),
        dispose: (block) => onDrop(block),
      })
      : undefined
  }

  static key(fileId: string, versionId: string, block: number): string {
    return `${fileId}\u0000${versionId}\u0000${block}`
  }

  get(key: string): Buffer | undefined {
    return this.#lru?.get(key)
  }
  has(key: string): boolean {
    return this.#lru?.has(key) ?? false
  }
  set(key: string, block: Buffer): void {
    if (!this.#lru) return this.onDrop(block)
    this.#lru.set(key, block)
    if (this.#lru.peek(key) !== block) this.onDrop(block) // larger than the whole cache: not kept
  }
  get bytes(): number {
    return this.#lru?.calculatedSize ?? 0
  }
  get blocks(): number {
    return this.#lru?.size ?? 0
  }
  clear(): void {
    this.#lru?.clear()
  }
}
