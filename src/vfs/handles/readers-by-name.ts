/**
 * The read handles open on stored files, by the local path the kernel names each by (ReadHandle.localPath,
 * which only this index writes): the kernel keeps one page cache and one size per named file, shared by the
 * handles open there, so what R5 decides for a name (the size it shows while a handle holds a longer version,
 * the handles an open of another version outdates) concerns the handles at that name alone. A getattr asks
 * the handles of one path and a listing those of one folder, whatever else is open (a file manager making
 * thumbnails keeps thousands open); a rename of a folder visits the folders with handles open under it.
 *
 * Only absolute paths name a file: the binding names a file that has lost its name otherwise (fuse3's
 * "(unlinked while open)"), and such a handle is at no name.
 */
import { parentOf } from '../name.js'
import type { ReadHandle } from './read-handle.js'

export class ReadersByName {
  /** folder → name in it → the handles open at that name. No empty map or set is kept. */
  readonly #folders = new Map<string, Map<string, Set<ReadHandle>>>()
  #count = 0

  /** `handle` is named `localPath` from now on (undefined, or not an absolute path: by no name). */
  name(handle: ReadHandle, localPath: string | undefined): void {
    const to = localPath?.startsWith('/') ? localPath : undefined
    if (handle.localPath === to) return
    this.#drop(handle)
    handle.localPath = to
    if (to !== undefined) this.#add(handle, to)
  }

  /** The handle is released: it is at no name any more. */
  forget(handle: ReadHandle): void {
    this.name(handle, undefined)
  }

  /** The handles open at `localPath`. */
  at(localPath: string): Iterable<ReadHandle> {
    const [folder, name] = parentOf(localPath)
    return this.#folders.get(folder)?.get(name) ?? []
  }

  /** The handles open on files of folder `localPath`, by name. */
  in(localPath: string): ReadonlyMap<string, Iterable<ReadHandle>> {
    return this.#folders.get(localPath) ?? new Map()
  }

  /**
   * A rename (or unlink, `to` undefined) through the mount: the kernel's names of open files follow it at once,
   * not at their next read. The handles at `from` and under it (a folder) are at `to` and under it, or at no
   * name once it is gone.
   */
  rename(from: string, to: string | undefined): void {
    const moved: Array<[ReadHandle, string | undefined]> = []
    for (const h of this.at(from)) moved.push([h, to])
    for (const [folder, names] of this.#folders) {
      if (folder !== from && !folder.startsWith(from + '/')) continue
      const dest = to === undefined ? undefined : to + folder.slice(from.length)
      for (const [name, handles] of names) for (const h of handles) moved.push([h, dest === undefined ? undefined : `${dest}/${name}`])
    }
    for (const [h, path] of moved) this.name(h, path)
  }

  /** How many handles are at a name, and in how many folders (IkVfs.sizes). */
  get size(): number {
    return this.#count
  }

  get folders(): number {
    return this.#folders.size
  }

  /** Throws unless exactly `handles` (the read handles open) are indexed, each at its own localPath. */
  checkAgainst(handles: Iterable<ReadHandle>): void {
    let named = 0
    for (const h of handles) {
      if (h.localPath === undefined) continue
      named++
      if (![...this.at(h.localPath)].includes(h)) throw new Error(`read handle ${h.fh} is not indexed at ${h.localPath}`)
    }
    if (named !== this.#count) throw new Error(`${this.#count} read handles indexed by name, ${named} named`)
  }

  #add(handle: ReadHandle, localPath: string): void {
    const [folder, name] = parentOf(localPath)
    let names = this.#folders.get(folder)
    if (!names) this.#folders.set(folder, (names = new Map()))
    let handles = names.get(name)
    if (!handles) names.set(name, (handles = new Set()))
    handles.add(handle)
    this.#count++
  }

  #drop(handle: ReadHandle): void {
    if (handle.localPath === undefined) return
    const [folder, name] = parentOf(handle.localPath)
    const names = this.#folders.get(folder)
    const handles = names?.get(name)
    if (!handles?.delete(handle)) throw new Error(`read handle ${handle.fh} was not indexed at ${handle.localPath}`)
    this.#count--
    if (handles.size === 0) names!.delete(name)
    if (names!.size === 0) this.#folders.delete(folder)
  }
}
