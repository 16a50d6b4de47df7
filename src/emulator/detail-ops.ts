/** Metadata changes that keep the bytes: update details (§4.3), tags in bulk (§4.6), bulk delete (§4.5). */
import type { LibraryContext } from './context.js'
import { ApiError, badRequest } from './http-io.js'
import { deleteFileLocked, fileOr404 } from './file-ops.js'
import { applyCustomMetadata, INVALID_METADATA_MESSAGE } from './metadata-field-schema.js'
import type { FileRecord } from './records.js'

/** The docs' wording (quoted in an ImageKit SDK review), without a closing period. */
export const PUBLISH_ALONE_MESSAGE = 'Your request cannot contain any other parameters when publish is present'
/** §4.18: all tags of a file together may not exceed this many characters. */
export const MAX_TAGS_CHARS = 500
/** §4.5: bulk delete takes at most this many ids. */
export const MAX_BULK_DELETE = 100
/** §4.6: tag calls take at most this many ids. */
export const MAX_TAG_FILE_IDS = 50

export function validateTags(tags: unknown, field = 'tags'): string[] {
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw badRequest(`${field} should be an array of strings.`, 'INVALID_PARAMETER')
  const list = (tags as string[]).map((t) => t.trim()).filter((t) => t !== '')
  if (list.some((t) => t.includes('%'))) throw badRequest(`${field} can not contain the % character.`, 'INVALID_PARAMETER')
  if (list.join(',').length > MAX_TAGS_CHARS) throw badRequest(`${field} can not be longer than ${MAX_TAGS_CHARS} characters in total.`, 'INVALID_PARAMETER')
  return [...new Set(list)]
}

/** `x,y,width,height` in whole pixels (§2.1), as upload and update take it; stored without spaces. */
export function validateCustomCoordinates(value: unknown): string {
  if (typeof value !== 'string' || !/^\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*$/.test(value)) {
    throw badRequest('customCoordinates should be a string in the format x,y,width,height.', 'INVALID_PARAMETER')
  }
  return value.replace(/\s+/g, '')
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function updateDetails(ctx: LibraryContext, fileId: string, body: Record<string, unknown>): Promise<FileRecord> {
  return ctx.store.exclusive(async () => {
    const file = fileOr404(ctx, fileId)
    const v = file.current
    const detailKeys = ['tags', 'customCoordinates', 'customMetadata', 'removeAITags', 'extensions', 'webhookUrl', 'description']
    const hasDetails = detailKeys.some((k) => k in body)
    if ('publish' in body) {
      if (hasDetails) throw badRequest(PUBLISH_ALONE_MESSAGE, 'INVALID_PARAMETER')
      const publish = body.publish
      if (!isPlainObject(publish) || typeof publish.isPublished !== 'boolean') throw badRequest('publish.isPublished should be a boolean.', 'INVALID_PARAMETER')
      v.isPublished = publish.isPublished
      if (publish.includeFileVersions === true) for (const old of file.versions) old.isPublished = publish.isPublished
    } else {
      if ('tags' in body) v.tags = body.tags === null ? null : validateTags(body.tags)
      if ('customCoordinates' in body) {
        v.customCoordinates = body.customCoordinates === null ? null : validateCustomCoordinates(body.customCoordinates)
      }
      if ('customMetadata' in body) {
        if (!isPlainObject(body.customMetadata)) throw new ApiError(400, INVALID_METADATA_MESSAGE, { errors: { customMetadata: 'should be an object' } })
        v.customMetadata = applyCustomMetadata(ctx.store.liveMetadataFields(), v.customMetadata, body.customMetadata)
      }
      if ('removeAITags' in body) {
        const r = body.removeAITags
        if (r === 'all') v.AITags = null
        else {
          const names = new Set(validateTags(r, 'removeAITags'))
          v.AITags = v.AITags?.filter((t) => !names.has(t.name)) ?? null
        }
      }
      if ('description' in body) {
        if (typeof body.description !== 'string') throw badRequest('description should be a string.', 'INVALID_PARAMETER')
        v.description = body.description
      }
    }
    v.updatedAt = ctx.clock.now()
    ctx.store.putFile(file)
    return file
  })
}

function fileIdsOf(body: Record<string, unknown>, max: number): string[] {
  const ids = body.fileIds
  if (ids === undefined || ids === null) throw badRequest('fileIds parameter is missing.', 'MISSING_PARAMETER')
  if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) throw badRequest('fileIds should be an Array.', 'INVALID_PARAMETER')
  if (ids.length === 0) throw badRequest('fileIds is empty.', 'INVALID_PARAMETER')
  if (ids.length > max) throw badRequest(`fileIds cannot have more than ${max} items.`, 'INVALID_PARAMETER')
  return ids as string[]
}

function missingError(missing: string[]): ApiError {
  return new ApiError(404, 'The requested file(s) does not exist.', { missingFileIds: missing })
}

type TagChange = 'addTags' | 'removeTags' | 'removeAITags'

export function changeTags(ctx: LibraryContext, body: Record<string, unknown>, change: TagChange): Promise<{ successfullyUpdatedFileIds: string[] }> {
  return ctx.store.exclusive(async () => {
    const ids = fileIdsOf(body, MAX_TAG_FILE_IDS)
    const field = change === 'removeAITags' ? 'AITags' : 'tags'
    if (body[field] === undefined) throw badRequest(`${field} parameter is missing.`, 'MISSING_PARAMETER')
    const tags = validateTags(body[field], field)
    const missing = ids.filter((id) => !ctx.store.fileById(id))
    if (missing.length > 0) throw missingError(missing)
    const files = [...new Set(ids)].map((id) => ctx.store.fileById(id) as FileRecord)
    // Every file's new tags are checked before any changes: upload's and update's limits hold here too.
    const added = change === 'addTags' ? files.map((f) => validateTags([...new Set([...(f.current.tags ?? []), ...tags])])) : []
    const now = ctx.clock.now()
    for (const [i, file] of files.entries()) {
      const v = file.current
      if (change === 'addTags') v.tags = added[i] as string[]
      else if (change === 'removeTags') {
        const left = (v.tags ?? []).filter((t) => !tags.includes(t))
        v.tags = left.length > 0 ? left : null
      } else {
        const left = (v.AITags ?? []).filter((t) => !tags.includes(t.name))
        v.AITags = left.length > 0 ? left : null
      }
      v.updatedAt = now
      ctx.store.putFile(file)
    }
    return { successfullyUpdatedFileIds: ids }
  })
}

export function bulkDelete(ctx: LibraryContext, body: Record<string, unknown>): Promise<{ successfullyDeletedFileIds: string[] }> {
  return ctx.store.exclusive(async () => {
    const ids = fileIdsOf(body, MAX_BULK_DELETE)
    const missing = ids.filter((id) => !ctx.store.fileById(id))
    if (missing.length > 0) throw missingError(missing)
    for (const id of new Set(ids)) {
      const file = ctx.store.fileById(id)
      if (file) await deleteFileLocked(ctx, file)
    }
    return { successfullyDeletedFileIds: ids }
  })
}
