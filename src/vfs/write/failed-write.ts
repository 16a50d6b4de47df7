/**
 * The end of a file whose write failed (W5): when its last handle goes away nothing of it is stored, and the
 * spool goes back to what the file's last good close left.
 */
import { truncate, type FileHandle } from 'node:fs/promises'
import type { Logger } from '../../log.js'
import type { PendingFile } from '../file-node.js'
import type { KeyedMutex } from '../lock.js'
import type { Streamer } from '../upload/streamer.js'
import type { Uploader } from '../upload/uploader.js'

export interface FailedWriteDeps {
  log: Logger
  streamer: Streamer
  uploader: Uploader
  /** The write path's lock per PendingFile id (content changes against uploads). */
  fileLock: KeyedMutex
  /** Forgets a file and its data file (spool-files.ts drop). */
  drop(file: PendingFile, fd?: FileHandle): Promise<void>
}

/**
 * The last handle of a file whose write failed went away: nothing of it is stored. A file closed empty
 * before (a new file's descriptor duplicated and closed, as dd and shells do) stays that empty file (W5);
 * any other is dropped from the spool, so it shows what the library holds (nothing, for a new file).
 */
export async function revertFailedWrite(d: FailedWriteDeps, file: PendingFile): Promise<void> {
  await d.fileLock.run(file.id, async () => {
    await file.inflight?.catch(() => undefined)
    if (file.openCount > 0 || !file.failedWrite) return // opened again meanwhile: that handle decides
    const keptEmpty = file.state === 'empty'
    d.log.warn(
      { path: file.localPath, at: file.failedWrite.at, code: file.failedWrite.code },
      keptEmpty ? 'closed after a failed write: not stored, and left empty as it was' : 'closed after a failed write: not stored, and dropped from the spool (the library keeps what it had)',
    )
    d.streamer.stop(file, 'a failed write')
    d.uploader.cancel(file)
    file.failedWrite = undefined
    file.dirty = false
    const fd = file.fd
    file.fd = undefined
    if (!keptEmpty) return d.drop(file, fd)
    try {
      await (fd ? fd.truncate(0) : truncate(file.dataPath, 0))
      file.size = 0
    } finally {
      await fd?.close().catch(() => undefined)
    }
  })
}
