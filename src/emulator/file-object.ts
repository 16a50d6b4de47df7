/** Records → the exact wire shapes of src/imagekit/types.ts (§2.1 file, §2.2 folder, §2.3 upload answer). */
import type { FileMetadata, FileObject, FolderObject, UploadResponse } from '../imagekit/types.js'
import { createHash } from 'node:crypto'
import { NO_EMBEDDED_FACTS, toEmbeddedMetadata, type EmbeddedFacts } from './embedded-metadata.js'
import { baseName, encodeFilePath } from './names.js'
import type { UrlEncoding } from './options.js'
import type { FileRecord, FolderRecord, MediaFacts, VersionRecord } from './records.js'

export const THUMBNAIL_TRANSFORMATION = 'n-ik_ml_thumbnail'

/** Builds `url`/`thumbnail` fields from the URL endpoint, or from `--public-url-base` when set. */
export class UrlBuilder {
  readonly base: string
  constructor(readonly urlEndpoint: string, publicUrlBase: string | undefined, readonly encoding: UrlEncoding = 'uri') {
    this.base = publicUrlBase ?? urlEndpoint
  }

  /** `<base>/<encoded path>?updatedAt=<ms>`; older versions `?ik-obj-version=<token>&updatedAt=<ms>` (§2.1). */
  fileUrl(file: FileRecord, version: VersionRecord): string {
    const plain = this.base + encodeFilePath(file.filePath, this.encoding)
    return version === file.current
      ? `${plain}?updatedAt=${version.updatedAt}`
      : `${plain}?ik-obj-version=${version.token}&updatedAt=${version.updatedAt}`
  }

  /** The upload answer's `url` carries no query (§2.3). */
  plainUrl(filePath: string): string {
    return this.base + encodeFilePath(filePath, this.encoding)
  }

  /** Upload answers use the path form of the thumbnail (§2.3). */
  pathThumbnailUrl(filePath: string): string {
    return `${this.base}/tr:${THUMBNAIL_TRANSFORMATION}${encodeFilePath(filePath, this.encoding)}`
  }
}

export function toFileObject(file: FileRecord, version: VersionRecord, urls: UrlBuilder): FileObject {
  const isCurrent = version === file.current
  const url = urls.fileUrl(file, version)
  const out: FileObject = {
    type: isCurrent ? 'file' : 'file-version',
    fileId: file.fileId,
    name: baseName(file.filePath),
    filePath: file.filePath,
    tags: version.tags ? [...version.tags] : null,
    AITags: version.AITags ? version.AITags.map((t) => ({ ...t })) : null,
    versionInfo: { id: version.id, name: `Version ${version.number}` },
    isPrivateFile: version.isPrivateFile,
    isPublished: version.isPublished,
    customCoordinates: version.customCoordinates,
    url,
    thumbnail: `${url}&tr=${THUMBNAIL_TRANSFORMATION}`,
    fileType: version.fileType,
    mime: version.mime,
    size: version.size,
    hasAlpha: version.hasAlpha,
    customMetadata: { ...version.customMetadata },
    createdAt: new Date(isCurrent ? file.createdAt : version.createdAt).toISOString(),
    updatedAt: new Date(version.updatedAt).toISOString(),
  }
  if (version.width !== undefined) out.width = version.width
  if (version.height !== undefined) out.height = version.height
  Object.assign(out, videoFields(version))
  if (version.description !== undefined) out.description = version.description
  return out
}

/** `duration`, `bitRate`, `videoCodec`, `audioCodec`: those a video or audio version has (video-info.ts), else none. */
export function videoFields(v: MediaFacts): Pick<FileMetadata, 'duration' | 'bitRate' | 'videoCodec' | 'audioCodec'> {
  const out: Pick<FileMetadata, 'duration' | 'bitRate' | 'videoCodec' | 'audioCodec'> = {}
  if (v.duration !== undefined) out.duration = v.duration
  if (v.bitRate !== undefined) out.bitRate = v.bitRate
  if (v.videoCodec !== undefined) out.videoCodec = v.videoCodec
  if (v.audioCodec !== undefined) out.audioCodec = v.audioCodec
  return out
}

export function toFolderObject(folder: FolderRecord): FolderObject {
  return {
    type: 'folder',
    folderId: folder.folderId,
    name: baseName(folder.folderPath),
    folderPath: folder.folderPath,
    createdAt: new Date(folder.createdAt).toISOString(),
    updatedAt: new Date(folder.updatedAt).toISOString(),
    customMetadata: {},
  }
}

export const RESPONSE_FIELDS = [
  'tags', 'customCoordinates', 'isPrivateFile', 'embeddedMetadata', 'isPublished', 'customMetadata', 'metadata', 'selectedFieldsSchema',
] as const
export type ResponseField = (typeof RESPONSE_FIELDS)[number]

/** `embedded`: what the uploaded bytes hold (embedded-metadata.ts), for `metadata` and `embeddedMetadata`. */
export function toUploadResponse(
  file: FileRecord, urls: UrlBuilder, fields: ReadonlySet<string>, embedded: EmbeddedFacts = NO_EMBEDDED_FACTS,
): UploadResponse {
  const v = file.current
  const out: UploadResponse = {
    fileId: file.fileId,
    name: baseName(file.filePath),
    size: v.size,
    versionInfo: { id: v.id, name: `Version ${v.number}` },
    filePath: file.filePath,
    url: urls.plainUrl(file.filePath),
    fileType: v.fileType,
    thumbnailUrl: urls.pathThumbnailUrl(file.filePath),
    AITags: v.AITags,
  }
  if (v.height !== undefined) out.height = v.height
  if (v.width !== undefined) out.width = v.width
  Object.assign(out, videoFields(v)) // §2.3: "Video adds bitRate, duration, audioCodec, videoCodec"
  if (v.description !== undefined) out.description = v.description // not a responseFields value: there when set (SDK types)
  if (fields.has('tags')) out.tags = v.tags
  if (fields.has('customCoordinates')) out.customCoordinates = v.customCoordinates
  if (fields.has('isPrivateFile')) out.isPrivateFile = v.isPrivateFile
  if (fields.has('isPublished')) out.isPublished = v.isPublished
  if (fields.has('customMetadata')) out.customMetadata = { ...v.customMetadata }
  if (fields.has('embeddedMetadata')) out.embeddedMetadata = toEmbeddedMetadata(embedded)
  if (fields.has('metadata')) out.metadata = toMetadata(v, embedded)
  return out
}

/**
 * §2.4, with `embedded` read from the version's first bytes (embedded-metadata.ts). pHash is derived from the
 * version id and size (a stand-in: stable per version, never computed from pixels); `quality` is 0 as in the
 * service's own example for a JPEG.
 */
export function toMetadata(v: VersionRecord, embedded: EmbeddedFacts = NO_EMBEDDED_FACTS): FileMetadata {
  return {
    height: v.height ?? 0,
    width: v.width ?? 0,
    size: v.size,
    format: v.format,
    hasColorProfile: embedded.hasColorProfile,
    quality: 0,
    density: embedded.density,
    hasTransparency: v.hasAlpha,
    pHash: createHash('sha1').update(`${v.id}:${v.size}`).digest('hex').slice(0, 16),
    exif: embedded.exif ? { ...embedded.exif } : {},
    ...videoFields(v),
  }
}
