// W3 after a crash: the daemon is killed with SIGKILL after the library stored its uploads but before their
// answers came (the upload counter holds them back), so the spool still has them as pending. The next mount
// with the same cache dir must not store them again: it finds each version by its exact bytes and takes it
// (one version per upload, no second upload request). A version of the same size that another machine
// stored at the path meanwhile is not ours: that file is sent again.
import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  fuseSkipReason, remoteBytesPath, sameBytes, versionsOf, waitFor, writeRandomFile, type Library, type UploadCounter,
} from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping crash recovery test: ${skip}`)

const SIZE = 150_000

describe.skipIf(skip !== null)('kill -9 after the library stored an upload, before its answer came', () => {
  const rig = useFaultRig('ikfs-faults-crash-stored-', { uploadCounter: true })
  let lib: Library
  let counter: UploadCounter
  let work: string
  beforeAll(() => ({ lib, counter, work } = rig))

  it('the next mount takes the stored versions instead of uploading them again, but not a version another machine stored', async () => {
    const cache = join(work, 'cache')
    const src = join(work, 'src')
    await mkdir(src)
    // new.bin is a new file; over.bin overwrites a stored file; theirs.bin gets another machine's upload of the
    // same size after the crash.
    const names = ['new.bin', 'over.bin', 'theirs.bin']
    for (const [i, n] of names.entries()) await writeRandomFile(join(src, n), SIZE + i)
    await lib.createFolder('/', 'cs')
    await lib.upload('/cs', 'over.bin', Buffer.alloc(SIZE + 1, 7))

    const first = await rig.mount(['--cache-dir', cache, '--write-back', '0', '--transfers', '4', '--upload-url', counter.url])
    counter.holdAnswers(true)
    const copies = names.map((n) => new Promise<void>((resolve) => {
      execFile('cp', [join(src, n), join(first.path, 'cs', n)], { timeout: 60_000 }, () => resolve())
    }))
    try {
      await waitFor(() => counter.answersHeld() === names.length, 30_000, 'every upload stored, its answer held')
      first.kill9()
      expect(await first.waitExit(10_000)).toBeNull()
      await Promise.all(copies)
    } finally {
      counter.holdAnswers(false)
    }
    await first.stop()
    for (const n of names) expect(await sameBytes(join(src, n), remoteBytesPath(lib, `/cs/${n}`)), `${n} stored before the kill`).toBe(true)
    const theirs = Buffer.alloc(SIZE + 2, 9)
    await lib.upload('/cs', 'theirs.bin', theirs)
    const uploadsBefore = counter.uploads()

    const second = await rig.mount(['--cache-dir', cache, '--upload-url', counter.url])
    const finished = (n: string) => new RegExp(`"path":"/cs/${n.replace('.', '\\.')}"[^\\n]*"msg":"upload finished"`).test(second.log())
    await waitFor(() => names.every(finished), 30_000, 'the interrupted uploads settled')
    expect((await versionsOf(lib, '/cs/new.bin')).length).toBe(1) // was 2: sent again by the next mount
    expect((await versionsOf(lib, '/cs/over.bin')).length).toBe(2) // the file it overwrote, and ours (was 3)
    expect((await versionsOf(lib, '/cs/theirs.bin')).length).toBe(3) // ours, theirs, ours again
    expect(counter.uploads() - uploadsBefore).toBe(1) // only theirs.bin
    for (const n of names) {
      expect(await sameBytes(join(src, n), remoteBytesPath(lib, `/cs/${n}`)), `${n} in the library`).toBe(true)
      expect(await sameBytes(join(src, n), join(second.path, 'cs', n)), `${n} read through the mount`).toBe(true)
    }
    expect(second.log()).toMatch(/"path":"\/cs\/new\.bin"[^\n]*"msg":"the upload was stored, though its answer was an error"/)
    expect(await second.stop()).toBe(0)
  })
})
