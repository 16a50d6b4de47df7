/**
 * statfs from account usage, cached; never fails (a failing `df` would break users' scripts):
 * without any answer yet it reports zero usage. Nor does it wait long for the API: `df` asks every mount
 * in turn, so a silent API must not hold it (nor the statfs that proves a new mount is served) for the
 * minutes a request may take; the usage call goes on, and a later statfs shows its answer.
 * fuse-native passes statfs fields as uint32, so blocks are 1 MiB and every count is clamped.
 */
import type { Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { Logger } from '../log.js'
import type { StatFs } from './types.js'

export const STATFS_BLOCK_BYTES = 1024 * 1024 // 2^32 blocks of 1 MiB = 4 PiB: enough for any plan
const UINT32_MAX = 0xffff_ffff
const DEFAULT_FREE_BYTES = 2 ** 50 // 1 PiB shown free when no total is configured (no API exposes the plan's limit)
const NAME_MAX = 255
/** Longest a statfs waits for the account usage before it answers with the last value. */
export const USAGE_WAIT_MS = 2_000

export interface StatfsOptions {
  totalBytes: number
  cacheTimeMs: number
}

export class StatfsSource {
  #usedBytes: number | undefined
  #fetchedAtMs = Number.NEGATIVE_INFINITY
  #inflight: Promise<void> | undefined

  constructor(
    readonly api: ImageKitApi,
    readonly clock: Clock,
    readonly logger: Logger,
    readonly options: StatfsOptions,
  ) {}

  async statfs(knownInodes: number): Promise<StatFs> {
    if (this.clock.now() - this.#fetchedAtMs >= this.options.cacheTimeMs) {
      this.#inflight ??= this.#refresh().finally(() => (this.#inflight = undefined))
      await this.#within(this.#inflight, USAGE_WAIT_MS)
    }
    const used = this.#usedBytes ?? 0
    const total = this.options.totalBytes > 0 ? Math.max(this.options.totalBytes, used) : used + DEFAULT_FREE_BYTES
    const blocks = clamp(Math.ceil(total / STATFS_BLOCK_BYTES))
    const free = clamp(Math.floor((total - used) / STATFS_BLOCK_BYTES))
    // Inodes: as many as the field holds, those the mount knows in use (`df -i`'s IUsed is files - ffree).
    const ffree = UINT32_MAX - clamp(knownInodes)
    return {
      bsize: STATFS_BLOCK_BYTES, frsize: STATFS_BLOCK_BYTES, blocks, bfree: free, bavail: free,
      files: UINT32_MAX, ffree, favail: ffree, namemax: NAME_MAX,
    }
  }

  async #within(work: Promise<void>, ms: number): Promise<void> {
    const done = new AbortController()
    const waited = this.clock.sleep(ms, done.signal).catch(() => undefined)
    try {
      await Promise.race([work, waited])
    } finally {
      done.abort()
    }
  }

  async #refresh(): Promise<void> {
    try {
      const usage = await this.api.getAccountUsage()
      this.#usedBytes = usage.mediaLibraryStorageBytes
    } catch (err) {
      this.logger.warn({ err }, 'account usage unavailable; statfs answers from the last value')
    }
    // Failures are cached too, so a down API is not asked on every `df`.
    this.#fetchedAtMs = this.clock.now()
  }
}

function clamp(n: number): number {
  return Math.max(0, Math.min(UINT32_MAX, Math.floor(n)))
}
