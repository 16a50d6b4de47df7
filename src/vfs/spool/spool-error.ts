import { isDiskFull } from '../../full-disk.js'
import { VfsError } from '../errors.js'

/**
 * A failure of the spool's own disk (a write, truncate, journal record or sync) as the errno the application
 * should see: ENOSPC when that disk is full, EIO for the rest; VfsErrors pass through.
 */
export function spoolError(e: unknown, what: string): unknown {
  if (e instanceof VfsError) return e
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (code === undefined) return e
  if (isDiskFull(e)) {
    return new VfsError('ENOSPC', `${what}: the disk of the spool (--cache-dir) is full`, { cause: e, level: 'error' })
  }
  if (code === 'EFBIG') return new VfsError('EFBIG', `${what}: too large for the spool's file system`, { cause: e, level: 'error' })
  return new VfsError('EIO', `${what}: the spool (--cache-dir) failed: ${code}`, { cause: e, level: 'error' })
}
