/**
 * A create that keeps what is at its name (`O_CREAT` without `O_TRUNC` or `O_EXCL`: `>>`, `touch`,
 * `dd conv=notrunc`, Python's `open(f, 'a')`) of a name the cached listing does not show. Another machine may
 * have stored a file there after that listing (R2): a new empty file would be uploaded over it, its bytes
 * left to an old version, where a local disk appends to it. So the library is asked for the name (one search,
 * find-stored.ts); a file found goes into the cached listing and is opened as a listed one is (W1). A listing
 * the library gave less than CONFIRM_MS ago vouches for the name as folder-presence.ts's do for folders (so
 * `touch a b c` right after `ls` asks nothing): a file stored elsewhere within that window is the race any new
 * file has.
 * Creates that replace what is there anyway (`cp`, `>`, `tar x`, rsync's temporary files: `O_TRUNC` or
 * `O_EXCL`) ask nothing (create-flags.ts).
 */
import type { Clock } from '../clock.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { DirCache } from './dir-cache.js'
import type { Destination } from './destination.js'
import { findStored } from './find-stored.js'
import { CONFIRM_MS } from './folder-presence.js'
import { fromImageKitError } from './from-imagekit-error.js'
import { fileInodeFrom, identityKeyOf, type FileInode } from './inode.js'
import type { InodeTable } from './inode-table.js'

export interface UnlistedFileDeps {
  api: ImageKitApi
  clock: Clock
  dirs: DirCache
  inodes: InodeTable
}

/**
 * The file stored at `dest` that the cached listing does not show (undefined: none), put into that listing.
 * When the library cannot be asked, the create fails (as an open that fills does, current-file.ts): a new
 * file there could be uploaded over one it was not told of.
 */
export async function unlistedFile(d: UnlistedFileDeps, dest: Destination): Promise<FileInode | undefined> {
  if (d.dirs.peek(dest.folder)?.listedWithin(d.clock.now(), CONFIRM_MS)) return undefined
  let found
  try {
    found = await findStored(d.api, dest.folder, dest.name)
  } catch (e) {
    throw fromImageKitError(e, { op: 'create (is the name stored already?)', target: dest.remotePath })
  }
  // A file whose delete is under way (unlinked while open for reading, W8) is gone here, as from every listing:
  // the library still has it until the fetch for its readers is done, and taking it would bring its bytes back.
  if (!found || d.dirs.deps.deleting?.(found.fileId) === true) return undefined
  const node = fileInodeFrom(found, d.inodes.knownIno(identityKeyOf(found)) ?? d.inodes.allocate())
  d.dirs.setChild(dest.folder, dest.localName, node)
  return node
}
