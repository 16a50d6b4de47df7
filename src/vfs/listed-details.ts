/**
 * What a file's listing shows and its upload answer does not (mime, alpha, the server's dates, the url with its
 * `updatedAt`), for a file whose upload just landed (inode.ts fileInodeFromUpload) or that this mount just
 * renamed (renamed-file.ts: its url and `updatedAt` moved): fetched with one details call when an attribute
 * that shows them is asked for (xattr.ts showsListedDetails), never on a stat or a listing, since the call is
 * rate-limited. The cached listing then holds the file as the next listing would, so `getfattr -d` on a fresh
 * file shows what it shows after `ikfs refresh`. At most one call per such node: a failure (logged) leaves
 * its values until the next listing, and an answer that comes after the node left the listing (an unlink or
 * rename meanwhile) is not put back there.
 */
import type { ImageKitApi } from '../imagekit/api.js'
import type { Logger } from '../log.js'
import type { DirCache } from './dir-cache.js'
import type { Destinations } from './destination.js'
import { clearLacksListedDetails, fileInodeFrom, lacksListedDetails, type FileInode } from './inode.js'

export interface ListedDetailsDeps {
  api: ImageKitApi
  dirs: DirCache
  destinations: Destinations
  log: Logger
}

export class ListedDetails {
  readonly #inFlight = new Map<FileInode, Promise<FileInode>>()
  constructor(private readonly d: ListedDetailsDeps) {}

  /** `node` as a listing shows it: itself when it came from one, else from its details (itself if they disagree). */
  complete(localPath: string, node: FileInode): Promise<FileInode> {
    if (!lacksListedDetails(node)) return Promise.resolve(node)
    let pending = this.#inFlight.get(node)
    if (!pending) {
      pending = this.#fetch(localPath, node).finally(() => this.#inFlight.delete(node))
      this.#inFlight.set(node, pending)
    }
    return pending
  }

  async #fetch(localPath: string, node: FileInode): Promise<FileInode> {
    try {
      const details = await this.d.api.getFileDetails(node.fileId)
      // Moved, or stored again, since the upload: the next listing tells (the node is not this one's to fill).
      if (details.filePath !== node.remotePath || details.versionInfo.id !== node.versionId) return node
      const listed = fileInodeFrom(details, node.ino)
      const dest = this.d.destinations.known(localPath)
      // Only where the cached listing still holds this node: an unlink or a rename while the call was out took
      // it from there (set again, the name would be listed until the next listing), and a listing since has
      // the server's node already.
      if (this.d.dirs.peek(dest.folder)?.children.get(dest.localName) === node) this.d.dirs.setChild(dest.folder, dest.localName, listed)
      return listed
    } catch (e) {
      this.d.log.debug({ path: node.remotePath, err: e }, 'details of a file just uploaded or renamed: not fetched; its mime and dates wait for the next listing')
      return node
    } finally {
      clearLacksListedDetails(node)
    }
  }
}
