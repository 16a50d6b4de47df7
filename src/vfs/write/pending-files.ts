/**
 * The overlay: the files being written (PendingFile), one per remote path, shown over the listings until
 * their upload landed and their last handle closed. A file whose rename a crash interrupted is also shown at
 * the later places of that rename until the library says which one it is (write/interrupted-moves.ts): the
 * one whose folder the listings show is where its upload goes.
 */
import type { PendingFile } from '../file-node.js'
import { parentOf } from '../name.js'
import type { UploadStatus } from '../types.js'

/** A file as shown in a folder: under its remote name there. */
export interface ShownFile {
  name: string
  file: PendingFile
}

export class PendingFiles {
  readonly #byRemotePath = new Map<string, PendingFile>()
  /** Remote path → the file also shown there (see above). */
  readonly #alsoAt = new Map<string, PendingFile>()

  at(remotePath: string): PendingFile | undefined {
    return this.#byRemotePath.get(remotePath) ?? this.#alsoShownAt(remotePath)
  }

  #alsoShownAt(remotePath: string): PendingFile | undefined {
    const file = this.#alsoAt.get(remotePath)
    return file && this.holds(file) ? file : undefined
  }

  /** Shows `file` at `remotePath` too, until it is removed or shownOnlyAtItsPath. */
  showAlsoAt(file: PendingFile, remotePath: string): void {
    if (remotePath !== file.remotePath) this.#alsoAt.set(remotePath, file)
  }

  shownOnlyAtItsPath(file: PendingFile): void {
    for (const [path, f] of this.#alsoAt) if (f === file) this.#alsoAt.delete(path)
  }

  /** Files shown, at their own paths and at others (see above). */
  get size(): number {
    return this.#byRemotePath.size + this.#alsoAt.size
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
    this.shownOnlyAtItsPath(file)
  }

  all(): IterableIterator<PendingFile> {
    return this.#byRemotePath.values()
  }

  in(folder: string): ShownFile[] {
    const shown = [...this.#byRemotePath.values()].filter((f) => f.folder === folder).map((file) => ({ name: file.name, file }))
    for (const path of this.#alsoAt.keys()) {
      const [at, name] = parentOf(path)
      const file = at === folder && !this.#byRemotePath.has(path) ? this.#alsoShownAt(path) : undefined
      if (file) shown.push({ name, file })
    }
    return shown
  }

  hasUnder(folder: string): boolean {
    const prefix = folder === '/' ? '/' : folder + '/'
    const inside = (path: string): boolean => path.startsWith(prefix)
    for (const f of this.#byRemotePath.values()) if (inside(f.remotePath)) return true
    for (const path of this.#alsoAt.keys()) if (inside(path) && this.#alsoShownAt(path)) return true
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
