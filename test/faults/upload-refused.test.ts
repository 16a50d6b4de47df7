// Uploads the library refuses for good (W6, and W3's refusals): a 400 that no retry changes (here the emulator's
// fault injection answers every upload 400; a real library answers so for a file type the account refuses, a
// version limit reached, a field it will not take). The close says so once, with its own errno, the log says so
// once, `ikfs status` lists the file as rejected, and the bytes stay in the spool; no retry timer runs, and the
// next attempt comes when something could change the answer: a rename, a new write, or the next mount.
// Also: a close over the upload size limit (EFBIG) is logged once, not twice (uploader and FUSE op each said it).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  findSameFiles, fuseSkipReason, remoteBytesPath, run, runIkfs, sameBytes, waitFor, waitForRemoteBytes, writeRandomFile,
  type Library, type Mounted,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping upload refusal tests: ${skip}`)

const MiB = 1024 * 1024
const UPLOAD_DEADLINE_MS = 60_000

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
  let lib: Library
  let work: string

  beforeAll(() => {
    ;({ lib, work } = rig)
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
    // touch, and truncate -s to the size it has, open it for writing and write nothing: nothing is sent again
    // (another refusal would be logged), and their closes succeed.
    await run('touch', [join(m.path, 'big.bin')])
    await run('truncate', ['-s', String(2 * MiB), join(m.path, 'big.bin')])
    expect(loudLinesAbout(m.log(), '/big.bin'), m.log()).toHaveLength(1)
    expect((await uploads(m)).find((u) => u.localPath === '/big.bin')).toMatchObject({ state: 'rejected' })
    await m.stop()
  })

  it('W3: a 400 refusal fails the close with EPERM once, stays in the spool unretried, and goes up after a rename or at the next mount', async () => {
    const cache = join(work, 'cache-refused')
    const m = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
    const src = join(work, 'refused.txt')
    await writeFile(src, 'the library refuses this file\n')
    await lib.setFaults({ errorRate: 1, errorStatuses: [400], scope: ['upload'] })
    try {
      await expect(run('cp', [src, join(m.path, 'refused.txt')])).rejects.toMatchObject({
        stderr: expect.stringContaining("failed to close '" + join(m.path, 'refused.txt') + "': Operation not permitted"),
      })
      const refused = (await uploads(m)).find((u) => u.localPath === '/refused.txt')
      expect(refused).toMatchObject({ state: 'rejected', lastError: 'IK_BAD_REQUEST (HTTP 400)', refusal: expect.stringContaining('injected by the emulator') })
      expect(refused!.nextAttemptAtMs, 'no retry is scheduled').toBeUndefined()
      // One line says why, with the API's message, the path, and where the bytes are.
      const lines = loudLinesAbout(m.log(), '/refused.txt')
      expect(lines, lines.join('\n')).toHaveLength(1)
      expect(lines[0]).toContain('injected by the emulator')
      const spoolFile = (JSON.parse(lines[0]!) as { spoolFile: string }).spoolFile
      expect(await sameBytes(spoolFile, src)).toBe(true)
      expect((await findSameFiles(cache, src)).length).toBeGreaterThanOrEqual(1)
      expect(await readFile(join(m.path, 'refused.txt'), 'utf8')).toBe('the library refuses this file\n') // read from the spool

      // rsync says it in its words; rm gives up on such a file, and takes its spool copy.
      const other = join(work, 'given-up.txt')
      await writeFile(other, 'nobody wants this one\n')
      await expect(run('rsync', [other, join(m.path, 'given-up.txt')])).rejects.toMatchObject({
        code: 11, stderr: expect.stringMatching(/close failed on .*: Operation not permitted \(1\)/),
      })
      // rsync removed its temporary file, whose close failed: nothing of it stays.
      expect((await uploads(m)).map((u) => u.localPath)).toEqual(['/refused.txt'])
      await expect(run('cp', [other, join(m.path, 'given-up.txt')])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not permitted') })
      expect((await uploads(m)).filter((u) => u.state === 'rejected').map((u) => u.localPath).sort()).toEqual(['/given-up.txt', '/refused.txt'])
      await run('rm', [join(m.path, 'given-up.txt')])
      expect((await uploads(m)).map((u) => u.localPath)).toEqual(['/refused.txt'])
      expect(await findSameFiles(cache, other)).toEqual([])

      // A remount with the library still refusing tries it once, says so once, and leaves it in the spool.
      await m.stop()
      const again = await rig.mount(['--cache-dir', cache, '--log-level', 'info'])
      await waitFor(async () => (await uploads(again)).find((u) => u.localPath === '/refused.txt' && u.state === 'rejected') ?? undefined, UPLOAD_DEADLINE_MS, 'the refused file tried again at the mount')
      expect(loudLinesAbout(again.log(), '/refused.txt')).toHaveLength(1)
      await lib.setFaults({ errorRate: 0 })
      // A rename could change the answer: it is tried again, and stored.
      await rename(join(again.path, 'refused.txt'), join(again.path, 'renamed.txt'))
      await waitForRemoteBytes(lib, '/renamed.txt', src, UPLOAD_DEADLINE_MS)
      expect((await uploads(again)).filter((u) => u.localPath === '/renamed.txt')).toEqual([])
      await again.stop()
    } finally {
      await lib.setFaults({ errorRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    await expect(readFile(remoteBytesPath(lib, '/refused.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  // A rename of a folder above the file changes the path its upload names as much as a rename of the file does
  // (the library may refuse a folder, or a path too long): it tries the refused file again too.
  it('W3: a refused file is tried again when a folder above it is renamed, and stored', async () => {
    const m = await rig.mount(['--cache-dir', join(work, 'cache-folder-rename'), '--log-level', 'info'])
    const src = join(work, 'deep.txt')
    await writeFile(src, 'refused in a folder\n')
    await mkdir(join(m.path, 'top', 'sub'), { recursive: true })
    await lib.setFaults({ errorRate: 1, errorStatuses: [400], scope: ['upload'] })
    try {
      await expect(run('cp', [src, join(m.path, 'top', 'sub', 'deep.txt')])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not permitted') })
      expect((await uploads(m)).find((u) => u.localPath === '/top/sub/deep.txt')).toMatchObject({ state: 'rejected' })
    } finally {
      await lib.setFaults({ errorRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    await rename(join(m.path, 'top'), join(m.path, 'moved'))
    await waitForRemoteBytes(lib, '/moved/sub/deep.txt', src, UPLOAD_DEADLINE_MS)
    expect((await uploads(m)).filter((u) => u.localPath === '/moved/sub/deep.txt')).toEqual([])
    await m.stop()
  })
})
