/**
 * The only VfsCode → errno table. fuse-native expects negative errno numbers (Fuse.ENOENT === -2); a new
 * VfsCode without a row here fails to compile.
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
  ESTALE: -E.ESTALE,
  EXDEV: -E.EXDEV,
  EBUSY: -E.EBUSY,
  EAGAIN: -E.EAGAIN,
  ETIMEDOUT: -E.ETIMEDOUT,
  ENOTCONN: -E.ENOTCONN,
  EINTR: -E.EINTR,
} as const satisfies Record<VfsCode, number>

export function fuseErrno(code: VfsCode): number {
  return FUSE_ERRNO[code]
}
