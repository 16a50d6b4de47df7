/**
 * An open of a file whose newest bytes are in the spool (opened for writing, or for reading while an
 * upload is pending). Handles of one file share its PendingFile: the spool file, open count and dirty flag.
 */
import type { PendingFile } from '../file-node.js'

export class WriteHandle {
  readonly kind = 'write' as const
  constructor(
    readonly fh: number,
    readonly file: PendingFile,
    /** Opened with write access (O_WRONLY/O_RDWR/O_TRUNC or create). */
    readonly writable: boolean,
  ) {}
}
