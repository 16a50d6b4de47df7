/**
 * `--dir-prefetch N`: when a folder is read (readdir), up to N of its subfolders that have no fresh listing
 * are listed in the background, a few at a time, and so are the next N folders beside it (after it in its
 * parent's name order: where a walk goes next). A tree walk (`find`, `du`, `cp -r` or `rsync` out of the
 * mount, a file manager counting items) then finds the next folder listed, or its listing under way, instead
 * of waiting one API round trip per folder in a row.
 *
 * A prefetched listing queues its own subfolders in turn, down to MAX_DEPTH levels below the folder read,
 * so the walk finds whole subtrees listed ahead, not only the next level.
 *
 * Bounded on every side, since each listing is a rate-limited Media API call the user did not ask for:
 * - at most `perFolder` subfolders of each folder, in name order (the order `find` and `ls -R` visit);
 * - CONCURRENCY listings at once, the most recently queued first: a depth-first walker wants the
 *   subfolders of the folder it just entered before the rest of its parent's;
 * - a queue of MAX_QUEUED folders, the oldest dropped;
 * - after a prefetch fails (429 or anything else), none for PAUSE_AFTER_FAILURE_MS.
 */
import type { Clock } from '../clock.js'
import type { Logger } from '../log.js'
import type { DirCache } from './dir-cache.js'
import type { DirListing } from './dir-node.js'
import type { DirInode, Inode } from './inode.js'
import { parentOf } from './name.js'

export const CONCURRENCY = 2
/** Levels below a folder read that its prefetch reaches. */
export const MAX_DEPTH = 2
export const MAX_QUEUED = 64
export const PAUSE_AFTER_FAILURE_MS = 60_000

interface Queued {
  dir: DirInode
  /** 1 for a subfolder of the folder read, 2 for one below that ... */
  depth: number
}

export class DirPrefetcher {
  /** A stack: the last pushed is listed first. */
  readonly #queue: Queued[] = []
  #running = 0
  #pausedUntilMs = Number.NEGATIVE_INFINITY
  #closed = false

  constructor(
    readonly dirs: DirCache,
    readonly clock: Clock,
    readonly log: Logger,
    readonly perFolder: number,
  ) {}

  /** Folder `dir` was read by readdir (its listing is `listing`): queue what a walk reads next. */
  after(dir: DirInode, listing: DirListing): void {
    if (this.#closed || this.clock.now() < this.#pausedUntilMs) return
    // Beside it first, then under it (pushed last, so listed first: a depth-first walk goes down first).
    if (dir.remotePath !== '/') {
      const parent = this.dirs.peek(parentOf(dir.remotePath)[0])
      if (parent) this.#enqueue(this.#folders(parent.children.values(), dir), 1)
    }
    this.#queueSubfolders(listing, 1)
  }

  #queueSubfolders(listing: DirListing, depth: number): void {
    if (this.#closed || depth > MAX_DEPTH || this.clock.now() < this.#pausedUntilMs) return
    this.#enqueue(this.#folders(listing.children.values(), undefined), depth)
    this.#pump()
  }

  /** The first `perFolder` folders among `nodes` (after `after`, when given) that need a listing. */
  #folders(nodes: Iterable<Inode>, after: DirInode | undefined): DirInode[] {
    const folders: DirInode[] = []
    let started = after === undefined
    for (const node of nodes) {
      if (folders.length >= this.perFolder) break
      if (!started) {
        started = node === after
        continue
      }
      if (node.kind === 'dir' && this.dirs.needsListing(node.remotePath)) folders.push(node)
    }
    return folders
  }

  /** Onto the stack, without starting anything: the caller pumps once all it queues is there. */
  #enqueue(folders: DirInode[], depth: number): void {
    // Pushed last to first, so that the first in name order is listed first.
    for (const dir of folders.reverse()) {
      const queued = this.#queue.findIndex((q) => q.dir === dir)
      if (queued >= 0) this.#queue.splice(queued, 1)
      this.#queue.push({ dir, depth })
    }
    if (this.#queue.length > MAX_QUEUED) this.#queue.splice(0, this.#queue.length - MAX_QUEUED)
  }

  /** Folders waiting (for status and tests). */
  get queued(): number {
    return this.#queue.length
  }

  get running(): number {
    return this.#running
  }

  close(): void {
    this.#closed = true
    this.#queue.length = 0
  }

  #pump(): void {
    while (!this.#closed && this.#running < CONCURRENCY && this.#queue.length > 0) {
      const { dir, depth } = this.#queue.pop() as Queued
      if (!this.dirs.needsListing(dir.remotePath)) continue
      this.#running++
      this.dirs.listing(dir).then(
        (listing) => this.#queueSubfolders(listing, depth + 1),
        (err: unknown) => {
          this.#pausedUntilMs = this.clock.now() + PAUSE_AFTER_FAILURE_MS
          this.#queue.length = 0
          this.log.debug({ folder: dir.remotePath, err }, 'prefetching a listing failed: no prefetching for a while')
        },
      ).finally(() => {
        this.#running--
        this.#pump()
      })
    }
  }
}
