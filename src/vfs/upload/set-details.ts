/**
 * Tags and metadata set through the mount before a file's upload landed (setxattr, a rename that carries
 * them: wanted-details.ts), set on the stored file right after its upload.
 */
import type { ImageKitApi } from '../../imagekit/api.js'
import { hasImageKitCode, isImageKitError, type ImageKitError } from '../../imagekit/errors.js'
import type { FileObject, UploadResponse } from '../../imagekit/types.js'
import type { Logger } from '../../log.js'
import type { PendingFile } from '../file-node.js'
import { detailsUpdate, type WantedDetails } from '../wanted-details.js'

/**
 * Sets `file.wanted` on the file the upload `res` stored; answers the upload with them. A change ImageKit
 * refuses (a custom metadata field the account does not define) is logged and dropped: the bytes are stored.
 * Other failures throw, and the retry sets them without uploading again (`storedUpload`).
 */
export async function setWantedDetails(api: ImageKitApi, log: Logger, file: PendingFile, res: UploadResponse): Promise<UploadResponse> {
  const wanted = file.wanted!
  let outcome: FileObject | ImageKitError
  try {
    outcome = await updateDetails(api, res, wanted)
    // Custom metadata ImageKit refuses (a key that is not one of the account's fields) must not cost the tags
    // and coordinates sent with it in the same call: those are set on their own.
    if (isImageKitError(outcome) && wanted.customMetadata !== undefined && (wanted.tags !== undefined || wanted.customCoordinates !== undefined)) {
      log.warn({ path: file.localPath, err: outcome }, 'the file is stored, but ImageKit refused the details set on it; setting them without the custom metadata')
      outcome = await updateDetails(api, res, { ...wanted, customMetadata: undefined })
    }
    // Refused without it too: tags or coordinates ImageKit will not take (more than 500 characters of tags)
    // must not cost the rest either, so each is set on its own and ImageKit keeps what it takes.
    const parts = partsOf(wanted)
    if (isImageKitError(outcome) && parts.length > 1) {
      log.warn({ path: file.localPath, err: outcome }, 'the file is stored, but ImageKit refused the details set on it; setting each on its own')
      let stored: FileObject | undefined
      for (const part of parts) {
        const one = await updateDetails(api, res, part)
        if (!isImageKitError(one)) stored = one
        else log.warn({ path: file.localPath, err: one, refused: Object.keys(part) }, 'the file is stored, but ImageKit refused this detail set on it')
      }
      if (stored) outcome = stored
    }
  } catch (e) {
    log.warn({ path: file.localPath, err: e }, 'the file is stored, but its tags and metadata could not be set yet; retried')
    throw e
  }
  if (file.wanted === wanted) file.wanted = undefined
  if (isImageKitError(outcome)) {
    log.warn({ path: file.localPath, err: outcome }, 'the file is stored, but ImageKit refused the tags and metadata set on it')
    return res
  }
  return { ...res, tags: outcome.tags, customCoordinates: outcome.customCoordinates, customMetadata: outcome.customMetadata }
}

/** The file's details after setting `wanted`, or ImageKit's refusal (a 400, which no retry would change). */
async function updateDetails(api: ImageKitApi, res: UploadResponse, wanted: WantedDetails): Promise<FileObject | ImageKitError> {
  try {
    // Custom metadata replaces the file's, so the keys it has must be known (asked for in the upload's answer).
    const current = wanted.customMetadata !== undefined && res.customMetadata === undefined
      ? (await api.getFileDetails(res.fileId)).customMetadata
      : res.customMetadata
    return await api.updateFileDetails(res.fileId, detailsUpdate(wanted, current))
  } catch (e) {
    if (hasImageKitCode(e, 'IK_BAD_REQUEST')) return e
    throw e
  }
}

/** Tags, coordinates and custom metadata of `wanted`, each on its own. */
function partsOf(wanted: WantedDetails): WantedDetails[] {
  const parts: WantedDetails[] = []
  if (wanted.tags !== undefined) parts.push({ tags: wanted.tags })
  if (wanted.customCoordinates !== undefined) parts.push({ customCoordinates: wanted.customCoordinates })
  if (wanted.customMetadata !== undefined) parts.push({ customMetadata: wanted.customMetadata })
  return parts
}
