// W6: an upload over the account's size limit (emulator --max-upload-bytes 1 MiB, a 2 MiB file) fails to
// close with EFBIG, the file stays in the spool, and nothing half-written appears remotely.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  findSameFiles, fuseSkipReason, remoteBytesPath, remoteEntries, run, writeRandomFile, type Library, type Mounted,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping upload limit test: ${skip}`)

const MiB = 1024 * 1024

describe.skipIf(skip !== null)('upload over the size limit', () => {
  const rig = useFaultRig('ikfs-faults-limit-', { emulatorArgs: ['--max-upload-bytes', String(MiB)] })
  let lib: Library
  let m: Mounted
  let work: string
  let cache: string

  beforeAll(async () => {
    ;({ lib, work } = rig)
    cache = join(work, 'cache')
    m = await rig.mount(['--cache-dir', cache])
  })

  it('a 2 MiB file fails to close with EFBIG, stays in the spool, and nothing appears remotely', async () => {
    const src = join(work, 'big.bin')
    await writeRandomFile(src, 2 * MiB)
    await expect(run('cp', [src, join(m.path, 'big.bin')])).rejects.toMatchObject({ stderr: expect.stringMatching(/File too large/) })

    expect((await findSameFiles(cache, src)).length, 'the 2 MiB file kept in the spool').toBeGreaterThanOrEqual(1)
    await expect(stat(remoteBytesPath(lib, '/big.bin'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readdir(join(lib.dataDir, 'files')).catch((): string[] => [])).toEqual([])
    expect(await remoteEntries(lib, '/')).toEqual([])

    // A file under the limit still goes through on the same mount.
    const ok = join(work, 'ok.bin')
    await writeRandomFile(ok, MiB / 2)
    await run('cp', [ok, join(m.path, 'ok.bin')])
    expect((await readFile(remoteBytesPath(lib, '/ok.bin'))).equals(await readFile(ok))).toBe(true)
  })
})
