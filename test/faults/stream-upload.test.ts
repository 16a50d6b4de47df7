// Streamed uploads on a real mount (upload/streamer.ts): a large file written sequentially is uploaded while
// it is written (a chunked request seen at a proxy in front of the emulator) and stored byte-exact; a write
// in the middle aborts the stream, which stores nothing and adds no version, and the upload at close still
// stores the exact bytes; kill -9 while close waits for a streamed upload is finished by the next mount; a
// server that refuses streamed bodies gets every file uploaded at close.
import { execFile } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, run, sameBytes, versionsOf, waitFor, waitForRemoteBytes, writeRandomFile,
  writeThroughMount, type Library, type Mounted, type UploadCounter,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping streamed upload tests: ${skip}`)

const MiB = 1024 * 1024

describe.skipIf(skip !== null)('streamed uploads on a real mount', () => {
  const rig = useFaultRig('ikfs-faults-stream-', { emulatorArgs: ['--max-upload-bytes', String(256 * MiB)], uploadCounter: true })
  let lib: Library
  let counter: UploadCounter
  let work: string
  beforeAll(() => ({ lib, counter, work } = rig))
  /** The mounts made so far, in order (the rig stops them after the file). */
  const mounts: Mounted[] = []

  async function mount(cache: string): Promise<Mounted> {
    const m = await rig.mount(['--cache-dir', join(work, cache), '--upload-url', counter.url])
    mounts.push(m)
    return m
  }

  const newRecords = (from: number) => counter.records().slice(from)
  /** The emulator's temp files holding upload bodies (its idle `ready-*` files do not count). */
  const emulatorTempFiles = async () =>
    (await readdir(join(lib.dataDir, '.ikemu', 'tmp')).catch((): string[] => [])).filter((n) => n.startsWith('upload-'))

  it('a large sequential write is uploaded while written (chunked) and stored byte-exact', async () => {
    const m = await mount('cache-a')
    const src = join(work, 'big.bin')
    await writeRandomFile(src, 40 * MiB)
    const before = counter.uploads()
    await run('cp', [src, join(m.path, 'big.bin')])
    expect(await sameBytes(src, remoteBytesPath(lib, '/big.bin'))).toBe(true)
    expect(newRecords(before)).toEqual([{ chunked: true, status: 200, aborted: false, forwarded: expect.any(Number) }])
    expect(m.log()).toContain('streaming the upload while the file is written')
  })

  it('a write in the middle aborts the stream (nothing stored, no version); the upload at close stores the exact bytes', async () => {
    const m = mounts[0]!
    // New file: 24 MiB, 3 bytes rewritten at 1 MiB once 16 MiB are written.
    const expected = join(work, 'poked.expected')
    let before = counter.uploads()
    await writeThroughMount(join(m.path, 'poked.bin'), expected, 24 * MiB, { after: 16 * MiB, at: MiB })
    expect(await sameBytes(expected, remoteBytesPath(lib, '/poked.bin'))).toBe(true)
    expect((await versionsOf(lib, '/poked.bin'))).toHaveLength(1)
    expect(newRecords(before).map((r) => [r.chunked, r.status ?? 'aborted'])).toEqual([[true, 'aborted'], [false, 200]])

    // Overwrite of an existing file (O_TRUNC): the aborted stream adds no version, the upload at close one.
    await lib.upload('/', 'existing.bin', Buffer.from('the first version'))
    before = counter.uploads()
    const expected2 = join(work, 'existing.expected')
    await writeThroughMount(join(m.path, 'existing.bin'), expected2, 12 * MiB, { after: 8 * MiB, at: 100 })
    expect(await sameBytes(expected2, remoteBytesPath(lib, '/existing.bin'))).toBe(true)
    expect(await versionsOf(lib, '/existing.bin')).toHaveLength(2)
    expect(newRecords(before).map((r) => [r.chunked, r.status ?? 'aborted'])).toEqual([[true, 'aborted'], [false, 200]])
    await waitFor(async () => (await emulatorTempFiles()).length === 0, 10_000, 'the emulator dropped the aborted bodies')
  })

  it('kill -9 while close waits for a streamed upload: nothing stored by it; the next mount uploads the file, one version', async () => {
    const m = await mount('cache-kill')
    const src = join(work, 'kill.bin')
    await writeRandomFile(src, 24 * MiB)
    const before = counter.uploads()
    counter.holdBodiesAfter(8 * MiB) // the network stalls: close has to wait for the stream's tail
    const copy = new Promise<void>((resolve) => execFile('cp', [src, join(m.path, 'kill.bin')], { timeout: 60_000 }, () => resolve()))
    try {
      await waitFor(() => /"msg":"upload started"[^\n]*kill\.bin|kill\.bin[^\n]*"msg":"upload started"/.test(m.log()), 30_000, 'close waiting for the streamed upload')
      expect(newRecords(before)).toMatchObject([{ chunked: true }])
      m.kill9()
      expect(await m.waitExit(10_000)).toBeNull()
      counter.holdBodiesAfter(undefined) // the proxy reads on and sees the connection gone
      await copy
      await waitFor(() => newRecords(before)[0]?.aborted === true, 10_000, 'the stream cut off by the kill')
    } finally {
      counter.holdBodiesAfter(undefined)
    }
    await waitFor(async () => (await emulatorTempFiles()).length === 0, 10_000, 'the emulator dropped the cut-off body')
    // stat, not readFile: should the file be there after all, the failure shows its size, not 24 MiB of bytes.
    await expect(stat(remoteBytesPath(lib, '/kill.bin'))).rejects.toMatchObject({ code: 'ENOENT' })
    await m.stop()

    const again = await mount('cache-kill')
    await waitForRemoteBytes(lib, '/kill.bin', src, 60_000)
    expect(await versionsOf(lib, '/kill.bin')).toHaveLength(1)
    expect(newRecords(before).slice(1).map((r) => [r.chunked, r.status])).toEqual([[false, 200]])
    void again
  })

  it('a 400 the library answers the file itself, streamed or not: close fails with EPERM, and the next large file streams all the same', async () => {
    const m = await mount('cache-refused-file')
    const before = counter.uploads()
    const src = join(work, 'refused.bin')
    await writeRandomFile(src, 12 * MiB)
    await lib.setFaults({ errorRate: 1, errorStatuses: [400], scope: ['upload'] })
    try {
      await expect(run('cp', [src, join(m.path, 'refused.bin')])).rejects.toMatchObject({ stderr: expect.stringContaining('Operation not permitted') })
    } finally {
      await lib.setFaults({ errorRate: 0, scope: ['api', 'upload', 'delivery'] })
    }
    // The stream refused (the 400, or the connection cut under the early answer), then the upload at close
    // refused (its requests cut short by the early answer may be tried again first: the client's concern).
    const refused = newRecords(before)
    expect(refused[0]).toMatchObject({ chunked: true })
    expect(refused.slice(1).map((r) => r.chunked)).not.toContain(true)
    expect(refused.at(-1)).toMatchObject({ chunked: false, status: 400 })
    const next = join(work, 'after-refusal.bin')
    await writeRandomFile(next, 12 * MiB)
    const nextBefore = counter.uploads()
    await run('cp', [next, join(m.path, 'after-refusal.bin')])
    expect(await sameBytes(next, remoteBytesPath(lib, '/after-refusal.bin'))).toBe(true)
    expect(newRecords(nextBefore).map((r) => [r.chunked, r.status])).toEqual([[true, 200]])
    expect(m.log()).not.toContain('refused a streamed upload')
  })

  it('a server that refuses streamed bodies (411): files are uploaded at close, and nothing streams any more', async () => {
    const m = await mount('cache-refuse')
    await lib.setFaults({ refuseChunkedUploads: true })
    try {
      const before = counter.uploads()
      for (const name of ['r1.bin', 'r2.bin']) {
        const src = join(work, name)
        await writeRandomFile(src, 12 * MiB)
        await run('cp', [src, join(m.path, name)])
        expect(await sameBytes(src, remoteBytesPath(lib, `/${name}`))).toBe(true)
      }
      expect(newRecords(before).map((r) => [r.chunked, r.status])).toEqual([[true, 411], [false, 200], [false, 200]])
      expect(m.log()).toContain('refused a streamed upload')
    } finally {
      await lib.setFaults({ refuseChunkedUploads: false })
    }
  })
})
