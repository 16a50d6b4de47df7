/**
 * The saves that move the original aside (W17): vim's `backupcopy=auto` and mogrify rename `f` to `f~`, create
 * `f` anew, write it and then delete `f~`. This mount remembers, for a short while, each rename of a stored file
 * within its folder (the original `S`, from `P` to `Q`) and the file it then creates at `P` (`N`), so that the
 * unlink of `Q` can make `S` take `N`'s bytes at `P` instead of deleting it with its versions (put-back.ts).
 * Any other change at `P` or `Q` through the mount forgets the pair: only that exact sequence qualifies.
 * Bounded: pairs older than the window are dropped as new ones come, and at most MAX_PAIRS are kept.
 */
import type { Clock } from '../clock.js'
import type { Destination } from './destination.js'
import type { PendingFile } from './file-node.js'
import type { FileInode } from './inode.js'

/** An unlink of the backup this long after the rename or later deletes it, as any unlink does (W8). */
export const PUT_BACK_WINDOW_MS = 60_000
const MAX_PAIRS = 64

export interface MovedAsideFile {
  /** The original, as it was when renamed (its id and version: it must be the same at the unlink). */
  fileId: string
  versionId: string
  /** Where it was (`P`, where the new file is made), and its backup name (`Q`). */
  place: Destination
  aside: Destination
  atMs: number
  /** The file this mount created at `place` after the rename, if any (the first one). */
  made?: PendingFile
}

export class MovedAside {
  readonly #clock: Clock
  /** By backup path (`Q`); each pair is also found by its place (`P`). */
  readonly #byAside = new Map<string, MovedAsideFile>()
  readonly #byPlace = new Map<string, MovedAsideFile>()
  /** Pairs whose unlink is under way (take), until it ends: a failed one is remembered again (untake). */
  readonly #taken = new Set<MovedAsideFile>()

  constructor(clock: Clock) {
    this.#clock = clock
  }

  get size(): number {
    return this.#byAside.size
  }

  /** A stored file (not being written) was renamed from `place` to `aside` in its folder. */
  renamed(node: FileInode, place: Destination, aside: Destination): void {
    this.#add({ fileId: node.fileId, versionId: node.versionId, place, aside, atMs: this.#clock.now() })
  }

  #add(pair: MovedAsideFile): void {
    this.#prune()
    if (this.#byAside.size >= MAX_PAIRS) this.#drop(this.#byAside.values().next().value!)
    this.#byAside.set(pair.aside.remotePath, pair)
    this.#byPlace.set(pair.place.remotePath, pair)
  }

  /** A new file (nothing was at its path) was created through the mount. */
  created(file: PendingFile): void {
    const pair = this.#byPlace.get(file.remotePath)
    if (pair && !pair.made) pair.made = file
  }

  /** Any other namespace change at `path` (a rename from or onto it, an unlink): its pair no longer qualifies. */
  changed(path: string): void {
    const pair = this.#byAside.get(path) ?? this.#byPlace.get(path)
    if (pair) this.#drop(pair)
    for (const taken of this.#taken) if (taken.aside.remotePath === path || taken.place.remotePath === path) this.#taken.delete(taken)
  }

  /**
   * The unlink of `aside` (counts as a change at `aside`, as changed() does): its pair, if its rename is recent
   * enough and a file was made in its place. The pair is forgotten, unless that unlink fails (untake).
   */
  take(aside: string): MovedAsideFile | undefined {
    this.#prune()
    const pair = this.#byAside.get(aside)
    this.changed(aside)
    if (!pair?.made) return undefined
    this.#taken.add(pair)
    return pair
  }

  /**
   * The unlink that took `pair` failed (the library did not answer): the pair is remembered again, for another
   * window, so that the unlink repeated puts the original back instead of deleting it with its versions; not
   * when its paths changed meanwhile.
   */
  untake(pair: MovedAsideFile): void {
    if (!this.#taken.delete(pair) || this.#byAside.has(pair.aside.remotePath) || this.#byPlace.has(pair.place.remotePath)) return
    this.#add({ ...pair, atMs: this.#clock.now() })
  }

  /** The unlink that took `pair` is over (put back, or deleted as any unlink). */
  settled(pair: MovedAsideFile): void {
    this.#taken.delete(pair)
  }

  #prune(): void {
    const oldest = this.#clock.now() - PUT_BACK_WINDOW_MS
    for (const pair of this.#byAside.values()) if (pair.atMs < oldest) this.#drop(pair)
  }

  #drop(pair: MovedAsideFile): void {
    this.#byAside.delete(pair.aside.remotePath)
    if (this.#byPlace.get(pair.place.remotePath) === pair) this.#byPlace.delete(pair.place.remotePath)
  }
}
