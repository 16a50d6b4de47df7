/**
 * Streamed uploads (upload/streamer.ts): a file written sequentially from empty is uploaded while it is
 * written and its close ends the body; anything else aborts the stream (nothing stored by it) and the file
 * is uploaded at close as before; a server refusing streamed bodies turns streaming off for the mount.
 */
import { constants, readdirSync, readlinkSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { uploadFieldsOf } from '../../../src/vfs/upload/fields.js'
import { MAX_FAILURES_IN_A_ROW } from '../../../src/vfs/upload/streamer.js'
import { GrowingFile, RING_CHUNKS } from '../../../src/vfs/upload/growing-file.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, waitFor, type Harness } from './helpers.js'

const KiB = 1024
const THRESHOLD = 256 * KiB
const CREATE = constants.O_CREAT | constants.O_RDWR

/** A read-write Vfs streaming files from THRESHOLD on, its cache in `dir` (a scratch dir of its own). */
function rw(api: FakeImageKit, overrides: Partial<VfsOptions> = {}, deps: Parameters<typeof makeVfs>[2] = {}): Harness & { dir: string } {
  const dir = scratchDir('stream')
  return { ...makeVfs(api, { readOnly: false, cacheDir: join(dir, 'cache'), libraryId: 'https://ik.example.test/demo', streamThresholdBytes: THRESHOLD, ...overrides }, deps), dir }
}

/** Writes `bytes` sequentially in 128 KiB pieces, like cp through FUSE. */
async function append(h: Harness, path: string, fh: number, bytes: Buffer, from = 0): Promise<void> {
  for (let at = from; at < bytes.length; at += 128 * KiB) await h.vfs.write(path, fh, bytes.subarray(at, Math.min(bytes.length, at + 128 * KiB)), at)
}

async function close(h: Harness, path: string, fh: number): Promise<void> {
  try {
    await h.vfs.flush(path, fh)
  } finally {
    await h.vfs.release(path, fh)
  }
}

/**
 * A new file `path` written sequentially with `bytes` (append) and closed: streamed if large enough and streaming
 * is on. With `closeFailsWith`, its close must fail with that code (the release follows).
 */
async function writeNew(h: Harness, path: string, bytes: Buffer, closeFailsWith?: string): Promise<void> {
  const fh = await h.vfs.create(path, 0o644, CREATE)
  await append(h, path, fh, bytes)
  if (closeFailsWith === undefined) return close(h, path, fh)
  await expectCode(h.vfs.flush(path, fh), closeFailsWith)
  await h.vfs.release(path, fh)
}

/**
 * Every FileHandle's datasync that `holds` picks waits until `release()` (FileHandle's prototype found from a
 * probe file made in `dir`); `spy.mockRestore()` ends it.
 */
async function holdDatasyncs(dir: string, holds: (fh: FileHandle) => boolean) {
  const probe = await open(join(dir, 'probe'), 'w')
  const fileHandle = Object.getPrototypeOf(probe) as FileHandle
  await probe.close()
  const datasync = fileHandle.datasync
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  const spy = vi.spyOn(fileHandle, 'datasync').mockImplementation(async function (this: FileHandle) {
    if (holds(this)) await held
    return datasync.call(this)
  })
  return { release, spy }
}

describe('streamed uploads', () => {
  it('tags set while a streamed upload runs (cp -a of a big file) are set once it lands; the stream goes on', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(2 * 1024 * KiB, 3)
    const fh = await h.vfs.create('/tagged.bin', 0o644, CREATE)
    await append(h, '/tagged.bin', fh, bytes)
    await h.vfs.setxattr('/tagged.bin', 'user.imagekit.tags', Buffer.from('big,copy'), 0)
    expect(api.streams).toMatchObject([{ filePath: '/tagged.bin', state: 'open' }])
    await close(h, '/tagged.bin', fh)
    expect(api.streams).toMatchObject([{ state: 'stored' }])
    expect(api.writeCalls.uploadFile).toBe(0)
    expect(api.fileAt('/tagged.bin')!.obj.tags).toEqual(['big', 'copy'])
    expect(api.fileAt('/tagged.bin')!.bytes.equals(bytes)).toBe(true)
    await h.vfs.close()
  })

  it('a file written sequentially from empty is uploaded while written; close ends the body; bytes exact', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(3 * 1024 * KiB + 5, 1)
    const fh = await h.vfs.create('/big.bin', 0o644, CREATE)
    await append(h, '/big.bin', fh, bytes.subarray(0, 2 * 1024 * KiB + 1))
    expect(api.streams).toMatchObject([{ filePath: '/big.bin', state: 'open' }])
    await waitFor(() => api.streams[0]!.received >= 1024 * KiB) // bytes went out before close
    await append(h, '/big.bin', fh, bytes, 2 * 1024 * KiB + 1)
    await close(h, '/big.bin', fh)
    expect(api.streams[0]!.state).toBe('stored')
    expect(api.fileAt('/big.bin')!.bytes.equals(bytes)).toBe(true)
    expect(api.writeCalls.uploadFile).toBe(0)
    expect(api.uploads).toMatchObject([{ filePath: '/big.bin', size: bytes.length, streamed: true }])
    expect(h.vfs.status().counters).toMatchObject({ uploadsStarted: 1, uploadsSucceeded: 1 })
    expect((await h.vfs.getattr('/big.bin')).size).toBe(bytes.length)
    expect(readdirSync(join(h.vfs.spoolDir!, 'data'))).toEqual([])
  })

  it('a streamed upload drops the spool pages it has sent, in steps, from the start of the file (page-trim.ts)', async () => {
    const api = new FakeImageKit()
    const drops: { offset: number; length: number }[] = []
    const step = 512 * KiB
    const h = rw(api, { streamTrimStepBytes: step }, { dropCachedPages: (_fd, offset, length) => void drops.push({ offset, length }) })
    const bytes = patternBytes(4 * 1024 * KiB + 7, 32)
    await writeNew(h, '/trimmed.bin', bytes)
    expect(api.streams[0]!.state).toBe('stored')
    expect(api.fileAt('/trimmed.bin')!.bytes.equals(bytes)).toBe(true)
    // The upload does not wait for a trim's sync (growing-file.ts), so a drop may come after close returned.
    await waitFor(() => drops.length > 0)
    drops.reduce((next, drop) => {
      expect(drop.offset).toBe(next) // contiguous from 0: nothing dropped twice, nothing skipped
      expect(drop.length).toBeGreaterThanOrEqual(step)
      return drop.offset + drop.length
    }, 0)
    const last = drops.at(-1)!
    expect(last.offset + last.length).toBeLessThanOrEqual(bytes.length) // never ahead of what was sent
    await h.vfs.close()
  })

  it('an unmount waits for a streamed body\'s descriptor that a trim\'s sync keeps open after the upload: none outlives the Vfs', async () => {
    const api = new FakeImageKit()
    const h = rw(api, { streamTrimStepBytes: 512 * KiB }, { dropCachedPages: () => undefined })
    let trimSyncs = 0
    // Only a spool data file's sync (the trim's) waits: the journal's go on.
    const { release, spy } = await holdDatasyncs(h.dir, (fh) => {
      if (basename(dirname(readlinkSync(`/proc/self/fd/${fh.fd}`))) !== 'data') return false
      trimSyncs++
      return true
    })
    try {
      const bytes = patternBytes(4 * 1024 * KiB, 33)
      await writeNew(h, '/trimmed.bin', bytes)
      expect(api.fileAt('/trimmed.bin')!.bytes.equals(bytes)).toBe(true)
      expect(trimSyncs).toBeGreaterThan(0)
      let closed = false
      const closing = h.vfs.close().then(() => { closed = true })
      for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve))
      expect(closed).toBe(false) // was true: the body's descriptor, still open, outlived the Vfs
      release()
      await closing
    } finally {
      release()
      spy.mockRestore()
    }
  })

  it('a streamed upload answered 504 after the server stored it is not uploaded again at close: close succeeds, one version', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(2 * 1024 * KiB, 5)
    const fh = await h.vfs.create('/stored.bin', 0o644, CREATE)
    await append(h, '/stored.bin', fh, bytes)
    expect(api.streams).toMatchObject([{ filePath: '/stored.bin', state: 'open' }])
    api.failAfterStoreNext = new ImageKitError('IK_SERVER', 'POST /api/v1/files/upload: 504', { status: 504, retriable: true })
    await close(h, '/stored.bin', fh)
    expect(api.streams).toMatchObject([{ state: 'stored' }])
    expect(api.writeCalls.uploadFile).toBe(0) // was 1: the bytes went up again, as a second version
    expect(api.fileAt('/stored.bin')).toMatchObject({ versions: 1 })
    expect(api.fileAt('/stored.bin')!.bytes.equals(bytes)).toBe(true)
    await h.vfs.close()
  })

  it('small files are not streamed', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    await writeNew(h, '/small.bin', patternBytes(THRESHOLD - 1, 2))
    expect(api.writeCalls.uploadFileStream).toBe(0)
    expect(api.writeCalls.uploadFile).toBe(1)
  })

  for (const [what, change] of [
    ['a write before the end', async (h: Harness, fh: number) => void (await h.vfs.write('/f.bin', fh, Buffer.from('XYZ'), 1000))],
    ['a write past the end (a hole)', async (h: Harness, fh: number) => void (await h.vfs.write('/f.bin', fh, Buffer.from('XYZ'), 3 * 1024 * KiB))],
    ['an ftruncate', async (h: Harness, fh: number) => h.vfs.ftruncate('/f.bin', fh, 1000)],
  ] as const) {
    it(`${what} aborts the stream (nothing stored by it); close uploads the exact bytes the usual way`, async () => {
      const api = new FakeImageKit()
      const h = rw(api)
      const fh = await h.vfs.create('/f.bin', 0o644, CREATE)
      await append(h, '/f.bin', fh, patternBytes(2 * THRESHOLD, 3))
      expect(api.streams).toMatchObject([{ state: 'open' }])
      await change(h, fh)
      await waitFor(() => api.streams[0]!.state !== 'open')
      expect(api.streams[0]!.state).toBe('aborted')
      expect(api.fileAt('/f.bin')).toBeUndefined()
      const size = (await h.vfs.getattr('/f.bin')).size
      await h.vfs.write('/f.bin', fh, patternBytes(THRESHOLD, 4), size) // appends after an abort never restart it
      const expected = Buffer.from(await h.vfs.read('/f.bin', fh, 8 * 1024 * KiB, 0))
      await close(h, '/f.bin', fh)
      expect(api.fileAt('/f.bin')!.bytes.equals(expected)).toBe(true)
      expect(api.fileAt('/f.bin')!.versions).toBe(1)
      expect(api.writeCalls.uploadFileStream).toBe(1)
      expect(api.uploads).toMatchObject([{ filePath: '/f.bin' }])
      expect(api.uploads[0]!.streamed).toBeUndefined()
    })
  }

  it('renaming the file mid-stream aborts the stream; the upload goes to the new name', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(2 * THRESHOLD, 5)
    const fh = await h.vfs.create('/draft.bin', 0o644, CREATE)
    await append(h, '/draft.bin', fh, bytes)
    await h.vfs.rename('/draft.bin', '/final.bin')
    await waitFor(() => api.streams[0]!.state === 'aborted')
    await close(h, '/final.bin', fh)
    expect(api.filePaths()).toEqual(['/final.bin'])
    expect(api.fileAt('/final.bin')!.bytes.equals(bytes)).toBe(true)
  })

  it('a second open for writing aborts the stream', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(2 * THRESHOLD, 6)
    const fh = await h.vfs.create('/two.bin', 0o644, CREATE)
    await append(h, '/two.bin', fh, bytes)
    const fh2 = await h.vfs.open('/two.bin', constants.O_WRONLY)
    await waitFor(() => api.streams[0]!.state === 'aborted')
    await h.vfs.release('/two.bin', fh2)
    await close(h, '/two.bin', fh)
    expect(api.fileAt('/two.bin')!.bytes.equals(bytes)).toBe(true)
    expect(api.writeCalls.uploadFile).toBe(1)
  })

  it('an overwrite with O_TRUNC streams with the same fields as an upload at close (tags, metadata, privacy, coordinates)', async () => {
    const api = new FakeImageKit()
    const orig = api.addFile('/photo.jpg', Buffer.from('old'), { tags: ['keep'], isPrivateFile: true, customCoordinates: '1,2,3,4' })
    const h = rw(api, { uploadTags: ['from-ikfs'] })
    const bytes = patternBytes(2 * THRESHOLD, 7)
    const fh = await h.vfs.open('/photo.jpg', constants.O_WRONLY | constants.O_TRUNC)
    await append(h, '/photo.jpg', fh, bytes)
    await close(h, '/photo.jpg', fh)
    expect(api.streams).toMatchObject([{ state: 'stored', fields: { folder: '/', fileName: 'photo.jpg', isPrivateFile: true, keepExistingMetadata: true, customCoordinates: '1,2,3,4' } }])
    expect(api.streams[0]!.fields.tags).toBeUndefined()
    const now = api.fileAt('/photo.jpg')!
    expect(now.obj.fileId).toBe(orig.fileId)
    expect(now.obj.tags).toEqual(['keep'])
    expect(now.obj.isPrivateFile).toBe(true)
    expect(now.versions).toBe(2)
    expect(now.bytes.equals(bytes)).toBe(true)
    // A new file streams with the upload tags, as its upload at close would have.
    await writeNew(h, '/new.jpg', bytes)
    expect(api.streams[1]!.fields).toMatchObject({ fileName: 'new.jpg', tags: ['from-ikfs'] })
    expect(api.fileAt('/new.jpg')!.obj.tags).toEqual(['from-ikfs'])
  })

  it('the stream and the upload at close send the same fields (one mapping)', () => {
    const api = new FakeImageKit()
    const h = rw(api)
    void h
    const file = { folder: '/a', name: 'b.jpg', base: { fileId: 'x', isPrivateFile: false } } as Parameters<typeof uploadFieldsOf>[0]
    expect(uploadFieldsOf(file, ['t'])).toEqual({ folder: '/a', fileName: 'b.jpg', isPrivateFile: false, keepExistingMetadata: true, customCoordinates: null })
  })

  it('a server refusing a streamed body (411): the file is uploaded at close, and nothing streams until the next mount', async () => {
    const api = new FakeImageKit()
    api.refuseNextStream = new ImageKitError('IK_BAD_REQUEST', 'POST /api/v1/files/upload: 411 Length Required', { status: 411 })
    const h = rw(api)
    const bytes = patternBytes(2 * THRESHOLD, 8)
    for (const name of ['/one.bin', '/two.bin']) {
      await writeNew(h, name, bytes)
      expect(api.fileAt(name)!.bytes.equals(bytes)).toBe(true)
    }
    expect(api.writeCalls.uploadFileStream).toBe(1)
    expect(api.writeCalls.uploadFile).toBe(2)
    expect(h.records.some((r) => r.level === 40 && String(r.msg).includes('refused a streamed upload'))).toBe(true)
  })

  // Before, any 4xx but "too large" to a stream turned streaming off for the mount: one file of a type the account
  // does not take (a 400 that has nothing to do with streaming) and every large file after it went up at close.
  it('a 400 the library answers the file itself, streamed or not (a file type it does not take): close fails with EPERM, and streaming stays on', async () => {
    const api = new FakeImageKit()
    const refusal = new ImageKitError('IK_BAD_REQUEST', 'POST /api/v1/files/upload: 400 This file type is not allowed in your account.', { status: 400 })
    api.refuseNextStream = refusal
    api.failAlways.set('uploadFile', refusal)
    const h = rw(api)
    const bytes = patternBytes(2 * THRESHOLD, 12)
    await writeNew(h, '/refused.mkv', bytes, 'EPERM')
    expect(h.vfs.status().uploads).toMatchObject([{ localPath: '/refused.mkv', state: 'rejected' }])
    api.failAlways.delete('uploadFile')
    await writeNew(h, '/next.bin', bytes)
    expect(api.fileAt('/next.bin')!.bytes.equals(bytes)).toBe(true)
    expect(api.writeCalls.uploadFileStream).toBe(2)
    expect(api.uploads.at(-1)).toMatchObject({ filePath: '/next.bin', streamed: true })
    expect(h.records.filter((r) => Number(r.level) >= 40 && String(r.msg).includes('streamed'))).toEqual([])
  })

  it('a 4xx to a streamed body whose file the server then takes not streamed (a refusal of the form, in other words than 411): nothing streams until the next mount', async () => {
    const api = new FakeImageKit()
    api.refuseNextStream = new ImageKitError('IK_BAD_REQUEST', 'POST /api/v1/files/upload: 400 Invalid request body.', { status: 400 })
    const h = rw(api)
    const bytes = patternBytes(2 * THRESHOLD, 13)
    for (const name of ['/one.bin', '/two.bin', '/three.bin']) {
      await writeNew(h, name, bytes)
      expect(api.fileAt(name)!.bytes.equals(bytes)).toBe(true)
    }
    expect(api.writeCalls.uploadFileStream).toBe(1)
    expect(api.writeCalls.uploadFile).toBe(3)
    expect(h.records.filter((r) => r.level === 40 && String(r.msg).includes('refused a streamed upload'))).toHaveLength(1)
  })

  it('a stream that fails mid-body (dropped connection) falls back to the upload at close; streaming stays on', async () => {
    const api = new FakeImageKit()
    api.failNextStreamAt = { bytes: 1, error: new ImageKitError('IK_NETWORK', 'POST /api/v1/files/upload: connection reset') }
    const h = rw(api)
    const bytes = patternBytes(3 * 1024 * KiB, 9)
    const fh = await h.vfs.create('/drop.bin', 0o644, CREATE)
    await append(h, '/drop.bin', fh, bytes)
    await waitFor(() => api.streams[0]!.state === 'failed')
    await close(h, '/drop.bin', fh)
    expect(api.fileAt('/drop.bin')!.bytes.equals(bytes)).toBe(true)
    expect(api.fileAt('/drop.bin')!.versions).toBe(1)
    await writeNew(h, '/next.bin', bytes)
    expect(api.streams.map((s) => [s.filePath, s.state])).toEqual([['/drop.bin', 'failed'], ['/next.bin', 'stored']])
    expect(api.uploads.map((u) => u.streamed === true)).toEqual([false, true])
  })

  it(`${MAX_FAILURES_IN_A_ROW} streams failing in a row (a refusal seen as resets) turn streaming off until the next mount`, async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(2 * THRESHOLD, 17)
    for (let i = 0; i <= MAX_FAILURES_IN_A_ROW; i++) {
      api.failNextStreamAt = { bytes: 1, error: new ImageKitError('IK_NETWORK', 'POST /api/v1/files/upload: connection reset') }
      const name = `/reset${i}.bin`
      await writeNew(h, name, bytes)
      expect(api.fileAt(name)!.bytes.equals(bytes)).toBe(true)
    }
    expect(api.writeCalls.uploadFileStream).toBe(MAX_FAILURES_IN_A_ROW)
    expect(h.records.some((r) => r.level === 40 && String(r.msg).includes('failed in a row'))).toBe(true)
  })

  // The upload at close sent the whole file again after the API had refused its stream as too large: for a video
  // over the limit, GiBs more to be refused alike.
  it('a file over the upload limit still fails close with EFBIG and stays in the spool, without sending it again at close; streaming stays on', async () => {
    const api = new FakeImageKit()
    api.maxUploadBytes = 3 * THRESHOLD
    const h = rw(api)
    await writeNew(h, '/huge.bin', patternBytes(6 * 1024 * KiB, 10), 'EFBIG')
    expect(api.writeCalls.uploadFile).toBe(0)
    expect(api.fileAt('/huge.bin')).toBeUndefined()
    expect(h.vfs.status().uploads).toMatchObject([{ state: 'rejected', size: 6 * 1024 * KiB }])
    expect(readdirSync(join(h.vfs.spoolDir!, 'data'))).toHaveLength(1)
    // The log says what happened: the stream refused as too large, the close answered with that refusal, the file not
    // sent again. Before, it said the file would be uploaded at close to tell whose the refusal was, then that the
    // library refused it "streamed or not" (it had never been sent unstreamed).
    const lines = h.records.filter((r) => r.path === '/huge.bin').map((r) => String(r.msg))
    expect(lines.filter((l) => /streamed or not|uploaded at close/.test(l)), lines.join('\n')).toEqual([])
    expect(lines.filter((l) => l.includes('not sent again')), lines.join('\n')).toHaveLength(1)
    await writeNew(h, '/ok.bin', patternBytes(2 * THRESHOLD, 11))
    expect(api.uploads.at(-1)).toMatchObject({ filePath: '/ok.bin', streamed: true })
  })

  it('a file whose stream was refused as over the limit, then truncated below what that stream had sent, is uploaded at close', async () => {
    const api = new FakeImageKit()
    api.maxUploadBytes = 3 * THRESHOLD
    const h = rw(api)
    const fh = await h.vfs.create('/shrunk.bin', 0o644, CREATE)
    await append(h, '/shrunk.bin', fh, patternBytes(6 * 1024 * KiB, 14))
    await waitFor(() => api.streams[0]?.state === 'failed')
    await h.vfs.ftruncate('/shrunk.bin', fh, 2 * THRESHOLD)
    await close(h, '/shrunk.bin', fh)
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.fileAt('/shrunk.bin')!.bytes.equals(patternBytes(6 * 1024 * KiB, 14).subarray(0, 2 * THRESHOLD))).toBe(true)
    // The smaller file went through not streamed, which says nothing about streamed bodies (the refusal was of the
    // size): streaming stays on. Before, that turned streaming off for the mount, with a warning.
    expect(h.records.filter((r) => Number(r.level) >= 40).map((r) => String(r.msg))).toEqual([])
    await writeNew(h, '/next.bin', patternBytes(2 * THRESHOLD, 15))
    expect(api.uploads.at(-1)).toMatchObject({ filePath: '/next.bin', streamed: true })
  })

  it('never streams with write-back or with streaming turned off', async () => {
    for (const overrides of [{ writeBackDelayMs: 1000 }, { streamUploads: false }]) {
      const api = new FakeImageKit()
      const h = rw(api, overrides)
      await writeNew(h, '/x.bin', patternBytes(2 * THRESHOLD, 12))
      h.clock.advance(1000)
      await waitFor(() => api.fileAt('/x.bin') !== undefined)
      expect(api.writeCalls.uploadFileStream).toBe(0)
    }
  })

  it('a stream takes an upload slot only while another stays free: none starts while the others are busy', async () => {
    const api = new FakeImageKit()
    let open = true
    api.uploadGate = () => new Promise<void>((resolve) => {
      const poll = () => (open ? setImmediate(poll) : resolve())
      poll()
    })
    const h = rw(api, { maxParallelUploads: 2 })
    const small = h.vfs.create('/busy', 0o644, CREATE).then(async (fh) => {
      await h.vfs.write('/busy', fh, Buffer.from('busy'), 0)
      await close(h, '/busy', fh)
    })
    await waitFor(() => api.uploadsInFlight === 1)
    const fh = await h.vfs.create('/later.bin', 0o644, CREATE)
    const bytes = patternBytes(2 * THRESHOLD, 13)
    await append(h, '/later.bin', fh, bytes)
    expect(api.writeCalls.uploadFileStream).toBe(0)
    open = false
    await small
    await h.vfs.write('/later.bin', fh, Buffer.from('more'), bytes.length) // a slot is free now: streaming starts
    expect(api.writeCalls.uploadFileStream).toBe(1)
    await close(h, '/later.bin', fh)
    expect(api.fileAt('/later.bin')!.bytes.equals(Buffer.concat([bytes, Buffer.from('more')]))).toBe(true)
    expect(api.maxUploadsInFlight).toBe(1)
  })

  it('a file closed while a stream holds a slot finds one: a writer finishing a sidecar before its video does not hang', async () => {
    for (const slots of [1, 2]) {
      const api = new FakeImageKit()
      const h = rw(api, { maxParallelUploads: slots })
      const video = await h.vfs.create('/video.mp4', 0o644, CREATE)
      const bytes = patternBytes(2 * THRESHOLD, 15)
      await append(h, '/video.mp4', video, bytes)
      expect(api.streams.filter((s) => s.state === 'open').length).toBe(slots - 1) // one slot is never a stream's
      const sidecar = h.vfs.create('/video.json', 0o644, CREATE).then(async (fh) => {
        await h.vfs.write('/video.json', fh, Buffer.from('{"frames": 4}'), 0)
        await close(h, '/video.json', fh)
      })
      await sidecar
      expect(api.fileAt('/video.json')!.bytes.toString()).toBe('{"frames": 4}')
      await close(h, '/video.mp4', video)
      expect(api.fileAt('/video.mp4')!.bytes.equals(bytes)).toBe(true)
    }
  })

  it('unmounting aborts a stream of a file still open', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const fh = await h.vfs.create('/open.bin', 0o644, CREATE)
    await append(h, '/open.bin', fh, patternBytes(2 * THRESHOLD, 14))
    await h.vfs.close()
    await waitFor(() => api.streams[0]!.state === 'aborted')
    expect(api.fileAt('/open.bin')).toBeUndefined()
  })
})

describe('GrowingFile', () => {
  it('yields only what was written, in chunks of at most chunkBytes, and ends at the final size', async () => {
    const d = scratchDir('growing')
    const { open } = await import('node:fs/promises')
    const path = join(d, 'spool')
    const fh = await open(path, 'w+')
    const bytes = patternBytes(10 * KiB, 15)
    const growing = new GrowingFile(path, { chunkBytes: 4 * KiB })
    const chunks: Buffer[] = []
    const reading = (async () => {
      for await (const chunk of growing) chunks.push(chunk)
    })()
    await fh.write(bytes, 0, 5 * KiB, 0)
    await fh.write(Buffer.alloc(5 * KiB, 0xee), 0, 5 * KiB, 5 * KiB) // written but not reported yet
    growing.grew(5 * KiB)
    await waitFor(() => chunks.length === 1)
    expect(chunks[0]!.equals(bytes.subarray(0, 4 * KiB))).toBe(true)
    await fh.write(bytes, 5 * KiB, 5 * KiB, 5 * KiB)
    growing.end(10 * KiB)
    await reading
    await fh.close()
    expect(chunks.every((c) => c.length <= 4 * KiB)).toBe(true)
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true)
  })

  it(`lends its chunks: a whole file goes through ${RING_CHUNKS} buffers, whatever its size`, async () => {
    const d = scratchDir('growing')
    const { writeFile } = await import('node:fs/promises')
    const path = join(d, 'spool')
    const bytes = patternBytes(10 * 4 * KiB + 123, 16)
    await writeFile(path, bytes)
    const growing = new GrowingFile(path, { chunkBytes: 4 * KiB })
    growing.end(bytes.length)
    const memory = new Set<ArrayBufferLike>()
    const copies: Buffer[] = []
    for await (const chunk of growing) {
      memory.add(chunk.buffer)
      copies.push(Buffer.from(chunk)) // the consumer copies (or sends) before asking for more
    }
    expect(Buffer.concat(copies).equals(bytes)).toBe(true)
    expect(memory.size).toBe(RING_CHUNKS)
  })

  it('a trimming reader whose last trim still syncs at its end closes its descriptor after that sync, with no closingLater told', async () => {
    const d = scratchDir('growing')
    const { writeFile } = await import('node:fs/promises')
    const path = join(d, 'spool')
    const bytes = patternBytes(8 * 4 * KiB, 17)
    await writeFile(path, bytes)
    const { release, spy } = await holdDatasyncs(d, () => true)
    const openOnSpool = () => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path
      } catch {
        return false
      }
    }).length
    try {
      const growing = new GrowingFile(path, { chunkBytes: 4 * KiB, dropCachedPages: () => undefined, trimStepBytes: 4 * KiB })
      growing.end(bytes.length)
      for await (const _ of growing) void _
      expect(openOnSpool()).toBe(1) // the trim's sync holds it
      release()
      await waitFor(() => openOnSpool() === 0) // was never: without closingLater, the close was never made
    } finally {
      release()
      spy.mockRestore()
    }
  })

  it('fail() ends a reader that is waiting for bytes', async () => {
    const d = scratchDir('growing')
    const { writeFile } = await import('node:fs/promises')
    const path = join(d, 'spool')
    await writeFile(path, '')
    const growing = new GrowingFile(path)
    const reading = (async () => {
      for await (const _ of growing) void _
    })()
    growing.fail(new Error('aborted'))
    await expect(reading).rejects.toThrow('aborted')
  })
})
