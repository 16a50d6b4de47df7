/**
 * Setting and removing the ImageKit metadata that `user.imagekit.*` shows (R10), through the Media API's
 * update-details call: tags, custom coordinates and custom metadata. Everything else there is what ImageKit
 * computed (sizes, ids, AI tags) and cannot be set.
 *
 * Refusals answer ENOTSUP, the errno `cp -a` and `tar --xattrs` pass over quietly: copying a file with
 * attributes of its own (a browser's `user.xdg.origin.url`, or another mount's `user.imagekit.file-id`) then
 * copies its bytes without complaint. A file still open for writing (as `cp -a` has it when it copies
 * attributes) has no details to update yet and refuses the same way; its upload keeps the details of the file
 * it replaces (W2). A closed file whose upload is still to come (write-back) is uploaded first, then changed.
 */
import { isImageKitError } from '../imagekit/errors.js'
import type { ImageKitApi } from '../imagekit/api.js'
import type { FileObject } from '../imagekit/types.js'
import type { DirCache } from './dir-cache.js'
import { VfsError } from './errors.js'
import { fromImageKitError } from './from-imagekit-error.js'
import { fileInodeFrom, type FileInode } from './inode.js'
import type { NameCodec } from './name.js'
import type { Resolver } from './resolver.js'
import { destinationOf, type WritePath } from './write-path.js'
import { listXattrs, XATTR_PREFIX, XDG_TAGS } from './xattr.js'

/** setxattr(2) flags. */
export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2

type Details = Parameters<ImageKitApi['updateFileDetails']>[1]

interface Editable {
  /** The details that set `value` (already checked). */
  set(value: string, node: FileInode): Details
  /** The details that clear it. */
  clear(node: FileInode): Details
}

const COORDINATES = /^\d+,\d+,\d+,\d+$/

/** Each custom metadata key of the file that the new object leaves out is removed (the API merges). */
function metadataChange(old: Readonly<Record<string, unknown>> | undefined, next: Record<string, unknown>): Record<string, unknown> {
  const change: Record<string, unknown> = { ...next }
  for (const key of Object.keys(old ?? {})) if (!(key in next)) change[key] = null
  return change
}

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
  set: (value, node) => {
    let parsed: unknown
    try {
      parsed = JSON.parse(value)
    } catch {
      parsed = undefined
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new VfsError('EINVAL', 'custom-metadata must be a JSON object', { level: 'debug' })
    }
    return { customMetadata: metadataChange(node.customMetadata, parsed as Record<string, unknown>) }
  },
  clear: (node) => ({ customMetadata: metadataChange(node.customMetadata, {}) }),
}

const EDITABLE: ReadonlyMap<string, Editable> = new Map([
  [`${XATTR_PREFIX}tags`, TAGS],
  [XDG_TAGS, TAGS],
  [`${XATTR_PREFIX}custom-coordinates`, CUSTOM_COORDINATES],
  [`${XATTR_PREFIX}custom-metadata`, CUSTOM_METADATA],
])

export interface MetadataEditorDeps {
  api: ImageKitApi
  resolver: Resolver
  dirs: DirCache
  codec: NameCodec
  writes: WritePath
}

export class MetadataEditor {
  constructor(readonly d: MetadataEditorDeps) {}

  async set(localPath: string, name: string, value: Buffer, flags: number): Promise<void> {
    const editable = this.#editable(localPath, name)
    const node = await this.#storedFile(localPath, name)
    const present = listXattrs(node).includes(name)
    if (flags & XATTR_CREATE && present) throw new VfsError('EEXIST', `setxattr ${localPath}: ${name} exists`, { level: 'debug' })
    if (flags & XATTR_REPLACE && !present) throw new VfsError('ENODATA', `setxattr ${localPath}: no ${name}`)
    await this.#update(localPath, node, editable.set(value.toString('utf8'), node))
  }

  async remove(localPath: string, name: string): Promise<void> {
    const editable = this.#editable(localPath, name)
    const node = await this.#storedFile(localPath, name)
    if (!listXattrs(node).includes(name)) throw new VfsError('ENODATA', `removexattr ${localPath}: no ${name}`)
    await this.#update(localPath, node, editable.clear(node))
  }

  #editable(localPath: string, name: string): Editable {
    const editable = EDITABLE.get(name)
    if (!editable) throw new VfsError('ENOTSUP', `${localPath}: ${name} cannot be set here (only ${[...EDITABLE.keys()].join(', ')})`, { level: 'debug' })
    return editable
  }

  async #storedFile(localPath: string, name: string): Promise<FileInode> {
    const pending = this.d.writes.pendingAtLocal(localPath)
    if (pending?.mustKeep) {
      // Closed and waiting for its upload (write-back, or a retry): it is stored now, and then changed.
      if (pending.openCount > 0) {
        throw new VfsError('ENOTSUP', `${localPath}: ${name} can be set once the file is stored (it is still being written)`, { level: 'debug' })
      }
      if (pending.state === 'empty') {
        throw new VfsError('ENOTSUP', `${localPath}: ${name} can be set once the file has content (ImageKit stores no empty file)`, { level: 'debug' })
      }
      await this.d.writes.fsync(pending)
    }
    const node = await this.d.resolver.resolve(localPath)
    if (node.kind !== 'file') throw new VfsError('ENOTSUP', `${localPath}: folders have no ${name}`, { level: 'debug' })
    if (node.isVersion) throw new VfsError('EACCES', `${localPath}: old versions are read-only`)
    return node
  }

  async #update(localPath: string, node: FileInode, details: Details): Promise<void> {
    let updated: FileObject
    try {
      updated = await this.d.api.updateFileDetails(node.fileId, details)
    } catch (e) {
      // The API's own words say what was wrong (a custom metadata field the account does not define, a % in a tag).
      if (isImageKitError(e) && e.code === 'IK_BAD_REQUEST') throw new VfsError('EINVAL', `${localPath}: ImageKit refused the change: ${e.message}`, { cause: e })
      throw fromImageKitError(e, { op: 'update details', target: node.remotePath })
    }
    const dest = destinationOf(this.d.codec, localPath)
    this.d.dirs.setChild(dest.folder, dest.localName, fileInodeFrom(updated, node.ino))
  }
}
