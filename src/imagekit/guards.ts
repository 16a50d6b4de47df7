/**
 * Runtime checks of decoded API bodies: just enough to know the fields the client and vfs rely on exist
 * with the right types. A body that fails its check is IK_BAD_RESPONSE, never passed on half-typed.
 */
import { ImageKitError } from './errors.js'
import type { ApiResult } from './http.js'
import type { AccountUsage, BulkJobStatus, FileObject, ListItem, UploadResponse } from './types.js'

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

export function isFileObject(value: unknown): value is FileObject {
  return (
    isRecord(value) &&
    (value.type === 'file' || value.type === 'file-version') &&
    typeof value.fileId === 'string' &&
    typeof value.filePath === 'string' &&
    typeof value.size === 'number'
  )
}

export function isListItem(value: unknown): value is ListItem {
  if (!isRecord(value)) return false
  if (value.type === 'folder') return typeof value.folderPath === 'string' && typeof value.name === 'string'
  return isFileObject(value)
}

export function isFileObjectArray(value: unknown): value is FileObject[] {
  return Array.isArray(value) && value.every(isFileObject)
}

export function isUploadResponse(value: unknown): value is UploadResponse {
  return isRecord(value) && typeof value.fileId === 'string' && typeof value.filePath === 'string' && typeof value.size === 'number'
}

export function isJobStarted(value: unknown): value is { jobId: string } {
  return isRecord(value) && typeof value.jobId === 'string'
}

export function isBulkJobStatus(value: unknown): value is BulkJobStatus {
  return isRecord(value) && typeof value.jobId === 'string' && typeof value.status === 'string'
}

export function isAccountUsage(value: unknown): value is AccountUsage {
  return isRecord(value) && typeof value.mediaLibraryStorageBytes === 'number'
}

/** The decoded body if it passes `guard`, else IK_BAD_RESPONSE naming the call and what was expected. */
export function expectBody<T>(result: ApiResult, guard: (value: unknown) => value is T, call: { method: string; route: string }, expected: string): T {
  if (guard(result.value)) return result.value
  const suffix = result.requestId ? ` (requestId ${result.requestId})` : ''
  throw new ImageKitError('IK_BAD_RESPONSE', `${call.method} ${call.route}: expected ${expected}${suffix}`, {
    method: call.method,
    route: call.route,
    requestId: result.requestId,
  })
}
