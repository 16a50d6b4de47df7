/**
 * GET /v1/files (§4.1): parameter checks with the API's exact messages, candidate selection (whole library or
 * one folder level, via the store's indexes), searchQuery, a stable sort (ties broken by path, then version)
 * and skip/limit paging. Sorted results are cached per store revision so paging a huge folder sorts once.
 */
import { LIST_SORTS, MAX_LIST_LIMIT, type ListItem, type ListSort } from '../imagekit/types.js'
import type { EmulatorContext } from './context.js'
import { toFileObject, toFolderObject } from './file-object.js'
import { badRequest } from './http-io.js'
import { baseName, normalizeFolderPath, NameError, parentOf } from './names.js'
import type { FileRecord, FolderRecord, VersionRecord } from './records.js'
import { compileSearchQuery, SearchQueryError, type SearchItem } from './search-query.js'

/** Sorted result sets kept for paging; each is only a list of references. */
const LIST_CACHE_ENTRIES = 8

type Ref = { kind: 'file'; file: FileRecord; version: VersionRecord } | { kind: 'folder'; folder: FolderRecord }

const TYPES = ['file', 'file-version', 'folder', 'all'] as const
const FILE_TYPES = ['all', 'image', 'non-image'] as const

export class FileLister {
  readonly #cache = new Map<string, Ref[]>()
  constructor(readonly ctx: EmulatorContext) {}

  list(params: URLSearchParams): ListItem[] {
    const q = parseListParams(params, this.ctx)
    const now = this.ctx.clock.now()
    const key = JSON.stringify([this.ctx.store.revision, q.searchQuery ? Math.floor(now / 1000) : 0, q.path, q.type, q.searchQuery, q.fileType, q.sort, q.tags, q.name, q.includeFolder])
    let refs = this.#cache.get(key)
    if (!refs) {
      refs = this.#select(q, now)
      if (this.#cache.size >= LIST_CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value as string)
      this.#cache.set(key, refs)
    }
    return refs.slice(q.skip, q.skip + q.limit).map((r) =>
      r.kind === 'folder' ? toFolderObject(r.folder) : toFileObject(r.file, r.version, this.ctx.urls),
    )
  }

  #select(q: ListParams, now: number): Ref[] {
    const { store } = this.ctx
    let files: Iterable<FileRecord>
    let folders: Iterable<FolderRecord>
    if (q.path !== undefined) {
      const ids = store.childFileIds(q.path)
      files = [...ids].map((id) => store.fileById(id)).filter((f) => f !== undefined)
      folders = [...store.childFolderPaths(q.path)].map((p) => store.folder(p)).filter((f) => f !== undefined)
    } else {
      files = store.allFiles()
      folders = store.allFolders()
    }
    let wantFiles = false, wantVersions = false, wantFolders = false
    let filter: ((item: SearchItem) => boolean) | undefined
    if (q.searchQuery !== undefined) {
      let compiled
      try {
        compiled = compileSearchQuery(q.searchQuery, now)
      } catch (e) {
        if (e instanceof SearchQueryError) throw badRequest(`Your request contains invalid syntax for the searchQuery parameter: ${e.message}.`, 'INVALID_SEARCH_QUERY')
        throw e
      }
      wantFiles = true
      wantVersions = wantFolders = compiled.mentionsType
      filter = compiled.matches
    } else {
      wantFiles = q.type === 'file' || q.type === 'all'
      wantVersions = q.type === 'file-version'
      wantFolders = q.type === 'folder' || q.type === 'all' || q.includeFolder
    }
    const refs: Ref[] = []
    const keepFile = (file: FileRecord, version: VersionRecord, type: 'file' | 'file-version') => {
      if (q.fileType !== 'all' && version.fileType !== q.fileType) return
      if (q.name !== undefined && baseName(file.filePath) !== q.name) return
      if (q.tags && !q.tags.some((t) => version.tags?.includes(t))) return
      if (filter && !filter(fileSearchItem(file, version, type))) return
      refs.push({ kind: 'file', file, version })
    }
    for (const file of files) {
      if (wantFiles) keepFile(file, file.current, 'file')
      if (wantVersions) for (const v of file.versions) keepFile(file, v, 'file-version')
    }
    if (wantFolders && q.fileType === 'all' && q.tags === undefined) {
      for (const folder of folders) {
        if (q.name !== undefined && baseName(folder.folderPath) !== q.name) continue
        if (filter && !filter(folderSearchItem(folder))) continue
        refs.push({ kind: 'folder', folder })
      }
    }
    return refs.sort(comparator(q.sort))
  }
}

function fileSearchItem(file: FileRecord, v: VersionRecord, type: 'file' | 'file-version'): SearchItem {
  return {
    type,
    id: file.fileId,
    name: baseName(file.filePath),
    folder: parentOf(file.filePath),
    createdAt: type === 'file' ? file.createdAt : v.createdAt,
    updatedAt: v.updatedAt,
    tags: v.tags ?? [],
    aiTags: v.AITags?.map((t) => t.name) ?? [],
    size: v.size,
    ...(v.width !== undefined ? { width: v.width } : {}),
    ...(v.height !== undefined ? { height: v.height } : {}),
    ...(v.duration !== undefined ? { duration: v.duration } : {}),
    format: v.format,
    isPrivateFile: v.isPrivateFile,
    isPublished: v.isPublished,
    hasAlpha: v.hasAlpha,
    customMetadata: v.customMetadata,
    ...(v.embeddedMetadata ? { embeddedMetadata: v.embeddedMetadata } : {}),
  }
}

function folderSearchItem(folder: FolderRecord): SearchItem {
  return {
    type: 'folder', id: folder.folderId, name: baseName(folder.folderPath), folder: parentOf(folder.folderPath),
    createdAt: folder.createdAt, updatedAt: folder.updatedAt, tags: [], aiTags: [],
  }
}

function refPath(r: Ref): string {
  return r.kind === 'folder' ? r.folder.folderPath : r.file.filePath
}

function refNumber(r: Ref): number {
  return r.kind === 'folder' ? 0 : r.version.number
}

function sortValue(r: Ref, sort: string): number | string {
  const field = sort.replace(/^(ASC|DESC)_/, '')
  if (field === 'NAME') return baseName(refPath(r))
  if (r.kind === 'folder') {
    if (field === 'UPDATED') return r.folder.updatedAt
    return field === 'CREATED' || field === 'RELEVANCE' ? r.folder.createdAt : -1
  }
  const v = r.version
  switch (field) {
    case 'UPDATED': return v.updatedAt
    case 'HEIGHT': return v.height ?? -1
    case 'WIDTH': return v.width ?? -1
    case 'SIZE': return v.size
    default: return v === r.file.current ? r.file.createdAt : v.createdAt
  }
}

function compareValues(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const x = String(a), y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}

function comparator(sort: ListSort): (a: Ref, b: Ref) => number {
  const sign = sort.startsWith('DESC') && sort !== 'DESC_RELEVANCE' ? -1 : 1
  return (a, b) =>
    sign * compareValues(sortValue(a, sort), sortValue(b, sort)) ||
    compareValues(refPath(a), refPath(b)) ||
    refNumber(a) - refNumber(b)
}

interface ListParams {
  path: string | undefined
  type: (typeof TYPES)[number]
  searchQuery: string | undefined
  fileType: (typeof FILE_TYPES)[number]
  sort: ListSort
  skip: number
  limit: number
  tags: string[] | undefined
  name: string | undefined
  includeFolder: boolean
}

function parseListParams(p: URLSearchParams, ctx: EmulatorContext): ListParams {
  const type = p.get('type') ?? 'file'
  const searchQuery = p.get('searchQuery') ?? undefined
  if (searchQuery === undefined && !(TYPES as readonly string[]).includes(type)) {
    throw badRequest('Your request contains invalid value for type parameter. Please provide one of the following: file, file-version, folder, all.')
  }
  const sort = p.get('sort') ?? 'ASC_CREATED'
  if (!(LIST_SORTS as readonly string[]).includes(sort)) throw badRequest('Your request contains invalid value for sort parameters.')
  const fileType = p.get('fileType') ?? 'all'
  if (!(FILE_TYPES as readonly string[]).includes(fileType)) throw badRequest('Your request contains invalid value for fileType parameter.')
  const skipRaw = p.get('skip') ?? '0'
  const skip = Number(skipRaw)
  if (!/^-?\d+$/.test(skipRaw.trim()) || skip < 0) {
    throw badRequest(`The value of skip parameter should be greater than or equal to 0. Value sent is ${skipRaw}.`)
  }
  const limitRaw = p.get('limit') ?? String(MAX_LIST_LIMIT)
  const limit = Number(limitRaw)
  if (!/^-?\d+$/.test(limitRaw.trim()) || limit < 1) throw badRequest(`Minimum value of limit parameter is 1. Value sent is ${limitRaw}.`)
  if (limit > MAX_LIST_LIMIT) throw badRequest(`Maximum value of limit parameter is ${MAX_LIST_LIMIT}. Value sent is ${limitRaw}.`)
  let path: string | undefined
  const rawPath = p.get('path')
  if (rawPath !== null && rawPath !== '') {
    try {
      path = normalizeFolderPath(rawPath, ctx.options.names, false, ctx.options.maxFolderDepth)
    } catch (e) {
      if (e instanceof NameError) throw badRequest(e.message, e.reason)
      throw e
    }
  }
  const tagsRaw = searchQuery === undefined ? p.get('tags') : null
  const nameRaw = searchQuery === undefined ? p.get('name') : null
  return {
    path,
    type: type as ListParams['type'],
    searchQuery,
    fileType: fileType as ListParams['fileType'],
    sort: sort as ListSort,
    skip,
    limit,
    tags: tagsRaw ? tagsRaw.split(',').map((t) => t.trim()).filter((t) => t) : undefined,
    name: nameRaw ?? undefined,
    includeFolder: searchQuery === undefined && p.get('includeFolder') === 'true',
  }
}
