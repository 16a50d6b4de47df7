/**
 * Local path → inode, walking down from the root through fresh listings (each missing or expired
 * listing on the way is fetched once; see dir-cache.ts). Never asks the API about a single name.
 */
import type { DirCache } from './dir-cache.js'
import type { DirListing } from './dir-node.js'
import { VfsError } from './errors.js'
import type { DirInode, Inode } from './inode.js'
import { splitLocalPath } from './name.js'

export class Resolver {
  constructor(
    readonly root: DirInode,
    readonly dirs: DirCache,
  ) {}

  async resolve(localPath: string): Promise<Inode> {
    let node: Inode = this.root
    for (const name of splitLocalPath(localPath)) {
      if (node.kind !== 'dir') throw new VfsError('ENOTDIR', `lookup ${localPath}: not a folder on the way`)
      const listing: DirListing = await this.dirs.listing(node)
      const child = listing.children.get(name)
      if (!child) throw new VfsError('ENOENT', `lookup ${localPath}: no such entry`)
      node = child
    }
    return node
  }

  /** What the cached listings (fresh or not) show at `localPath`, without fetching; undefined when they do not tell. */
  peek(localPath: string): Inode | undefined {
    let node: Inode = this.root
    for (const name of splitLocalPath(localPath)) {
      if (node.kind !== 'dir') return undefined
      const child: Inode | undefined = this.dirs.peek(node.remotePath)?.children.get(name)
      if (!child) return undefined
      node = child
    }
    return node
  }

  async resolveDir(localPath: string): Promise<DirInode> {
    const node = await this.resolve(localPath)
    if (node.kind !== 'dir') throw new VfsError('ENOTDIR', `${localPath} is not a folder`)
    return node
  }
}
