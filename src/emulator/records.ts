/** What the emulator stores per file, version and folder (persisted as JSON in the journal). Times in epoch ms. */
import type { AITag } from '../imagekit/types.js'

/** What the emulator learns from a file's name and first bytes (probe.ts). */
export interface MediaFacts {
  mime: string
  fileType: 'image' | 'non-image'
  /** Detected or extension-derived format (`jpg`, `png`, `txt` ...), for searchQuery `format` and metadata. */
  format: string
  width?: number
  height?: number
  hasAlpha: boolean
  /** Seconds, kbps and codec names of a video or audio file whose boxes tell them (video-info.ts); else absent. */
  duration?: number
  bitRate?: number
  videoCodec?: string
  audioCodec?: string
  /**
   * The flat `embeddedMetadata` of an image whose bytes hold EXIF (embedded-metadata.ts), kept for searchQuery
   * `"embeddedMetadata.X"`; undefined when there is none (and for records written before it was kept).
   */
  embeddedMetadata?: Record<string, unknown>
}

export interface VersionRecord extends MediaFacts {
  /** `versionInfo.id`; the first version's id equals the fileId (§2.1). */
  id: string
  /** N of "Version N". */
  number: number
  /** `ik-obj-version` token of the delivery URL while this version is not current (§6.2). */
  token: string
  size: number
  tags: string[] | null
  AITags: AITag[] | null
  customCoordinates: string | null
  customMetadata: Record<string, unknown>
  description?: string
  isPrivateFile: boolean
  isPublished: boolean
  createdAt: number
  updatedAt: number
  /** mtime of the bytes on disk when last seen, to notice hand edits of `files/` (current version only). */
  diskMtimeMs?: number
  /** Extensions answered `pending` on this version and not yet complete (extensions.ts): kept across restarts. */
  pendingExtensions?: PendingExtensions[]
}

/** What a pending extension run needs to complete later, after a restart too. */
export interface PendingExtensions {
  /** Tells apart two runs pending on one version (an upload's and an update's). */
  id: string
  requests: Array<{ name: string; maxTags?: number; minConfidence?: number }>
  /** Where the final status of each goes (§4.3 `webhookUrl`), when given. */
  webhookUrl?: string
  /** Epoch ms when they complete. */
  dueAt: number
}

export interface FileRecord {
  fileId: string
  filePath: string
  createdAt: number
  current: VersionRecord
  /** Older versions, oldest first. */
  versions: VersionRecord[]
  nextVersionNumber: number
}

export interface FolderRecord {
  folderId: string
  folderPath: string
  createdAt: number
  updatedAt: number
}
