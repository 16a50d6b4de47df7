/**
 * Many readers of one file at far-apart offsets while the origin is slow to answer (few connections, long
 * latency): a stream retired before its response arrived must still deliver the block its reader waits
 * for, or readers retire each other's streams in a loop that never yields to the event loop.
 */
import { describe, expect, it } from 'vitest'
import { ByteBudget } from '../../../src/vfs/budget.js'
import { BlockCache } from '../../../src/vfs/reader/block-cache.js'
import { BlockPool } from '../../../src/vfs/reader/block-pool.js'
import { FileReader } from '../../../src/vfs/reader/file-reader.js'
import { Counters } from '../../../src/vfs/stats.js'
import { FakeImageKit, patternBytes } from './fake-api.js'

const KiB = 1024
const BLOCK = 4 * KiB

describe('FileReader under a slow origin', () => {
  it('three readers far apart, each waiting for its stream’s first response, all get their bytes without stream churn', async () => {
    const data = patternBytes(256 * BLOCK, 5)
    const api = new FakeImageKit()
    const f = api.addFile('/f.bin', data)
    const pool = new BlockPool(BLOCK)
    const cache = new BlockCache(64 * BLOCK, (block) => pool.release(block))
    const r = new FileReader(
      { fileId: f.fileId, versionId: f.versionInfo.id, size: data.length, filePath: f.filePath, url: f.url, isPrivateFile: false },
      { api, cache, pool, budget: new ByteBudget(64 * BLOCK), counters: new Counters(), maxWindowBlocks: 16 },
    )
    const readRange = api.readRange.bind(api)
    let opened = 0
    api.readRange = async (...args: Parameters<FakeImageKit['readRange']>) => {
      if (++opened > 100) r.close() // churning without end: stop it, or the loop never yields
      await new Promise((resolve) => setTimeout(resolve, 20)) // the origin is far away
      return readRange(...args)
    }
    const probes = [200, 100, 0].map((b) => b * BLOCK + 7)
    const got = await Promise.allSettled(probes.map((pos) => r.read(pos, 100)))
    for (const [i, g] of got.entries()) {
      expect(g.status, `read at ${probes[i]}`).toBe('fulfilled')
      if (g.status === 'fulfilled') expect(g.value.equals(data.subarray(probes[i], probes[i]! + 100))).toBe(true)
    }
    expect(opened).toBeLessThanOrEqual(4)
    r.close()
  })
})
