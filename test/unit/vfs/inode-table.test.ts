import { describe, expect, it } from 'vitest'
import { DirInode } from '../../../src/vfs/inode.js'
import { InodeTable, REMEMBERED_INOS_MAX } from '../../../src/vfs/inode-table.js'

describe('InodeTable', () => {
  it('costs no memory for the numbers it may remember until it remembers them (a mount starts with an empty table)', () => {
    // A bound of a million was allocated up front (lru-cache preallocates its arrays for `max`): some 15 MiB of
    // heap that every full collection of a daemon copying files in then marked, and over half a second at start.
    const before = process.memoryUsage().heapUsed
    const tables = [new InodeTable(), new InodeTable(), new InodeTable()]
    const grown = process.memoryUsage().heapUsed - before
    expect(tables).toHaveLength(3)
    expect(grown).toBeLessThan(4 * 1024 * 1024)
  })

  it('remembers dropped nodes\' numbers up to its bound, the least recently seen forgotten first', () => {
    expect(REMEMBERED_INOS_MAX).toBe(1_000_000)
    const inodes = new InodeTable(3)
    const node = (name: string) => new DirInode(inodes.allocate(), `/${name}`, 0, 0)
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(node)
    for (const n of [a!, b!, c!]) inodes.remember(n)
    expect(inodes.knownIno('d:/a')).toBe(a!.ino) // seen: now the most recent
    inodes.remember(d!) // past the bound: b, the least recently seen, goes
    expect(inodes.knownIno('d:/b')).toBeUndefined()
    expect([a!, c!, d!].map((n) => inodes.knownIno(`d:/${n.remotePath.slice(1)}`))).toEqual([a!.ino, c!.ino, d!.ino])
  })
})
