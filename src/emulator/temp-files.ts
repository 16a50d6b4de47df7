/**
 * Files for upload bodies, created ahead of need. Creating a file was the slowest step of a small upload
 * on some filesystems (ext4 without a journal scans the recently freed inodes of a block group on every
 * create: about a millisecond after many deletes), a cost a real upload server does not put on the
 * request's path. A few empty files wait in the temp folder; an upload takes one and another is created in
 * the background. The temp folder is emptied at start (store.ts), so leftovers never outlive a restart.
 * They are plain descriptors, not FileHandles, so that the upload closes its file synchronously (a close is
 * microseconds; a FileHandle's close is a thread-pool round trip on every upload's path).
 */
import { closeSync, open, renameSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { newObjectId } from './ids.js'

/** Enough for the uploads that arrive together in practice; more would only hold descriptors. */
const KEEP_READY = 4

const openFd = promisify(open)

export interface TempFile {
  path: string
  /** Open for writing, empty; whoever takes the file closes it. */
  fd: Promise<number>
}

export class TempFiles {
  readonly #ready: { path: string; fd: number }[] = []
  #filling = false
  #closed = false

  constructor(readonly dir: string, readonly keepReady = KEEP_READY) {}

  /** An empty file for one upload body, named `<prefix>-<id>` (created now if none is ready). */
  take(prefix: string): TempFile {
    const path = join(this.dir, `${prefix}-${newObjectId()}`)
    const ready = this.#ready.shift()
    void this.#fill()
    if (ready) {
      try {
        renameSync(ready.path, path) // metadata only: the name says it is in use
        return { path, fd: Promise.resolve(ready.fd) }
      } catch {
        closeQuietly(ready.fd)
      }
    }
    const fd = openFd(path, 'w')
    fd.catch(() => undefined)
    return { path, fd }
  }

  async #fill(): Promise<void> {
    if (this.#filling) return
    this.#filling = true
    try {
      while (!this.#closed && this.#ready.length < this.keepReady) {
        const path = join(this.dir, `ready-${newObjectId()}`)
        const fd = await openFd(path, 'w')
        if (this.#closed) {
          closeQuietly(fd)
          break
        }
        this.#ready.push({ path, fd })
      }
    } catch {
      // the folder is gone (emulator closing) or full: uploads create their files themselves
    } finally {
      this.#filling = false
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const { fd } of this.#ready.splice(0)) closeQuietly(fd)
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd)
  } catch {
    // closed already
  }
}
