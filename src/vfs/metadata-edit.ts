/**
 * Setting and removing the ImageKit metadata that `user.imagekit.*` shows (R10): tags, custom coordinates and
 * custom metadata. A stored file changes through the Media API's update-details call at once; a file whose
 * upload is still to come (open for writing, as `cp -a` and `rsync -X` have it when they copy attributes, or
 * closed and waiting for write-back) keeps what was set, and it is set once the upload lands (write-path.ts).
 * Everything else there is what ImageKit computed (sizes, ids, AI tags) and cannot be set.
 *
 * Refusals answer ENOTSUP, the errno `cp -a` and `tar --xattrs` pass over quietly: copying a file with
 * attributes of its own (a browser's `user.xdg.origin.url`) then copies its bytes and the attributes that can
 * be set, without complaint.
 *
 * What ImageKit computes describes the file it was read from: a copy out of the mount (`cp -a`, `rsync -X`, `tar
 * --xattrs`) carries the source's file id, URL, size..., and brings them back when copied in again, where `rsync
 * -X` also removes those its source lacks. Setting or removing one is accepted and changes nothing (the file
 * keeps its own), as Lustre accepts its computed `lustre.lov`/`trusted.link` back from tar and rsync, so those
 * copies are quiet (rsync exited 23 and tar warned once per attribute). Privacy and draft state are settings,
 * not descriptions: set to another value than the file has, they are refused (ENOTSUP), so a copy of a private
 * file that lands public says so.
 */
import type { Clock } from '../clock.js'
import { hasImageKitCode } from '../imagekit/errors.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { FileObject } from '../imagekit/types.js'
import type { Logger } from '../log.js'
import type { DirCache } from './dir-cache.js'
import { CONFIRM_MS } from './folder-presence.js'
import { VfsError } from './errors.js'
import type { PendingFile } from './file-node.js'
import { fromImageKitError } from './from-imagekit-error.js'
import { fileInodeFrom, withShownUrl, type FileInode } from './inode.js'
import { mayHaveBeenDone } from './lost-answer.js'
import type { Resolver } from './resolver.js'
import { detailsHold, detailsUpdate, pendingFileView, sameTags, type WantedDetails } from './wanted-details.js'
import type { Destinations } from './destination.js'
import type { WritePath } from './write-path.js'
import { hasXattr, isComputedXattr, isSettingXattr, listXattrs, xattrValue, XATTR_PREFIX, XDG_TAGS } from './xattr.js'

/**
 * The node of a stored file whose details a setxattr changed (or read, to find the change made already): what
 * the details say, with the URL it showed (inode.ts withShownUrl): the change moved the `updatedAt` it carries.
 */
function editedNode(file: FileObject, node: FileInode): FileInode {
  return fileInodeFrom(withShownUrl(file, node), node.ino)
}

/** setxattr(2) flags. */
export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2

interface Editable {
  /** What setting `value` wants (checked: EINVAL when it cannot be). */
  set(value: string): WantedDetails
  /** What removing it wants. */
  clear(): WantedDetails
}

const COORDINATES = /^\d+,\d+,\d+,\d+$/

const TAGS: Editable = {
  set: (value) => {
    const tags = [...new Set(value.split(',').map((t) => t.trim()).filter((t) => t !== ''))]
    return { tags: tags.length > 0 ? tags : null }
  },
  clear: () => ({ tags: null }),
}

const CUSTOM_COORDINATES: Editable = {
  set: (value) => {
    const coordinates = value.replace(/\s+/g, '')
    if (coordinates === '') return { customCoordinates: null }
    if (!COORDINATES.test(coordinates)) throw new VfsError('EINVAL', 'custom-coordinates must be "x,y,width,height"', { level: 'debug' })
    return { customCoordinates: coordinates }
  },
  clear: () => ({ customCoordinates: null }),
}

const CUSTOM_METADATA: Editable = {
  set: (value) => {
    let parsed: unknown
    try {
      parsed = JSON.parse(value)
    } catch {
      parsed = undefined
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new VfsError('EINVAL', 'custom-metadata must be a JSON object', { level: 'debug' })
    }
    return { customMetadata: parsed as Record<string, unknown> }
  },
  clear: () => ({ customMetadata: {} }),
}

/** The tags' two names: ImageKit's and the freedesktop one (xattr.ts). */
const IMAGEKIT_TAGS = `${XATTR_PREFIX}tags`

/**
 * How soon after one tag name was set (its change done) a set or removal of the other counts as the same copy's:
 * `rsync -X`, `cp -a` and `tar --xattrs` set a file's attributes one after another, milliseconds apart. Short,
 * so that a program setting one name and another the other a moment later are rarely taken for one copy.
 */
export const SAME_COPY_MS = 1_000

const EDITABLE: ReadonlyMap<string, Editable> = new Map([
  [`${XATTR_PREFIX}tags`, TAGS],
  [XDG_TAGS, TAGS],
  [`${XATTR_PREFIX}custom-coordinates`, CUSTOM_COORDINATES],
  [`${XATTR_PREFIX}custom-metadata`, CUSTOM_METADATA],
])

export interface MetadataEditorDeps {
  api: ImageKitApi
  log: Logger
  resolver: Resolver
  dirs: DirCache
  destinations: Destinations
  writes: WritePath
  clock: Clock
}

/** The details the library gave in answer to the last change made here, and when. */
interface Answer {
  file: FileObject
  atMs: number
}

export class MetadataEditor {
  /**
   * Only the last one: `rsync -X` and `cp -a` set a file's attributes one after another (both tag names with the
   * same value), so a repeat of what the library has just answered for that file needs no second update.
   */
  #lastAnswer: Answer | undefined
  /** The last tags set through either name, for the other name's set or removal right after it (#sameCopysOtherName). */
  #lastTags: { localPath: string; name: string; tags: readonly string[]; atMs: number } | undefined

  constructor(readonly d: MetadataEditorDeps) {}

  async set(localPath: string, name: string, value: Buffer, flags: number): Promise<void> {
    if (isComputedXattr(name)) return this.#setComputed(localPath, name, value.toString('utf8'), flags)
    const wanted = this.#editable(localPath, name).set(value.toString('utf8'))
    const changed = await this.#change(localPath, name, wanted, (present) => {
      if (flags & XATTR_CREATE && present) throw new VfsError('EEXIST', `setxattr ${localPath}: ${name} exists`, { level: 'debug' })
      if (flags & XATTR_REPLACE && !present) throw new VfsError('ENODATA', `setxattr ${localPath}: no ${name}`)
      return !this.#sameCopysOtherName(localPath, name, wanted.tags ?? [])
    })
    if (changed && wanted.tags !== undefined) this.#lastTags = { localPath, name, tags: wanted.tags ?? [], atMs: this.d.clock.now() }
  }

  async remove(localPath: string, name: string): Promise<void> {
    if (isComputedXattr(name)) {
      if (!hasXattr(await this.#computedOn(localPath, name), name)) throw new VfsError('ENODATA', `removexattr ${localPath}: no ${name}`)
      this.d.log.debug({ path: localPath, name }, 'removexattr of an attribute ImageKit computes: accepted, nothing changes')
      return
    }
    const wanted = this.#editable(localPath, name).clear()
    // rsync -X removes every name its source lacks, so both tag names of a file whose source has no tags: the
    // second, gone with the first, is the same copy's and accepted (ENODATA would fail the whole rsync).
    const changed = await this.#change(localPath, name, wanted, (present) => {
      const sameCopy = this.#sameCopysOtherName(localPath, name, undefined)
      if (!present && !sameCopy) throw new VfsError('ENODATA', `removexattr ${localPath}: no ${name}`)
      return !sameCopy
    })
    if (changed && wanted.tags !== undefined) this.#lastTags = { localPath, name, tags: [], atMs: this.d.clock.now() }
  }

  /**
   * True when this set (`tags`) or removal (undefined) of one tag name comes right after the other name was set
   * on the same file, and would undo that: a copy bringing both names, which disagree because the copy was
   * tagged under one of them (R10). The copy's `user.imagekit.tags` wins: `rsync -X` sets the names in sorted
   * order (`user.imagekit.tags` first) whenever anything differs, and removes those its source lacks after, so
   * had the later name won, every run would set the tags twice, one way and back (also a file tagged under
   * `user.xdg.tags` alone lost its tags to the removal of `user.imagekit.tags`). Nothing changes then.
   */
  #sameCopysOtherName(localPath: string, name: string, tags: readonly string[] | undefined): boolean {
    const last = this.#lastTags
    if (!last || last.localPath !== localPath || last.name === name || (name !== IMAGEKIT_TAGS && name !== XDG_TAGS)) return false
    if (this.d.clock.now() - last.atMs >= SAME_COPY_MS) return false
    if (tags !== undefined && (sameTags(tags, last.tags) || last.name !== IMAGEKIT_TAGS)) return false
    this.d.log.info({ path: localPath, name, kept: last.name }, `${tags === undefined ? 'removexattr' : 'setxattr'} of ${name} right after ${last.name} was set on the file (a copy bringing both names, which disagree): ${last.name} kept, nothing changed`)
    return true
  }

  /** The attributes of a file whose upload is still to come (xattr.ts reads them like a listed file's). */
  async pendingView(localPath: string, file: PendingFile): Promise<FileInode> {
    const listed = await this.d.resolver.resolve(localPath).catch(() => undefined)
    return pendingFileView(file, listed?.kind === 'file' ? listed : undefined)
  }

  /** A computed attribute set (a copy brings its source's): accepted and ignored, unless it would change a setting. */
  async #setComputed(localPath: string, name: string, value: string, flags: number): Promise<void> {
    const node = await this.#computedOn(localPath, name)
    const current = xattrValue(node, name)
    if (flags & XATTR_CREATE && hasXattr(node, name)) throw new VfsError('EEXIST', `setxattr ${localPath}: ${name} exists`, { level: 'debug' })
    if (flags & XATTR_REPLACE && !hasXattr(node, name)) throw new VfsError('ENODATA', `setxattr ${localPath}: no ${name}`)
    if (isSettingXattr(name) && value !== current) {
      throw new VfsError('ENOTSUP', `${localPath}: ${name} is ${current ?? 'not known'} and cannot be changed here (only ${[...EDITABLE.keys()].join(', ')})`, { level: 'debug' })
    }
    this.d.log.debug({ path: localPath, name }, 'setxattr of an attribute ImageKit computes: accepted, the file keeps its own')
  }

  /** The file whose computed attribute `name` is set or removed (what getxattr reads it from). */
  async #computedOn(localPath: string, name: string): Promise<FileInode> {
    const pending = this.d.writes.pendingAtLocal(localPath)
    const node = pending?.uploadToCome ? await this.pendingView(localPath, pending) : await this.d.resolver.resolve(localPath)
    if (node.kind !== 'file') throw new VfsError('ENOTSUP', `${localPath}: folders have no ${name}`, { level: 'debug' })
    if (node.isVersion) throw new VfsError('EACCES', `${localPath}: old versions are read-only`)
    return node
  }

  #editable(localPath: string, name: string): Editable {
    const editable = EDITABLE.get(name)
    if (!editable) throw new VfsError('ENOTSUP', `${localPath}: ${name} cannot be set here (only ${[...EDITABLE.keys()].join(', ')})`, { level: 'debug' })
    return editable
  }

  /**
   * Sets `wanted` on the file at `localPath` unless `check` (told whether the file has `name` now) throws (the
   * flags, a missing name) or answers false (nothing to change: the same copy's other tag name); `check` comes
   * before any such skip. Answers whether the change was made (or the file has it already).
   */
  async #change(localPath: string, name: string, wanted: WantedDetails, check: (present: boolean) => boolean): Promise<boolean> {
    const pending = this.d.writes.pendingAtLocal(localPath)
    if (pending?.uploadToCome) {
      if (!check(listXattrs(await this.pendingView(localPath, pending)).includes(name))) return false
      if (await this.d.writes.want(pending, wanted)) return true
    }
    // A stored file (a pending one whose bytes turned out to be stored is checked again: it may have changed).
    const node = await this.d.resolver.resolve(localPath)
    if (node.kind !== 'file') throw new VfsError('ENOTSUP', `${localPath}: folders have no ${name}`, { level: 'debug' })
    if (node.isVersion) throw new VfsError('EACCES', `${localPath}: old versions are read-only`)
    if (!check(listXattrs(node).includes(name))) return false
    if (this.#answeredJustNow(node, wanted)) return true
    if (detailsHold(node, wanted) && (await this.#holdsNow(localPath, node, wanted))) return true
    await this.#update(localPath, node, wanted)
    return true
  }

  /**
   * True when the file has what is wanted already, as its details say now (the listing may be older than a
   * change made elsewhere): an update would change nothing but its `updatedAt`, so its `mtime` and the URL
   * `user.imagekit.url` shows, and `rsync -X` (which sets every attribute of a file again whenever one differs,
   * as that URL does after a change) would set them again at each run (R10).
   */
  async #holdsNow(localPath: string, node: FileInode, wanted: WantedDetails): Promise<boolean> {
    const now = await this.d.api.getFileDetails(node.fileId).catch(() => undefined)
    if (!now || now.versionInfo?.id !== node.versionId || !detailsHold(now, wanted)) return false
    const dest = this.d.destinations.known(localPath)
    this.#answered(now) // the next names of the same copy (the other tag name, coordinates) ask nothing
    this.d.dirs.setChild(dest.folder, dest.localName, editedNode(now, node))
    this.d.log.debug({ path: localPath }, 'setxattr of the value the file has: nothing to change')
    return true
  }

  /**
   * True when the library answered a change made here with `wanted` for this version of the file less than
   * CONFIRM_MS ago (every later change through the mount, an upload with the tags kept for it included, is
   * another version or another answer): as a fresh listing vouches for the names it lacks (unlisted-file.ts),
   * a change made elsewhere within those seconds is the race any change has.
   */
  #answeredJustNow(node: FileInode, wanted: WantedDetails): boolean {
    const last = this.#lastAnswer
    if (!last || last.file.fileId !== node.fileId || last.file.versionInfo?.id !== node.versionId) return false
    if (this.d.clock.now() - last.atMs >= CONFIRM_MS) return false
    return detailsHold(last.file, wanted)
  }

  async #update(localPath: string, node: FileInode, wanted: WantedDetails): Promise<void> {
    const dest = this.d.destinations.known(localPath)
    let updated: FileObject
    try {
      // Custom metadata replaces the file's: the keys to remove are the ones it has now, which a key set
      // elsewhere since the listing was read (--dir-cache-time) is one of, so they are asked for first.
      const current = wanted.customMetadata !== undefined ? (await this.d.api.getFileDetails(node.fileId)).customMetadata : node.customMetadata
      updated = await this.d.api.updateFileDetails(node.fileId, detailsUpdate(wanted, current))
    } catch (e) {
      const held = await this.#heldDespite(e, node.fileId, wanted)
      if (held) {
        this.#answered(held)
        this.d.dirs.setChild(dest.folder, dest.localName, editedNode(held, node))
        return
      }
      // The API's own words say what was wrong (a custom metadata field the account does not define, a % in a tag).
      if (hasImageKitCode(e, 'IK_BAD_REQUEST')) throw new VfsError('EINVAL', `${localPath}: ImageKit refused the change: ${e.message}`, { cause: e })
      // Deleted elsewhere after the cached listing (R2): the folder is listed afresh, so the name does not stay.
      if (hasImageKitCode(e, 'IK_NOT_FOUND')) this.d.dirs.expire(dest.folder)
      throw fromImageKitError(e, { op: 'update details', target: node.remotePath })
    }
    this.#answered(updated)
    this.d.dirs.setChild(dest.folder, dest.localName, editedNode(updated, node))
  }

  #answered(file: FileObject): void {
    this.#lastAnswer = { file, atMs: this.d.clock.now() }
  }

  /**
   * The file's details when an update failed in a way its work may have been done (every answer lost: a
   * gateway's 5xx after the change) and they show what was wanted; else undefined. A 404 is the file gone.
   */
  async #heldDespite(e: unknown, fileId: string, wanted: WantedDetails): Promise<FileObject | undefined> {
    if (!mayHaveBeenDone(e) || (hasImageKitCode(e, 'IK_NOT_FOUND'))) return undefined
    const now = await this.d.api.getFileDetails(fileId).catch(() => undefined)
    if (!now || !detailsHold(now, wanted)) return undefined
    this.d.log.info({ fileId, err: e }, 'the details were set, though the answers to setting them were errors')
    return now
  }
}
