/**
 * The one error type of the VFS layer: `code` is a POSIX errno name. fuse/errno.ts maps codes to numbers
 * (and must cover every code: it is typed against VFS_CODES), answering EIO where an op's syscalls do not
 * document the code. Network errnos (ETIMEDOUT, ENOTCONN, EAGAIN) are no codes here: no filesystem syscall
 * returns them, so a program given one prints nonsense ("Connection timed out" from ls).
 */
export const VFS_CODES = [
  'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EACCES', 'EPERM', 'EROFS', 'EIO', 'EINVAL',
  'ENOSYS', 'ENOTSUP', 'ENODATA', 'ERANGE', 'EFBIG', 'ENOSPC', 'ENAMETOOLONG', 'EBADF', 'EXDEV', 'EBUSY',
  'EINTR', 'ESTALE',
] as const
export type VfsCode = (typeof VFS_CODES)[number]

export type VfsLogLevel = 'debug' | 'info' | 'warn' | 'error'

export class VfsError extends Error {
  override name = 'VfsError'
  readonly code: VfsCode
  /** How loudly the adapter logs it: expected misses (ENOENT on probes) are debug. */
  readonly level: VfsLogLevel
  constructor(code: VfsCode, message: string, options: { cause?: unknown; level?: VfsLogLevel } = {}) {
    const level = options.level ?? (code === 'ENOENT' || code === 'ENODATA' ? 'debug' : 'warn')
    // Expected misses (a file manager's probe, `ls -l` asking for ACLs) happen per entry: capturing a
    // stack for each was the largest cost of answering them.
    const stackLimit = Error.stackTraceLimit
    if (level === 'debug') Error.stackTraceLimit = 0
    try {
      super(message, options.cause === undefined ? undefined : { cause: options.cause })
    } finally {
      Error.stackTraceLimit = stackLimit
    }
    this.code = code
    this.level = level
  }
}

export function isVfsError(e: unknown): e is VfsError {
  return e instanceof VfsError
}
