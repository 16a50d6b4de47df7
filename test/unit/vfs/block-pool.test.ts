/**
 * Block memory reuse: an evicted block becomes the next block's memory, but never while a view of it can
 * be alive outside the reader (handed out by read(), or a reader's last completed block), and never in
 * the same turn of the event loop it left the cache (a read answered from it copies its bytes first).
 */
import { describe, expect, it } from 'vitest'
import { ByteBudget } from '../../../src/vfs/budget.js'
import { BlockCache } from '../../../src/vfs/reader/block-cache.js'
import { BlockPool, MAX_POOLED_BLOCKS } from '../../../src/vfs/reader/block-pool.js'
import { FileReader, readAheadBlocks } from '../../../src/vfs/reader/file-reader.js'
import { Counters } from '../../../src/vfs/stats.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { MiB } from './helpers.js'

const KiB = 1024
const turn = () => new Promise((r) => setImmediate(r))

describe('BlockPool', () => {
  it('reuses a released block only after the current turn of the event loop', async () => {
    const pool = new BlockPool(64 * KiB)
    const a = pool.take(64 * KiB)
    pool.release(a)
    expect(pool.take(64 * KiB)).not.toBe(a) // still in quarantine
    await turn()
    expect(pool.take(64 * KiB)).toBe(a)
    expect(pool.reused).toBe(1)
  })

  it('never reuses an escaped or pinned block, nor one of another size', async () => {
    const pool = new BlockPool(64 * KiB)
    const escaped = pool.take(64 * KiB)
    pool.escape(escaped.subarray(10, 20))
    pool.release(escaped)
    const pinned = pool.take(64 * KiB)
    pool.pin(pinned)
    pool.release(pinned)
    const escapedInQuarantine = pool.take(64 * KiB)
    pool.release(escapedInQuarantine)
    pool.escape(escapedInQuarantine) // read between its eviction and the end of the turn
    pool.release(Buffer.allocUnsafe(1000))
    pool.release(Buffer.allocUnsafe(128 * KiB).subarray(0, 64 * KiB))
    await turn()
    expect(pool.freeBlocks).toBe(0)
    pool.unpin(pinned)
    pool.release(pinned)
    await turn()
    expect(pool.take(64 * KiB)).toBe(pinned)
  })

  it('keeps at most MAX_POOLED_BLOCKS idle blocks', async () => {
    const pool = new BlockPool(4 * KiB)
    for (let i = 0; i < MAX_POOLED_BLOCKS + 5; i++) pool.release(Buffer.alloc(4 * KiB))
    await turn()
    expect(pool.freeBlocks).toBe(MAX_POOLED_BLOCKS)
    pool.close()
    expect(pool.freeBlocks).toBe(0)
  })
})

describe('FileReader block memory', () => {
  function reader(data: Buffer, cacheBytes: number) {
    const api = new FakeImageKit()
    const f = api.addFile('/f.bin', data)
    const pool = new BlockPool(MiB)
    const cache = new BlockCache(cacheBytes, (block) => pool.release(block))
    const r = new FileReader(
      { fileId: f.fileId, versionId: f.versionInfo.id, size: data.length, filePath: f.filePath, url: f.url, isPrivateFile: false },
      { api, cache, pool, budget: new ByteBudget(8 * MiB), counters: new Counters(), maxWindowBlocks: readAheadBlocks(cacheBytes) },
    )
    return { api, pool, reader: r }
  }

  it('readInto reuses evicted blocks for later ones, and every byte is exact', async () => {
    const data = patternBytes(24 * MiB + 5, 3)
    const { pool, reader: r } = reader(data, 4 * MiB)
    const dest = Buffer.alloc(MiB)
    for (let pos = 0; pos < data.length; pos += MiB) {
      await turn() // as between reads of a real mount: blocks leave quarantine at the end of a turn
      const n = await r.readInto(pos, dest)
      expect(dest.subarray(0, n).equals(data.subarray(pos, pos + MiB)), `at ${pos}`).toBe(true)
    }
    expect(await r.readInto(data.length, dest)).toBe(0)
    expect(pool.reused).toBeGreaterThan(0)
    r.close()
  })

  it('bytes handed out by read() keep their content while later blocks reuse memory', async () => {
    const data = patternBytes(24 * MiB, 4)
    const { pool, reader: r } = reader(data, 4 * MiB)
    const kept: { pos: number; bytes: Buffer }[] = []
    for (let pos = 0; pos < 4 * MiB; pos += 256 * KiB) kept.push({ pos, bytes: await r.read(pos, 256 * KiB) })
    const dest = Buffer.alloc(128 * KiB)
    for (let pos = 4 * MiB; pos < data.length; pos += dest.length) {
      await turn()
      await r.readInto(pos, dest)
    }
    expect(pool.reused).toBeGreaterThan(0)
    for (const { pos, bytes } of kept) expect(bytes.equals(data.subarray(pos, pos + bytes.length)), `kept at ${pos}`).toBe(true)
    r.close()
  })

  it('with a cache too small for one block, reads of the last completed block stay exact', async () => {
    const data = patternBytes(6 * MiB + 1, 5)
    const { reader: r } = reader(data, 1000)
    const dest = Buffer.alloc(128 * KiB)
    for (let pos = 0; pos < data.length; pos += dest.length) {
      const n = await r.readInto(pos, dest)
      expect(dest.subarray(0, n).equals(data.subarray(pos, pos + dest.length)), `at ${pos}`).toBe(true)
    }
    r.close()
  })
})

describe('BlockCache ETags', () => {
  it('keeps the ETag a version\'s blocks came with while one of them is cached, and drops it with the last', () => {
    const cache = new BlockCache(2 * 1024)
    const block = () => Buffer.alloc(1024)
    cache.set(BlockCache.key('f', 'v1', 0), block(), '"a"')
    cache.set(BlockCache.key('f', 'v1', 1), block(), '"a"')
    expect(cache.etagOf('f', 'v1')).toBe('"a"')
    cache.set(BlockCache.key('f', 'v2', 0), block(), '"b"') // evicts one of v1's
    expect(cache.etagOf('f', 'v1')).toBe('"a"')
    cache.set(BlockCache.key('f', 'v2', 1), block(), '"b"') // and its last
    expect(cache.etagOf('f', 'v1')).toBeUndefined()
    expect(cache.etagOf('f', 'v2')).toBe('"b"')
    cache.set(BlockCache.key('f', 'v2', 1), block(), '"b"') // replaced: still one block
    cache.forgetEtag('f', 'v2')
    expect(cache.etagOf('f', 'v2')).toBeUndefined()
    cache.set(BlockCache.key('f', 'v2', 0), block(), '"c"')
    expect(cache.etagOf('f', 'v2')).toBe('"c"')
    cache.clear()
    expect(cache.etagOf('f', 'v2')).toBeUndefined()
    cache.set(BlockCache.key('f', 'v2', 0), block()) // a block without an ETag sets none
    expect(cache.etagOf('f', 'v2')).toBeUndefined()
  })
})
