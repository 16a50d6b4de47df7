/**
 * VFS attributes → the plain objects fuse-native packs into uint32 arrays (getStatArray/getStatfsArray).
 * Times cross as milliseconds; sizes as two uint32 halves; statfs fields as single uint32s, so counts are
 * saturated rather than left to wrap (shared/fuse-native-notes.md, "statfs fields are uint32").
 */
import type { FuseStat, FuseStatFs } from '../../native/binding-types.js'
import type { Attr, StatFs } from '../vfs/types.js'

export const S_IFREG = 0o100000
export const S_IFDIR = 0o040000
const PERMISSION_BITS = 0o7777
const UINT32_MAX = 0xffffffff

export type { FuseStat, FuseStatFs }

export function toFuseStat(attr: Attr): FuseStat {
  return {
    mode: (attr.kind === 'dir' ? S_IFDIR : S_IFREG) | (attr.perm & PERMISSION_BITS),
    uid: attr.uid,
    gid: attr.gid,
    size: attr.size,
    nlink: attr.nlink,
    ino: attr.ino,
    blksize: attr.blksize,
    blocks: attr.blocks,
    atime: attr.atimeMs,
    mtime: attr.mtimeMs,
    ctime: attr.ctimeMs,
  }
}

export function toFuseStatFs(s: StatFs): FuseStatFs {
  return {
    bsize: uint32(s.bsize),
    frsize: uint32(s.frsize),
    blocks: uint32(s.blocks),
    bfree: uint32(s.bfree),
    bavail: uint32(s.bavail),
    files: uint32(s.files),
    ffree: uint32(s.ffree),
    favail: uint32(s.favail),
    namemax: uint32(s.namemax),
  }
}

function uint32(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0
  return Math.min(Math.floor(n), UINT32_MAX)
}
