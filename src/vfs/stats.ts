/** Counters for `ikfs status`; modules bump fields directly (one thread, no locking needed). */

export class Counters {
  listingsFetched = 0
  listingItems = 0
  /** Re-listings that found the API unreachable and served the last listing instead (dir-cache.ts). */
  staleListingsServed = 0
  dirCacheHits = 0
  dirCacheMisses = 0
  rangeRequests = 0
  bytesReadFromNetwork = 0
  blockCacheHits = 0
  blockCacheMisses = 0
  staleResponses = 0
  streamResumes = 0
  uploadsStarted = 0
  uploadsSucceeded = 0
  uploadsFailed = 0
  uploadsRetried = 0
  bytesUploaded = 0
}

export interface VfsStats {
  listingsFetched: number
  listingItems: number
  staleListingsServed: number
  dirCacheHits: number
  dirCacheMisses: number
  cachedDirs: number
  knownInodes: number
  rangeRequests: number
  bytesReadFromNetwork: number
  staleResponses: number
  streamResumes: number
  blockCacheBytes: number
  blockCacheBlocks: number
  blockCacheHits: number
  blockCacheMisses: number
  /** hits / (hits + misses), 0 when nothing was read. */
  blockCacheHitRate: number
  /** The bytes of small files just uploaded kept in memory, and how many files (spool/recent-bytes.ts). */
  writtenCacheBytes: number
  writtenCacheFiles: number
  bufferedBytes: number
  /** Highest bufferedBytes seen since mount. */
  peakBufferedBytes: number
  openHandles: number
  openReaders: number
}
