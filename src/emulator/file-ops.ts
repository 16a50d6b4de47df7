/**
 * File-level library changes: commit an upload (new file or new version), copy, move, rename, delete,
 * versions (delete/restore). Each runs inside `store.exclusive()`; bytes move before the journal records
 * the change, and a restart reconciles a crash in between (adopt.ts).
 */
import { ApiError, badRequest, notFound } from './http-io.js'
import { moveBytes, keepCopy, copyBytes, removeBytes, mtimeOf } from './bytes.js'
import { ensureFolder } from './ensure-folder.js'
import { newObjectId, newUniqueSuffix, newVersionToken } from './ids.js'
import { applyCustomMetadata } from './metadata-field-schema.js'
import { baseName, checkNameLength, joinPath, nameErrorToApi, normalizeFolderPath, parentOf, sanitizeFileName, withUniqueSuffix } from './names.js'
import type { ProbeResult } from './probe.js'
import { probeBytes, probeFile } from './probe.js'
import type { FileRecord, VersionRecord } from './records.js'
import type { LibraryContext } from './context.js'
import { join } from 'node:path'

export const OVERWRITE_REFUSED_MESSAGE =
  'A file with the same name already exists at the exact location. We could not overwrite it because both overwriteFile and useUniqueFileName are set to false.'
export const FILE_NOT_FOUND_MESSAGE = 'The requested file does not exist.'

/** The metadata of a version other than its identity and bytes. */
type VersionMeta = Omit<VersionRecord, 'id' | 'number' | 'token' | 'createdAt' | 'updatedAt' | 'diskMtimeMs' | 'pendingExtensions'>

function newVersion(file: Pick<FileRecord, 'nextVersionNumber'>, id: string, meta: VersionMeta, now: number): VersionRecord {
  return { ...structuredClone(meta), id, number: file.nextVersionNumber, token: newVersionToken(), createdAt: now, updatedAt: now }
}

function versionCount(file: FileRecord): number {
  return file.versions.length + 1
}

function versionLimit(ctx: LibraryContext): ApiError {
  return badRequest(`A file can have at most ${ctx.options.maxVersions} versions.`, 'VERSION_LIMIT_EXCEEDED')
}

/**
 * Makes `bytesPath` the current bytes of `file`; the old current version is kept under versions/.
 * `consume` renames the source into place (uploads, moves); otherwise it is copied (copies).
 */
async function appendVersion(ctx: LibraryContext, file: FileRecord, bytesPath: string, meta: VersionMeta, consume: boolean): Promise<void> {
  const { store } = ctx
  const currentPath = store.currentBytesPath(file.filePath)
  await keepCopy(currentPath, store.versionBytesPath(file.fileId, file.current.id))
  if (consume) await moveBytes(bytesPath, currentPath)
  else await copyViaTemp(ctx, bytesPath, currentPath)
  const version = newVersion(file, newObjectId(), meta, ctx.clock.now())
  version.diskMtimeMs = await mtimeOf(currentPath)
  file.versions.push(file.current)
  file.current = version
  file.nextVersionNumber += 1
  store.putFile(file)
  ctx.cdn.markChanged(file.fileId)
}

/** Copies to a temp file first and renames it in, so a reader of `to` never sees half a copy. */
async function copyViaTemp(ctx: LibraryContext, from: string, to: string): Promise<void> {
  const tmp = join(ctx.store.tmpDir, `copy-${newObjectId()}`)
  await copyBytes(from, tmp)
  await moveBytes(tmp, to)
}

async function createFile(ctx: LibraryContext, filePath: string, bytesPath: string, meta: VersionMeta, consume: boolean): Promise<FileRecord> {
  const fileId = newObjectId()
  const now = ctx.clock.now()
  const file: FileRecord = { fileId, filePath, createdAt: now, current: undefined as unknown as VersionRecord, versions: [], nextVersionNumber: 1 }
  file.current = newVersion(file, fileId, meta, now)
  file.nextVersionNumber = 2
  const target = ctx.store.currentBytesPath(filePath)
  if (consume) await moveBytes(bytesPath, target)
  else await copyViaTemp(ctx, bytesPath, target)
  file.current.diskMtimeMs = await mtimeOf(target)
  ctx.store.putFile(file)
  return file
}

function metaOf(v: VersionRecord): VersionMeta {
  const { id: _id, number: _n, token: _t, createdAt: _c, updatedAt: _u, diskMtimeMs: _d, pendingExtensions: _p, ...meta } = v
  return meta
}

// ---- upload

export interface UploadCommit {
  tempPath: string
  size: number
  /** The file's first bytes when the caller has them (spares reading the file back to probe it). */
  head?: Buffer
  folder: string
  fileName: string
  useUniqueFileName: boolean
  overwriteFile: boolean
  overwriteTags: boolean
  overwriteCustomMetadata: boolean
  overwriteAITags: boolean
  tags: string[] | undefined
  customCoordinates: string | undefined
  customMetadata: Record<string, unknown> | undefined
  description: string | undefined
  isPrivateFile: boolean
  isPublished: boolean
  /** Runs once the file's facts are known, before anything is stored; throws to refuse the upload (checks). */
  accept?: (facts: ProbeResult) => void
}

export async function commitUpload(ctx: LibraryContext, c: UploadCommit): Promise<FileRecord> {
  // Reading the image header needs only the uploaded bytes: done before taking the store's lock, so
  // parallel uploads do not queue behind each other's disk reads. (A unique suffix never changes the extension.)
  const probe: ProbeResult = c.head ? await probeBytes(c.head, c.tempPath, c.fileName, c.size) : await probeFile(c.tempPath, c.fileName, c.size)
  c.accept?.(probe)
  return ctx.store.exclusive(async () => {
    const mode = ctx.options.names
    const folderPath = nameErrorToApi(() => normalizeFolderPath(c.folder, mode, true, ctx.options.maxFolderDepth))
    let name = nameErrorToApi(() => sanitizeFileName(c.fileName, mode))
    if (c.useUniqueFileName) {
      do name = withUniqueSuffix(sanitizeFileName(c.fileName, mode), newUniqueSuffix())
      while (ctx.store.fileByPath(joinPath(folderPath, name)) || ctx.store.folder(joinPath(folderPath, name)))
    }
    nameErrorToApi(() => checkNameLength(name, false)) // the unique suffix may make it too long
    const filePath = joinPath(folderPath, name)
    if (ctx.store.folder(filePath)) {
      throw badRequest('A folder with the same name already exists at the exact location.', 'FOLDER_ALREADY_EXISTS')
    }
    const existing = ctx.store.fileByPath(filePath)
    if (existing && !c.overwriteFile) throw badRequest(OVERWRITE_REFUSED_MESSAGE)
    if (existing && versionCount(existing) >= ctx.options.maxVersions) throw versionLimit(ctx)
    const old = existing?.current
    // Checked before anything changes: a refused value stores nothing (not even the folder).
    const customMetadata = applyCustomMetadata(
      ctx.store.liveMetadataFields(),
      c.customMetadata === undefined && old && !c.overwriteCustomMetadata ? old.customMetadata : {},
      c.customMetadata,
    )
    await ensureFolder(ctx, folderPath)
    const meta: VersionMeta = {
      ...probe,
      size: c.size,
      tags: c.tags ?? (old && !c.overwriteTags ? old.tags : null),
      AITags: old && !c.overwriteAITags ? old.AITags : null,
      customCoordinates: c.customCoordinates ?? null,
      customMetadata,
      isPrivateFile: c.isPrivateFile,
      isPublished: c.isPublished,
      ...(c.description !== undefined ? { description: c.description } : {}),
    }
    if (existing) {
      await appendVersion(ctx, existing, c.tempPath, meta, true)
      return existing
    }
    return createFile(ctx, filePath, c.tempPath, meta, true)
  })
}

// ---- copy / move

function requireString(body: Record<string, unknown>, name: string): string {
  const value = body[name]
  if (value === undefined || value === null || value === '') throw badRequest(`Missing parameter ${name}.`, 'MISSING_PARAMETER')
  if (typeof value !== 'string') throw badRequest(`Invalid parameter ${name}.`, 'INVALID_PARAMETER')
  return value
}

function sourceFile(ctx: LibraryContext, sourceFilePath: string): FileRecord {
  const file = ctx.store.fileByPath(sourceFilePath.startsWith('/') ? sourceFilePath : '/' + sourceFilePath)
  if (!file) throw notFound(`No file found with filePath \`${sourceFilePath}\`.`, 'SOURCE_FILE_MISSING')
  return file
}

/** Copies (or moves) one file into `destFolder`, appending versions to a same-named file there (§4.7, §4.8). */
export async function placeFileLocked(ctx: LibraryContext, source: FileRecord, destFolder: string, move: boolean, includeVersions: boolean): Promise<void> {
  const { store } = ctx
  const destPath = joinPath(destFolder, baseName(source.filePath))
  if (store.folder(destPath)) throw badRequest('A folder with the same name already exists at the destination.', 'INVALID_DESTINATION_PATH')
  const chain = includeVersions || move ? [...source.versions, source.current] : [source.current]
  const target = store.fileByPath(destPath)
  if (target && versionCount(target) + chain.length > ctx.options.maxVersions) throw versionLimit(ctx)
  await ensureFolder(ctx, destFolder)
  if (move && !target) {
    await moveBytes(store.currentBytesPath(source.filePath), store.currentBytesPath(destPath))
    source.filePath = destPath
    store.putFile(source)
    ctx.cdn.markChanged(source.fileId)
    return
  }
  if (move) await retainForCdn(ctx, source, chain) // its versions join the target under new ids: the source file is gone
  let dest = target
  for (const version of chain) {
    const from = store.bytesPathOf(source, version)
    if (dest) await appendVersion(ctx, dest, from, metaOf(version), move)
    else dest = await createFile(ctx, destPath, from, metaOf(version), move)
  }
  if (move) {
    store.removeFile(source.fileId)
    await removeBytes(join(store.versionsRoot, source.fileId))
    ctx.cdn.markChanged(source.fileId)
  }
}

export function copyOrMoveFile(ctx: LibraryContext, body: Record<string, unknown>, move: boolean): Promise<void> {
  return ctx.store.exclusive(async () => {
    const sourceFilePath = requireString(body, 'sourceFilePath')
    const destinationPath = requireString(body, 'destinationPath')
    const includeVersions = body.includeFileVersions === true
    const source = sourceFile(ctx, sourceFilePath)
    const destFolder = nameErrorToApi(() => normalizeFolderPath(destinationPath, ctx.options.names, false, ctx.options.maxFolderDepth))
    if (destFolder === parentOf(source.filePath)) {
      throw badRequest('Source and destination can not be the same.', 'SAME_SOURCE_AND_DESTINATION')
    }
    await placeFileLocked(ctx, source, destFolder, move, includeVersions)
  })
}

// ---- rename

export interface RenameResult {
  oldFilePath: string
  newFilePath: string
}

export function renameFile(ctx: LibraryContext, body: Record<string, unknown>): Promise<RenameResult> {
  return ctx.store.exclusive(async () => {
    const filePath = requireString(body, 'filePath')
    const newFileName = requireString(body, 'newFileName')
    if (body.purgeCache !== undefined && typeof body.purgeCache !== 'boolean') throw badRequest('Invalid parameter purgeCache.', 'INVALID_PARAMETER')
    const file = ctx.store.fileByPath(filePath.startsWith('/') ? filePath : '/' + filePath)
    if (!file) throw notFound(`No file found in media library at filePath ${filePath}`, 'FILE_MISSING')
    const name = nameErrorToApi(() => sanitizeFileName(newFileName, ctx.options.names, 'newFileName'))
    if (name === baseName(file.filePath)) throw badRequest('newFileName cannot be the same as its existing name.', 'SAME_OLD_AND_NEW_NAME')
    const newFilePath = joinPath(parentOf(file.filePath), name)
    if (ctx.store.fileByPath(newFilePath) || ctx.store.folder(newFilePath)) {
      throw new ApiError(409, 'File with name newFileName already exists at the same location.', { reason: 'FILE_ALREADY_EXISTS' })
    }
    const oldFilePath = file.filePath
    await moveBytes(ctx.store.currentBytesPath(oldFilePath), ctx.store.currentBytesPath(newFilePath))
    file.filePath = newFilePath
    file.current.updatedAt = ctx.clock.now()
    ctx.store.putFile(file)
    ctx.cdn.markChanged(file.fileId)
    return { oldFilePath, newFilePath }
  })
}

// ---- delete, versions

export function fileOr404(ctx: LibraryContext, fileId: string, message = FILE_NOT_FOUND_MESSAGE): FileRecord {
  const file = ctx.store.fileById(fileId)
  if (!file) throw notFound(message)
  return file
}

/** The stale CDN keeps serving what it served of `versions` (§4.4: deleting does not purge); call before their bytes go. */
function retainForCdn(ctx: LibraryContext, file: FileRecord, versions: readonly VersionRecord[]): Promise<void> {
  return ctx.cdn.retainDeleted(file.fileId, versions, (v) => ctx.store.bytesPathOf(file, v))
}

export async function deleteFileLocked(ctx: LibraryContext, file: FileRecord): Promise<void> {
  await retainForCdn(ctx, file, [...file.versions, file.current])
  await removeBytes(ctx.store.currentBytesPath(file.filePath))
  await removeBytes(join(ctx.store.versionsRoot, file.fileId))
  ctx.store.removeFile(file.fileId)
  ctx.cdn.markChanged(file.fileId)
}

export function deleteFile(ctx: LibraryContext, fileId: string): Promise<void> {
  return ctx.store.exclusive(async () => deleteFileLocked(ctx, fileOr404(ctx, fileId)))
}

export function deleteVersion(ctx: LibraryContext, fileId: string, versionId: string): Promise<void> {
  return ctx.store.exclusive(async () => {
    const file = fileOr404(ctx, fileId, 'The requested asset does not exist.')
    if (file.current.id === versionId) throw badRequest('You cannot delete current version of a file.')
    const index = file.versions.findIndex((v) => v.id === versionId)
    if (index < 0) throw notFound('The requested asset does not exist.')
    await retainForCdn(ctx, file, [file.versions[index] as VersionRecord])
    await removeBytes(ctx.store.versionBytesPath(fileId, versionId))
    file.versions.splice(index, 1)
    ctx.store.putFile(file)
  })
}

export function restoreVersion(ctx: LibraryContext, fileId: string, versionId: string): Promise<FileRecord> {
  return ctx.store.exclusive(async () => {
    // Its docs page: a missing file and a missing version of it answer two different 404s.
    const file = fileOr404(ctx, fileId)
    if (file.current.id === versionId) return file
    const index = file.versions.findIndex((v) => v.id === versionId)
    const version = file.versions[index]
    if (!version) throw notFound('The requested file version does not exist.')
    const { store } = ctx
    const currentPath = store.currentBytesPath(file.filePath)
    await keepCopy(currentPath, store.versionBytesPath(fileId, file.current.id))
    await moveBytes(store.versionBytesPath(fileId, version.id), currentPath)
    file.versions.splice(index, 1)
    file.versions.push(file.current)
    version.updatedAt = ctx.clock.now()
    version.diskMtimeMs = await mtimeOf(currentPath)
    file.current = version
    store.putFile(file)
    ctx.cdn.markChanged(fileId)
    return file
  })
}
