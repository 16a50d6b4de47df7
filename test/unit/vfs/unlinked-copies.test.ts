/**
 * W8: the bytes of a stored file open for reading are fetched before its unlink, up to a bound: `rm` of a film a
 * player has open must not wait for the whole film (reader/unlinked-copies.ts).
 */
import { describe, expect, it } from 'vitest'
import { fileInodeFrom } from '../../../src/vfs/inode.js'
import type { LocalCopies } from '../../../src/vfs/reader/file-reader.js'
import { UnlinkedCopies } from '../../../src/vfs/reader/unlinked-copies.js'
import { FakeImageKit } from './fake-api.js'
import { memoryLogger, scratchDir } from './helpers.js'

describe('UnlinkedCopies', () => {
  it('fetches a file up to maxBytes and reads it back; a larger one is not fetched', async () => {
    const api = new FakeImageKit()
    const small = fileInodeFrom(api.addFile('/small.bin', 10), 1)
    const large = fileInodeFrom(api.addFile('/large.bin', 11), 2)
    const copies = new UnlinkedCopies(scratchDir('unlinked'), api, memoryLogger().logger, 10)
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
})
