/**
 * What an upload of a pending file says besides its bytes, for every way of sending them (streamed while
 * written, or at close): a new file gets the `upload_tags`; a new version keeps the target's tags, custom
 * metadata and AI tags (overwrite*=false), its privacy and draft state, and its custom coordinates (resent: the Upload API
 * resets them and has no flag to keep them).
 */
import type { UploadFields } from '../../imagekit/api.js'
import type { PendingFile } from '../file-node.js'

export function uploadFieldsOf(file: PendingFile, uploadTags: readonly string[]): UploadFields {
  const base = file.base
  return {
    folder: file.folder,
    fileName: file.name,
    ...(!base && uploadTags.length > 0 ? { tags: [...uploadTags] } : {}),
    ...(base ? { isPrivateFile: base.isPrivateFile, keepExistingMetadata: true, customCoordinates: base.customCoordinates ?? null } : {}),
    ...(base?.draft ? { isPublished: false } : {}),
  }
}
