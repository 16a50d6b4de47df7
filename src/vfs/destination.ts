/**
 * Local paths to remote destinations (folder and name as stored), with the checks every create and rename applies.
 *
 * A listed entry is reached by its own remote path, not by encoding its local name again: a name stored
 * elsewhere that the encoding would not produce (`a[b].txt` lists as itself, but encodes to `a［b］.txt`) must
 * still lead back to its file (R8). Only names the listings do not hold are encoded (W11). Where two remote
 * names show as one local name, the listing keeps the one the encoding gives back (dir-node.ts), so this is
 * the one reached either way.
 */
import type { DirCache } from './dir-cache.js'
import { VfsError, type VfsCode } from './errors.js'
import type { Inode } from './inode.js'
import { EncodingError, NAME_MAX_BYTES, joinRemote, parentOf, splitLocalPath, type NameCodec } from './name.js'
import type { Resolver } from './resolver.js'

/**
 * How many folders deep ImageKit nests folders: "The nesting of folders can be at most 50 levels deep" (its docs,
 * of the upload's `folder`). A folder or file past it would be refused by the library on every try: a create,
 * `mkdir` or rename that would make one is refused before any API call (W11).
 */
export const MAX_FOLDER_DEPTH = 50

/** How many folders deep a remote folder path is (`/` → 0, `/a/b` → 2). */
export function folderDepth(remoteFolder: string): number {
  return remoteFolder.split('/').filter((s) => s !== '').length
}

/**
 * Refuses with ENAMETOOLONG ("File name too long": mkdir(2), open(2) and rename(2) say "pathname was too
 * long") a folder at `remoteFolder` with `below` levels of folders under it that would nest past MAX_FOLDER_DEPTH.
 */
export function assertFolderDepth(what: string, remoteFolder: string, below = 0): void {
  const refused = folderTooDeep(what, remoteFolder, below)
  if (refused) throw refused
}

/** assertFolderDepth's refusal, or undefined when the folder fits; `cause`: the library's own refusal, if it came first. */
export function folderTooDeep(what: string, remoteFolder: string, below: number, cause?: unknown): VfsError | undefined {
  const depth = folderDepth(remoteFolder) + below
  if (depth <= MAX_FOLDER_DEPTH) return undefined
  return new VfsError('ENAMETOOLONG', `${what}: a folder would be ${depth} folders deep; ImageKit nests folders at most ${MAX_FOLDER_DEPTH} deep`, { cause })
}

/** Where a local path goes remotely. */
export interface Destination {
  localPath: string
  localName: string
  parentLocalPath: string
  /** Remote folder and name (as listed, else encoded). */
  folder: string
  name: string
  remotePath: string
}

/**
 * local path → remote destination by the encoding alone; ENAMETOOLONG over 255 bytes (locally or as stored), `refused` (EINVAL, what
 * open(2) and mkdir(2) document for a name the filesystem cannot hold) when the name cannot be stored or would
 * list as another name (W11: a lone ‛ is stored quoted and comes back doubled, as in rclone).
 */
export function destinationOf(codec: NameCodec, localPath: string, refused: VfsCode = 'EINVAL'): Destination {
  const [parentLocalPath, localName] = checkedParts(localPath)
  return encodedIn(codec, localPath, parentLocalPath, localName, () => encodedFolder(codec, parentLocalPath, refused), refused)
}

/** Destinations that follow the listings (see above). */
export class Destinations {
  constructor(
    readonly codec: NameCodec,
    readonly resolver: Resolver,
    readonly dirs: DirCache,
  ) {}

  /** From the parent folder's listing, fetched when it is not fresh; its parent must exist (ENOENT, ENOTDIR). */
  async of(localPath: string, refused: VfsCode = 'EINVAL'): Promise<Destination> {
    const [parentLocalPath, localName] = checkedParts(localPath)
    const parent = await this.resolver.resolveDir(parentLocalPath)
    const listed = (await this.dirs.listing(parent)).children.get(localName)
    return this.#in(localPath, parentLocalPath, localName, parent.remotePath, listed, refused)
  }

  /** From the cached listings only (fresh or not), never waiting: encoded where they do not tell. */
  known(localPath: string, refused: VfsCode = 'EINVAL'): Destination {
    const [parentLocalPath, localName] = checkedParts(localPath)
    const parent = this.resolver.peek(parentLocalPath)
    if (parent?.kind !== 'dir') return destinationOf(this.codec, localPath, refused)
    const listed = this.dirs.peek(parent.remotePath)?.children.get(localName)
    return this.#in(localPath, parentLocalPath, localName, parent.remotePath, listed, refused)
  }

  /** The remote path of a local one as `known` finds it ("/" for the root). */
  knownRemotePath(localPath: string): string {
    return splitLocalPath(localPath).length === 0 ? '/' : this.known(localPath).remotePath
  }

  #in(localPath: string, parentLocalPath: string, localName: string, folder: string, listed: Inode | undefined, refused: VfsCode): Destination {
    // An old version's node stands for its file's path, not for the version's own name.
    const name = listed && !(listed.kind === 'file' && listed.isVersion) ? remoteNameOf(listed) : undefined
    if (name === undefined) return encodedIn(this.codec, localPath, parentLocalPath, localName, () => folder, refused)
    return { localPath, localName, parentLocalPath, folder, name, remotePath: joinRemote(folder, name) }
  }
}

function remoteNameOf(node: Inode): string {
  return node.remotePath.slice(node.remotePath.lastIndexOf('/') + 1)
}

function checkedParts(localPath: string): [parentLocalPath: string, localName: string] {
  const [parentLocalPath, localName] = parentOf(localPath)
  if (localName === '') throw new VfsError('EBUSY', `${localPath}: the root cannot be changed`)
  if (Buffer.byteLength(localName, 'utf8') > NAME_MAX_BYTES) {
    throw new VfsError('ENAMETOOLONG', `${localPath}: name longer than ${NAME_MAX_BYTES} bytes`)
  }
  return [parentLocalPath, localName]
}

function encodedFolder(codec: NameCodec, parentLocalPath: string, refused: VfsCode): string {
  try {
    return '/' + splitLocalPath(parentLocalPath).map((n) => codec.toRemote(n)).join('/')
  } catch (e) {
    if (e instanceof EncodingError) throw new VfsError(refused, `${parentLocalPath}: ${e.message}`)
    throw e
  }
}

function encodedIn(
  codec: NameCodec, localPath: string, parentLocalPath: string, localName: string, folderOf: () => string, refused: VfsCode,
): Destination {
  let name: string
  try {
    name = codec.toRemote(localName)
  } catch (e) {
    if (e instanceof EncodingError) throw new VfsError(refused, `${localPath}: ${e.message}`)
    throw e
  }
  // The library refuses a stored name over 255 bytes (a 400 at upload that no retry changes): refused here,
  // as a local name that long is, rather than a create that succeeds and a close that fails with EIO.
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX_BYTES) {
    throw new VfsError('ENAMETOOLONG', `${localPath}: name stored as ${Buffer.byteLength(name, 'utf8')} bytes with this encoding, over ${NAME_MAX_BYTES}`)
  }
  const listedAs = codec.toLocal(name)
  if (listedAs !== localName) {
    throw new VfsError(refused, `${localPath}: the name would be listed as ${JSON.stringify(listedAs ?? '(hidden)')}, not as itself, with this encoding`)
  }
  const folder = folderOf()
  return { localPath, localName, parentLocalPath, folder, name, remotePath: joinRemote(folder, name) }
}
