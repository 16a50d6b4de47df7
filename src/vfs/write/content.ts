/**
 * The bytes of a file being written: writes, reads and truncates of its spool copy, and filling that copy
 * from the stored file's bytes. Every change marks the file dirty (its next close commits it) and tells the
 * streamer, which may be uploading the file while it is written (upload/streamer.ts).
 */
import { writeSync } from 'node:fs'
import { stat, type FileHandle } from 'node:fs/promises'
import type { Clock } from '../../clock.js'
import { isDiskFull } from '../../full-disk.js'
import type { ImageKitApi } from '../../imagekit/api.js'
import type { Logger } from '../../log.js'
import { VfsError } from '../errors.js'
import type { PendingFile } from '../file-node.js'
import type { FileInode } from '../inode.js'
import type { KeyedMutex } from '../lock.js'
import { fillFromRemote } from '../remote-fill.js'
import type { RecentCopies } from '../spool/recent-copies.js'
import { spoolError } from '../spool/spool-error.js'
import type { Streamer } from '../upload/streamer.js'

/**
 * Writes that end within a file's first MiB go to the spool synchronously. A write of a small file is a page
 * cache copy of tens of microseconds, while the thread pool's round trip cost several times that on every
 * write of `cp -r` (which waits for each write before the next). Farther into a file writes go through the
 * thread pool, so that a large file's writes, which may wait for the disk (dirty-page throttling), never
 * stop the daemon's other requests.
 */
const SYNC_WRITE_END = 1024 * 1024

export interface SpoolContentDeps {
  api: ImageKitApi
  log: Logger
  clock: Clock
  streamer: Streamer
  /** Kept copies of uploaded files: they give their disk space back when the spool's disk is full. */
  recent: RecentCopies
  /** The write path's lock per PendingFile id (content changes against uploads). */
  fileLock: KeyedMutex
}

export class SpoolContent {
  readonly #d: SpoolContentDeps

  constructor(deps: SpoolContentDeps) {
    this.#d = deps
  }

  async write(file: PendingFile, data: Buffer, at: number | 'end'): Promise<number> {
    const { streamer } = this.#d
    await untilSent(file)
    if (file.remoteContent) await this.fetchContent(file)
    // The kernel sends one write of a file at a time, so the end does not move before this one is placed.
    const position = at === 'end' ? file.size : at
    const appending = streamer.writing(file, position)
    const written = { bytes: 0 }
    let failure: unknown
    const writing = this.#writeSpool(file.fd!, data, position, written)
    file.writesUnderWay.add(writing)
    try {
      await writing
    } catch (e) {
      failure = e
    } finally {
      file.writesUnderWay.delete(writing)
    }
    const done = written.bytes
    if (done > 0) {
      file.size = Math.max(file.size, position + done)
      this.#touch(file)
      if (file.failedWrite && position <= file.failedWrite.at && position + done > file.failedWrite.at) file.failedWrite = undefined
    }
    if (failure !== undefined) {
      streamer.stop(file, 'a failed write')
      // Bytes that reached the spool count: a short write, whose rest the application writes again (and
      // then gets the error). Nothing written: the error, as the errno the spool's disk gave, and the file
      // is left unfit to store until that offset is written again (W14).
      if (done > 0) return done
      const error = spoolError(failure, `write ${file.localPath}`)
      // Content closed earlier and not stored yet (waiting for its write-back or a retry) shares the spool
      // copy: dropping it would lose what that close confirmed, so such a file is stored as written, as before.
      if (error instanceof VfsError && !file.unsent && (!file.failedWrite || position < file.failedWrite.at)) {
        file.failedWrite = { at: position, code: error.code }
      }
      throw error
    }
    if (appending) streamer.wrote(file)
    return done
  }

  async read(file: PendingFile, length: number, position: number): Promise<Buffer> {
    if (file.remoteContent) await this.fetchContent(file)
    if (position >= file.size || length <= 0) return Buffer.alloc(0)
    const buf = Buffer.allocUnsafe(Math.min(length, file.size - position))
    const { bytesRead } = await file.fd!.read(buf, 0, buf.length, position)
    return buf.subarray(0, bytesRead)
  }

  async truncate(file: PendingFile, size: number): Promise<void> {
    await this.#d.fileLock.run(file.id, () => this.truncateLocked(file, size))
  }

  /** fallocate's growth (W16): to `size` if the file is smaller then, never shorter. */
  async grow(file: PendingFile, size: number): Promise<void> {
    await this.#d.fileLock.run(file.id, async () => {
      if (size > file.size) await this.truncateLocked(file, size)
    })
  }

  /** truncate for a caller that holds the file's lock. */
  async truncateLocked(file: PendingFile, size: number): Promise<void> {
    // Cut to nothing (truncate -s 0 opens without O_TRUNC, then ftruncates): no stored byte is needed.
    if (size === 0 && !file.filling) file.remoteContent = undefined
    // Cut to the size it has (truncate -s SIZE, a tool that sets a file's length first, rsync --inplace at its
    // end): no byte changes, so nothing is downloaded (no byte read or written yet), no identical version is
    // uploaded at close or fsync (also of a file whose copy is still in the spool after its upload), a
    // sequential writer's streamed upload goes on, and a new file stays fit for a server-side copy (libuv's
    // copyFile truncates its new target to 0 before copy_file_range).
    if (size === file.size && !file.filling) {
      if (file.failedWrite && size <= file.failedWrite.at) file.failedWrite = undefined
      return
    }
    if (file.remoteContent) await this.fetchContent(file)
    await untilSent(file)
    if (size !== file.size) this.#d.streamer.stop(file, 'a truncate')
    await file.fd!.truncate(size).catch((e: unknown) => { throw spoolError(e, `truncate ${file.localPath}`) })
    file.size = size
    if (file.failedWrite && size <= file.failedWrite.at) file.failedWrite = undefined
    this.#touch(file)
  }

  /** The remote bytes of `node` into the file's spool copy (remote-fill.ts). */
  async fill(file: PendingFile, node: FileInode): Promise<void> {
    const target = `fill ${node.remotePath}`
    await fillFromRemote(this.#d.api, this.#d.log, node, (chunk, position) =>
      this.#writeSpool(file.fd!, chunk, position).catch((e: unknown) => { throw spoolError(e, `${target}: writing the spool`) }))
    const { size } = await stat(file.dataPath)
    if (size !== node.size) throw new VfsError('EIO', `${target}: got ${size} of ${node.size} bytes`)
    file.size = size
    file.dataSynced = false
  }

  /** The open file's content is a server-side copy: its remote bytes go into the spool first (once). */
  async fetchContent(file: PendingFile): Promise<void> {
    const node = file.remoteContent
    if (!node) return
    file.filling ??= this.fill(file, node).then(
      () => {
        file.remoteContent = undefined
        file.filling = undefined
      },
      (e: unknown) => {
        file.filling = undefined
        throw e
      },
    )
    await file.filling
  }

  /**
   * Writes all of `data` at `position` into a spool file; when the disk is full, the kept copies of uploaded
   * files (recent-copies.ts) make room once before the failure counts. `written` tells how much landed.
   */
  async #writeSpool(fd: FileHandle, data: Uint8Array, position: number, written = { bytes: 0 }): Promise<void> {
    for (let gaveWay = false; written.bytes < data.length;) {
      try {
        const [offset, length, at] = [written.bytes, data.length - written.bytes, position + written.bytes]
        written.bytes += position + data.length <= SYNC_WRITE_END
          ? writeSync(fd.fd, data, offset, length, at)
          : (await fd.write(data, offset, length, at)).bytesWritten
      } catch (e) {
        if (gaveWay || !isDiskFull(e) || !(await this.#d.recent.giveWay())) throw e
        gaveWay = true
      }
    }
  }

  #touch(file: PendingFile): void {
    file.changes++
    file.dirty = true
    file.dataSynced = false
    file.mtimeMs = this.#d.clock.now()
    file.storedVersionId = undefined
    file.storedUpload = undefined
    file.readForUpload = undefined
  }
}

/** Resolves once the writes into the file's spool copy that have begun are done (or failed). */
export async function writesDone(file: PendingFile): Promise<void> {
  if (file.writesUnderWay.size > 0) await Promise.allSettled([...file.writesUnderWay])
}

/**
 * Waits while an upload attempt reads the file's spool bytes (PendingFile.sent): an upload at a close or fsync
 * stores what that call left, and a change through a handle still open (a child's inherited descriptor writes on
 * after the shell's close) comes after, instead of into the middle of the bytes being sent.
 */
async function untilSent(file: PendingFile): Promise<void> {
  while (file.sent) await file.sent
}
