import pino from 'pino'
import type { Logger } from '../../../src/log.js'
import type { StatusSnapshot } from '../../../src/status/snapshot.js'

export const silentLogger: Logger = pino({ level: 'silent' })

export function snapshotFixture(overrides: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    version: '0.1.0',
    pid: 4242,
    mountpoint: '/mnt/ik',
    endpoint: 'https://ik.imagekit.io/demo',
    state: 'mounted',
    startedAtMs: 1_700_000_000_000,
    nowMs: 1_700_000_090_000,
    vfs: {
      openHandles: 2,
      openReaders: 1,
      cachedDirs: 3,
      knownInodes: 40,
      dirCacheHits: 30,
      dirCacheMisses: 10,
      listingsFetched: 10,
      blockCacheBytes: 4 * 1024 * 1024,
      blockCacheBlocks: 4,
      blockCacheHits: 9,
      blockCacheMisses: 1,
      blockCacheHitRate: 0.9,
      writtenCacheBytes: 3 * 1024 * 1024,
      writtenCacheFiles: 12,
      bytesReadFromNetwork: 1_048_576,
      uploadRetries: 3,
    },
    uploads: [
      { localPath: '/photos/big.jpg', size: 1000, sentBytes: 450, state: 'uploading', attempts: 1 },
      { localPath: '/photos/next.jpg', size: 200, sentBytes: 0, state: 'waiting', attempts: 0 },
      {
        localPath: '/docs/flaky.pdf', size: 300, sentBytes: 0, state: 'retrying', attempts: 3,
        lastError: 'IK_RATE_LIMITED: too many requests', nextAttemptAtMs: 1_700_000_094_000,
      },
    ],
    ops: {
      getattr: { calls: 100, errors: 4, timeouts: 0, late: 0, inFlight: 0 },
      read: { calls: 50, errors: 0, timeouts: 1, late: 1, inFlight: 2 },
    },
    ...overrides,
  }
}
