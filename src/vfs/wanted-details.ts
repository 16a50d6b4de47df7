/**
 * The metadata a user asked for with setxattr (R10): tags, custom coordinates and custom metadata, as the
 * state wanted rather than as an API call. A stored file gets it through update-details at once; a file whose
 * upload is still to come (open for writing, or waiting for write-back) keeps it with its spool record, and it
 * is set right after the upload lands (write-path.ts): `cp -a` and `rsync -X` into the mount keep their tags.
 */
import type { ImageKitApi } from '../imagekit/api.js'
import type { FileObject } from '../imagekit/types.js'
import { FileInode } from './inode.js'

export interface WantedDetails {
  /** null: none. */
  tags?: string[] | null
  customCoordinates?: string | null
  /** The whole object wanted (replaces the file's; `{}` removes every key). */
  customMetadata?: Record<string, unknown>
}

export type DetailsUpdate = Parameters<ImageKitApi['updateFileDetails']>[1]

/** A later setxattr of one attribute keeps what earlier ones set on the others. */
export function mergeWanted(earlier: WantedDetails | undefined, later: WantedDetails): WantedDetails {
  return { ...earlier, ...later }
}

/** The update-details body for `wanted`: custom metadata keys the file has and `wanted` leaves out become null (the API merges). */
export function detailsUpdate(wanted: WantedDetails, current: Readonly<Record<string, unknown>> | null | undefined): DetailsUpdate {
  const update: DetailsUpdate = {}
  if (wanted.tags !== undefined) update.tags = wanted.tags
  if (wanted.customCoordinates !== undefined) update.customCoordinates = wanted.customCoordinates
  if (wanted.customMetadata !== undefined) {
    const change: Record<string, unknown> = { ...wanted.customMetadata }
    for (const key of Object.keys(current ?? {})) if (!(key in wanted.customMetadata)) change[key] = null
    update.customMetadata = change
  }
  return update
}

/** Whether a file's details are what `wanted` asks for (no tags is null or []; no coordinates null or ''). */
export function detailsHold(
  file: { readonly tags?: readonly string[] | null; readonly customCoordinates?: string | null; readonly customMetadata?: Readonly<Record<string, unknown>> },
  wanted: WantedDetails,
): boolean {
  if (wanted.tags !== undefined && !sameTags(file.tags ?? [], wanted.tags ?? [])) return false
  if (wanted.customCoordinates !== undefined && (file.customCoordinates || null) !== (wanted.customCoordinates || null)) return false
  if (wanted.customMetadata !== undefined && !sameMetadata(file.customMetadata ?? {}, wanted.customMetadata)) return false
  return true
}

function sameMetadata(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => k in b && JSON.stringify(a[k]) === JSON.stringify(b[k]))
}

/** What a file waiting for its upload shows as attributes (xattr.ts). */
export interface PendingView {
  ino: number
  remotePath: string
  size: number
  mtimeMs: number
  createdAtMs: number
  /** The stored file its upload replaces (a new version keeps its id, privacy, tags and metadata). */
  base: { fileId: string; isPrivateFile: boolean; customCoordinates?: string } | undefined
  wanted: WantedDetails | undefined
}

/**
 * The attributes of a file whose upload is still to come: what its upload keeps of the file it replaces
 * (`listed`, when the listing still has that file), with what was set on it since. What ImageKit computes
 * from the new bytes (type, dimensions, version) is not known before the upload, and not shown.
 */
export function pendingFileView(file: PendingView, listed: FileInode | undefined): FileInode {
  const kept = listed && file.base && listed.fileId === file.base.fileId ? listed : undefined
  const w = file.wanted ?? {}
  const metadata = w.customMetadata !== undefined ? w.customMetadata : kept?.customMetadata
  return new FileInode(
    file.ino, file.remotePath, file.base?.fileId ?? '', '', false, file.size, kept?.url ?? '',
    file.base?.isPrivateFile ?? false, file.createdAtMs, file.mtimeMs, '', '', false, undefined, undefined,
    w.tags !== undefined ? (w.tags ?? undefined) : kept?.tags,
    kept?.aiTags,
    w.customCoordinates !== undefined ? (w.customCoordinates ?? undefined) : file.base?.customCoordinates,
    metadata && Object.keys(metadata).length > 0 ? metadata : undefined,
  )
}

/**
 * What a file renamed over another carries to it (W9): the tags, custom coordinates and custom metadata it has
 * of its own. An editor's temporary file has none (or only the `upload_tags` every new file gets), so the
 * file it replaces keeps its own; a file given them (`cp -a`, `rsync -X`, `setfattr`) brings them along.
 */
export function carriedDetails(source: FileInode, uploadTags: readonly string[]): WantedDetails | undefined {
  const carried: WantedDetails = {}
  if (source.tags && !sameTags(source.tags, uploadTags)) carried.tags = [...source.tags]
  if (source.customCoordinates) carried.customCoordinates = source.customCoordinates
  if (source.customMetadata && Object.keys(source.customMetadata).length > 0) carried.customMetadata = { ...source.customMetadata }
  return Object.keys(carried).length > 0 ? carried : undefined
}

export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(b)
  return a.length === set.size && a.every((t) => set.has(t))
}
