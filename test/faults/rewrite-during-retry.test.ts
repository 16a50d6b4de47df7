// W3 with a rewrite: a file closed while the upload host fails, its upload retrying inside that close, is then
// written again (a new version) before the host answers. The retry must not store what the file holds by then
// (maybe half of the new write) besides the new version's own upload: one version, the new bytes, is stored.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { fuseSkipReason, remoteBytesPath, run, waitFor, type Library, type Mounted, type UploadCounter } from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping the rewrite-during-retry fault test: ${skip}`)

describe.skipIf(skip !== null)('a file written again while its upload retries', () => {
  const rig = useFaultRig('ikfs-faults-rewrite-', { uploadCounter: true })
  let lib: Library
  let counter: UploadCounter
  let m: Mounted

  beforeAll(async () => {
    ;({ lib, counter } = rig)
    // Retries enough that the first close's attempt is still retrying when the file is written again.
    m = await rig.mount(['--cache-dir', join(rig.work, 'cache'), '--write-back', '0', '--retries', '30', '--upload-url', counter.url, '--log-level', 'info'])
  })

  it('the old bytes are not stored once the new ones wait for their upload: one version, the new one', async () => {
    const path = join(m.path, 'doc.txt')
    await lib.setFaults({ errorRate: 1, errorStatuses: [503], scope: ['upload'] })
    let firstClose: Promise<unknown> | undefined
    let secondClose: Promise<unknown> | undefined
    try {
      firstClose = run('sh', ['-c', `printf 'old bytes' > ${path}`], 120_000).catch((e: unknown) => e)
      await waitFor(() => counter.records().filter((r) => r.status === 503).length >= 2, 30_000, 'the first upload retrying')
      secondClose = run('sh', ['-c', `printf 'the new bytes, longer' > ${path}`], 120_000).catch((e: unknown) => e)
      // Not held until the old content's upload gets through: that attempt stops, sending nothing more.
      await waitFor(async () => (await readFile(path, 'utf8')) === 'the new bytes, longer', 30_000, 'the second write landed')
    } finally {
      await lib.setFaults({ errorRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    expect(await firstClose).not.toBeInstanceOf(Error)
    expect(await secondClose).not.toBeInstanceOf(Error)
    await waitFor(async () => (await readFile(remoteBytesPath(lib, '/doc.txt'), 'utf8').catch(() => '')) === 'the new bytes, longer' && counter.inFlight() === 0,
      30_000, 'the new bytes stored')
    const file = await lib.details('/doc.txt')
    expect(await lib.api<unknown[]>('GET', `/v1/files/${file.fileId}/versions`)).toHaveLength(1)
    expect(counter.records().filter((r) => r.status === 200)).toHaveLength(1)
  }, 180_000)
})
