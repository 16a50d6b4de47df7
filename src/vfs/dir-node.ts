/**
 * One folder's listing: every child's inode, keyed by local name, built from one paged
 * `listFiles({ path, type: 'all' })` (plus `type: 'file-version'` with --versions). getattr and
 * lookups of the children are answered from it without further API calls; a name that is absent from
 * a fresh listing is ENOENT from memory (file-manager probes cost nothing).
 *
 * Hidden entries (logged once at warn): a remote name that cannot be shown locally (name.ts); a file
 * and a folder with the same local name (the folder wins); two remote names decoding to the same
 * local name (the one whose encoding round-trips wins); versions colliding with anything, or whose name
 * (the file's with the version suffix) is longer than NAME_MAX.
 */
import type { FileObject, ListItem } from '../imagekit/types.js'
import {
  dirInodeFrom, fileInodeFrom, identityKey, identityKeyOf, parseTimeMs, withShownUrl, type Inode,
} from './inode.js'
import type { InodeTable } from './inode-table.js'
import { isSafeLocalName, type NameCodec } from './name.js'
import { versionName } from './versions.js'
import type { WarnOnce } from './warn-once.js'

export class DirListing {
  #inoByIdentity: Map<string, number> | undefined
  constructor(
    readonly remotePath: string,
    readonly fetchedAtMs: number,
    readonly children: ReadonlyMap<string, Inode>,
    /** Remote entries of this folder that are not shown (see above): the folder is not empty for all that. */
    readonly hidden = 0,
    /**
     * When the library last answered with these entries. fetchedAtMs is when the listing counts from for its
     * expiry, which a listing kept through an outage, or expired early, moves away from that (dir-cache.ts).
     */
    readonly listedAtMs = fetchedAtMs,
  ) {}

  /** Whether the library answered with these entries less than `ms` ago. */
  listedWithin(nowMs: number, ms: number): boolean {
    return nowMs - this.listedAtMs < ms
  }

  isFresh(nowMs: number, ttlMs: number): boolean {
    return nowMs - this.fetchedAtMs < ttlMs
  }

  /** Applies a change this mount made itself (create, rename, delete), so the kernel sees it before the next listing. */
  setChild(name: string, node: Inode | undefined): void {
    const children = this.children as Map<string, Inode>
    if (node) children.set(name, node)
    else children.delete(name)
    this.#inoByIdentity = undefined
  }

  /** Inode number a node with this identity had in this listing (built on first use, for re-listing). */
  inoOf(key: string): number | undefined {
    if (!this.#inoByIdentity) {
      this.#inoByIdentity = new Map()
      for (const node of this.children.values()) this.#inoByIdentity.set(identityKey(node), node.ino)
    }
    return this.#inoByIdentity.get(key)
  }
}

export interface ListingBuilderDeps {
  codec: NameCodec
  inodes: InodeTable
  warn: WarnOnce
  /**
   * Whether a delete of the file is under way (pending-deletes.ts): it is left out, with its versions, as
   * already gone, whatever the library still answers.
   */
  deleting?: (fileId: string) => boolean
}

/** Accepts items page by page as they arrive; `finish()` freezes the listing. */
export class ListingBuilder {
  readonly #children = new Map<string, Inode>()
  #hidden = 0
  constructor(
    readonly remotePath: string,
    readonly previous: DirListing | undefined,
    readonly deps: ListingBuilderDeps,
  ) {}

  #ino(key: string): number {
    return this.previous?.inoOf(key) ?? this.deps.inodes.knownIno(key) ?? this.deps.inodes.allocate()
  }

  #hide(remoteName: string, reason: string): void {
    this.#hidden++
    this.deps.warn.warn(`hide:${this.remotePath}:${remoteName}:${reason}`, { folder: this.remotePath, entry: { name: remoteName } }, `hiding entry: ${reason}`)
  }

  add(item: ListItem): void {
    if (item.type === 'file-version') return // `all` never returns versions; ignore if it does
    if (item.type !== 'folder' && this.deps.deleting?.(item.fileId)) return
    const local = this.deps.codec.toLocal(item.name)
    if (local === undefined) return this.#hide(item.name, 'name cannot be shown locally with this encoding')
    const existing = this.#children.get(local)
    if (existing) {
      if (existing.kind === 'dir' && item.type !== 'folder') return this.#hide(item.name, 'a folder has the same name')
      if (existing.kind === 'file' && item.type === 'folder') {
        this.#hide(local, 'a folder has the same name')
      } else if (this.deps.codec.toRemote(local) !== item.name) {
        return this.#hide(item.name, 'another remote name maps to the same local name')
      } else {
        this.#hide(local, 'another remote name maps to the same local name')
      }
    }
    const ino = this.#ino(identityKeyOf(item))
    this.#children.set(local, item.type === 'folder' ? dirInodeFrom(item, ino) : fileInodeFrom(withShownUrl(item, this.previous?.children.get(local)), ino))
  }

  /** An old version, shown as `name-vYYYY-MM-DD-HHMMSS-mmm.ext` (rclone's naming). */
  addVersion(item: FileObject): void {
    if (item.type !== 'file-version') return
    if (this.deps.deleting?.(item.fileId)) return
    const local = this.deps.codec.toLocal(item.name)
    if (local === undefined) return this.#hide(item.name, 'name cannot be shown locally with this encoding')
    const name = versionName(local, parseTimeMs(item.updatedAt))
    if (!isSafeLocalName(name)) return this.#hide(item.name, 'version name longer than 255 bytes')
    if (this.#children.has(name)) return this.#hide(name, 'version name collides with another entry')
    this.#children.set(name, fileInodeFrom(item, this.#ino(identityKeyOf(item))))
  }

  finish(nowMs: number): DirListing {
    return new DirListing(this.remotePath, nowMs, this.#children, this.#hidden)
  }
}
