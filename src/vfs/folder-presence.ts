/**
 * Whether a folder still exists in the library before this mount creates a name in it or renames one into
 * it (W7). ImageKit's upload, create-folder and move make missing folders, so a file or folder created in (or
 * moved into) a folder deleted elsewhere after the cached listing (R2) would silently bring that folder back;
 * a local disk answers ENOENT there.
 *
 * A folder counts as there when its parent's listing showed it, or this mount made or confirmed it, less than
 * CONFIRM_MS ago; otherwise one API call (the parent's folders of that name) asks, and its answer holds for
 * CONFIRM_MS, so a `cp -r` or `tar x` pays at most one call per folder per CONFIRM_MS. Only an answer that the
 * folder is not there refuses: when the API cannot say (an outage), the create goes on into the spool. An
 * upload asks too (isGone), only to say in the log that it brings back a folder deleted while its file was open.
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { ImageKitApi, RequestOptions } from '../imagekit/api.js'
import type { Logger } from '../log.js'
import type { DirCache } from './dir-cache.js'
import { VfsError } from './errors.js'
import { folderExists } from './folder-exists.js'
import { parentOf } from './name.js'

/** How long a sighting of a folder vouches for it: the window in which a create here can still revive it. */
export const CONFIRM_MS = 5_000
/** Folders remembered as confirmed; beyond that the least recent are asked about again. */
const MAX_CONFIRMED = 10_000

export interface FolderPresenceDeps {
  api: ImageKitApi
  clock: Clock
  log: Logger
  dirs: DirCache
}

export class FolderPresence {
  readonly #d: FolderPresenceDeps
  /** Remote folder path → when it was last known to exist (ms). */
  readonly #confirmedAt = new LRUCache<string, number>({ max: MAX_CONFIRMED })

  constructor(deps: FolderPresenceDeps) {
    this.#d = deps
  }

  /** This mount made the folder, or found it there. */
  confirm(remoteFolder: string): void {
    this.#confirmedAt.set(remoteFolder, this.#d.clock.now())
  }

  /**
   * Throws ENOENT when `remoteFolder` (whose local name in its parent is `localName`) is gone from the
   * library, after dropping it from the cached listings, so that it is no longer shown either.
   */
  async assertExists(remoteFolder: string, localName: string, what: string): Promise<void> {
    if (!(await this.isGone(remoteFolder, localName))) return
    const [parent] = parentOf(remoteFolder)
    this.#d.dirs.setChild(parent, localName, undefined)
    this.#d.dirs.forget(remoteFolder)
    throw new VfsError('ENOENT', `${what}: the folder ${remoteFolder} was deleted from the library (elsewhere)`, { level: 'info' })
  }

  /** Whether the library says `remoteFolder` is not there: false when it was seen lately, or when the API cannot say. */
  async isGone(remoteFolder: string, localName: string, options?: RequestOptions): Promise<boolean> {
    if (remoteFolder === '/' || this.#recentlySeen(remoteFolder, localName)) return false
    let found: boolean
    try {
      found = await folderExists(this.#d.api, remoteFolder, options)
    } catch (e) {
      this.#d.log.debug({ folder: remoteFolder, err: e }, 'could not ask whether the folder still exists; going on as if it does')
      return false
    }
    if (found) {
      this.confirm(remoteFolder)
      return false
    }
    this.#confirmedAt.delete(remoteFolder)
    return true
  }

  #recentlySeen(remoteFolder: string, localName: string): boolean {
    const now = this.#d.clock.now()
    const confirmed = this.#confirmedAt.get(remoteFolder)
    if (confirmed !== undefined && now - confirmed < CONFIRM_MS) return true
    const parentListing = this.#d.dirs.peek(parentOf(remoteFolder)[0])
    if (!parentListing?.listedWithin(now, CONFIRM_MS)) return false
    return parentListing.children.get(localName)?.remotePath === remoteFolder
  }
}
