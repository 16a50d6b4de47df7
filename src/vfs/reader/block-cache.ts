/**
 * Completed blocks of file content, shared by all readers, bounded by bytes (LRU). Keyed by
 * (fileId, versionId, block index): a new version never sees an old version's bytes.
 */
import { LRUCache } from 'lru-cache'

export class BlockCache {
  readonly #lru: LRUCache<string, Buffer> | undefined

  constructor(maxBytes: number) {
    // lru-cache needs a positive maxSize; 0 disables caching (blocks still reach their waiters).
    this.#lru = maxBytes > 0
      ? new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (b) => Math.max(1, b.length) })
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
    this.#lru?.set(key, block)
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
