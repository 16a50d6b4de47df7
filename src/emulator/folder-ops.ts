/** Folder changes: create (§4.11), delete (§4.12), copy/move/rename jobs (§4.13), all inside `store.exclusive()`. */
import type { LibraryContext } from './context.js'
import { moveBytes, removeBytes } from './bytes.js'
import { ensureFolder } from './ensure-folder.js'
import { placeFileLocked, deleteFileLocked } from './file-ops.js'
import { ApiError, badRequest, notFound } from './http-io.js'
import {
  baseName, checkFolderDepth, folderDepth, folderTooDeepMessage, isWithin, joinPath, MAX_DISK_PATH_BYTES, nameErrorToApi, normalizeFolderPath, parentOf, PATH_TOO_LONG_MESSAGE, sanitizeFolderName,
} from './names.js'
import type { FileRecord } from './records.js'

/** §4.12/§4.13: folder operations refuse trees with more objects than this. */
export const MAX_NESTED_OBJECTS = 100_000

function requireString(body: Record<string, unknown>, name: string): string {
  const value = body[name]
  if (value === undefined || value === null || value === '') throw badRequest(`Missing parameter ${name}.`, 'MISSING_PARAMETER')
  if (typeof value !== 'string') throw badRequest(`Invalid parameter ${name}.`, 'INVALID_PARAMETER')
  return value
}

function lookupPath(ctx: LibraryContext, raw: string): string {
  return nameErrorToApi(() => normalizeFolderPath(raw, ctx.options.names, false, ctx.options.maxFolderDepth))
}

function filesIn(ctx: LibraryContext, folders: string[]): FileRecord[] {
  const out: FileRecord[] = []
  for (const folder of folders) for (const id of ctx.store.childFileIds(folder)) {
    const file = ctx.store.fileById(id)
    if (file) out.push(file)
  }
  return out
}

function checkSize(folders: string[], files: FileRecord[]): void {
  const objects = folders.length + files.reduce((n, f) => n + 1 + f.versions.length, 0)
  if (objects > MAX_NESTED_OBJECTS) {
    throw badRequest(`Total nested assets (files, folders and file versions) are more than allowed limit of ${MAX_NESTED_OBJECTS} items.`, 'TOO_MANY_OBJECTS')
  }
}

export function createFolder(ctx: LibraryContext, body: Record<string, unknown>): Promise<void> {
  return ctx.store.exclusive(async () => {
    const folderName = requireString(body, 'folderName')
    const parentFolderPath = requireString(body, 'parentFolderPath')
    const mode = ctx.options.names
    const name = nameErrorToApi(() => sanitizeFolderName(folderName, mode, 'folderName'))
    const parent = nameErrorToApi(() => normalizeFolderPath(parentFolderPath, mode, true, ctx.options.maxFolderDepth))
    const path = joinPath(parent, name)
    nameErrorToApi(() => checkFolderDepth(path, ctx.options.maxFolderDepth))
    await ensureFolder(ctx, path)
  })
}

export function deleteFolder(ctx: LibraryContext, body: Record<string, unknown>): Promise<void> {
  return ctx.store.exclusive(async () => {
    const raw = requireString(body, 'folderPath')
    const folderPath = lookupPath(ctx, raw)
    if (folderPath === '/') throw badRequest('The root folder can not be deleted.', 'INVALID_FOLDER_PATH')
    if (!ctx.store.folder(folderPath)) throw notFound(`No folder found with folderPath \`${raw}\`.`, 'FOLDER_NOT_FOUND')
    const folders = ctx.store.subtreeFolders(folderPath)
    const files = filesIn(ctx, folders)
    checkSize(folders, files)
    for (const file of files) await deleteFileLocked(ctx, file)
    for (const folder of folders.reverse()) ctx.store.removeFolder(folder)
    await removeBytes(ctx.store.currentBytesPath(folderPath))
  })
}

/**
 * Moves the tree at `from` to `to` (which must not exist) with one directory rename on disk, keeping
 * folder ids and file ids; then re-indexes every path below.
 */
async function relocateTreeLocked(ctx: LibraryContext, from: string, to: string): Promise<void> {
  const { store } = ctx
  await ensureFolder(ctx, parentOf(to))
  const folders = store.subtreeFolders(from)
  const records = folders.map((p) => store.folder(p)).filter((f) => f !== undefined)
  const files = filesIn(ctx, folders)
  await moveBytes(store.currentBytesPath(from), store.currentBytesPath(to))
  for (const path of [...folders].reverse()) store.removeFolder(path)
  const now = ctx.clock.now()
  for (const folder of records) {
    store.putFolder({ ...folder, folderPath: to + folder.folderPath.slice(from.length), updatedAt: now })
  }
  for (const file of files) {
    file.filePath = to + file.filePath.slice(from.length)
    store.putFile(file)
    ctx.cdn.markChanged(file.fileId)
  }
}

/** Copies or moves the tree at `from` into `to`, merging with what is there (same-name files gain versions). */
async function mergeTreeLocked(ctx: LibraryContext, from: string, to: string, move: boolean, includeVersions: boolean): Promise<void> {
  const { store } = ctx
  const folders = store.subtreeFolders(from)
  for (const folder of folders) {
    const target = to + folder.slice(from.length)
    await ensureFolder(ctx, target)
    for (const file of filesIn(ctx, [folder])) await placeFileLocked(ctx, file, target, move, includeVersions)
  }
  if (move) {
    for (const folder of folders.reverse()) store.removeFolder(folder)
    await removeBytes(store.currentBytesPath(from))
  }
}

/**
 * A folder job (§4.13) checked against the library as it is now: the change it will make, to be run inside
 * `store.exclusive()` right after the same check passed again (the library may change while a job is pending).
 */
export type FolderChange = () => Promise<void>

/**
 * Refuses at once (the POST's 400) a job whose deepest path under `target` would not fit the disk, rather
 * than let it fail when it runs. `folders` and `files`: the subtree of `source`, itself included.
 */
function checkFitsDisk(ctx: LibraryContext, source: string, target: string, folders: string[], files: FileRecord[]): void {
  let longest = 0
  for (const path of [...folders, ...files.map((f) => f.filePath)]) longest = Math.max(longest, Buffer.byteLength(path, 'utf8'))
  const deepest = longest - Buffer.byteLength(source, 'utf8')
  if (Buffer.byteLength(ctx.store.currentBytesPath(target), 'utf8') + deepest > MAX_DISK_PATH_BYTES) {
    throw badRequest(PATH_TOO_LONG_MESSAGE, 'INVALID_DESTINATION_PATH')
  }
}

/** Refuses at once (the POST's 400) a job whose deepest folder under `target` would nest deeper than the limit. */
function checkFitsDepth(ctx: LibraryContext, source: string, target: string, folders: string[]): void {
  const height = folders.reduce((deepest, f) => Math.max(deepest, folderDepth(f)), 0) - folderDepth(source)
  if (folderDepth(target) + height > ctx.options.maxFolderDepth) throw badRequest(folderTooDeepMessage(ctx.options.maxFolderDepth), 'INVALID_DESTINATION_PATH')
}

/** Checks a copy/move folder request; throws the API's 400/404 as the POST's answer. */
export function checkCopyOrMoveFolder(ctx: LibraryContext, body: Record<string, unknown>, move: boolean): FolderChange {
  const rawSource = requireString(body, 'sourceFolderPath')
  const rawDest = requireString(body, 'destinationPath')
  const includeVersions = includeVersionsOf(body)
  const source = lookupPath(ctx, rawSource)
  const dest = lookupPath(ctx, rawDest)
  if (source === '/') throw badRequest('The source folder can not be the root folder.', 'SOURCE_IS_ROOT')
  if (!ctx.store.folder(source)) throw notFound(`No files & folder found at sourceFolderPath \`${rawSource}\`.`, 'NO_FILES_FOLDER')
  if (parentOf(source) === dest) throw badRequest('Source and destination can not be the same.', 'SAME_SOURCE_AND_DESTINATION')
  if (isWithin(dest, source)) {
    throw badRequest('This operation is not allowed because parent folder cannot be moved into child folder.', 'INVALID_DESTINATION_PATH')
  }
  if (ctx.store.fileByPath(dest)) throw badRequest('The destination path is a file.', 'INVALID_DESTINATION_PATH')
  const folders = ctx.store.subtreeFolders(source)
  const files = filesIn(ctx, folders)
  checkSize(folders, files)
  const target = joinPath(dest, baseName(source))
  if (ctx.store.fileByPath(target)) throw badRequest('A file with the folder\'s name exists at the destination.', 'INVALID_DESTINATION_PATH')
  checkFitsDisk(ctx, source, target, folders, files)
  checkFitsDepth(ctx, source, target, folders)
  if (move && !ctx.store.folder(target)) return () => relocateTreeLocked(ctx, source, target)
  return () => mergeTreeLocked(ctx, source, target, move, move || includeVersions)
}

/**
 * copyFolder's `includeVersions` (§4.13, the spec and @imagekit/nodejs), or `includeFileVersions`, the name
 * `imagekit` 6 and the Python and .NET SDKs send for it (ImageKit's own code, so taken as an alias; which name
 * the real service reads is unconfirmed).
 */
function includeVersionsOf(body: Record<string, unknown>): boolean {
  for (const name of ['includeVersions', 'includeFileVersions']) {
    if (body[name] !== undefined && typeof body[name] !== 'boolean') throw badRequest(`Invalid parameter ${name}.`, 'INVALID_PARAMETER')
  }
  return body.includeVersions === true || (body.includeVersions === undefined && body.includeFileVersions === true)
}

/** Checks a rename folder request; throws the API's 400/404/409 as the POST's answer. */
export function checkRenameFolder(ctx: LibraryContext, body: Record<string, unknown>): FolderChange {
  const raw = requireString(body, 'folderPath')
  const newFolderName = requireString(body, 'newFolderName')
  if (body.purgeCache !== undefined && typeof body.purgeCache !== 'boolean') throw badRequest('Invalid parameter purgeCache.', 'INVALID_PARAMETER')
  const folderPath = lookupPath(ctx, raw)
  if (folderPath === '/') throw badRequest('The root folder can not be renamed.', 'INVALID_FOLDER_PATH')
  if (!ctx.store.folder(folderPath)) throw notFound(`No folder found with folderPath \`${raw}\`.`, 'FOLDER_NOT_FOUND')
  const name = nameErrorToApi(() => sanitizeFolderName(newFolderName, ctx.options.names, 'newFolderName'))
  if (name === baseName(folderPath)) throw badRequest('newFolderName cannot be the same as its existing name.', 'SAME_OLD_AND_NEW_NAME')
  const target = joinPath(parentOf(folderPath), name)
  if (ctx.store.folder(target) || ctx.store.fileByPath(target)) {
    throw new ApiError(409, 'Folder with name newFolderName already exists at the same location.', { reason: 'FOLDER_ALREADY_EXISTS' })
  }
  const folders = ctx.store.subtreeFolders(folderPath)
  checkFitsDisk(ctx, folderPath, target, folders, filesIn(ctx, folders))
  return async () => {
    await relocateTreeLocked(ctx, folderPath, target)
    if (body.purgeCache === true) ctx.cdn.purge(folderPath + '/', true)
  }
}
