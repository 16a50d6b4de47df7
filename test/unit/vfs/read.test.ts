import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { VfsError } from '../../../src/vfs/errors.js'
import { ByteBudget } from '../../../src/vfs/budget.js'
import { BlockCache } from '../../../src/vfs/reader/block-cache.js'
import { BlockPool } from '../../../src/vfs/reader/block-pool.js'
import { FileReader, type LocalCopies } from '../../../src/vfs/reader/file-reader.js'
import { ReaderPool } from '../../../src/vfs/reader/reader-pool.js'
import { Counters } from '../../../src/vfs/stats.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, MiB, scratchDir, waitFor } from './helpers.js'

const KERNEL_READ = 128 * 1024

async function openFile(api: FakeImageKit, path: string, overrides = {}) {
  const h = makeVfs(api, overrides)
  const fh = await h.vfs.open(path, constants.O_RDONLY)
  return { ...h, fh }
}

async function readAll(vfs: { read: (p: string, fh: number, l: number, o: number) => Promise<Buffer> }, fh: number, size: number, step = KERNEL_READ) {
  const parts: Buffer[] = []
  for (let pos = 0; pos < size; pos += step) parts.push(Buffer.from(await vfs.read('', fh, step, pos)))
  return Buffer.concat(parts)
}

describe('reads', () => {
  it('a sequential read of a multi-MiB file returns exact bytes with ONE ranged request', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(10 * MiB + 123, 9)
    api.addFile('/big.bin', data)
    const { vfs, fh } = await openFile(api, '/big.bin')
    const got = await readAll(vfs, fh, data.length)
    expect(Buffer.compare(got, data)).toBe(0)
    expect(api.calls.readRange).toBe(1)
    expect(api.ranges[0]).toMatchObject({ start: 0, end: undefined })
    expect(api.ranges[0]!.url).toContain('tr=orig-true')
    expect((await vfs.read('', fh, KERNEL_READ, data.length)).length).toBe(0)
    expect(api.bytesServed).toBe(data.length)
    await vfs.release('', fh)
    vfs.checkInvariants()
  })

  it('kernel readahead: up to 16 reads of 1 MiB in flight, answered out of order, all byte-exact', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(64 * MiB + 5, 4)
    api.addFile('/ra.bin', data)
    api.gate = () => new Promise((resolve) => setTimeout(resolve, 1)) // a network: chunks take time
    const { vfs, fh } = await openFile(api, '/ra.bin')
    const READ = MiB
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < data.length) {
        const pos = next
        next += READ
        const got = await vfs.read('', fh, READ, pos)
        expect(Buffer.compare(got, data.subarray(pos, Math.min(data.length, pos + READ))), `at ${pos}`).toBe(0)
      }
    }
    await Promise.all(Array.from({ length: 16 }, lane))
    expect(api.calls.readRange).toBeLessThanOrEqual(4) // read-ahead reaches the readers; no stream churn
    await vfs.release('', fh)
    vfs.checkInvariants()
  })

  it('random reads at odd offsets: block boundaries, last byte, crossing and past EOF', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(3 * MiB + 7, 2)
    api.addFile('/r.bin', data)
    const { vfs, fh } = await openFile(api, '/r.bin')
    const probes: [number, number][] = [
      [data.length - 1, 1], [1, 3], [MiB - 5, 10], [2 * MiB + 999, 70_000], [data.length - 100, 4096],
      [0, 1], [data.length, 10], [data.length + 5000, 10], [MiB, MiB + 1],
    ]
    for (const [pos, len] of probes) {
      const got = await vfs.read('', fh, len, pos)
      expect(Buffer.compare(got, data.subarray(pos, Math.min(data.length, pos + len))), `${pos}+${len}`).toBe(0)
    }
  })

  it('readInto copies the same bytes into the caller’s memory: block boundaries, last byte, crossing and past EOF', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(3 * MiB + 7, 21)
    api.addFile('/ri.bin', data)
    const { vfs, fh } = await openFile(api, '/ri.bin')
    const probes: [number, number][] = [
      [data.length - 1, 1], [1, 3], [MiB - 5, 10], [2 * MiB + 999, 70_000], [data.length - 100, 4096],
      [0, 1], [data.length, 10], [data.length + 5000, 10], [MiB, MiB + 1],
    ]
    for (const [pos, len] of probes) {
      const dest = Buffer.alloc(len + 8, 0xee)
      const n = await vfs.readInto!('', fh, dest.subarray(0, len), pos)
      const want = data.subarray(pos, Math.min(data.length, pos + len))
      expect(n, `${pos}+${len}`).toBe(want.length)
      expect(Buffer.compare(dest.subarray(0, n), want), `${pos}+${len}`).toBe(0)
      expect(dest.subarray(len).every((b) => b === 0xee), 'nothing written past dest').toBe(true)
    }
    await vfs.release('', fh)
  })

  it('readInto never writes the caller’s memory after its signal is aborted (EINTR)', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(2 * MiB, 24)
    api.addFile('/late.bin', data)
    const held: (() => void)[] = []
    api.gate = () => new Promise<void>((r) => held.push(r))
    const { vfs, fh } = await openFile(api, '/late.bin')
    const dest = Buffer.alloc(MiB, 0xee)
    const abort = new AbortController()
    const reading = vfs.readInto!('', fh, dest, 0, abort.signal)
    await waitFor(() => held.length > 0)
    abort.abort()
    api.gate = undefined
    for (const r of held.splice(0)) r()
    await expectCode(reading, 'EINTR')
    expect(dest.every((b) => b === 0xee)).toBe(true)
    const n = await vfs.readInto!('', fh, dest, 0) // the handle still reads
    expect(Buffer.compare(dest.subarray(0, n), data.subarray(0, MiB))).toBe(0)
    await vfs.release('', fh)
  })

  it('several reads in flight ahead of the stream (kernel readahead) wait for it instead of opening ranges', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(16 * MiB, 22)
    api.addFile('/ahead.bin', data)
    const { vfs, fh } = await openFile(api, '/ahead.bin')
    for (let pos = 0; pos < data.length; pos += 4 * MiB) {
      const parts = await Promise.all([0, 1, 2, 3].map((i) => vfs.read('', fh, MiB, pos + i * MiB)))
      expect(Buffer.compare(Buffer.concat(parts), data.subarray(pos, pos + 4 * MiB)), `at ${pos}`).toBe(0)
    }
    expect(api.calls.readRange).toBe(1)
    await vfs.release('', fh)
  })

  it('with the block cache off, a sequential read in kernel-sized pieces fetches each byte once', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(5 * MiB + 3, 23)
    api.addFile('/nocache.bin', data)
    const { vfs, fh } = await openFile(api, '/nocache.bin', { blockCacheBytes: 0 })
    expect(Buffer.compare(await readAll(vfs, fh, data.length), data)).toBe(0)
    expect(api.calls.readRange).toBe(1)
    expect(api.bytesServed).toBe(data.length)
    await vfs.release('', fh)
  })

  it('zero-length files and reads past EOF make no request', async () => {
    const api = new FakeImageKit()
    api.addFile('/empty', Buffer.alloc(0))
    api.addFile('/small', patternBytes(10))
    const { vfs, fh } = await openFile(api, '/empty')
    expect((await vfs.read('', fh, 4096, 0)).length).toBe(0)
    const fh2 = await vfs.open('/small', constants.O_RDONLY)
    expect((await vfs.read('', fh2, 4096, 10)).length).toBe(0)
    expect((await vfs.read('', fh2, 4096, 1 << 30)).length).toBe(0)
    expect(api.calls.readRange).toBe(0)
  })

  it('with prefetchOnOpen, open starts the first block and the first read uses that same request', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(3 * MiB, 9)
    api.addFile('/pre', data)
    const { vfs } = makeVfs(api, { prefetchOnOpen: true })
    const fh = await vfs.open('/pre', constants.O_RDONLY)
    await waitFor(() => api.calls.readRange === 1)
    const first = await vfs.read('', fh, KERNEL_READ, 0)
    expect(Buffer.compare(first, data.subarray(0, KERNEL_READ))).toBe(0)
    expect(api.calls.readRange).toBe(1)
    const empty = new FakeImageKit()
    empty.addFile('/empty', Buffer.alloc(0))
    const { vfs: vfs2 } = makeVfs(empty, { prefetchOnOpen: true })
    await vfs2.open('/empty', constants.O_RDONLY)
    expect(empty.calls.readRange).toBe(0)
  })

  it('serves the first kernel read before its whole block has arrived', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(4 * MiB, 5)
    api.addFile('/ttfb', data)
    let allowed = 2 // two 64 KiB chunks, then hold
    const held: (() => void)[] = []
    api.gate = () => (allowed-- > 0 ? Promise.resolve() : new Promise<void>((r) => held.push(r)))
    const { vfs, fh } = await openFile(api, '/ttfb')
    const first = await vfs.read('', fh, KERNEL_READ, 0)
    expect(Buffer.compare(first, data.subarray(0, KERNEL_READ))).toBe(0)
    expect(api.bytesServed).toBeLessThan(MiB)
    api.gate = undefined
    for (const r of held.splice(0)) r()
    await vfs.release('', fh)
  })

  it('read-ahead pauses: reading the first 128 KiB of a large file does not fetch it all', async () => {
    const api = new FakeImageKit()
    api.addFile('/huge', patternBytes(40 * MiB, 6))
    const { vfs, fh } = await openFile(api, '/huge')
    await vfs.read('', fh, KERNEL_READ, 0)
    await waitFor(() => vfs.stats().blockCacheBlocks >= 2) // the stream fills its window…
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(api.bytesServed).toBeLessThanOrEqual(2 * MiB + 4 * api.chunkBytes) // …and then stops pulling
    await vfs.release('', fh)
  })

  it('two concurrent readers of one file share blocks', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(6 * MiB + 1, 7)
    api.addFile('/shared', data)
    const { vfs } = makeVfs(api)
    const a = await vfs.open('/shared', constants.O_RDONLY)
    const b = await vfs.open('/shared', constants.O_RDONLY)
    const [ga, gb] = await Promise.all([readAll(vfs, a, data.length), readAll(vfs, b, data.length)])
    expect(Buffer.compare(ga, data)).toBe(0)
    expect(Buffer.compare(gb, data)).toBe(0)
    expect(api.bytesServed).toBe(data.length)
    expect(vfs.stats().openReaders).toBe(1)
    await vfs.release('', a)
    await vfs.release('', b)
    expect(vfs.stats().openReaders).toBe(0)
  })

  it('a far seek starts a new range at the new block', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(20 * MiB, 8)
    api.addFile('/seek', data)
    const { vfs, fh } = await openFile(api, '/seek')
    await vfs.read('', fh, KERNEL_READ, 0)
    const pos = 15 * MiB + 77
    const got = await vfs.read('', fh, KERNEL_READ, pos)
    expect(Buffer.compare(got, data.subarray(pos, pos + KERNEL_READ))).toBe(0)
    expect(api.ranges.map((r) => r.start)).toEqual([0, 15 * MiB])
    // a short forward skip within the stream's reach does not open another range
    await vfs.read('', fh, KERNEL_READ, 16 * MiB + 10)
    expect(api.calls.readRange).toBe(2)
    await vfs.release('', fh)
  })

  it('a stream dropped mid-body resumes from the next missing byte with correct bytes', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(5 * MiB + 3, 10)
    api.addFile('/drop', data)
    api.dropAfterBytes = MiB + 300 * 1024
    api.dropCount = 2 // the first body and the first resume both die
    const { vfs, fh } = await openFile(api, '/drop')
    const got = await readAll(vfs, fh, data.length)
    expect(Buffer.compare(got, data)).toBe(0)
    expect(api.ranges.map((r) => r.start)).toEqual([0, MiB + 300 * 1024, 2 * (MiB + 300 * 1024)])
    expect(vfs.stats().streamResumes).toBe(2)
  })

  it('gives up with EIO after repeated drops without progress', async () => {
    const api = new FakeImageKit()
    api.addFile('/dead', patternBytes(2 * MiB, 11))
    api.dropAfterBytes = 0
    api.dropCount = 100
    const { vfs, fh } = await openFile(api, '/dead')
    await expectCode(vfs.read('', fh, KERNEL_READ, 0), 'EIO')
    expect(api.calls.readRange).toBeLessThanOrEqual(5)
  })

  it('copes with a 200 that ignored the range', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(3 * MiB, 12)
    api.addFile('/200', data)
    api.ignoreRange = true
    const { vfs, fh } = await openFile(api, '/200')
    const pos = 2 * MiB + 5
    expect(Buffer.compare(await vfs.read('', fh, 1000, pos), data.subarray(pos, pos + 1000))).toBe(0)
  })

  it('never returns stale bytes: a size mismatch re-checks the file once, then EIO', async () => {
    const api = new FakeImageKit()
    const f = api.addFile('/stale.jpg', patternBytes(100_000, 13))
    api.staleByUrl.set(f.url, patternBytes(90_000, 14)) // the CDN serves an older, shorter copy
    const { vfs, fh } = await openFile(api, '/stale.jpg')
    await expectCode(vfs.read('', fh, KERNEL_READ, 0), 'EIO')
    expect(api.calls.getFileDetails).toBe(1)
    const requests = api.calls.readRange
    await expectCode(vfs.read('', fh, KERNEL_READ, 0), 'EIO')
    expect(api.calls.readRange).toBe(requests) // the handle stays failed; no new request
    expect(vfs.stats().staleResponses).toBeGreaterThanOrEqual(1)
  })

  it('R5: a range of other content (its ETag changed: a same-size overwrite the CDN serves at the old URL) is never served; the version opened is read on from its own URL', async () => {
    const api = new FakeImageKit()
    const size = 20 * MiB
    const data = patternBytes(size, 21)
    const f = api.addFile('/same.bin', data)
    const { vfs, fh } = await openFile(api, '/same.bin')
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0)
    api.overwrite('/same.bin', patternBytes(size, 22), '2025-02-03T04:05:06.007Z') // overwritten elsewhere with as many bytes...
    api.staleByUrl.set(f.url, patternBytes(size, 22)) // ...which the CDN serves at the old URL
    // A far seek: a new range, refused at the old URL; the version is found among the file's versions.
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 15 * MiB), data.subarray(15 * MiB, 15 * MiB + KERNEL_READ))).toBe(0)
    expect(api.ranges.map((r) => r.start)).toEqual([0, 15 * MiB, 15 * MiB])
    expect(api.ranges.at(-1)!.url).toMatch(/\/same\.bin\?ik-obj-version=tok[0-9a-f]+&updatedAt=/)
    expect(vfs.stats().staleResponses).toBeGreaterThanOrEqual(1)
    expect([api.calls.getFileDetails, api.calls.listFileVersions]).toEqual([1, 1])
    // The rest of it too, from there, with no more checks: byte-exact.
    expect(Buffer.compare(await readAll(vfs, fh, size, MiB), data)).toBe(0)
    expect([api.calls.getFileDetails, api.calls.listFileVersions]).toEqual([1, 1])
    expect(api.ranges.slice(3).every((r) => r.url.includes('ik-obj-version='))).toBe(true)
    await vfs.release('', fh)
    vfs.checkInvariants()
  })

  it('R5: many reads in flight when the version is found replaced cost one check, and all read the version opened', async () => {
    const api = new FakeImageKit()
    const size = 24 * MiB
    const data = patternBytes(size, 24)
    const f = api.addFile('/lanes.bin', data)
    const { vfs, fh } = await openFile(api, '/lanes.bin')
    await vfs.read('', fh, KERNEL_READ, 0)
    api.overwrite('/lanes.bin', patternBytes(size, 25), '2025-02-03T04:05:06.007Z')
    api.staleByUrl.set(f.url, patternBytes(size, 25))
    const offsets = Array.from({ length: 16 }, (_, i) => 8 * MiB + i * MiB)
    const got = await Promise.all(offsets.map((pos) => vfs.read('', fh, MiB, pos)))
    for (const [i, pos] of offsets.entries()) expect(Buffer.compare(got[i]!, data.subarray(pos, pos + MiB)), `at ${pos}`).toBe(0)
    expect([api.calls.getFileDetails, api.calls.listFileVersions]).toEqual([1, 1])
    await vfs.release('', fh)
  })

  it('W8, R5: a file unlinked while held, stored over elsewhere with as many bytes before its copy was fetched, is read on as the version opened', async () => {
    const api = new FakeImageKit()
    const size = 24 * MiB
    const data = patternBytes(size, 51)
    const f = api.addFile('/held.bin', data)
    const { vfs } = makeVfs(api, { readOnly: false, cacheDir: join(scratchDir('held'), 'cache'), libraryId: 'https://ik.example.test/demo' })
    const fh = await vfs.open('/held.bin', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0)
    const theirs = patternBytes(size, 52)
    api.overwrite('/held.bin', theirs, '2025-02-03T04:05:06.007Z') // another machine's upload...
    api.staleByUrl.set(f.url, theirs) // ...which the path's URL delivers when the unlink fetches the bytes for the reader
    await vfs.unlink('/held.bin')
    await waitFor(() => api.calls.getFileDetails >= 1) // the delete looked, and left the file (W8)
    // The copy's fetch refused the other ETag (it kept those bytes as this version's, served to the reader, before).
    const got = await vfs.read('', fh, KERNEL_READ, 20 * MiB).then((b) => (b.equals(data.subarray(20 * MiB, 20 * MiB + KERNEL_READ)) ? 'own' : b.equals(theirs.subarray(20 * MiB, 20 * MiB + b.length)) ? 'theirs' : 'other'), (e: VfsError) => e.code)
    expect(got).toBe('own')
    // Past the stream the open started: a new range, refused at the path's URL, then read from the version's own.
    expect(api.ranges.filter((r) => r.start === 20 * MiB).map((r) => r.url.includes('ik-obj-version='))).toEqual([false, true])
    expect(api.writeCalls.deleteFile).toBe(0)
    await vfs.release('', fh)
  })

  it('R5: a version replaced elsewhere whose own URL delivers other content (another ETag, or another size) is EIO', async () => {
    for (const [name, otherAtVersionUrl] of [['etag.bin', patternBytes(20 * MiB, 28)], ['size.bin', patternBytes(19 * MiB, 28)]] as const) {
      const api = new FakeImageKit()
      const size = 20 * MiB
      const data = patternBytes(size, 26)
      const f = api.addFile(`/${name}`, data)
      const { vfs, fh } = await openFile(api, `/${name}`)
      expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0)
      api.overwrite(`/${name}`, patternBytes(size, 27), '2025-02-03T04:05:06.007Z')
      api.staleByUrl.set(f.url, patternBytes(size, 27))
      const old = (await api.listFileVersions(f.fileId)).find((v) => v.type === 'file-version')!
      api.staleByUrl.set(old.url, otherAtVersionUrl)
      await expectCode(vfs.read('', fh, KERNEL_READ, 15 * MiB), 'EIO')
      expect(api.ranges.at(-1)!.url, name).toContain('ik-obj-version=')
      const requests = api.calls.readRange
      await expectCode(vfs.read('', fh, KERNEL_READ, 10 * MiB), 'EIO') // the handle stays failed
      expect(api.calls.readRange).toBe(requests)
      await vfs.release('', fh)
    }
  })

  it('R5: a version replaced elsewhere and deleted since (or the file with it) is EIO', async () => {
    for (const gone of ['the version', 'the file'] as const) {
      const api = new FakeImageKit()
      const size = 20 * MiB
      const data = patternBytes(size, 29)
      const f = api.addFile('/gone.bin', data)
      const { vfs, fh } = await openFile(api, '/gone.bin')
      expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0)
      api.overwrite('/gone.bin', patternBytes(size, 30), '2025-02-03T04:05:06.007Z')
      api.staleByUrl.set(f.url, patternBytes(size, 30))
      if (gone === 'the version') api.deleteVersion('/gone.bin', f.versionInfo.id)
      else {
        api.removeFile('/gone.bin')
        api.staleByUrl.set(f.url, patternBytes(size, 30)) // the CDN still serves the URL it cached
      }
      const err = await vfs.read('', fh, KERNEL_READ, 15 * MiB).then(() => undefined, (e: VfsError) => e)
      // EIO, or ENOENT (a listed file the library no longer has), which a read through FUSE answers as EIO too.
      expect(err?.code, gone).toBe(gone === 'the version' ? 'EIO' : 'ENOENT')
      expect(api.ranges.some((r) => r.url.includes('ik-obj-version=')), gone).toBe(false)
      await vfs.release('', fh)
    }
  })

  it('R5: so is one read by a later open of the version, checked against the ETag its cached blocks came with (it reads on from the version\'s own URL)', async () => {
    const api = new FakeImageKit()
    const size = 20 * MiB
    const data = patternBytes(size, 33)
    const f = api.addFile('/later.bin', data)
    const { vfs, fh } = await openFile(api, '/later.bin')
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0)
    await vfs.release('', fh) // its reader goes; its blocks stay cached
    // Overwritten elsewhere with as many bytes; the listing still shows the old version, the old URL serves the new.
    const other = patternBytes(size, 34)
    api.overwrite('/later.bin', other, '2025-02-03T04:05:06.007Z')
    api.staleByUrl.set(f.url, other)
    const again = await vfs.open('/later.bin', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', again, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0) // cached
    const tail = await vfs.read('', again, KERNEL_READ, 15 * MiB).then((b) => (b.equals(data.subarray(15 * MiB, 15 * MiB + KERNEL_READ)) ? 'its own version' : b.equals(other.subarray(15 * MiB, 15 * MiB + b.length)) ? 'the other version' : 'other bytes'), (e: VfsError) => e.code)
    expect(tail).toBe('its own version')
    expect(api.ranges.at(-1)!.url).toContain('ik-obj-version=')
    await vfs.release('', again)
  })

  it('R5: so is one at a URL the version moved to since (a details update), when it delivers another version by then (read on from the version\'s own URL)', async () => {
    const api = new FakeImageKit()
    const size = 20 * MiB
    const data = patternBytes(size, 35)
    api.addFile('/moved-url.bin', data)
    const { vfs, fh, clock } = await openFile(api, '/moved-url.bin', { blockCacheBytes: 0 }) // only the reader knows its ETag
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0)
    const touched = api.touch('/moved-url.bin', '2025-03-01T00:00:00.000Z') // tags set elsewhere: a new URL, the same version
    clock.advance(120_000)
    vfs.forget('/') // `ikfs refresh`: listed anew, not merely again (which keeps the URL shown, R10)...
    const again = await vfs.open('/moved-url.bin', constants.O_RDONLY) // ...so the shared reader moves to the new URL
    const other = patternBytes(size, 36)
    api.overwrite('/moved-url.bin', other, '2025-03-02T00:00:00.000Z') // then overwritten elsewhere with as many bytes...
    api.staleByUrl.set(touched.url, other) // ...which the new URL, never asked for before, delivers
    const tail = await vfs.read('', fh, KERNEL_READ, 15 * MiB).then((b) => (b.equals(data.subarray(15 * MiB, 15 * MiB + KERNEL_READ)) ? 'its own version' : b.equals(other.subarray(15 * MiB, 15 * MiB + b.length)) ? 'the other version' : 'other bytes'), (e: VfsError) => e.code)
    expect(tail).toBe('its own version')
    expect(api.ranges.at(-2)!.url).toContain(touched.url) // refused there, then...
    expect(api.ranges.at(-1)!.url).toContain('ik-obj-version=') // ...read from the version's own URL
    await vfs.release('', again)
    await vfs.release('', fh)
  })

  it('R5: another ETag for the same version (a CDN quirk, the file unchanged) costs one more try, not an error', async () => {
    const api = new FakeImageKit()
    const size = 20 * MiB
    const data = patternBytes(size, 23)
    const f = api.addFile('/quirk.bin', data)
    const { vfs, fh } = await openFile(api, '/quirk.bin')
    await vfs.read('', fh, KERNEL_READ, 0)
    api.staleByUrl.set(f.url, Buffer.from(data)) // the same bytes, under another ETag
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 15 * MiB), data.subarray(15 * MiB, 15 * MiB + KERNEL_READ))).toBe(0)
    expect(api.calls.getFileDetails).toBe(1)
  })

  it('R5: a shorter version stored elsewhere while a program reads the file: the name shows the version read until it closes', async () => {
    const api = new FakeImageKit()
    const [a, b] = [patternBytes(3 * MiB + 5, 41), patternBytes(MiB + 3, 42)]
    api.addFolder('/d')
    api.addFile('/d/clip.bin', a)
    api.addFile('/d/other.bin', patternBytes(10, 43))
    const { vfs, clock } = makeVfs(api)
    const fh = await vfs.open('/d/clip.bin', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('/d/clip.bin', fh, KERNEL_READ, 0), a.subarray(0, KERNEL_READ))).toBe(0)
    api.overwrite('/d/clip.bin', b, '2025-02-03T04:05:06.007Z')
    clock.advance(120_000) // the listing shows the shorter version now
    // The kernel ends page-cache reads at the size a stat gives: given b's, the reader's file would end there.
    expect((await vfs.getattr('/d/clip.bin')).size).toBe(a.length)
    expect((await vfs.readdir('/d')).map((e) => [e.name, e.attr.size])).toEqual([['clip.bin', a.length], ['other.bin', 10]])
    expect((await vfs.getattrOpen(fh)).size).toBe(a.length)
    expect(Buffer.compare(await readAll(vfs, fh, a.length), a)).toBe(0)
    await vfs.release('/d/clip.bin', fh)
    expect((await vfs.getattr('/d/clip.bin')).size).toBe(b.length)
    expect((await vfs.readdir('/d')).map((e) => [e.name, e.attr.size])).toEqual([['clip.bin', b.length], ['other.bin', 10]])
  })

  it('R5: ...or until a program here opens the file as that version (the reader is outdated then); a longer version shows at once', async () => {
    const api = new FakeImageKit()
    const [a, b, c] = [patternBytes(3 * MiB + 5, 44), patternBytes(MiB + 3, 45), patternBytes(4 * MiB, 46)]
    api.addFile('/clip.bin', a)
    const { vfs, clock } = makeVfs(api)
    const fh = await vfs.open('/clip.bin', constants.O_RDONLY)
    await vfs.read('/clip.bin', fh, KERNEL_READ, 0)
    api.overwrite('/clip.bin', b, '2025-02-03T04:05:06.007Z')
    clock.advance(120_000)
    expect((await vfs.getattr('/clip.bin')).size).toBe(a.length)
    const viewer = await vfs.open('/clip.bin', constants.O_RDONLY)
    expect(vfs.bypassesPageCache!(viewer)).toBe(true)
    expect((await vfs.getattr('/clip.bin')).size).toBe(b.length)
    expect(Buffer.compare(await readAll(vfs, viewer, b.length), b)).toBe(0)
    await expectCode(vfs.read('/clip.bin', fh, KERNEL_READ, 2 * MiB), 'EIO')
    await vfs.release('/clip.bin', viewer)
    await vfs.release('/clip.bin', fh)
    const again = await vfs.open('/clip.bin', constants.O_RDONLY)
    api.overwrite('/clip.bin', c, '2025-02-04T04:05:06.007Z')
    clock.advance(120_000)
    expect((await vfs.getattr('/clip.bin')).size).toBe(c.length)
    await vfs.release('/clip.bin', again)
    vfs.checkInvariants()
  })

  it('after a stale read of a file stored over elsewhere, the old handle reads its version (from its own URL) and a new open sees the new one', async () => {
    const api = new FakeImageKit()
    const first = patternBytes(1000, 15)
    const f = api.addFile('/v.jpg', first)
    const { vfs, clock } = makeVfs(api)
    const fh = await vfs.open('/v.jpg', constants.O_RDONLY)
    const fresh = patternBytes(2000, 16)
    api.overwrite('/v.jpg', fresh, '2025-02-03T04:05:06.007Z')
    api.staleByUrl.set(f.url, fresh) // the old URL now serves the new bytes (another size)
    expect(Buffer.compare(await vfs.read('', fh, 4096, 0), first)).toBe(0)
    expect(api.ranges.at(-1)!.url).toContain('ik-obj-version=')
    clock.advance(1) // (the listing was expired by the stale check, not by time)
    const fh2 = await vfs.open('/v.jpg', constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', fh2, 4096, 0), fresh)).toBe(0)
    await vfs.release('', fh)
    await vfs.release('', fh2)
  })

  it('retries through the new URL when only the URL changed (same version)', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(5000, 17)
    const f = api.addFile('/t.jpg', data)
    const { vfs, fh } = await openFile(api, '/t.jpg')
    api.touch('/t.jpg', '2025-03-01T00:00:00.000Z')
    api.staleByUrl.set(f.url, patternBytes(4000, 18))
    expect(Buffer.compare(await vfs.read('', fh, 8192, 0), data)).toBe(0)
    expect(api.ranges.at(-1)!.url).toContain('updatedAt=' + Date.parse('2025-03-01T00:00:00.000Z'))
  })

  it('a handle open on a file renamed or moved elsewhere reads on from its new path once the CDN forgets the old URL', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(12 * MiB, 29)
    api.addFolder('/in')
    api.addFolder('/other')
    const f = api.addFile('/in/x.bin', data)
    const { vfs, fh } = await openFile(api, '/in/x.bin')
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), data.subarray(0, KERNEL_READ))).toBe(0)
    await api.renameFile('/in/x.bin', 'y.bin')
    await api.moveFile('/in/y.bin', '/other')
    api.forgetUrls(f.url.split('?')[0]!)
    // Past the range under way: a new range, 404 at the old URL; the file is found by its id, the same version.
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 11 * MiB), data.subarray(11 * MiB, 11 * MiB + KERNEL_READ))).toBe(0)
    expect(api.ranges.at(-1)!.url).toMatch(/\/other\/y\.bin\?/)
    expect(api.calls.getFileDetails).toBe(1)
    // Later ranges go there at once.
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 5 * MiB), data.subarray(5 * MiB, 5 * MiB + KERNEL_READ))).toBe(0)
    expect(api.calls.getFileDetails).toBe(1)
    await vfs.release('', fh)
  })

  it('so does a handle open on an older version (--versions): found among the file\'s versions', async () => {
    const api = new FakeImageKit()
    const old = patternBytes(12 * MiB, 31)
    const f = api.addFile('/x.bin', old)
    api.overwrite('/x.bin', patternBytes(100, 32), '2025-04-01T00:00:00.000Z')
    const { vfs } = makeVfs(api, { versions: true })
    const name = (await vfs.readdir('/')).map((e) => e.name).find((n) => n.startsWith('x-v'))!
    const fh = await vfs.open(`/${name}`, constants.O_RDONLY)
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 0), old.subarray(0, KERNEL_READ))).toBe(0)
    await api.renameFile('/x.bin', 'y.bin')
    api.forgetUrls(f.url.split('?')[0]!)
    expect(Buffer.compare(await vfs.read('', fh, KERNEL_READ, 11 * MiB), old.subarray(11 * MiB, 11 * MiB + KERNEL_READ))).toBe(0)
    expect(api.ranges.at(-1)!.url).toMatch(/\/y\.bin\?ik-obj-version=/)
    expect(api.calls.listFileVersions).toBe(1)
    await vfs.release('', fh)
  })

  it('maps delivery errors: forbidden → EACCES, vanished → ENOENT', async () => {
    const api = new FakeImageKit()
    api.addFile('/e1', patternBytes(10))
    api.addFile('/e2', patternBytes(10))
    const { vfs } = makeVfs(api)
    const fh1 = await vfs.open('/e1', constants.O_RDONLY)
    api.failNext.set('readRange', new ImageKitError('IK_FORBIDDEN', 'GET delivery: 401', { status: 401 }))
    await expectCode(vfs.read('', fh1, 10, 0), 'EACCES')
    const fh2 = await vfs.open('/e2', constants.O_RDONLY)
    api.removeFile('/e2') // deleted elsewhere: its details answer 404 too (a 404 for a file still there is a move, below)
    api.failNext.set('readRange', new ImageKitError('IK_NOT_FOUND', 'GET delivery: 404', { status: 404 }))
    const vanished = await vfs.read('', fh2, 10, 0).then(() => undefined, (e: unknown) => e as VfsError)
    expect(vanished?.code).toBe('ENOENT')
    // Logged as a warning, unlike a lookup miss: a listed file the URL endpoint does not have (deleted, or a wrong endpoint).
    expect(vanished?.level).toBe('warn')
    expect(vanished?.message).toMatch(/URL endpoint answers 404 for a listed file .*--endpoint/)
    expect(api.calls.getFileDetails).toBe(1) // not moved: its id is gone too...
    const ranges = api.calls.readRange
    await expectCode(vfs.read('', fh2, 10, 0), 'ENOENT') // ...so later reads ask nothing again
    expect([api.calls.readRange, api.calls.getFileDetails]).toEqual([ranges, 1])
    expect((await vfs.read('', fh1, 10, 0)).length).toBe(10) // a later read tries again
  })

  it('R6: a read of an unpublished (draft) file that the CDN refuses is EACCES, saying why', async () => {
    const api = new FakeImageKit()
    api.addFile('/draft.jpg', patternBytes(10), { isPublished: false })
    const { vfs } = makeVfs(api)
    expect((await vfs.getxattr('/draft.jpg', 'user.imagekit.is-published')).toString()).toBe('false')
    const fh = await vfs.open('/draft.jpg', constants.O_RDONLY)
    api.failNext.set('readRange', new ImageKitError('IK_NOT_FOUND', 'GET delivery: 404', { status: 404 }))
    const refused = await vfs.read('', fh, 10, 0).then(() => undefined, (e: unknown) => e as Error & { code: string })
    expect(refused?.code).toBe('EACCES')
    expect(refused?.message).toMatch(/unpublished \(draft\).*only once it is published/)
  })

  it('release aborts streams but keeps cached blocks', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(2 * MiB, 19)
    api.addFile('/c', data)
    const { vfs, fh } = await openFile(api, '/c')
    await readAll(vfs, fh, data.length)
    await vfs.release('', fh)
    expect(vfs.stats()).toMatchObject({ openHandles: 0, openReaders: 0, bufferedBytes: 0 })
    const fh2 = await vfs.open('/c', constants.O_RDONLY)
    expect(Buffer.compare(await readAll(vfs, fh2, data.length), data)).toBe(0)
    expect(api.calls.readRange).toBe(1)
    expect(vfs.stats().blockCacheHitRate).toBeGreaterThan(0)
  })

  it('respects the buffered-bytes cap with many readers at once, without deadlock', async () => {
    const api = new FakeImageKit()
    const files = Array.from({ length: 8 }, (_, i) => patternBytes(3 * MiB + i, 20 + i))
    files.forEach((d, i) => api.addFile(`/m${i}`, d))
    const { vfs } = makeVfs(api, { maxBufferedBytes: 2 * MiB, blockCacheBytes: 4 * MiB })
    const results = await Promise.all(files.map(async (d, i) => {
      const fh = await vfs.open(`/m${i}`, constants.O_RDONLY)
      const got = await readAll(vfs, fh, d.length)
      await vfs.release('', fh)
      return Buffer.compare(got, d)
    }))
    expect(results).toEqual(Array(8).fill(0))
    expect(vfs.stats().peakBufferedBytes).toBeLessThanOrEqual(2 * MiB)
    expect(vfs.stats().bufferedBytes).toBe(0)
  })
})

describe('reads of a local copy (R4, R5)', () => {
  it('a version with a local copy is read from it, each block once; once the copy fails (it went), the CDN serves the rest, byte-exact', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(3 * MiB + 9, 4)
    const f = api.addFile('/just-saved.bin', data)
    const asked: number[] = []
    const local: LocalCopies = {
      has: (fileId, versionId, size) => fileId === f.fileId && versionId === f.versionInfo.id && size === data.length,
      async readAt(_fileId, _versionId, _size, dest, position) {
        asked.push(position)
        await new Promise((r) => setImmediate(r))
        if (position >= 2 * MiB) return false // taken back by a rename meanwhile: its bytes may change
        data.copy(dest, 0, position, position + dest.length)
        return true
      },
    }
    const pool = new BlockPool(MiB)
    const reader = new FileReader(
      { fileId: f.fileId, versionId: f.versionInfo.id, size: data.length, filePath: f.filePath, url: f.url, isPrivateFile: false },
      { api, cache: new BlockCache(64 * MiB, (b) => pool.release(b)), pool, budget: new ByteBudget(8 * MiB), counters: new Counters(), maxWindowBlocks: 4, localCopies: local },
    )
    reader.prefetchStart() // the copy is at hand: no fetch at open
    // Two readers of block 0 at once, then the rest in kernel-sized reads.
    const [a, b] = await Promise.all([reader.read(0, KERNEL_READ), reader.read(KERNEL_READ, KERNEL_READ)])
    expect(Buffer.concat([a, b]).equals(data.subarray(0, 2 * KERNEL_READ))).toBe(true)
    expect(api.calls.readRange).toBe(0)
    const rest: Buffer[] = []
    for (let pos = 2 * KERNEL_READ; pos < data.length; pos += KERNEL_READ) rest.push(await reader.read(pos, KERNEL_READ))
    expect(Buffer.concat([a, b, ...rest]).equals(data)).toBe(true)
    expect(asked).toEqual([0, MiB, 2 * MiB]) // block 2 failed: not asked again, nor block 3
    expect(api.calls.readRange).toBe(1)
    expect(api.ranges[0]).toMatchObject({ start: 2 * MiB })
    reader.close()
  })

  it('R5: a reader relocated to a replaced version\'s own URL stays there when an open shows the path\'s URL again (a listing from before)', async () => {
    const api = new FakeImageKit()
    const data = patternBytes(3 * MiB, 5)
    const f = api.addFile('/pinned.bin', data)
    api.overwrite('/pinned.bin', patternBytes(3 * MiB, 6), '2025-02-03T04:05:06.007Z')
    const old = (await api.listFileVersions(f.fileId)).find((v) => v.type === 'file-version')!
    const pool = new BlockPool(MiB)
    const readers = new ReaderPool({ api, cache: new BlockCache(0, (b) => pool.release(b)), pool, budget: new ByteBudget(8 * MiB), counters: new Counters(), maxWindowBlocks: 0 })
    const target = { fileId: f.fileId, versionId: f.versionInfo.id, size: data.length, filePath: f.filePath, url: f.url, isPrivateFile: false }
    const reader = readers.acquire(target)
    reader.relocate(old, true)
    expect(readers.acquire(target)).toBe(reader) // opened again as listed before the overwrite
    expect(Buffer.compare(await reader.read(2 * MiB, KERNEL_READ), data.subarray(2 * MiB, 2 * MiB + KERNEL_READ))).toBe(0)
    expect(api.ranges.map((r) => r.url)).toEqual([`${old.url}&tr=orig-true`])
    readers.closeAll()
  })
})
