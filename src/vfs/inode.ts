/**
 * Inodes: what the VFS knows about one folder or one file (or old version), built from a listing.
 * No I/O here.
 *
 * Memory (one FileInode per listed file, kept while its folder's listing is cached): 20 fields
 * (~170 B object) + fileId/versionId (~60 B, shared when equal) + filePath and url (~2×(40..120) B)
 * + the local name as the listing map key (~40 B) + the map entry (~40 B): about 450-600 B per
 * file, i.e. ~60 MB for a 100,000-file folder. Tags, AI tags, coordinates and custom metadata are
 * kept only when present; mime strings are interned.
 */
import type { AITag, FileObject, FolderObject, UploadResponse } from '../imagekit/types.js'

export const ROOT_INO = 1

export class DirInode {
  readonly kind = 'dir' as const
  constructor(
    readonly ino: number,
    /** ImageKit folderPath ("/" for the root). */
    readonly remotePath: string,
    readonly createdAtMs: number,
    readonly updatedAtMs: number,
  ) {}
}

export class FileInode {
  readonly kind = 'file' as const
  constructor(
    readonly ino: number,
    /** ImageKit filePath. */
    readonly remotePath: string,
    readonly fileId: string,
    readonly versionId: string,
    /** An old version (shown only with --versions; read-only). */
    readonly isVersion: boolean,
    readonly size: number,
    /** The unsigned `url` from the listing (carries updatedAt / ik-obj-version). */
    readonly url: string,
    readonly isPrivateFile: boolean,
    readonly createdAtMs: number,
    readonly updatedAtMs: number,
    readonly mime: string,
    readonly fileType: string,
    readonly hasAlpha: boolean,
    readonly width: number | undefined,
    readonly height: number | undefined,
    readonly tags: readonly string[] | undefined,
    readonly aiTags: readonly AITag[] | undefined,
    readonly customCoordinates: string | undefined,
    readonly customMetadata: Readonly<Record<string, unknown>> | undefined,
    /** False for a draft: the CDN does not deliver it until it is published (enterprise plans). */
    readonly isPublished = true,
  ) {}
}

export type Inode = DirInode | FileInode

/** What keeps an inode number across re-listings: the fileId (plus versionId for old versions), or the folder path. */
export function identityKey(node: Inode): string {
  if (node.kind === 'dir') return folderIdentityKey(node.remotePath)
  return node.isVersion ? `v:${node.fileId}:${node.versionId}` : fileIdentityKey(node.fileId)
}

export function identityKeyOf(item: FileObject | FolderObject): string {
  if (item.type === 'folder') return folderIdentityKey(item.folderPath)
  return item.type === 'file-version' ? `v:${item.fileId}:${item.versionInfo.id}` : fileIdentityKey(item.fileId)
}

/** The identity of a file's current version (not an old one's). */
export function fileIdentityKey(fileId: string): string {
  return `f:${fileId}`
}

export function folderIdentityKey(remotePath: string): string {
  return `d:${remotePath}`
}

const MIME_INTERN_MAX = 1000 // distinct mime strings are few; the cap only guards against odd data
const mimes = new Map<string, string>()
function intern(s: string): string {
  const hit = mimes.get(s)
  if (hit !== undefined) return hit
  if (mimes.size < MIME_INTERN_MAX) mimes.set(s, s)
  return s
}

/**
 * The item, with the URL `shown` showed when that was the same version of the same file at the same path.
 * ImageKit's URL carries the file's `updatedAt`, a cache key for the same bytes, which a details change (tags,
 * metadata: ours or another machine's) moves without a new version. A URL that changed under a program
 * between two reads made `rsync -X` print "Missing abbreviated xattr value" (it reads the URL between the
 * attributes it sets), so a version keeps the URL this mount first showed for it. A node whose URL an upload's
 * or rename's answer gave (without its `updatedAt`, listed-details.ts) takes the item's.
 */
export function withShownUrl<T extends FileObject>(item: T, shown: Inode | undefined): T {
  if (shown?.kind !== 'file' || shown.url === '' || shown.url === item.url || lacksListedDetails(shown)) return item
  const same = shown.fileId === item.fileId && shown.versionId === versionIdOf(item) && shown.remotePath === item.filePath
  return same ? { ...item, url: shown.url } : item
}

/** ISO time → epoch ms; 0 when missing or unparsable (a listing must not fail on one odd date). */
export function parseTimeMs(iso: string | undefined): number {
  if (!iso) return 0
  const t = Date.parse(iso)
  return Number.isFinite(t) ? t : 0
}

/**
 * The version a listing item or an upload answer stands for (a file's first version has its file's id).
 * Times and spool copies kept per version (spool/) are keyed by it, so every place derives it here.
 */
export function versionIdOf(item: { fileId: string; versionInfo?: { id?: string } | undefined }): string {
  const versionId = item.versionInfo?.id ?? item.fileId
  return versionId === item.fileId ? item.fileId : versionId // the same string, kept once in memory
}

export function fileInodeFrom(item: FileObject, ino: number): FileInode {
  return new FileInode(
    ino,
    item.filePath,
    item.fileId,
    versionIdOf(item),
    item.type === 'file-version',
    item.size,
    item.url,
    item.isPrivateFile === true,
    parseTimeMs(item.createdAt),
    parseTimeMs(item.updatedAt),
    intern(item.mime ?? ''),
    intern(item.fileType ?? ''),
    item.hasAlpha === true,
    ...optionalFields(item),
    item.isPublished !== false,
  )
}

type OptionalFields = [
  width: number | undefined,
  height: number | undefined,
  tags: readonly string[] | undefined,
  aiTags: readonly AITag[] | undefined,
  customCoordinates: string | undefined,
  customMetadata: Readonly<Record<string, unknown>> | undefined,
]

/** The fields a listing item and an upload response share, compacted alike (empty means absent). */
function optionalFields(src: Pick<FileObject, 'width' | 'height' | 'AITags'> & Pick<UploadResponse, 'tags' | 'customCoordinates' | 'customMetadata'>): OptionalFields {
  const hasMetadata = src.customMetadata && Object.keys(src.customMetadata).length > 0
  return [
    typeof src.width === 'number' ? src.width : undefined,
    typeof src.height === 'number' ? src.height : undefined,
    src.tags && src.tags.length > 0 ? src.tags : undefined,
    src.AITags && src.AITags.length > 0 ? src.AITags : undefined,
    src.customCoordinates ?? undefined,
    hasMetadata ? src.customMetadata : undefined,
  ]
}

/**
 * The node of a file right after its upload landed, from the upload response alone (no extra Media API
 * call, which is rate-limited): the response has no dates, mime or alpha, so the times are the upload's
 * and the rest waits for the next listing, or for one details call when an attribute that shows them is
 * asked for (listed-details.ts). Its url has no version of its own: reads pin it with `versionId`
 * (DeliveryTarget), so they never get the CDN's cached copy of an older version.
 */
export function fileInodeFromUpload(res: UploadResponse, ino: number, times: { createdAtMs: number; updatedAtMs: number }): FileInode {
  return markLacksListedDetails(new FileInode(
    ino, res.filePath, res.fileId, versionIdOf(res), false, res.size, res.url, res.isPrivateFile === true,
    times.createdAtMs, times.updatedAtMs, '', intern(res.fileType ?? ''), false,
    ...optionalFields(res),
    res.isPublished !== false,
  ))
}

/**
 * Nodes built from an answer that is not a listing (an upload's, a rename's), which lack what a listing shows
 * (listed-details.ts). A set beside them, not a field: no memory in the listed nodes.
 */
const lackingListedDetails = new WeakSet<FileInode>()

export function markLacksListedDetails(node: FileInode): FileInode {
  lackingListedDetails.add(node)
  return node
}

/** True for a node marked by markLacksListedDetails and not yet completed. */
export function lacksListedDetails(node: FileInode): boolean {
  return lackingListedDetails.has(node)
}

/** Its details were asked for once (listed-details.ts): whatever came of it, not asked again. */
export function clearLacksListedDetails(node: FileInode): void {
  lackingListedDetails.delete(node)
}

export function dirInodeFrom(item: FolderObject, ino: number): DirInode {
  return new DirInode(ino, item.folderPath, parseTimeMs(item.createdAt), parseTimeMs(item.updatedAt))
}
