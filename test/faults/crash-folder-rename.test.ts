// W9 and W3 across a kill -9 in the middle of a folder rename: the bulk job has moved the folder at ImageKit,
// but the daemon dies before its spool journal points the files waiting inside at the new path. The next
// mount must upload them into the moved folder, not recreate the old one beside it.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, remoteEntries, waitFor, waitForRemoteBytes, type Library,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping folder rename crash test: ${skip}`)

/** Every Media API answer waits this long, so the daemon is still polling the job when the folder has moved. */
const API_LATENCY_MS = 2_000

describe.skipIf(skip !== null)('kill -9 during a folder rename', () => {
  const rig = useFaultRig('ikfs-faults-crash-rename-')
  let lib: Library
  let work: string
  beforeAll(() => ({ lib, work } = rig))

  it('files waiting in the spool go where the folder moved, also when the journal still named the old path', async () => {
    const cache = join(work, 'cache')
    const expected = join(work, 'expected')
    await writeFile(expected, 'bytes written before the rename\n')
    const first = await rig.mount(['--cache-dir', cache, '--write-back', '1h', '--log-level', 'info'])
    await mkdir(join(first.path, 'old'))
    await writeFile(join(first.path, 'old', 'f.txt'), 'bytes written before the rename\n')
    await mkdir(join(first.path, 'old', 'sub'))
    await writeFile(join(first.path, 'old', 'sub', 'g.txt'), 'bytes written before the rename\n')
    await lib.setFaults({ latencyMs: API_LATENCY_MS, scope: ['api'] })
    const mv = new Promise<void>((resolve) => {
      execFile('mv', [join(first.path, 'old'), join(first.path, 'new')], { timeout: 60_000 }, () => resolve())
    })
    try {
      // The emulator applies the job on its own (jobPendingMs); the daemon learns of it one slowed poll later.
      await waitFor(() => !existsSync(remoteBytesPath(lib, '/old')) && existsSync(remoteBytesPath(lib, '/new')), 3 * API_LATENCY_MS, 'the folder moved at the emulator')
      first.kill9()
      expect(await first.waitExit(10_000)).toBeNull()
      await mv
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
    }
    await first.stop()

    const second = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    await waitForRemoteBytes(lib, '/new/f.txt', expected, 30_000)
    await waitForRemoteBytes(lib, '/new/sub/g.txt', expected, 30_000)
    expect((await remoteEntries(lib, '/')).map((e) => e.name)).toEqual(['new'])
    expect(second.log()).toContain('a folder rename was interrupted by a crash after the folder moved')
    expect(await second.stop()).toBe(0)
  })
})
