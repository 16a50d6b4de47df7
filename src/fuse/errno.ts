/**
 * The only VfsCode → errno mapping. fuse-native expects negative errno numbers (Fuse.ENOENT === -2); a new
 * VfsCode without a row in FUSE_ERRNO, or a new op without a row in SYSCALL_ERRNOS, fails to compile.
 *
 * A program sees our answer as the errno of the syscall that sent the op (a lookup's as open's, mkdir's,
 * stat's...), and programs branch on, or print, what that syscall's man page promises. So each op answers only
 * the codes its syscalls document; any other failure is EIO, the one every filesystem syscall may return (the
 * kernel answers it wherever a disk fails, whether or not the page lists it), which the log explains.
 * BEYOND_MAN_PAGES names the few kept outside those lists, where Linux allows "other errors" and the code says
 * more than EIO would.
 */
import { constants as osConstants } from 'node:os'
import type { VfsCode } from '../vfs/errors.js'

const E = osConstants.errno

export const FUSE_ERRNO = {
  ENOENT: -E.ENOENT,
  EEXIST: -E.EEXIST,
  ENOTDIR: -E.ENOTDIR,
  EISDIR: -E.EISDIR,
  ENOTEMPTY: -E.ENOTEMPTY,
  EACCES: -E.EACCES,
  EPERM: -E.EPERM,
  EROFS: -E.EROFS,
  EIO: -E.EIO,
  EINVAL: -E.EINVAL,
  ENOSYS: -E.ENOSYS,
  ENOTSUP: -E.ENOTSUP,
  ENODATA: -E.ENODATA,
  ERANGE: -E.ERANGE,
  EFBIG: -E.EFBIG,
  ENOSPC: -E.ENOSPC,
  ENAMETOOLONG: -E.ENAMETOOLONG,
  EBADF: -E.EBADF,
  EXDEV: -E.EXDEV,
  EBUSY: -E.EBUSY,
  EINTR: -E.EINTR,
  ESTALE: -E.ESTALE,
} as const satisfies Record<VfsCode, number>

/** What resolving a path may fail with, in every syscall that takes one (path_resolution(7), stat(2)). */
const PATH: readonly VfsCode[] = ['ENOENT', 'ENOTDIR', 'EACCES', 'ENAMETOOLONG']
/** open(2) and creat(2); also what a truncate sent for O_TRUNC reaches. */
const OPEN: readonly VfsCode[] = [...PATH, 'EBUSY', 'EEXIST', 'EFBIG', 'EINTR', 'EINVAL', 'EISDIR', 'ENOSPC', 'ENOTSUP', 'EPERM', 'EROFS']
/** close(2), which is where flush answers; release's answer reaches nobody, but is held to the same. */
const CLOSE: readonly VfsCode[] = ['EBADF', 'EINTR', 'ENOSPC']
/**
 * The *xattr(2) pages add stat(2)'s errors; a read-only mount refuses changes with EROFS (kernel-wide). A value
 * the attribute cannot take is EINVAL, as the kernel's own attributes answer it (a malformed ACL, security label).
 */
const SET_XATTR: readonly VfsCode[] = [...PATH, 'EEXIST', 'EINVAL', 'ENODATA', 'ENOSPC', 'ENOTSUP', 'EPERM', 'ERANGE', 'EROFS']

/**
 * Kept although man 2 does not list them: a read of a file deleted elsewhere is ENOENT ("No such file or
 * directory" says what happened, "Input/output error" does not) and a refused one EACCES, as is a listing
 * refused with a revoked key (R6, R7, R13); a close or fsync over the account's upload limit is EFBIG, which names the
 * cause (W6), and one whose upload the library refuses for good otherwise (a 400) is EPERM, which says that
 * trying again as it is will not help, where EIO means it is retried (W3). read(2) and getdents(2) allow "other
 * errors, depending on the object", and NFS answers EFBIG and EDQUOT at close the same way.
 */
const BEYOND_MAN_PAGES = {
  // An open (or a truncate by path) of a name the kernel knows that went elsewhere since: the kernel repeats
  // an open or truncate answered ESTALE with fresh lookups, so the program gets what those find (ENOENT, or
  // with O_CREAT a new file); it sees ESTALE only if the name is back by then and gone again.
  open: ['ESTALE'],
  truncate: ['ESTALE'],
  read: ['ENOENT', 'EACCES'],
  readdir: ['EACCES'],
  flush: ['EFBIG', 'EPERM'],
  release: ['EFBIG', 'EPERM'],
  fsync: ['EFBIG', 'EPERM'],
} as const satisfies Record<string, readonly VfsCode[]>

/** Per op, the codes its syscalls document in man 2 (EIO is always allowed and never listed). */
export const SYSCALL_ERRNOS = {
  // A lookup is answered by getattr too, so its errors reach every path syscall: only path errors fit all.
  getattr: [...PATH, 'EBADF'],
  readdir: ['ENOENT', 'ENOTDIR', 'EBADF', 'EINVAL'], // getdents(2)
  open: OPEN,
  create: OPEN,
  read: ['EBADF', 'EINTR', 'EINVAL', 'EISDIR'],
  write: ['EBADF', 'EFBIG', 'EINTR', 'EINVAL', 'ENOSPC', 'EPERM'],
  flush: CLOSE,
  release: CLOSE,
  fsync: ['EBADF', 'EINTR', 'EINVAL', 'ENOSPC', 'EROFS'],
  truncate: [...PATH, 'EFBIG', 'EINTR', 'EINVAL', 'EISDIR', 'EPERM', 'EROFS'],
  ftruncate: ['EBADF', 'EFBIG', 'EINTR', 'EINVAL', 'EISDIR', 'EPERM', 'EROFS'],
  fallocate: ['EBADF', 'EFBIG', 'EINTR', 'EINVAL', 'ENOSPC', 'ENOSYS', 'ENOTSUP', 'EPERM'],
  copy_file_range: ['EBADF', 'EFBIG', 'EINVAL', 'EISDIR', 'ENOSPC', 'ENOTSUP', 'EPERM', 'EXDEV'],
  statfs: [...PATH, 'EINTR', 'ENOSYS'],
  unlink: [...PATH, 'EBUSY', 'EISDIR', 'EPERM', 'EROFS'],
  mkdir: [...PATH, 'EEXIST', 'EINVAL', 'ENOSPC', 'EPERM', 'EROFS'],
  rmdir: [...PATH, 'EBUSY', 'EINVAL', 'ENOTEMPTY', 'EPERM', 'EROFS'],
  rename: [...PATH, 'EBUSY', 'EEXIST', 'EINVAL', 'EISDIR', 'ENOSPC', 'ENOTEMPTY', 'EPERM', 'EROFS', 'EXDEV'],
  utimens: [...PATH, 'EBADF', 'EINVAL', 'EPERM', 'EROFS'],
  chmod: [...PATH, 'EBADF', 'EINVAL', 'ENOTSUP', 'EPERM', 'EROFS'],
  chown: [...PATH, 'EBADF', 'EINVAL', 'EPERM', 'EROFS'],
  getxattr: [...PATH, 'ENODATA', 'ENOTSUP', 'ERANGE'],
  listxattr: [...PATH, 'ENOTSUP', 'ERANGE'],
  setxattr: SET_XATTR,
  removexattr: SET_XATTR,
  symlink: [...PATH, 'EEXIST', 'ENOSPC', 'EPERM', 'EROFS'],
  link: [...PATH, 'EEXIST', 'EINVAL', 'ENOSPC', 'EPERM', 'EROFS', 'EXDEV'],
  mknod: [...PATH, 'EEXIST', 'EINVAL', 'ENOSPC', 'EPERM', 'EROFS'],
  readlink: [...PATH, 'EINVAL'],
} as const satisfies Record<string, readonly VfsCode[]>

export type FuseOp = keyof typeof SYSCALL_ERRNOS

const ALLOWED: ReadonlyMap<FuseOp, ReadonlySet<VfsCode>> = new Map(
  Object.entries(SYSCALL_ERRNOS).map(([op, codes]) => [
    op as FuseOp,
    new Set<VfsCode>([...codes, ...((BEYOND_MAN_PAGES as Partial<Record<string, readonly VfsCode[]>>)[op] ?? [])]),
  ]),
)

/** The code `op` answers for `code`: itself when `op`'s syscalls document it, otherwise EIO. */
export function answeredCode(op: FuseOp, code: VfsCode): VfsCode {
  return ALLOWED.get(op)!.has(code) ? code : 'EIO'
}

/** The negative errno `op` answers for `code` (answeredCode's number). */
export function fuseErrno(op: FuseOp, code: VfsCode): number {
  return FUSE_ERRNO[answeredCode(op, code)]
}
