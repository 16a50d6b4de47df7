/**
 * The overlay: the files being written (PendingFile), one per remote path, shown over the listings until
 * their upload landed and their last handle closed.
 */
import type { PendingFile } from '../file-node.js'
import type { UploadStatus } from '../types.js'

export class PendingFiles {
  readonly #byRemotePath = new Map<string, PendingFile>()

  at(remotePath: string): PendingFile | undefined {
    return this.#byRemotePath.get(remotePath)
  }

  get isEmpty(): boolean {
    return this.#byRemotePath.size === 0
  }

  /** Still its path's pending file (not dropped, retired or replaced while its caller waited). */
  holds(file: PendingFile): boolean {
    return this.#byRemotePath.get(file.remotePath) === file
  }

  /** Shows `file` at its (current) remote path. */
  add(file: PendingFile): void {
    this.#byRemotePath.set(file.remotePath, file)
  }

  /** Stops showing `file`; another file at its path is left alone. */
  remove(file: PendingFile): void {
    if (this.holds(file)) this.#byRemotePath.delete(file.remotePath)
  }

  all(): IterableIterator<PendingFile> {
    return this.#byRemotePath.values()
  }

  in(folder: string): PendingFile[] {
    return [...this.#byRemotePath.values()].filter((f) => f.folder === folder)
  }

  hasUnder(folder: string): boolean {
    const prefix = folder === '/' ? '/' : folder + '/'
    for (const f of this.#byRemotePath.values()) if (f.folder === folder || f.folder.startsWith(prefix)) return true
    return false
  }

  under(folder: string): PendingFile[] {
    const prefix = folder + '/'
    return [...this.#byRemotePath.values()].filter((f) => f.folder === folder || f.folder.startsWith(prefix))
  }

  /** What `ikfs status` lists: files with an upload to come, or that cannot have one. */
  uploads(): UploadStatus[] {
    return [...this.#byRemotePath.values()]
      .filter((f) => f.beingWritten || f.unsent || f.inflight || f.state === 'empty' || f.state === 'rejected')
      .map((f) => f.status())
  }

  withUncommittedWrites(): string[] {
    return [...this.#byRemotePath.values()].filter((f) => f.beingWritten && f.dirty).map((f) => f.localPath)
  }

  beingWritten(): string[] {
    return [...this.#byRemotePath.values()].filter((f) => f.beingWritten).map((f) => f.localPath)
  }
}
