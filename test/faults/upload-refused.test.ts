// Uploads the library refuses for good (W6): a close over the upload size limit fails with EFBIG, and the log
// says so once (the uploader and the FUSE op each said it, at error level).
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { fuseSkipReason, run, runIkfs, writeRandomFile, type Mounted } from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping upload refusal tests: ${skip}`)

const MiB = 1024 * 1024

interface Upload { localPath: string; state: string; lastError?: string; refusal?: string; nextAttemptAtMs?: number }

/** The daemon's log lines at warn or above (pino levels 40, 50, 60) that name `localPath`. */
function loudLinesAbout(log: string, localPath: string): string[] {
  return log.split('\n').filter((l) => /"level":(40|50|60)/.test(l) && l.includes(`"path":"${localPath}"`))
}

async function uploads(m: Mounted): Promise<Upload[]> {
  const out = await runIkfs(['status', m.path, '--json'], { timeoutMs: 30_000 })
  return (JSON.parse(out.stdout) as { uploads: Upload[] }).uploads
}

describe.skipIf(skip !== null)('uploads the library refuses for good', () => {
  const rig = useFaultRig('ikfs-faults-refused-', { emulatorArgs: ['--max-upload-bytes', String(MiB)] })
  let work: string

  beforeAll(() => {
    ;({ work } = rig)
  })

  it('W6: a close over the upload size limit fails with EFBIG, logged once', async () => {
    const m = await rig.mount(['--cache-dir', join(work, 'cache-limit'), '--log-level', 'info'])
    const src = join(work, 'big.bin')
    await writeRandomFile(src, 2 * MiB)
    await expect(run('cp', [src, join(m.path, 'big.bin')])).rejects.toMatchObject({ stderr: expect.stringMatching(/File too large/) })
    const lines = loudLinesAbout(m.log(), '/big.bin')
    expect(lines, lines.join('\n')).toHaveLength(1)
    expect(lines[0]).toContain('larger than the account')
    expect((await uploads(m)).find((u) => u.localPath === '/big.bin')).toMatchObject({ state: 'rejected', lastError: 'IK_TOO_LARGE (HTTP 400)' })
    await m.stop()
  })
})
