/**
 * spool/page-trim.ts: a streamed upload's spool file leaves the page cache behind the upload's reader, a step
 * at a time, only once synced; and the page-cache addon really drops the pages (fincore counts them).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { loadDropCachedPages } from '../../../native/page-cache.js'
import { ReadPagesTrimmer } from '../../../src/vfs/spool/page-trim.js'
import { GrowingFile } from '../../../src/vfs/upload/growing-file.js'
import { patternBytes } from './fake-api.js'
import { waitFor } from './helpers.js'

const MiB = 1024 * 1024
const STEP = 4 * MiB

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A file handle whose datasync calls wait until the test settles them. */
function heldHandle() {
  const syncs: { resolve: () => void; reject: (e: Error) => void }[] = []
  const fh = { fd: 42, datasync: () => new Promise<void>((resolve, reject) => syncs.push({ resolve, reject })) }
  return { fh: fh as unknown as FileHandle, syncs }
}

function recordingDrop() {
  const drops: [number, number, number][] = []
  return { drops, drop: (fd: number, offset: number, length: number) => void drops.push([fd, offset, length]) }
}

describe('ReadPagesTrimmer', () => {
  it('drops what was read, a step at a time, each range only after a sync, one sync at a time', async () => {
    const { fh, syncs } = heldHandle()
    const { drops, drop } = recordingDrop()
    const trimmer = new ReadPagesTrimmer(fh, drop, STEP)
    trimmer.readTo(STEP - 1)
    expect(syncs).toHaveLength(0)
    trimmer.readTo(STEP)
    expect(syncs).toHaveLength(1)
    trimmer.readTo(3 * STEP) // while the first sync runs: no second one
    expect(syncs).toHaveLength(1)
    expect(drops).toEqual([])
    syncs[0]!.resolve()
    await waitFor(() => syncs.length === 2) // the reader got ahead meanwhile: caught up with at once
    expect(drops).toEqual([[42, 0, STEP]]) // what had been read when the sync started, no more
    expect(trimmer.busy).toBe(true)
    syncs[1]!.resolve()
    await trimmer.settled()
    expect(drops).toEqual([[42, 0, STEP], [42, STEP, 2 * STEP]])
    expect(trimmer.busy).toBe(false)
    trimmer.readTo(3 * STEP + STEP - 1) // less than a step past what was dropped: not yet
    expect(syncs).toHaveLength(2)
  })

  it('a sync that fails drops nothing and turns trimming off for the file', async () => {
    const { fh, syncs } = heldHandle()
    const { drops, drop } = recordingDrop()
    const trimmer = new ReadPagesTrimmer(fh, drop, STEP)
    trimmer.readTo(STEP)
    syncs[0]!.reject(Object.assign(new Error('EIO'), { code: 'EIO' }))
    await trimmer.settled()
    trimmer.readTo(5 * STEP)
    expect(syncs).toHaveLength(1)
    expect(drops).toEqual([])
  })

  it('a drop that fails turns trimming off too', async () => {
    const { fh, syncs } = heldHandle()
    let calls = 0
    const trimmer = new ReadPagesTrimmer(fh, () => {
      calls++
      throw new Error('posix_fadvise(DONTNEED) failed with errno 22')
    }, STEP)
    trimmer.readTo(STEP)
    syncs[0]!.resolve()
    await trimmer.settled()
    trimmer.readTo(5 * STEP)
    expect(syncs).toHaveLength(1)
    expect(calls).toBe(1)
  })
})

describe('the page-cache addon, through a GrowingFile', () => {
  /** Bytes of `path` in the page cache, as util-linux's fincore counts them. */
  async function residentBytes(path: string): Promise<number> {
    const { stdout } = await promisify(execFile)('fincore', ['--bytes', '--noheadings', '--output', 'RES', path])
    return Number(stdout.trim())
  }

  async function readAll(growing: GrowingFile): Promise<Buffer> {
    const copies: Buffer[] = []
    for await (const chunk of growing) copies.push(Buffer.from(chunk))
    return Buffer.concat(copies)
  }

  it('is built, and a file read through a trimming GrowingFile leaves the page cache behind the reader', async () => {
    const { drop, reason } = loadDropCachedPages()
    expect(reason).toBeUndefined()
    const d = mkdtempSync(join(tmpdir(), 'ikfs-trim-'))
    dirs.push(d)
    const bytes = patternBytes(24 * MiB, 31)
    const kept = join(d, 'kept')
    const trimmed = join(d, 'trimmed')
    await writeFile(kept, bytes)
    await writeFile(trimmed, bytes)

    const plain = new GrowingFile(kept)
    plain.end(bytes.length)
    expect((await readAll(plain)).equals(bytes)).toBe(true)
    expect(await residentBytes(kept)).toBe(bytes.length) // the control: fincore sees a cached file whole

    const growing = new GrowingFile(trimmed, { dropCachedPages: drop!, trimStepBytes: STEP })
    growing.end(bytes.length)
    expect((await readAll(growing)).equals(bytes)).toBe(true)
    // Once the trims have caught up with the reader: less than a step not yet due, plus the last chunk.
    const bound = STEP + MiB
    let resident = await residentBytes(trimmed)
    // The last trim may still be syncing when the reader is done: it finishes on its own.
    for (const deadline = Date.now() + 10_000; resident > bound && Date.now() < deadline;) resident = await residentBytes(trimmed)
    expect(resident).toBeLessThanOrEqual(bound)
  })
})
