/**
 * W3: an upload answered with an error after it was stored (a gateway's 504 after the store, a lost answer)
 * is found in the library before it is sent again, by its exact bytes (upload/stored-copy.ts), and taken as
 * the upload's result; another machine's version of the same size is never taken for ours.
 */
import { constants } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { UploadResponse } from '../../../src/imagekit/types.js'
import { PendingFile } from '../../../src/vfs/file-node.js'
import { CLOCK_SKEW_MS, mayHaveBeenStored, storedCopyOf } from '../../../src/vfs/upload/stored-copy.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, waitFor, type Harness } from './helpers.js'

const CREATE = constants.O_CREAT | constants.O_WRONLY
const SIZE = 200_000
const gatewayTimeout = () => new ImageKitError('IK_SERVER', 'POST /api/v1/files/upload: 504', { status: 504, retriable: true })

function rw(api: FakeImageKit, cacheDir = join(scratchDir('stored'), 'cache'), overrides: Partial<VfsOptions> = {}): Harness {
  return makeVfs(api, { readOnly: false, cacheDir, libraryId: 'https://ik.example.test/demo', bootId: 'b1', ...overrides })
}

/**
 * `bytes` written and closed at `/a.bin` in a Vfs that is then "killed" (never closed) once the library
 * stored its upload; then `next` runs on its cache dir. The upload's answer is held until `next` is done
 * (the killed Vfs is closed after the test, and its close waits for it).
 */
async function afterKill(api: FakeImageKit, bytes: Buffer, next: (cacheDir: string) => Promise<void>, streamed = false): Promise<void> {
  const killed = await killedAfterStore(api, '/a.bin', bytes, streamed)
  try {
    await next(killed.cacheDir)
  } finally {
    killed.end()
  }
}

async function killedAfterStore(api: FakeImageKit, path: string, bytes: Buffer, streamed: boolean): Promise<{ cacheDir: string; end: () => void }> {
  const cacheDir = join(scratchDir('stored'), 'cache')
  const h = rw(api, cacheDir, streamed ? { streamThresholdBytes: SIZE / 4 } : {})
  let end!: () => void
  const ended = new Promise<void>((resolve) => (end = resolve))
  let first = true
  const holdAnswer = <A extends unknown[]>(upload: (...args: A) => Promise<UploadResponse>) => async (...args: A) => {
    const held = first // only the first upload's answer: the next start's go through
    first = false
    const stored = await upload(...args)
    if (held) await ended
    return stored
  }
  if (streamed) api.uploadFileStream = holdAnswer(api.uploadFileStream.bind(api))
  else api.uploadFile = holdAnswer(api.uploadFile.bind(api))
  const fh = await h.vfs.create(path, 0o644, CREATE)
  await h.vfs.write(path, fh, bytes, 0)
  void h.vfs.flush(path, fh) // close(2) waits for the upload; the kill comes first
  await waitFor(() => api.fileAt(path) !== undefined)
  return { cacheDir, end }
}

/** The next start on `cacheDir`, with the uploads it found in the spool settled. */
async function restarted(api: FakeImageKit, cacheDir: string): Promise<Harness> {
  const h = rw(api, cacheDir)
  h.clock.advance(0) // the uploads found are queued at once
  await waitFor(() => h.vfs.status().uploads.length === 0)
  return h
}

/** A pending file whose spool copy holds `bytes`, at `/d/a.bin`. */
async function spooled(bytes: Buffer): Promise<PendingFile> {
  const dataPath = join(scratchDir('stored-copy'), 'data')
  await writeFile(dataPath, bytes)
  return new PendingFile('id1', dataPath, '/d', 'a.bin', '/d/a.bin', 2, bytes.length, 0, 0, undefined)
}

describe('W3: finding an upload stored before its error answer', () => {
  it('counts 5xx and lost answers as maybe stored; not 429, 408, a refused connection or a refusal', () => {
    const net = (code: string) => new ImageKitError('IK_NETWORK', 'x', { cause: Object.assign(new Error(code), { code }) })
    expect(mayHaveBeenStored(gatewayTimeout())).toBe(true)
    expect(mayHaveBeenStored(net('ECONNRESET'))).toBe(true)
    expect(mayHaveBeenStored(new ImageKitError('IK_TIMEOUT', 'x', { cause: Object.assign(new Error(), { code: 'UND_ERR_HEADERS_TIMEOUT' }) }))).toBe(true)
    expect(mayHaveBeenStored(new ImageKitError('IK_RATE_LIMITED', 'x', { status: 429 }))).toBe(false)
    expect(mayHaveBeenStored(new ImageKitError('IK_TIMEOUT', 'x', { status: 408 }))).toBe(false)
    expect(mayHaveBeenStored(net('ECONNREFUSED'))).toBe(false)
    expect(mayHaveBeenStored(new ImageKitError('IK_BAD_REQUEST', 'x', { status: 400 }))).toBe(false)
    expect(mayHaveBeenStored(undefined)).toBe(false)
  })

  it('takes the current version only when it holds exactly the spool bytes and is not older than the attempt', async () => {
    const ours = patternBytes(SIZE, 1)
    const file = await spooled(ours)
    const api = new FakeImageKit()
    api.addFolder('/d')
    const stored = api.addFile('/d/a.bin', ours, { updatedAt: '2024-01-02T10:00:00.000Z' })
    const at = Date.parse(stored.updatedAt)
    expect(await storedCopyOf(api, file, at - 1000)).toMatchObject({ fileId: stored.fileId, versionInfo: stored.versionInfo, size: SIZE, filePath: '/d/a.bin' })
    expect(api.ranges.at(-1)).toMatchObject({ start: 0, end: SIZE - 1 }) // read back through the delivery path
    expect(await storedCopyOf(api, file, at + CLOCK_SKEW_MS + 1)).toBeUndefined() // stored before the attempt began

    // Another machine's upload of the same size, after our attempt began: its bytes differ in one byte.
    const theirs = Buffer.from(ours)
    theirs[SIZE - 1] = theirs[SIZE - 1]! ^ 1
    api.overwrite('/d/a.bin', theirs, '2024-01-02T10:00:01.000Z')
    expect(await storedCopyOf(api, file, at - 1000)).toBeUndefined()
    api.overwrite('/d/a.bin', patternBytes(SIZE + 1, 1), '2024-01-02T10:00:02.000Z')
    expect(await storedCopyOf(api, file, at - 1000)).toBeUndefined() // another size: not even read
  })

  it('a spool copy that cannot be opened for the comparison leaves no delivery response open (no socket held)', async () => {
    const ours = patternBytes(SIZE, 1)
    const file = await spooled(ours)
    await rm(file.dataPath) // gone from under the check (a spool dir emptied, a disk error)
    const api = new FakeImageKit()
    api.addFolder('/d')
    const stored = api.addFile('/d/a.bin', ours, { updatedAt: '2024-01-02T10:00:00.000Z' })
    const bodies: Readable[] = []
    const readRange = api.readRange.bind(api)
    api.readRange = async (...args) => {
      const res = await readRange(...args)
      bodies.push(res.body as Readable)
      return res
    }
    await expect(storedCopyOf(api, file, Date.parse(stored.updatedAt) - 1000)).rejects.toMatchObject({ code: 'ENOENT' })
    for (const body of bodies) expect(body.destroyed).toBe(true)
  })

  it('an upload answered 504 after it was stored: close fails, and the retry takes that version instead of sending it again', async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(SIZE, 2)
    const fh = await h.vfs.create('/a.bin', 0o644, CREATE)
    await h.vfs.write('/a.bin', fh, bytes, 0)
    api.failAfterStoreNext = gatewayTimeout()
    await expectCode(h.vfs.flush('/a.bin', fh), 'EIO') // the fake's client does not retry: the background retrier does
    await h.vfs.release('/a.bin', fh)
    h.clock.advance(h.vfs.status().uploads[0]!.nextAttemptAtMs! - h.clock.now())
    await waitFor(() => h.vfs.status().uploads.length === 0)
    expect(api.writeCalls.uploadFile).toBe(1) // was 2: the retry stored the bytes again
    expect(api.fileAt('/a.bin')).toMatchObject({ versions: 1 })
    expect(api.fileAt('/a.bin')!.bytes.equals(bytes)).toBe(true)
    expect(h.lines.join('\n')).toMatch(/"msg":"the upload was stored, though its answer was an error"/)
    expect((await h.vfs.getattr('/a.bin')).size).toBe(SIZE)
    await h.vfs.close()
  })

  it('kill -9 after the library stored an upload, before its answer: the next start takes that version (one list, one read), sends nothing', async () => {
    const api = new FakeImageKit()
    const bytes = patternBytes(SIZE, 5)
    await afterKill(api, bytes, async (cacheDir) => {
      const before = { ...api.calls }
      const h = await restarted(api, cacheDir)
      expect(api.writeCalls.uploadFile).toBe(1) // was 2: the next start sent it again
      expect(api.fileAt('/a.bin')).toMatchObject({ versions: 1 })
      expect(api.calls.listFiles - before.listFiles).toBe(1)
      expect(api.calls.readRange - before.readRange).toBe(1)
      expect(h.lines.join('\n')).toMatch(/"answer":"none \(the daemon stopped before it came\)"[^\n]*"msg":"the upload was stored, though its answer was an error"/)
      expect((await h.vfs.getattr('/a.bin')).size).toBe(SIZE)
      await h.vfs.close()
    })
  })

  it('the same for a streamed upload (W12) whose body the close ended', async () => {
    const api = new FakeImageKit()
    const bytes = patternBytes(SIZE, 9)
    await afterKill(api, bytes, async (cacheDir) => {
      expect(api.streams).toMatchObject([{ filePath: '/a.bin', state: 'stored' }])
      const h = await restarted(api, cacheDir)
      expect(api.writeCalls.uploadFile + api.writeCalls.uploadFileStream).toBe(1) // was 2
      expect(api.fileAt('/a.bin')).toMatchObject({ versions: 1 })
      await h.vfs.close()
    }, true)
  })

  it('after that kill, when the library cannot tell (API down), the next start sends the file again', async () => {
    const api = new FakeImageKit()
    const bytes = patternBytes(SIZE, 6)
    await afterKill(api, bytes, async (cacheDir) => {
      api.failNext.set('listFiles', new ImageKitError('IK_SERVER', 'GET /v1/files: 503', { status: 503, retriable: true }))
      const h = await restarted(api, cacheDir)
      expect(api.writeCalls.uploadFile).toBe(2)
      expect(api.fileAt('/a.bin')).toMatchObject({ versions: 2 })
      expect(api.fileAt('/a.bin')!.bytes.equals(bytes)).toBe(true)
      await h.vfs.close()
    })
  })

  it('kill -9 after an upload landed whose tags could not be set yet: the next start takes that version and sets them, sends nothing', async () => {
    const api = new FakeImageKit()
    const cacheDir = join(scratchDir('stored'), 'cache')
    const h = rw(api, cacheDir)
    const fh = await h.vfs.create('/a.bin', 0o644, CREATE)
    await h.vfs.write('/a.bin', fh, patternBytes(SIZE, 8), 0)
    await h.vfs.setxattr('/a.bin', 'user.imagekit.tags', Buffer.from('kept'), 0)
    api.failNext.set('updateFileDetails', gatewayTimeout())
    await expectCode(h.vfs.flush('/a.bin', fh), 'EIO') // stored; the retrier is to set the tags
    await h.vfs.release('/a.bin', fh)
    // kill -9 before that retry
    const h2 = await restarted(api, cacheDir)
    expect(api.writeCalls.uploadFile).toBe(1) // was 2: the next start sent it again
    expect(api.fileAt('/a.bin')).toMatchObject({ versions: 1 })
    expect(api.fileAt('/a.bin')!.obj.tags).toEqual(['kept'])
    await h2.vfs.close()
  })

  it('a pending upload never sent before the kill (write-back delay) is sent at the next start without asking the library first', async () => {
    const api = new FakeImageKit()
    const cacheDir = join(scratchDir('stored'), 'cache')
    const h = rw(api, cacheDir, { writeBackDelayMs: 60_000 })
    const fh = await h.vfs.create('/a.bin', 0o644, CREATE)
    await h.vfs.write('/a.bin', fh, patternBytes(SIZE, 7), 0)
    await h.vfs.release('/a.bin', fh)
    const before = { ...api.calls }
    const h2 = await restarted(api, cacheDir)
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.calls.listFiles - before.listFiles).toBe(0)
    expect(api.calls.readRange - before.readRange).toBe(0)
    await h2.vfs.close()
  })

  it("another machine's upload of the same size over ours before the retry is not taken for ours: the retry sends ours", async () => {
    const api = new FakeImageKit()
    const h = rw(api)
    const bytes = patternBytes(SIZE, 3)
    const fh = await h.vfs.create('/a.bin', 0o644, CREATE)
    await h.vfs.write('/a.bin', fh, bytes, 0)
    api.failAfterStoreNext = gatewayTimeout()
    await expectCode(h.vfs.flush('/a.bin', fh), 'EIO')
    await h.vfs.release('/a.bin', fh)
    api.overwrite('/a.bin', patternBytes(SIZE, 4), new Date(Date.parse(api.fileAt('/a.bin')!.obj.updatedAt) + 500).toISOString())
    h.clock.advance(h.vfs.status().uploads[0]!.nextAttemptAtMs! - h.clock.now())
    await waitFor(() => h.vfs.status().uploads.length === 0)
    expect(api.writeCalls.uploadFile).toBe(2)
    expect(api.fileAt('/a.bin')).toMatchObject({ versions: 3 })
    expect(api.fileAt('/a.bin')!.bytes.equals(bytes)).toBe(true)
    await h.vfs.close()
  })
})
