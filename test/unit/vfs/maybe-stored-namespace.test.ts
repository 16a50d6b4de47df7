/**
 * W3 and W8: a pending file whose upload attempt ended in an error after which its bytes may be stored all the
 * same (a 504 after the store, a lost answer), and whose retries then gave up, has no stored file the write path
 * knows of. Its unlink deletes what the library holds at its name since that attempt (else the deleted file
 * came back in the library); its rename takes that copy along (else it stayed at the old name).
 */
import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { RequestOptions, UploadRequest } from '../../../src/imagekit/api.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { ManualClock } from '../../../src/clock.js'
import { PendingFile } from '../../../src/vfs/file-node.js'
import type { JournalRecord } from '../../../src/vfs/spool/record.js'
import { finishUnlink, type FinishUnlinkDeps } from '../../../src/vfs/write/interrupted-unlink.js'
import { memoryLogger } from './helpers.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, waitFor, type Harness } from './helpers.js'

const CREATE = constants.O_CREAT | constants.O_WRONLY
const SIZE = 50_000
const gatewayTimeout = () => new ImageKitError('IK_SERVER', 'POST /api/v1/files/upload: 504', { status: 504, retriable: true })

function rw(api: FakeImageKit, cacheDir = join(scratchDir('maybe'), 'cache'), overrides: Partial<VfsOptions> = {}): Harness {
  return makeVfs(api, { readOnly: false, cacheDir, libraryId: 'https://ik.example.test/demo', bootId: 'b1', ...overrides })
}

/** `/d/a.bin` written and closed; its upload is stored, then answered 504 (its retry is scheduled, not due). */
async function storedButAnsweredError(api: FakeImageKit, h: Harness, bytes: Buffer): Promise<void> {
  await h.vfs.readdir('/d') // listed before the upload: the listing does not show what it stores
  const fh = await h.vfs.create('/d/a.bin', 0o644, CREATE)
  await h.vfs.write('/d/a.bin', fh, bytes, 0)
  api.failAfterStoreNext = gatewayTimeout()
  await expectCode(h.vfs.flush('/d/a.bin', fh), 'EIO')
  await h.vfs.release('/d/a.bin', fh)
  expect(api.fileAt('/d/a.bin')).toBeDefined() // stored all the same
  expect(h.vfs.status().uploads).toMatchObject([{ localPath: '/d/a.bin', state: 'failed' }])
}

/** Every retry due is run (the clock advanced to it), until no upload is left. */
async function uploadsSettled(h: Harness): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [next] = h.vfs.status().uploads
    if (!next) return
    if (next.nextAttemptAtMs !== undefined) h.clock.advance(Math.max(0, next.nextAttemptAtMs - h.clock.now()))
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`uploads not settled: ${JSON.stringify(h.vfs.status().uploads)}`)
}

describe('a pending file whose upload may have been stored (its answer an error)', () => {
  it('unlink deletes the copy stored at its name: the file does not come back', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api)
    await storedButAnsweredError(api, h, patternBytes(SIZE, 1))
    await h.vfs.unlink('/d/a.bin')
    expect(api.filePaths()).toEqual([]) // was ['/d/a.bin']: the rm'd file stayed in the library
    expect(h.vfs.status().uploads).toEqual([])
    h.vfs.forget()
    await expectCode(h.vfs.getattr('/d/a.bin'), 'ENOENT')
    await h.vfs.close()
  })

  it('unlink while the library cannot be asked fails (EIO) and keeps the file; repeated, it deletes the copy', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api)
    await storedButAnsweredError(api, h, patternBytes(SIZE, 2))
    api.failNext.set('listFiles', new ImageKitError('IK_SERVER', 'GET /v1/files: 503', { status: 503, retriable: true }))
    await expectCode(h.vfs.unlink('/d/a.bin'), 'EIO')
    expect(h.vfs.status().uploads).toMatchObject([{ localPath: '/d/a.bin' }])
    expect((await h.vfs.getattr('/d/a.bin')).size).toBe(SIZE)
    await h.vfs.unlink('/d/a.bin')
    expect(api.filePaths()).toEqual([])
    expect(api.writeCalls.uploadFile).toBe(1)
    await h.vfs.close()
  })

  it('a kill -9 between the unlink\'s note and its delete: the next start deletes that copy and uploads nothing', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const cacheDir = join(scratchDir('maybe'), 'cache')
    const h = rw(api, cacheDir)
    await storedButAnsweredError(api, h, patternBytes(SIZE, 3))
    let letDeleteGo!: () => void
    const held = new Promise<void>((resolve) => (letDeleteGo = resolve))
    api.renameGate = () => held // the delete (file deletes wait here too) is held: the daemon is killed meanwhile
    const rm = h.vfs.unlink('/d/a.bin').catch(() => undefined)
    try {
      await waitFor(() => api.writeCalls.deleteFile === 1)
      api.renameGate = undefined
      const h2 = rw(api, cacheDir)
      h2.clock.advance(0)
      await waitFor(() => api.filePaths().length === 0) // was ['/d/a.bin'] for good: the record was dropped
      expect(api.writeCalls.uploadFile).toBe(1)
      expect(h2.vfs.status().uploads).toEqual([])
      await h2.vfs.close()
      // And the mount after finds nothing left to do: the record went once the delete was done.
      const h3 = rw(api, cacheDir)
      h3.clock.advance(0)
      expect(h3.lines.join('\n')).not.toMatch(/unlinked when the daemon stopped/)
      await h3.vfs.close()
    } finally {
      letDeleteGo()
      await rm
    }
  })

  it('rename to a new name takes the stored copy along: nothing stays at the old name, nothing is sent twice', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api)
    const bytes = patternBytes(SIZE, 4)
    await storedButAnsweredError(api, h, bytes)
    await h.vfs.rename('/d/a.bin', '/d/b.bin')
    await uploadsSettled(h)
    expect(api.filePaths()).toEqual(['/d/b.bin']) // was ['/d/a.bin', '/d/b.bin']: a copy stayed at the old name
    expect(api.fileAt('/d/b.bin')!.bytes.equals(bytes)).toBe(true)
    expect(api.writeCalls.uploadFile).toBe(1)
    await h.vfs.close()
  })

  it('rename onto a stored file (an atomic save) deletes the copy at the old name', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    api.addFile('/d/t.bin', patternBytes(10, 9))
    const h = rw(api)
    const bytes = patternBytes(SIZE, 5)
    await storedButAnsweredError(api, h, bytes)
    await h.vfs.rename('/d/a.bin', '/d/t.bin')
    await uploadsSettled(h)
    expect(api.filePaths()).toEqual(['/d/t.bin']) // was ['/d/a.bin', '/d/t.bin']
    expect(api.fileAt('/d/t.bin')!.bytes.equals(bytes)).toBe(true)
    await h.vfs.close()
  })
})

describe('finishing an unlink the daemon stopped in (write/interrupted-unlink.ts)', () => {
  const record = (sinceMs: number): JournalRecord => ({ v: 1, id: 'ab12', folder: '/d', name: 'a.bin', localPath: '/d/a.bin', size: 3, mtimeMs: 0, state: 'pending', attempts: 1, unlinking: true, mayBeStoredSinceMs: sinceMs })
  const deps = (api: FakeImageKit, over: { pendingThere?: boolean; landed?: boolean } = {}) => {
    const removed: string[] = []
    /** The deletes handed to the background deletes (pending-deletes.ts, which does them): fileId and path. */
    const handed: [string, string][] = []
    const d = {
      api, clock: new ManualClock(), log: memoryLogger().logger, closing: new AbortController().signal,
      deletes: { begin: (fileId: string, remotePath: string) => void handed.push([fileId, remotePath]) },
      journal: { remove: async (id: string) => void removed.push(id) },
      pending: { at: () => (over.pendingThere ? new PendingFile('cd34', '/nonexistent', '/d', 'a.bin', '/d/a.bin', 2, 3, 0, 0, undefined) : undefined) },
      mtimes: { get: () => (over.landed ? 1 : undefined) },
      expire: () => undefined,
    } as unknown as FinishUnlinkDeps
    return { d, removed, handed }
  }

  it('deletes what the name holds since the attempt (handed to the background deletes), then drops the record', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const stored = api.addFile('/d/a.bin', Buffer.from('abc'), { updatedAt: '2024-01-02T10:00:00.000Z' })
    const { d, removed, handed } = deps(api)
    await finishUnlink(d, record(Date.parse(stored.updatedAt) - 1000))
    expect(handed).toEqual([[stored.fileId, '/d/a.bin']])
    expect(removed).toEqual(['ab12'])
  })

  it('keeps a file stored at the name before the attempt, one waiting for its upload there, or one whose upload landed since', async () => {
    for (const [over, sinceDelta] of [[{}, 10 * 60_000], [{ pendingThere: true }, -1000], [{ landed: true }, -1000]] as const) {
      const api = new FakeImageKit()
      api.addFolder('/d')
      const stored = api.addFile('/d/a.bin', Buffer.from('abc'), { updatedAt: '2024-01-02T10:00:00.000Z' })
      const { d, removed, handed } = deps(api, over)
      await finishUnlink(d, record(Date.parse(stored.updatedAt) + sinceDelta))
      expect(api.filePaths()).toEqual(['/d/a.bin'])
      expect(handed).toEqual([])
      expect(removed).toEqual(['ab12'])
    }
  })
})

describe('an open for writing of a file whose upload retries (W3)', () => {
  it('does not wait for the retries; the file keeps "maybe stored", so its unlink deletes the copy the lost try stored', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api)
    await h.vfs.readdir('/d')
    const upload = api.uploadFile.bind(api)
    let endRetries!: () => void
    const retriesEnd = new Promise<void>((resolve) => (endRetries = resolve))
    let tries = 0
    // The first try is stored and its answer lost; the client then waits before its repeat (the library down),
    // until the attempt is stopped (or the test ends).
    api.uploadFile = (async (request: UploadRequest, options?: RequestOptions) => {
      if (++tries > 1) return upload(request)
      await upload(request)
      return new Promise((_resolve, reject) => {
        const stop = () => reject(new ImageKitError('IK_ABORTED', 'POST upload: aborted'))
        if (options?.signal?.aborted) stop()
        options?.signal?.addEventListener('abort', stop, { once: true })
        void retriesEnd.then(() => reject(gatewayTimeout()))
      })
    }) as typeof api.uploadFile
    try {
      const fh = await h.vfs.create('/d/a.bin', 0o644, CREATE)
      await h.vfs.write('/d/a.bin', fh, patternBytes(SIZE, 6), 0)
      const closing = h.vfs.flush('/d/a.bin', fh).catch((e: unknown) => e)
      await waitFor(() => api.fileAt('/d/a.bin') !== undefined) // stored; the attempt waits to repeat it
      let opened: number | undefined
      void h.vfs.open('/d/a.bin', constants.O_WRONLY | constants.O_TRUNC).then((fh2) => (opened = fh2))
      await waitFor(() => opened !== undefined) // was held until the library answered again
      await closing
      await h.vfs.release('/d/a.bin', fh)
      await h.vfs.write('/d/a.bin', opened!, Buffer.from('the new bytes'), 0)
      await h.vfs.unlink('/d/a.bin') // before the new version's upload
      expect(api.filePaths()).toEqual([]) // the superseded attempt's stored copy goes too
      await h.vfs.release('/d/a.bin', opened!)
      expect(api.filePaths()).toEqual([])
      expect(h.vfs.status().uploads).toEqual([])
    } finally {
      endRetries()
    }
    await h.vfs.close()
  })
})

describe('an open for writing of a file whose retry reads back what an earlier try may have stored (W3)', () => {
  it('stops that read-back too: the open does not wait for the whole stored version to download', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const h = rw(api)
    await storedButAnsweredError(api, h, patternBytes(SIZE, 7))
    // The CDN stalls: the retry's read-back of the stored copy (to compare it with the spool's bytes) ends only
    // when it is stopped.
    const reads = { started: 0, stopped: 0 }
    api.readRange = ((_url: string, _start: number, _end: number | undefined, options?: RequestOptions) => new Promise((_resolve, reject) => {
      reads.started++
      const stop = () => {
        reads.stopped++
        reject(new ImageKitError('IK_ABORTED', 'GET delivery: aborted'))
      }
      if (options?.signal?.aborted) stop()
      options?.signal?.addEventListener('abort', stop, { once: true })
    })) as typeof api.readRange
    const [retry] = h.vfs.status().uploads
    h.clock.advance(retry!.nextAttemptAtMs! - h.clock.now())
    await waitFor(() => reads.started === 1) // the retry reads the stored copy back
    let opened: number | undefined
    void h.vfs.open('/d/a.bin', constants.O_WRONLY | constants.O_TRUNC).then((fh) => (opened = fh))
    await waitFor(() => opened !== undefined) // was held until the read-back ended (never, here)
    expect(reads.stopped).toBe(1)
    await h.vfs.write('/d/a.bin', opened!, Buffer.from('the new bytes'), 0)
    await h.vfs.flush('/d/a.bin', opened!)
    await h.vfs.release('/d/a.bin', opened!)
    expect(api.fileAt('/d/a.bin')!.bytes.toString()).toBe('the new bytes')
    await h.vfs.close()
  })
})
