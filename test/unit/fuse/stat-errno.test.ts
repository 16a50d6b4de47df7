import { constants as osConstants } from 'node:os'
import { describe, expect, it } from 'vitest'
import { FUSE_ERRNO } from '../../../src/fuse/errno.js'
import { S_IFDIR, S_IFREG, toFuseStat, toFuseStatFs } from '../../../src/fuse/stat.js'
import { VFS_CODES } from '../../../src/vfs/errors.js'
import { makeAttr } from './fake-vfs.js'

describe('errno table', () => {
  it('maps every VfsCode to the negative errno of the same name', () => {
    for (const code of VFS_CODES) {
      expect(FUSE_ERRNO[code], code).toBe(-(osConstants.errno as Record<string, number>)[code]!)
      expect(FUSE_ERRNO[code]).toBeLessThan(0)
    }
    expect(FUSE_ERRNO.ENOENT).toBe(-2)
    expect(FUSE_ERRNO.ENODATA).toBe(-61)
  })
})

describe('toFuseStat', () => {
  it('adds the file type to the permission bits and passes times as ms', () => {
    expect(toFuseStat(makeAttr({ kind: 'file', perm: 0o640 })).mode).toBe(S_IFREG | 0o640)
    const dir = toFuseStat(makeAttr({ kind: 'dir', perm: 0o755, ino: 99, size: 4096 }))
    expect(dir).toMatchObject({ mode: S_IFDIR | 0o755, ino: 99, size: 4096, atime: 1000, mtime: 2000, ctime: 3000, uid: 1000 })
  })

  it('keeps only permission bits from perm', () => {
    expect(toFuseStat(makeAttr({ perm: 0o170644 })).mode).toBe(S_IFREG | 0o644)
  })
})

describe('toFuseStatFs', () => {
  it('passes counts that fit and saturates ones that would wrap uint32', () => {
    const s = toFuseStatFs({ bsize: 2 ** 20, frsize: 2 ** 20, blocks: 2 ** 30, bfree: 2 ** 33, bavail: -1, files: 5, ffree: 4, favail: 4, namemax: 255 })
    expect(s).toEqual({ bsize: 2 ** 20, frsize: 2 ** 20, blocks: 2 ** 30, bfree: 0xffffffff, bavail: 0, files: 5, ffree: 4, favail: 4, namemax: 255 })
  })
})
