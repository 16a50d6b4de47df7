/** Inode → Attr (permissions from options, times from the listing). */
import type { Attr } from './types.js'
import type { DirInode, FileInode } from './inode.js'

export interface AttrOptions {
  filePerm: number
  dirPerm: number
  umask: number
  uid: number
  gid: number
  /** Root folder times (ImageKit has no folder object for the root). */
  mountTimeMs: number
}

/**
 * Preferred I/O size reported to tools: cp, cat and dd size their buffers from it (coreutils io_blksize), so
 * 1 MiB makes each read(2)/write(2) one full-size FUSE request (libfuse3) and one kernel readahead window.
 */
const BLKSIZE = 1024 * 1024
const WRITE_BITS = 0o222

/**
 * `mtimeMs`: a time set through the mount on this version (spool/mtimes.ts), shown instead of updatedAt.
 * ctime is that same time, as rclone, gcsfuse and mountpoint-s3 show it: the last change ImageKit knows of
 * (a new version, a details update, a rename move updatedAt), or the time kept for a version written here. Not
 * createdAt: that never moves, so a file overwritten (elsewhere, same size) would look unchanged to backup
 * tools that compare ctime (borg, restic), and a file written here would change its ctime after its close,
 * when its upload lands (tar: "file changed as we read it"). createdAt stays the birth time (R3).
 */
export function fileAttr(node: FileInode, o: AttrOptions, mtimeMs = node.updatedAtMs): Attr {
  let perm = o.filePerm & ~o.umask & 0o7777
  if (node.isVersion) perm &= ~WRITE_BITS // old versions are read-only
  return {
    ino: node.ino,
    kind: 'file',
    perm,
    size: node.size,
    nlink: 1,
    uid: o.uid,
    gid: o.gid,
    atimeMs: mtimeMs,
    mtimeMs,
    ctimeMs: mtimeMs,
    birthtimeMs: node.createdAtMs,
    blksize: BLKSIZE,
    blocks: Math.ceil(node.size / 512),
  }
}

/**
 * `mtimeMs`: the folder's time kept by the mount (set by `rsync -a`, `tar x`, `cp -a`, or its entries changed
 * through it), shown instead of updatedAt. ctime stays updatedAt: tar compares a folder's ctime before and
 * after reading it, and `tar czf a.tgz .` creates its archive in the folder it reads (on a local disk mostly
 * before tar looks, through the mount mostly after: "file changed as we read it", exit 1).
 */
export function dirAttr(node: DirInode, o: AttrOptions, isRoot: boolean, mtimeMs?: number): Attr {
  const changed = isRoot ? o.mountTimeMs : node.updatedAtMs
  const mtime = mtimeMs ?? changed
  const birth = isRoot ? o.mountTimeMs : node.createdAtMs
  return {
    ino: node.ino,
    kind: 'dir',
    perm: o.dirPerm & ~o.umask & 0o7777,
    size: 0,
    nlink: 2,
    uid: o.uid,
    gid: o.gid,
    atimeMs: mtime,
    mtimeMs: mtime,
    ctimeMs: changed,
    birthtimeMs: birth,
    blksize: BLKSIZE,
    blocks: 0,
  }
}

/** A file whose newest bytes are in the spool: local size and mtime. */
export function pendingAttr(file: { ino: number; size: number; mtimeMs: number; createdAtMs: number }, o: AttrOptions): Attr {
  return {
    ino: file.ino,
    kind: 'file',
    perm: o.filePerm & ~o.umask & 0o7777,
    size: file.size,
    nlink: 1,
    uid: o.uid,
    gid: o.gid,
    atimeMs: file.mtimeMs,
    mtimeMs: file.mtimeMs,
    ctimeMs: file.mtimeMs,
    birthtimeMs: file.createdAtMs,
    blksize: BLKSIZE,
    blocks: Math.ceil(file.size / 512),
  }
}
