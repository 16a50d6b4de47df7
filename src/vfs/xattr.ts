/**
 * Extended attributes under `user.imagekit.*`, answered from the cached listing (no API call; on a file just
 * uploaded or renamed, the names its answer lacks take one details call: listed-details.ts).
 * Folders have none. Values:
 *   tags                comma-separated (as rclone's `tags` metadata)
 *   ai-tags             one JSON array of {name, confidence, source} (all sources together; filter with jq)
 *   custom-coordinates  "x,y,width,height"
 *   custom-metadata     JSON object
 *   file-type, mime, file-id, version-id, url (the unsigned listing URL), size, width, height,
 *   has-alpha / is-private-file / is-published ("true"/"false"), btime (ISO 8601 of createdAt)
 * Any other name (e.g. `security.capability`, asked before every write) is ENODATA.
 * tags, custom-coordinates and custom-metadata can also be set (metadata-edit.ts); the tags are also
 * `user.xdg.tags`.
 */
import { VfsError } from './errors.js'
import { lacksListedDetails, type FileInode, type Inode } from './inode.js'

export const XATTR_PREFIX = 'user.imagekit.'

type Getter = (n: FileInode) => string | undefined

const ATTRS: readonly (readonly [string, Getter])[] = [
  ['tags', (n) => n.tags?.join(',')],
  ['ai-tags', (n) => (n.aiTags ? JSON.stringify(n.aiTags) : undefined)],
  ['custom-coordinates', (n) => n.customCoordinates],
  ['custom-metadata', (n) => (n.customMetadata ? JSON.stringify(n.customMetadata) : undefined)],
  ['file-type', (n) => n.fileType || undefined],
  ['has-alpha', (n) => (n.fileType ? String(n.hasAlpha) : undefined)], // not known before an upload (wanted-details.ts) nor from its answer
  ['height', (n) => (n.height === undefined ? undefined : String(n.height))],
  ['width', (n) => (n.width === undefined ? undefined : String(n.width))],
  ['is-private-file', (n) => String(n.isPrivateFile)],
  ['is-published', (n) => String(n.isPublished)],
  ['btime', (n) => (n.createdAtMs ? new Date(n.createdAtMs).toISOString() : undefined)],
  ['size', (n) => String(n.size)],
  ['mime', (n) => n.mime || undefined],
  ['file-id', (n) => n.fileId || undefined],
  ['version-id', (n) => n.versionId || undefined],
  ['url', (n) => n.url || undefined],
]
/**
 * The tags also under the freedesktop name that KDE's Dolphin (and Baloo) read and write for file tags, so
 * tagging a file in the file manager tags it in ImageKit, and `cp -a` out of the mount carries the tags along.
 */
export const XDG_TAGS = 'user.xdg.tags'
const NAMED: readonly (readonly [string, Getter])[] = [
  ...ATTRS.map(([k, get]) => [XATTR_PREFIX + k, get] as const),
  [XDG_TAGS, (n) => n.tags?.join(',')],
]
const BY_NAME = new Map(NAMED)

/** Names that can be set (metadata-edit.ts); every other known name is computed by ImageKit. */
const EDITABLE_NAMES: ReadonlySet<string> = new Set(['tags', 'custom-coordinates', 'custom-metadata'].map((k) => XATTR_PREFIX + k).concat(XDG_TAGS))
/** Computed names that state a setting of the file (its privacy, its draft state), not a description of it. */
const SETTING_NAMES: ReadonlySet<string> = new Set(['is-private-file', 'is-published'].map((k) => XATTR_PREFIX + k))

/** True for a known name that ImageKit computes (file id, URL, size, dimensions, AI tags ...), which cannot be set. */
export function isComputedXattr(name: string): boolean {
  return BY_NAME.has(name) && !EDITABLE_NAMES.has(name)
}

/** True for a computed name that states a setting of the file rather than describing it (see isComputedXattr). */
export function isSettingXattr(name: string): boolean {
  return SETTING_NAMES.has(name)
}

/** The value of `name` on this file, or undefined when it has none. */
export function xattrValue(node: FileInode, name: string): string | undefined {
  return BY_NAME.get(name)?.(node)
}

/**
 * Names whose values a file's upload answer does not give (no mime, alpha or dates; a url without its
 * `updatedAt`, as after a rename): asked for on a file just uploaded or renamed, they are read from its
 * details first (listed-details.ts).
 */
const LISTED_DETAIL_NAMES: ReadonlySet<string> = new Set(['mime', 'has-alpha', 'btime', 'url'].map((k) => XATTR_PREFIX + k))
const MIME = XATTR_PREFIX + 'mime'

/** True when `name`'s value on a file just uploaded takes its details (see LISTED_DETAIL_NAMES). */
export function showsListedDetails(name: string): boolean {
  return LISTED_DETAIL_NAMES.has(name)
}

/** True when `name` is present on this file; on a file just uploaded also its mime, which every listed file has. */
export function hasXattr(node: FileInode, name: string): boolean {
  return xattrValue(node, name) !== undefined || (name === MIME && lacksListedDetails(node))
}

/** Names present on this node (hasXattr). */
export function listXattrs(node: Inode): string[] {
  if (node.kind !== 'file') return []
  return NAMED.filter(([name]) => hasXattr(node, name)).map(([name]) => name)
}

/** True when `name` can exist at all: callers answer ENODATA for the rest without resolving the path. */
export function isKnownXattr(name: string): boolean {
  return BY_NAME.has(name)
}

/** The one namespace that has attributes here (a binding may refuse the rest without asking the VFS). */
export const XATTR_NAMESPACE = 'user.'

/**
 * Only the `user.` namespace exists here. Names in other namespaces (`security.selinux`,
 * `system.posix_acl_access`, `security.capability`, `trusted.*`) get ENOTSUP, the errno for "this
 * namespace is not supported": GNU `ls -l` then remembers the filesystem lacks SELinux labels and ACLs and
 * stops asking for every entry (with ENODATA it asked twice per entry, two FUSE round trips each time).
 */
export function isSupportedXattrNamespace(name: string): boolean {
  return name.startsWith(XATTR_NAMESPACE)
}

export function getXattr(node: Inode, name: string): Buffer {
  const value = node.kind === 'file' ? xattrValue(node, name) : undefined
  if (value === undefined) throw new VfsError('ENODATA', `no attribute ${name}`)
  return Buffer.from(value, 'utf8')
}
