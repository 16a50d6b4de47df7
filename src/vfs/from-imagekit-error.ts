/**
 * The one translation of client failures into VFS errors (STYLE §2.4). VfsErrors pass through; an
 * ImageKitError maps by code (a transfer that failed, timeouts included, is EIO); anything else is a bug and
 * becomes EIO at level error.
 */
import { isImageKitError, type ImageKitCode } from '../imagekit/errors.js'
import { isVfsError, VfsError, type VfsCode } from './errors.js'

export interface ErrorContext {
  /** The op and object, for the message (remote path or fileId; never a URL). */
  op: string
  target: string
}

function codeFor(code: ImageKitCode): VfsCode {
  switch (code) {
    case 'IK_NOT_FOUND':
      // Through an open handle the read answers EIO, as read(2) has no ENOENT (fuse/errno.ts): the log says why.
      return 'ENOENT'
    case 'IK_UNAUTHORIZED':
    case 'IK_FORBIDDEN':
      return 'EACCES'
    case 'IK_TOO_LARGE':
      return 'EFBIG'
    case 'IK_CONFLICT':
      return 'EEXIST'
    case 'IK_ABORTED':
      return 'EINTR'
    default:
      return 'EIO'
  }
}

export function fromImageKitError(e: unknown, ctx: ErrorContext): VfsError {
  if (isVfsError(e)) return e
  if (isImageKitError(e)) {
    const code = codeFor(e.code)
    return new VfsError(code, `${ctx.op} ${ctx.target}: ${e.code}`, { cause: e })
  }
  return new VfsError('EIO', `${ctx.op} ${ctx.target}: unexpected failure`, { cause: e, level: 'error' })
}

/** Why a folder job moved nothing, as the folders show it once it ended (ImageKit gives no reason). */
export type FolderJobFailure = 'source-gone' | 'target-taken'

/** A folder job that failed (or completed) having moved nothing: the errno rename(2) gives for its cause. */
export function fromFolderJobFailure(why: FolderJobFailure, cause: unknown, ctx: ErrorContext): VfsError {
  return why === 'source-gone'
    ? new VfsError('ENOENT', `${ctx.op} ${ctx.target}: the folder was moved or deleted elsewhere first; the job moved nothing`, { cause, level: 'info' })
    : new VfsError('EEXIST', `${ctx.op} ${ctx.target}: the target was made elsewhere meanwhile; the job moved nothing`, { cause, level: 'info' })
}
