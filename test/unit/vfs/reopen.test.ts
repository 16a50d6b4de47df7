/**
 * A file opened and closed again and again (git reading objects, file managers, `file`, stat+open+close
 * loops): each open starts fetching its first block (prefetchOnOpen), and the close usually comes before
 * those bytes do. The fetch finishes into the block cache instead of being thrown away, and an open
 * meanwhile shares it, so the file is fetched once, not once per open.
 */
import { constants } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { RequestOptions } from '../../../src/imagekit/api.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { makeVfs, MiB, scratchDir, waitFor } from './helpers.js'

const KERNEL_READ = 128 * 1024

/** Holds every chunk of every body until open() is called: responses that have not arrived yet. */
function holdBodies(api: FakeImageKit): { open: () => void } {
  const held: (() => void)[] = []
  api.gate = () => new Promise<void>((resolve) => held.push(resolve))
  return {
    open: () => {
      api.gate = undefined
      for (const release of held.splice(0)) release()
    },
  }
}

/** The abort signal of every ranged request, in order. */
function rangeSignals(api: FakeImageKit): AbortSignal[] {
  const signals: AbortSignal[] = []
  const readRange = api.readRange.bind(api)
  api.readRange = (url: string, start: number, end: number | undefined, options?: RequestOptions) => {
    signals.push(options!.signal!)
    return readRange(url, start, end, options)
  }
  return signals
}

describe('a file opened and closed again and again', () => {
  it('is fetched once, though every close comes before the bytes of the fetch its open started', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(43, 3)
    api.addFile('/blob', data)
    const { vfs } = makeVfs(api, { prefetchOnOpen: true })
    const bodies = holdBodies(api)
    for (let i = 0; i < 10; i++) await vfs.release('', await vfs.open('/blob', constants.O_RDONLY))
    expect(vfs.stats().openReaders).toBe(0)
    bodies.open()
    await waitFor(() => vfs.stats().blockCacheBlocks === 1)
    const fh = await vfs.open('/blob', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', fh, 4096, 0), data)).toBe(0)
    await vfs.release('', fh)
    expect(api.calls.readRange).toBe(1)
    expect(vfs.stats()).toMatchObject({ blockCacheHits: 1, bufferedBytes: 0, openReaders: 0 })
    vfs.checkInvariants()
  })

  it('a read a little into a small file, then close: the rest of its block still lands in the cache', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(300 * 1024, 4)
    api.addFile('/small', data)
    const { vfs } = makeVfs(api, { prefetchOnOpen: true })
    let chunks = 1 // the first 64 KiB arrive, the rest is on its way when the file is closed
    const held: (() => void)[] = []
    api.gate = () => (chunks-- > 0 ? Promise.resolve() : new Promise<void>((r) => held.push(r)))
    const fh = await vfs.open('/small', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', fh, 16, 0), data.subarray(0, 16))).toBe(0)
    await vfs.release('', fh)
    api.gate = undefined
    for (const r of held.splice(0)) r()
    await waitFor(() => vfs.stats().blockCacheBlocks === 1)
    const again = await vfs.open('/small', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', again, KERNEL_READ, KERNEL_READ), data.subarray(KERNEL_READ, 2 * KERNEL_READ))).toBe(0)
    await vfs.release('', again)
    expect(api.calls.readRange).toBe(1)
    expect(vfs.stats().bufferedBytes).toBe(0)
  })

  it('the release of a big file being read still aborts its long stream at once', async () => {
    const api = new FakeImageKit()
    api.addFile('/big', patternBytes(40 * MiB, 5))
    const signals = rangeSignals(api)
    const { vfs } = makeVfs(api, { prefetchOnOpen: true })
    const fh = await vfs.open('/big', constants.O_RDONLY)
    for (let pos = 0; pos < 4 * MiB; pos += KERNEL_READ) await vfs.read('', fh, KERNEL_READ, pos)
    await vfs.release('', fh)
    expect(signals.map((s) => s.aborted)).toEqual([true])
    expect(vfs.stats().bufferedBytes).toBe(0)
  })

  /** A writable mount where `path` was opened and closed: the fetch its open started is still finishing. */
  async function settling(path: string) {
    const api = new FakeImageKit()
    api.addFile(path, 43)
    const signals = rangeSignals(api)
    const { vfs } = makeVfs(api, { prefetchOnOpen: true, readOnly: false, cacheDir: scratchDir('settle'), libraryId: 'https://ik.example.test/demo' })
    const bodies = holdBodies(api)
    await vfs.release('', await vfs.open(path, constants.O_RDONLY))
    await waitFor(() => signals.length === 1)
    const fetch = signals[0]!
    const end = async (): Promise<void> => {
      bodies.open()
      await vfs.close()
      expect(vfs.stats().bufferedBytes).toBe(0)
    }
    return { api, vfs, fetch, end }
  }

  it('storing another version of the file stops a fetch of it finishing after the last close (R5)', async () => {
    const { vfs, fetch, end } = await settling('/blob')
    const writer = await vfs.open('/blob', constants.O_WRONLY | constants.O_TRUNC)
    await vfs.write('/blob', writer, Buffer.from('new bytes'), 0)
    expect(fetch.aborted).toBe(false) // finishing: the stored version is still the one it fetches
    await vfs.flush('/blob', writer) // close: the new version lands
    // A range sent from now on would fetch the new bytes (the CDN's copy at the old URL gone) as the old version's.
    expect(fetch.aborted).toBe(true)
    await vfs.release('/blob', writer)
    await end()
  })

  it('a save over the file by rename stops a fetch of it finishing after the last close, once the new version is stored (R5)', async () => {
    const { api, vfs, fetch, end } = await settling('/doc')
    const tmp = await vfs.create('/doc.tmp', 0o644, constants.O_CREAT | constants.O_RDWR)
    await vfs.write('/doc.tmp', tmp, Buffer.from('saved'), 0)
    await vfs.rename('/doc.tmp', '/doc')
    expect(fetch.aborted).toBe(false) // nothing new stored yet
    await vfs.flush('/doc', tmp) // close: the upload lands as the file's new version
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(fetch.aborted).toBe(true)
    await vfs.release('/doc', tmp)
    await end()
  })

  it('unmounting aborts a fetch that was finishing after the last close', async () => {
    const api = new FakeImageKit()
    api.addFile('/blob', 43)
    const signals = rangeSignals(api)
    const { vfs } = makeVfs(api, { prefetchOnOpen: true })
    holdBodies(api)
    await vfs.release('', await vfs.open('/blob', constants.O_RDONLY))
    await waitFor(() => signals.length === 1)
    expect(signals[0]!.aborted).toBe(false) // finishing
    await vfs.close()
    expect(signals[0]!.aborted).toBe(true)
  })
})
