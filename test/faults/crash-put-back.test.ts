// W17 and W3 across a kill -9 in the middle of a put-back: vim's save renamed the original aside, wrote the file
// anew and deleted the backup; the daemon dies between the remote steps of putting the original back (the new
// file's own upload deleted, the original renamed back, the new bytes uploaded as its version). The next mount
// must finish it: the new bytes stored as the original's new version, under its id and tags, no backup left.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { open, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { constants as fsConstants } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, remoteEntries, versionsOf, waitFor, waitForRemoteBytes, type Library, type Mounted,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping put-back crash tests: ${skip}`)

/** Every API (and upload) answer waits this long, so the daemon is still waiting for the next step when it is killed. */
const LATENCY_MS = 2_000
const NEW_BYTES = 'second draft, saved\n'

describe.skipIf(skip !== null)('kill -9 during a put-back (W17)', () => {
  const rig = useFaultRig('ikfs-faults-crash-put-back-')
  let lib: Library
  let work: string
  beforeAll(() => ({ lib, work } = rig))

  /**
   * vim's save of `/<folder>/doc.txt` through `first` up to its unlink of the backup, which runs with every answer
   * slowed; the daemon is killed once the emulator shows `stepDone`.
   */
  async function killDuringPutBack(first: Mounted, folder: string, fsync: boolean, stepDone: () => boolean, what: string): Promise<void> {
    const path = join(first.path, folder, 'doc.txt')
    expect(await readFile(path, 'utf8')).toBe('first draft\n')
    await rename(path, `${path}~`)
    const fh = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o644)
    await fh.write(NEW_BYTES)
    if (fsync) await fh.sync()
    await fh.close()
    await lib.setFaults({ latencyMs: LATENCY_MS, scope: ['api', 'upload'] })
    const rm = new Promise<void>((resolve) => {
      execFile('rm', [`${path}~`], { timeout: 60_000 }, () => resolve())
    })
    try {
      await waitFor(stepDone, 6 * LATENCY_MS, what)
      first.kill9()
      expect(await first.waitExit(10_000)).toBeNull()
      await rm
    } finally {
      await lib.setFaults({ latencyMs: 0, scope: ['api', 'upload', 'delivery'] })
    }
    await first.stop()
  }

  /** `settles`: the spool still notes the put-back (killed before its last remote step), and the next mount ends it. */
  async function expectPutBack(second: Mounted, folder: string, fileId: string, settles: boolean): Promise<void> {
    const expected = join(work, `expected-${folder}`)
    await writeFile(expected, NEW_BYTES)
    await waitForRemoteBytes(lib, `/${folder}/doc.txt`, expected, 30_000)
    if (settles) await waitFor(() => second.log().includes('a put-back of a file saved by moving its original aside is settled'), 10_000, 'the put-back settled')
    const after = await lib.details(`/${folder}/doc.txt`)
    expect(after.fileId).toBe(fileId)
    expect(after.tags).toEqual(['red'])
    expect((await versionsOf(lib, `/${folder}/doc.txt`)).length).toBe(2)
    expect((await remoteEntries(lib, `/${folder}`)).map((e) => e.name)).toEqual(['doc.txt'])
    expect(await readFile(join(second.path, folder, 'doc.txt'), 'utf8')).toBe(NEW_BYTES)
    expect(await second.stop()).toBe(0)
  }

  it('killed after the new file\'s own upload was deleted, before the original was renamed back', async () => {
    const { fileId } = await lib.upload('/stored', 'doc.txt', Buffer.from('first draft\n'), { tags: 'red' })
    const cache = join(work, 'cache-stored')
    const first = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    await killDuringPutBack(first, 'stored', true,
      () => !existsSync(remoteBytesPath(lib, '/stored/doc.txt')) && existsSync(remoteBytesPath(lib, '/stored/doc.txt~')),
      'the new file deleted at the emulator, the original still aside')
    const second = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    await expectPutBack(second, 'stored', fileId, true)
  })

  it('killed after the original was renamed back, before the new bytes were uploaded (--write-back, no fsync)', async () => {
    const { fileId } = await lib.upload('/spooled', 'doc.txt', Buffer.from('first draft\n'), { tags: 'red' })
    const cache = join(work, 'cache-spooled')
    const first = await rig.mount(['--cache-dir', cache, '--write-back', '1h', '--log-level', 'info'])
    await killDuringPutBack(first, 'spooled', false,
      () => existsSync(remoteBytesPath(lib, '/spooled/doc.txt')) && !existsSync(remoteBytesPath(lib, '/spooled/doc.txt~')),
      'the original renamed back at the emulator')
    const second = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    await expectPutBack(second, 'spooled', fileId, false)
  })
})
