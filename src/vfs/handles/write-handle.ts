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
    /** The process that opened it (thread group id); undefined when the binding does not say. */
    readonly opener?: number,
    /**
     * Opened with O_APPEND: each write goes to the end of the file as the spool has it, whatever offset the
     * kernel names. The kernel takes the offset from the size it knows, which a reader's short read can have
     * lowered (a handle on the version it opened, whose end is the old one: `tail -f` while `>>` appends).
     */
    readonly append = false,
  ) {}

  /** A read-only open of bytes still to be uploaded while a handle reads the stored version there (R5). */
  bypassesPageCache = false

  /** Opened O_RDWR: only such a descriptor can map the file shared and writable (Vfs.flush's `stillMapped`). */
  mapsWritable = false

  /** Opened with O_SYNC or O_DSYNC: each write returns once the file as written is durable in the spool (W3). */
  syncsWrites = false

  /**
   * Whether a flush by `caller` may be the handle's last close. A process that inherited the descriptor (a
   * command a shell started with its output redirected into the file) closes its copy when it exits while
   * the opener goes on writing: only the opener's closes count, and if another process closes last, the
   * release that follows its close commits the file.
   */
  closesAsOpener(caller: number | undefined): boolean {
    return !this.opener || !caller || caller === this.opener
  }
}
