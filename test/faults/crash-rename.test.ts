// W9 and W3 across a kill -9 in the middle of a rename: a folder's bulk job, or one step of a stored file's
// move, has moved it at ImageKit, but the daemon dies before its spool journal points what waits for its upload
// at the new path. The next mount must upload into the moved folder or file, not recreate the old one beside it.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, remoteEntries, sameBytes, waitFor, waitForRemoteBytes, type Library, type Mounted,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping rename crash tests: ${skip}`)

/** Every Media API answer waits this long, so the daemon is still polling the job when the folder has moved. */
const API_LATENCY_MS = 2_000

describe.skipIf(skip !== null)('kill -9 during a rename', () => {
  const rig = useFaultRig('ikfs-faults-crash-rename-')
  let lib: Library
  let work: string
  beforeAll(() => ({ lib, work } = rig))

  /**
   * `mv from to` through `first` with every API answer slowed, and a kill -9 of its daemon once the emulator holds
   * `movedTo` and no longer `movedFrom`: the rename has happened there, the daemon has not heard yet.
   */
  async function killDuringRename(first: Mounted, [from, to]: [string, string], movedFrom: string, movedTo: string, what: string): Promise<void> {
    await lib.setFaults({ latencyMs: API_LATENCY_MS, scope: ['api'] })
    const mv = new Promise<void>((resolve) => {
      execFile('mv', [join(first.path, from), join(first.path, to)], { timeout: 60_000 }, () => resolve())
    })
    try {
      await waitFor(() => !existsSync(remoteBytesPath(lib, movedFrom)) && existsSync(remoteBytesPath(lib, movedTo)), 3 * API_LATENCY_MS, what)
      first.kill9()
      expect(await first.waitExit(10_000)).toBeNull()
      await mv
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
    }
    await first.stop()
  }

  it('files waiting in the spool go where the folder moved, also when the journal still named the old path', async () => {
    const cache = join(work, 'cache')
    const expected = join(work, 'expected')
    await writeFile(expected, 'bytes written before the rename\n')
    const first = await rig.mount(['--cache-dir', cache, '--write-back', '1h', '--log-level', 'info'])
    await mkdir(join(first.path, 'old'))
    await writeFile(join(first.path, 'old', 'f.txt'), 'bytes written before the rename\n')
    await mkdir(join(first.path, 'old', 'sub'))
    await writeFile(join(first.path, 'old', 'sub', 'g.txt'), 'bytes written before the rename\n')
    // The emulator applies the job on its own (jobPendingMs); the daemon learns of it one slowed poll later.
    await killDuringRename(first, ['old', 'new'], '/old', '/new', 'the folder moved at the emulator')

    const second = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    await waitForRemoteBytes(lib, '/new/f.txt', expected, 30_000)
    await waitForRemoteBytes(lib, '/new/sub/g.txt', expected, 30_000)
    expect((await remoteEntries(lib, '/')).map((e) => e.name)).toEqual(['new'])
    expect(second.log()).toContain('a folder rename was interrupted by a crash after the folder moved')
    expect(await second.stop()).toBe(0)
  })

  it('a stored file waiting for its next upload, renamed into another folder under another name: the upload goes where the file moved', async () => {
    const cache = join(work, 'cache-file')
    const expected = join(work, 'expected-file')
    await writeFile(expected, 'bytes written before the rename\n')
    const first = await rig.mount(['--cache-dir', cache, '--write-back', '1h', '--log-level', 'info'])
    await mkdir(join(first.path, 'src'))
    await mkdir(join(first.path, 'dst'))
    const stored = await open(join(first.path, 'src', 'a.txt'), 'w')
    await stored.write('the stored version\n')
    await stored.sync() // stored now, despite --write-back
    await stored.close()
    await writeFile(join(first.path, 'src', 'a.txt'), 'bytes written before the rename\n') // waits for its upload
    // Moved first (no a.txt in dst), then renamed: killed while the rename's answer is slowed.
    await killDuringRename(first, ['src/a.txt', 'dst/b.txt'], '/src/a.txt', '/dst/a.txt', 'the file moved at the emulator')

    const second = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    const where = async (): Promise<string | undefined> => {
      for (const name of ['a.txt', 'b.txt']) if (await sameBytes(remoteBytesPath(lib, `/dst/${name}`), expected)) return name
      return undefined
    }
    await waitFor(async () => (await where()) !== undefined, 30_000, 'the new bytes stored in dst')
    expect((await remoteEntries(lib, '/dst')).map((e) => e.name)).toEqual([await where()])
    expect(await remoteEntries(lib, '/src')).toEqual([])
    expect(second.log()).toContain('a rename of a file waiting for its upload was interrupted by a crash after the file moved')
    expect(await second.stop()).toBe(0)
  })
})
