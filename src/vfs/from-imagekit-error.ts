/**
 * The one translation of client failures into VFS errors (STYLE §2.4). VfsErrors pass through; an
 * ImageKitError maps by code; anything else is a bug and becomes EIO at level error.
 */
import { isImageKitError, type ImageKitCode } from '../imagekit/errors.js'
import { isVfsError, VfsError, type VfsCode } from './errors.js'

export interface ErrorContext {
  /** The op and object, for the message (remote path or fileId; never a URL). */
  op: string
  target: string
  /** The failure happened reading through an open handle: timeouts are EIO (read(2) has no ETIMEDOUT). */
  openHandle?: boolean
}

function codeFor(code: ImageKitCode, ctx: ErrorContext): VfsCode {
  switch (code) {
    case 'IK_NOT_FOUND':
      // Even through an open handle: "No such file or directory" is what cat/cp users understand; ESTALE
      // is unknown to Node and most programs.
      return 'ENOENT'
    case 'IK_UNAUTHORIZED':
    case 'IK_FORBIDDEN':
      return 'EACCES'
    case 'IK_TOO_LARGE':
      return 'EFBIG'
    case 'IK_CONFLICT':
      return 'EEXIST'
    case 'IK_TIMEOUT':
      return ctx.openHandle ? 'EIO' : 'ETIMEDOUT'
    case 'IK_ABORTED':
      return 'EINTR'
    default:
      return 'EIO'
  }
}

export function fromImageKitError(e: unknown, ctx: ErrorContext): VfsError {
  if (isVfsError(e)) return e
  if (isImageKitError(e)) {
    const code = codeFor(e.code, ctx)
    return new VfsError(code, `${ctx.op} ${ctx.target}: ${e.code}`, { cause: e })
  }
  return new VfsError('EIO', `${ctx.op} ${ctx.target}: unexpected failure`, { cause: e, level: 'error' })
}
