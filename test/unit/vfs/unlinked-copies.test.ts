/**
 * W8: the bytes of a stored file open for reading are fetched before its unlink, up to a bound: `rm` of a film a
 * player has open must not wait for the whole film, nor `rm` of many files readers hold fill the cache dir's
 * disk; and a full disk takes the copies before a written file's room (reader/unlinked-copies.ts).
 */
import { readdirSync, statSync } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { fileInodeFrom } from '../../../src/vfs/inode.js'
import type { LocalCopies } from '../../../src/vfs/reader/file-reader.js'
import { UnlinkedCopies } from '../../../src/vfs/reader/unlinked-copies.js'
import { FakeImageKit } from './fake-api.js'
import { expectCode, memoryLogger, scratchDir, waitFor } from './helpers.js'

describe('UnlinkedCopies', () => {
  it('fetches a file up to maxBytes and reads it back; a larger one is not fetched', async () => {
    const api = new FakeImageKit()
    const small = fileInodeFrom(api.addFile('/small.bin', 10), 1)
    const large = fileInodeFrom(api.addFile('/large.bin', 11), 2)
    const copies = new UnlinkedCopies(scratchDir('unlinked'), api, memoryLogger().logger, { maxBytes: 10 })
    expect(await copies.keep(large)).toBe(false)
    expect(api.calls.readRange).toBe(0)
    expect(copies.has(large.fileId, large.versionId, large.size)).toBe(false)
    expect(await copies.keep(small)).toBe(true)
    const back = Buffer.alloc(10)
    expect(await copies.readAt(small.fileId, small.versionId, small.size, back, 0)).toBe(true)
    expect(back).toEqual(api.fileAt('/small.bin')!.bytes)
    await copies.drop(small.fileId, small.versionId)
    expect(copies.has(small.fileId, small.versionId, small.size)).toBe(false)
  })

  it('two keeps of one version at once fetch it once: its bytes counted once, one file, closed with the copies', async () => {
    const api = new FakeImageKit()
    const node = fileInodeFrom(api.addFile('/twice.bin', 1000), 1)
    const dir = scratchDir('unlinked')
    const copies = new UnlinkedCopies(dir, api, memoryLogger().logger)
    const fds = () => readdirSync('/proc/self/fd').length
    const before = fds()
    expect(await Promise.all([copies.keep(node), copies.keep(node)])).toEqual([true, true])
    expect(copies.bytes).toBe(1000) // was 2000
    expect(api.calls.readRange).toBe(1)
    await copies.drop(node.fileId, node.versionId)
    expect(copies.bytes).toBe(0)
    expect(readdirSync(dir)).toEqual([])
    expect(fds()).toBe(before) // was before + 1: the first fetch's file left open
  })

  it('copies a version a local copy holds instead of fetching it; one that goes while it is copied is fetched', async () => {
    const api = new FakeImageKit()
    const bytes = Buffer.from(Array.from({ length: 2 * 1024 * 1024 + 3 }, (_, i) => i % 253))
    const node = fileInodeFrom(api.addFile('/saved.bin', bytes), 1)
    let reads = 0
    let goesAfter = Infinity
    const local: LocalCopies = {
      has: (fileId, versionId, size) => fileId === node.fileId && versionId === node.versionId && size === bytes.length,
      readAt: async (_f, _v, _s, dest, position) => {
        if (++reads > goesAfter) return false
        bytes.copy(dest, 0, position, position + dest.length)
        return true
      },
    }
    const copies = new UnlinkedCopies(scratchDir('unlinked'), api, memoryLogger().logger)
    expect(await copies.keep(node, local)).toBe(true)
    expect(api.calls.readRange).toBe(0)
    expect(reads).toBe(3) // in 1 MiB reads
    const back = Buffer.alloc(bytes.length)
    expect(await copies.readAt(node.fileId, node.versionId, node.size, back, 0)).toBe(true)
    expect(back.equals(bytes)).toBe(true)
    await copies.drop(node.fileId, node.versionId)
    goesAfter = reads + 1
    expect(await copies.keep(node, local)).toBe(true)
    expect(api.calls.readRange).toBeGreaterThan(0)
    back.fill(0)
    expect(await copies.readAt(node.fileId, node.versionId, node.size, back, 0)).toBe(true)
    expect(back.equals(bytes)).toBe(true)
    await copies.drop(node.fileId, node.versionId)
  })

  it('all the copies held at once stay within maxBytes and a share of the free space, also when fetched at once', async () => {
    const api = new FakeImageKit()
    const [a, b, c] = ['/a.bin', '/b.bin', '/c.bin'].map((path, i) => fileInodeFrom(api.addFile(path, 6), i + 1))
    let free = 1000
    const copies = new UnlinkedCopies(scratchDir('unlinked'), api, memoryLogger().logger, { maxBytes: 10, freeBytes: async () => free })
    expect(await copies.keep(a!)).toBe(true)
    expect(await copies.keep(b!)).toBe(false) // 12 bytes held: over maxBytes
    expect(api.calls.readRange).toBe(1)
    await copies.drop(a!.fileId, a!.versionId)
    expect(copies.bytes).toBe(0)
    // Fetched at once: only one fits.
    expect((await Promise.all([copies.keep(b!), copies.keep(c!)])).filter(Boolean)).toHaveLength(1)
    await copies.drop(b!.fileId, b!.versionId)
    await copies.drop(c!.fileId, c!.versionId)
    // A quarter of the free space (the copies' own bytes counted free): 6 bytes need 24 free.
    free = 23
    expect(await copies.keep(a!)).toBe(false)
    free = 24
    expect(await copies.keep(a!)).toBe(true)
    expect(copies.bytes).toBe(6)
    await copies.close()
    expect(copies.bytes).toBe(0)
  })

  it('giveWay (the disk full, a written file needs the room): the copies go and a fetch under way stops, its bytes freed at once', async () => {
    const api = new FakeImageKit()
    api.chunkBytes = 4
    const held = fileInodeFrom(api.addFile('/held.bin', 10), 1)
    const fetched = fileInodeFrom(api.addFile('/fetched.bin', 12), 2)
    const dir = scratchDir('unlinked')
    const copies = new UnlinkedCopies(dir, api, memoryLogger().logger)
    expect(await copies.giveWay()).toBe(false) // none: no room to make
    expect(await copies.keep(held)).toBe(true)
    let chunks = 0
    const never = new Promise<void>(() => undefined)
    api.gate = () => (chunks++ === 0 ? Promise.resolve() : never)
    const fetching = copies.keep(fetched)
    fetching.catch(() => undefined) // awaited below
    const fetchPath = join(dir, `unlinked-${fetched.fileId}-${fetched.versionId}`)
    await waitFor(() => readdirSync(dir).includes(`unlinked-${fetched.fileId}-${fetched.versionId}`) && statSync(fetchPath).size === 4)
    expect(await copies.giveWay()).toBe(true)
    expect(copies.has(held.fileId, held.versionId, held.size)).toBe(false)
    await expectCode(fetching, 'ENOSPC') // its download aborted: the CDN's next bytes (never sent) not waited for
    expect(readdirSync(dir)).toEqual([])
    expect(copies.bytes).toBe(0)
    expect(await copies.giveWay()).toBe(false)
  })

  it('giveWay stops every fetch before it frees the first one\'s bytes: one that ends meanwhile is not kept, emptied, as a copy', async () => {
    const api = new FakeImageKit()
    api.chunkBytes = 4
    const first = fileInodeFrom(api.addFile('/first.bin', 12), 1)
    const bytes = Buffer.from('second copy!')
    const second = fileInodeFrom(api.addFile('/second.bin', bytes), 2)
    const dir = scratchDir('unlinked')
    const copies = new UnlinkedCopies(dir, api, memoryLogger().logger)
    let chunks = 0
    const never = new Promise<void>(() => undefined)
    api.gate = () => (chunks++ === 0 ? Promise.resolve() : never)
    const fetchingFirst = copies.keep(first).catch((e: unknown) => e)
    await waitFor(() => readdirSync(dir).length === 1 && statSync(join(dir, readdirSync(dir)[0]!)).size === 4)
    // The second is copied from the spool, its read held until the first's bytes are being freed.
    let readAsked!: () => void
    const asked = new Promise<void>((resolve) => { readAsked = resolve })
    let readGo!: () => void
    const go = new Promise<void>((resolve) => { readGo = resolve })
    const local: LocalCopies = {
      has: (fileId) => fileId === second.fileId,
      readAt: async (_f, _v, _s, dest, position) => {
        readAsked()
        await go
        bytes.copy(dest, 0, position, position + dest.length)
        return true
      },
    }
    const keepingSecond = copies.keep(second, local).catch((e: unknown) => e)
    await asked
    // The first fetch's truncate (giveWay freeing its blocks) waits until the second copy has had its chance to end.
    const probe = await open(join(dir, 'probe'), 'w')
    const fileHandle = Object.getPrototypeOf(probe) as FileHandle
    await probe.close()
    await rm(join(dir, 'probe'))
    const truncate = fileHandle.truncate
    let truncates = 0
    const spy = vi.spyOn(fileHandle, 'truncate').mockImplementation(async function (this: FileHandle, length?: number) {
      if (truncates++ === 0) {
        readGo()
        await keepingSecond
      }
      return truncate.call(this, length)
    })
    try {
      expect(await copies.giveWay()).toBe(true)
    } finally {
      spy.mockRestore()
    }
    await fetchingFirst
    // Was kept (true): its fetch ended while giveWay freed the first's bytes, then giveWay emptied its file, kept open.
    expect(await keepingSecond).toMatchObject({ code: 'ENOSPC' })
    expect(copies.has(second.fileId, second.versionId, second.size)).toBe(false)
    expect(readdirSync(dir)).toEqual([])
    expect(copies.bytes).toBe(0)
  })

  it('close (unmount) also stops a fetch under way: it leaves no copy open nor its file in the cache dir', async () => {
    const api = new FakeImageKit()
    api.chunkBytes = 4
    const fetched = fileInodeFrom(api.addFile('/fetched.bin', 12), 1)
    const dir = scratchDir('unlinked')
    const copies = new UnlinkedCopies(dir, api, memoryLogger().logger)
    let chunks = 0
    let open!: () => void
    const gate = new Promise<void>((resolve) => { open = resolve })
    api.gate = () => (chunks++ === 0 ? Promise.resolve() : gate)
    const fetching = copies.keep(fetched).catch((e: unknown) => e)
    const fetchPath = join(dir, `unlinked-${fetched.fileId}-${fetched.versionId}`)
    await waitFor(() => readdirSync(dir).length === 1 && statSync(fetchPath).size === 4)
    await copies.close()
    open()
    await fetching
    expect(copies.has(fetched.fileId, fetched.versionId, fetched.size)).toBe(false) // was kept, its descriptor open
    expect(readdirSync(dir)).toEqual([]) // was left until the next mount
    expect(copies.bytes).toBe(0)
    const reads = api.calls.readRange
    await expectCode(copies.keep(fetched), 'EIO') // an unlink that comes after: nothing is fetched
    expect(api.calls.readRange).toBe(reads)
    expect(readdirSync(dir)).toEqual([])
  })

  it('giveWay stops a fetch that is still starting (looking at the free space, opening its file): it takes no room after', async () => {
    const api = new FakeImageKit()
    const node = fileInodeFrom(api.addFile('/starting.bin', 12), 1)
    const dir = scratchDir('unlinked')
    let asked!: () => void
    const freeAsked = new Promise<void>((resolve) => { asked = resolve })
    let answer!: (free: number) => void
    const freeBytes = (): Promise<number> => {
      asked()
      return new Promise<number>((resolve) => { answer = resolve })
    }
    const copies = new UnlinkedCopies(dir, api, memoryLogger().logger, { freeBytes })
    const keeping = copies.keep(node)
    await freeAsked
    expect(await copies.giveWay()).toBe(true)
    answer(1000)
    await expectCode(keeping, 'ENOSPC')
    expect(api.calls.readRange).toBe(0)
    expect(readdirSync(dir)).toEqual([])
    expect(copies.bytes).toBe(0)
    expect(await copies.giveWay()).toBe(false)
  })
})
