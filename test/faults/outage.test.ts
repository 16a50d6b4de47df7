// W3 through an outage: 200 files wait in the spool for their write-back while the library answers every
// request 503. They wait on one probe with a shared backoff (src/vfs/upload/outage.ts) instead of each retrying
// on its own, and all arrive byte-exact, a few at a time, once the library is back.
// Guards: each pending file retried on its own backoff (before: ~1,000 requests in 60 s against a library
// that was down; now fewer requests than there are pending files).
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { fuseSkipReason, remoteBytesPath, run, sameBytes, waitFor, type Library, type Mounted } from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping outage fault tests: ${skip}`)

const FILES = 200
const TRANSFERS = 8
/** How long the library stays down; the requests it gets meanwhile are counted. */
const OUTAGE_MS = 30_000
/** After an outage of 60 s the next probe comes within 80 s (the backoff's step by then), the uploads after it. */
const RECOVERY_DEADLINE_MS = 150_000

describe.skipIf(skip !== null)('uploads through an outage', () => {
  const rig = useFaultRig('ikfs-faults-outage-', { uploadCounter: true })
  let lib: Library
  let m: Mounted

  beforeAll(async () => {
    lib = rig.lib
    const via = rig.counter.url // every request of the mount passes the counter
    m = await rig.mount(['--cache-dir', join(rig.work, 'cache'), '--write-back', '10s',
      '--transfers', String(TRANSFERS), '--api-url', via, '--upload-url', via])
  })

  it(`W3: ${FILES} pending files wait on one probe while the library is down, then all arrive`, async () => {
    const src = join(rig.work, 'src')
    await mkdir(src)
    for (let i = 0; i < FILES; i++) await writeFile(join(src, `f${i}.bin`), randomBytes(1000 + ((i * 7919) % 30_000)))
    // Copied while the library is up (the folder is created, each close returns: their uploads wait 10 s).
    await run('cp', ['-r', src, join(m.path, 'dst')], 120_000)
    await lib.setFaults({ errorRate: 1, errorStatuses: [503], scope: ['api', 'upload'] })
    const before = rig.counter.requests()
    try {
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
    } finally {
      await lib.setFaults({ errorRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    const duringOutage = rig.counter.requests() - before
    console.log(`requests during the ${OUTAGE_MS / 1000} s outage with ${FILES} pending files: ${duringOutage}`)
    // Not even one attempt per pending file: the uploads in flight when it began, then one probe at a time.
    expect(duringOutage).toBeLessThan(FILES)
    expect(m.log()).toMatch(/"msg":"the library is not answering uploads; pending uploads wait/)
    const missing = async () => {
      const out: number[] = []
      for (let i = 0; i < FILES; i++) if (!(await sameBytes(join(src, `f${i}.bin`), remoteBytesPath(lib, `/dst/f${i}.bin`)))) out.push(i)
      return out
    }
    await waitFor(async () => (await missing()).length === 0, RECOVERY_DEADLINE_MS, `all ${FILES} files stored after the outage`)
    expect(await missing()).toEqual([])
    expect(rig.counter.maxInFlight()).toBeLessThanOrEqual(TRANSFERS)
    expect(m.log()).toMatch(/"msg":"the library answers again; resuming the uploads that waited for it"/)
  }, 120_000 + OUTAGE_MS + RECOVERY_DEADLINE_MS)

  it('W3: a 429 storm of the Media API does not hold uploads back: each file asks once whether its folder is there, and goes up', async () => {
    const src = join(rig.work, 'src-storm')
    await mkdir(src)
    for (let i = 0; i < FILES; i++) await writeFile(join(src, `s${i}.bin`), randomBytes(500 + i))
    await run('cp', ['-r', src, join(m.path, 'storm')], 120_000)
    const uploadsBefore = rig.counter.uploads()
    await lib.setFaults({ rateLimitStorm: true })
    try {
      // Before: that question waited out each 429 (up to 50 times), holding the upload's slot: 8 uploads a minute.
      await waitFor(() => rig.counter.uploads() - uploadsBefore >= FILES, OUTAGE_MS, `all ${FILES} uploads sent while the Media API answers 429`)
    } finally {
      await lib.setFaults({ rateLimitStorm: false })
    }
    for (let i = 0; i < FILES; i++) expect(await sameBytes(join(src, `s${i}.bin`), remoteBytesPath(lib, `/storm/s${i}.bin`)), `s${i}.bin`).toBe(true)
  }, 120_000 + OUTAGE_MS)
})
