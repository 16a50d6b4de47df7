/**
 * A 100,000-file folder must list and `ls -l` within a bounded memory cost. Items are generated on
 * demand by the fake, so what stays allocated is the VFS's own listing. Prints the measurement; the
 * asserted bound is generous (target: < 200 MB RSS for the whole daemon).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { FakeImageKit, makeFileObject } from './fake-api.js'
import { makeVfs } from './helpers.js'

const N = 100_000
const MB = 1024 * 1024

describe('memory', () => {
  it('lists and stats 100,000 files in one folder within the bound', async () => {
    const api = new FakeImageKit()
    api.addFolder('/huge')
    api.generate('/huge', {
      count: N,
      make: (i) => makeFileObject(`/huge/IMG_${String(i).padStart(6, '0')}.jpg`, 1000 + i, {
        fileId: i.toString(16).padStart(24, '0'),
        tags: i % 10 === 0 ? ['t'] : null,
      }),
    })
    const { vfs } = makeVfs(api, { dirCacheTimeMs: 3_600_000 })
    setFlagsFromString('--expose-gc') // so the measurement counts what is retained, not garbage
    const gc = runInNewContext('gc') as (() => void) | undefined
    gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    const entries = await vfs.readdir('/huge')
    expect(entries).toHaveLength(N)
    let total = 0
    for (const e of entries) total += (await vfs.getattr(`/huge/${e.name}`)).size
    expect(total).toBe(N * 1000 + (N * (N - 1)) / 2)
    expect(api.calls.listFiles).toBe(2) // root + /huge, nothing per file
    entries.length = 0
    gc?.()
    const heapDelta = process.memoryUsage().heapUsed - heapBefore
    const rss = process.memoryUsage().rss
    console.log(`100k files: heap +${(heapDelta / MB).toFixed(1)} MB (gc ${gc ? 'forced' : 'not exposed'}), rss ${(rss / MB).toFixed(0)} MB`)
    expect(heapDelta).toBeLessThan(150 * MB) // measured ~61 MB (≈600 B per file)
    expect(vfs.stats().knownInodes).toBeGreaterThanOrEqual(N)
  })
})
