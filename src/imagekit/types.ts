/**
 * Wire shapes of the ImageKit APIs, with the API's own field names (shared/imagekit-api.md §2).
 * Used by the client (src/imagekit) and by the emulator (src/emulator), which serves exactly these.
 */

export interface VersionInfo {
  id: string
  name: string
}

export interface AITag {
  name: string
  confidence: number
  source: string
}

/** §2.1: a file (current version, type "file") or an older version (type "file-version"). */
export interface FileObject {
  type: 'file' | 'file-version'
  fileId: string
  name: string
  filePath: string
  tags: string[] | null
  AITags: AITag[] | null
  versionInfo: VersionInfo
  isPrivateFile: boolean
  isPublished: boolean
  customCoordinates: string | null
  /** Delivery URL: `<endpoint>/<encoded path>?updatedAt=<ms>` (versions: `?ik-obj-version=<token>&updatedAt=<ms>`). */
  url: string
  thumbnail: string
  fileType: 'image' | 'non-image'
  mime: string
  width?: number
  height?: number
  size: number
  hasAlpha: boolean
  /** Video and audio only (§2.1): seconds, kbps, codec names. */
  duration?: number
  bitRate?: number
  videoCodec?: string
  audioCodec?: string
  customMetadata: Record<string, unknown>
  embeddedMetadata?: Record<string, unknown> | null
  description?: string
  createdAt: string
  updatedAt: string
}

/** §2.2 */
export interface FolderObject {
  type: 'folder'
  folderId: string
  name: string
  folderPath: string
  createdAt: string
  updatedAt: string
  customMetadata?: Record<string, unknown>
}

export type ListItem = FileObject | FolderObject

/** §2.3 */
export interface UploadResponse {
  fileId: string
  name: string
  size: number
  versionInfo: VersionInfo
  filePath: string
  url: string
  fileType: 'image' | 'non-image'
  height?: number
  width?: number
  thumbnailUrl: string
  AITags: AITag[] | null
  /** Video and audio only (§2.3). */
  duration?: number
  bitRate?: number
  videoCodec?: string
  audioCodec?: string
  /** When set (by the upload's `description` or the ai-auto-description extension), not a `responseFields` value [sdk7]. */
  description?: string
  tags?: string[] | null
  customCoordinates?: string | null
  isPrivateFile?: boolean
  isPublished?: boolean
  customMetadata?: Record<string, unknown>
  embeddedMetadata?: Record<string, unknown>
  metadata?: FileMetadata
}

/** §2.4 */
export interface FileMetadata {
  height: number
  width: number
  size: number
  format: string
  hasColorProfile: boolean
  quality: number
  density: number
  hasTransparency: boolean
  pHash: string
  exif: Record<string, unknown>
  bitRate?: number
  duration?: number
  audioCodec?: string
  videoCodec?: string
}

/** §4.16 */
export interface AccountUsage {
  bandwidthBytes: number
  mediaLibraryStorageBytes: number
  videoProcessingUnitsCount: number
  extensionUnitsCount: number
  originalCacheStorageBytes: number
}

/** §4.13 */
export interface BulkJobStatus {
  jobId: string
  type: 'COPY_FOLDER' | 'MOVE_FOLDER' | 'RENAME_FOLDER'
  status: 'Pending' | 'Completed' | string
  purgeRequestId?: string
}

/** §1: every error body. */
export interface ErrorBody {
  message: string
  help: string
  reason?: string
  [key: string]: unknown
}

export type ListType = 'file' | 'file-version' | 'folder' | 'all'

export const LIST_SORTS = [
  'ASC_NAME', 'DESC_NAME', 'ASC_CREATED', 'DESC_CREATED', 'ASC_UPDATED', 'DESC_UPDATED',
  'ASC_HEIGHT', 'DESC_HEIGHT', 'ASC_WIDTH', 'DESC_WIDTH', 'ASC_SIZE', 'DESC_SIZE',
  'ASC_RELEVANCE', 'DESC_RELEVANCE',
] as const
export type ListSort = (typeof LIST_SORTS)[number]

/** §4.1: the real maximum page size of GET /v1/files. */
export const MAX_LIST_LIMIT = 1000

export const SUPPORT_HELP = 'For support kindly contact us at support@imagekit.io.'

export function isFolder(item: ListItem): item is FolderObject {
  return item.type === 'folder'
}
