/**
 * File handle numbers ↔ handles. Numbers run from 1 (0 means "no handle" to fuse-native) to MAX_FH and
 * advance round-robin, so a just-released number is not handed out again at once (a late op on a
 * stale fh finds nothing instead of someone else's file).
 */
import { VfsError } from '../errors.js'

/** fuse-native reads a handle back as an int32: past this, every open of a long-running mount failed. */
export const MAX_FH = 0x7fff_ffff

export class HandleTable<H> {
  readonly #handles = new Map<number, H>()
  #next: number

  /** `first`: the first number tried (tests start near the wrap-around). */
  constructor(first = 1) {
    this.#next = first
  }

  add<T extends H>(make: (fh: number) => T): T {
    if (this.#handles.size >= MAX_FH) throw new VfsError('EIO', 'out of file handles')
    while (this.#handles.has(this.#next)) this.#advance()
    const fh = this.#next
    this.#advance()
    const handle = make(fh)
    this.#handles.set(fh, handle)
    return handle
  }

  #advance(): void {
    this.#next = this.#next >= MAX_FH ? 1 : this.#next + 1
  }

  get(fh: number): H {
    const h = this.#handles.get(fh)
    if (h === undefined) throw new VfsError('EBADF', `no open handle ${fh}`)
    return h
  }

  /** The handle, or undefined once released. */
  peek(fh: number): H | undefined {
    return this.#handles.get(fh)
  }

  remove(fh: number): H {
    const h = this.get(fh)
    this.#handles.delete(fh)
    return h
  }

  get size(): number {
    return this.#handles.size
  }

  values(): IterableIterator<H> {
    return this.#handles.values()
  }

  clear(): void {
    this.#handles.clear()
  }
}
