/** Media API (§4.1–4.17) under `/v1/...`, with `/v2/...` aliases (rclone). One table of routes, one handler each. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FileMetadata } from '../../imagekit/types.js'
import type { EmulatorContext } from '../context.js'
import { parseDeliveryTarget } from '../delivery-target.js'
import { decodeComponent } from '../names.js'
import { bulkDelete, changeTags, updateDetails } from '../detail-ops.js'
import { detailsObject, embeddedFactsOf } from '../details-object.js'
import {
  copyOrMoveFile, deleteFile, deleteVersion, fileOr404, renameFile, restoreVersion,
} from '../file-ops.js'
import { parseExtensions, startExtensions, withExtensionStatus } from '../extensions.js'
import { toFileObject, toMetadata } from '../file-object.js'
import { checkCopyOrMoveFolder, checkRenameFolder, createFolder, deleteFolder, type FolderChange } from '../folder-ops.js'
import { ApiError, badRequest, notFound, readJsonBody, sendEmpty, sendJson } from '../http-io.js'
import { isWellFormedId } from '../ids.js'
import { FileLister } from '../list.js'
import { createMetadataField, deleteMetadataField, listMetadataFields, toFieldObject, updateMetadataField } from '../metadata-field-ops.js'
import { INVALID_PURGE_URL, parsePurgeUrl } from '../purge-target.js'
import type { FileRecord, VersionRecord } from '../records.js'
import { UsageCache } from '../usage-cache.js'

/** §4.15's 404 message. */
const METADATA_FILE_MISSING = 'The requested file does not exist or is inaccessible at this time.'
/** §4.15's 400 message, what a file without image or video metadata answers (options.nonImageMetadata). */
const METADATA_NOT_MEDIA = 'The requested file is corrupt or invalid.'

/**
 * Account settings APIs the real service has (§4.17, the SDK 7 surface) and the emulator does not: answered
 * 404 in the API's error shape, saying so, rather than as if the path were unknown.
 */
const NOT_EMULATED: readonly (readonly [RegExp, string])[] = [
  [/^\/named-transformations(\/|$)/, 'named transformations'],
  [/^\/saved-extensions(\/|$)/, 'saved extensions'],
  [/^\/accounts\/origins(\/|$)/, 'origins'],
  [/^\/accounts\/url-endpoints(\/|$)/, 'URL endpoints'],
  [/^\/accounts\/usage-analytics(\/|$)/, 'usage analytics'],
]

/** §4.16: a usage window must be shorter than this (the end date is excluded). */
const USAGE_SPAN_LIMIT_DAYS = 90

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>

interface Route {
  method: string
  pattern: RegExp
  handler: Handler
}

export class MediaRoutes {
  readonly #routes: Route[]
  readonly #lister: FileLister
  readonly #usageAnswers: UsageCache<Record<string, number>>

  constructor(readonly ctx: EmulatorContext) {
    this.#lister = new FileLister(ctx)
    this.#usageAnswers = new UsageCache(ctx.clock, ctx.options.usageCacheMs)
    const seg = '([^/]+)'
    const r = (method: string, path: string, handler: Handler): Route => ({
      method, pattern: new RegExp(`^${path.replace(/\{\w+\}/g, seg)}$`), handler: handler.bind(this),
    })
    this.#routes = [
      r('GET', '/files/?', this.#list),
      r('POST', '/files/batch/deleteByFileIds', this.#bulkDelete),
      r('POST', '/files/addTags', (q, s) => this.#tags(q, s, 'addTags')),
      r('POST', '/files/removeTags', (q, s) => this.#tags(q, s, 'removeTags')),
      r('POST', '/files/removeAITags', (q, s) => this.#tags(q, s, 'removeAITags')),
      r('POST', '/files/copy', (q, s) => this.#copyMove(q, s, false)),
      r('POST', '/files/move', (q, s) => this.#copyMove(q, s, true)),
      r('PUT', '/files/rename', this.#rename),
      r('POST', '/files/purge', this.#purge),
      r('GET', '/files/purge/{requestId}', this.#purgeStatus),
      r('GET', '/files/metadata', this.#metadataByUrl),
      r('GET', '/metadata', this.#metadataByUrl),
      r('GET', '/files/{fileId}/details', this.#details),
      r('PATCH', '/files/{fileId}/details', this.#updateDetails),
      r('DELETE', '/files/{fileId}', this.#deleteFile),
      r('GET', '/files/{fileId}/metadata', this.#metadata),
      r('GET', '/files/{fileId}/versions', this.#versions),
      r('GET', '/files/{fileId}/versions/{versionId}', this.#version),
      r('DELETE', '/files/{fileId}/versions/{versionId}', this.#deleteVersion),
      r('PUT', '/files/{fileId}/versions/{versionId}/restore', this.#restore),
      r('POST', '/folder/?', this.#createFolder),
      r('DELETE', '/folder/?', this.#deleteFolder),
      r('POST', '/bulkJobs/copyFolder', (q, s) => this.#folderJob(q, s, 'COPY_FOLDER')),
      r('POST', '/bulkJobs/moveFolder', (q, s) => this.#folderJob(q, s, 'MOVE_FOLDER')),
      r('POST', '/bulkJobs/renameFolder', (q, s) => this.#folderJob(q, s, 'RENAME_FOLDER')),
      r('GET', '/bulkJobs/{jobId}', this.#jobStatus),
      r('GET', '/accounts/usage', this.#usage),
      r('GET', '/customMetadataFields/?', this.#listFields),
      r('POST', '/customMetadataFields/?', this.#createField),
      r('PATCH', '/customMetadataFields/{id}', this.#updateField),
      r('DELETE', '/customMetadataFields/{id}', this.#deleteField),
    ]
  }

  /** `path` is the part after `/v1` or `/v2`. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    for (const route of this.#routes) {
      const m = route.pattern.exec(path)
      if (m && route.method === req.method) {
        // A malformed escape is kept as sent, so the route answers its own error for it (no id has a `%`).
        const params = m.slice(1).map((p) => decodeComponent(p) ?? p)
        return route.handler(req, res, params, query)
      }
    }
    const missing = NOT_EMULATED.find(([pattern]) => pattern.test(path))
    if (missing) throw new ApiError(404, `The ImageKit emulator does not emulate the ${missing[1]} API (${req.method ?? 'GET'} ${path.split('/').slice(0, 3).join('/')}).`)
    throw new ApiError(404, 'The requested resource does not exist.')
  }

  #file(fileId: string | undefined): FileRecord {
    if (!fileId || !isWellFormedId(fileId)) throw badRequest('Your request contains invalid fileId parameter.')
    return fileOr404(this.ctx, fileId)
  }

  async #list(_req: IncomingMessage, res: ServerResponse, _p: string[], query: URLSearchParams): Promise<void> {
    sendJson(res, 200, this.#lister.list(query))
  }

  async #details(_req: IncomingMessage, res: ServerResponse, [fileId]: string[]): Promise<void> {
    const file = this.#file(fileId)
    sendJson(res, 200, await detailsObject(this.ctx, file, file.current))
  }


  async #updateDetails(req: IncomingMessage, res: ServerResponse, [fileId]: string[]): Promise<void> {
    this.#file(fileId)
    const body = await readJsonBody(req)
    const extensions = body.extensions === undefined ? undefined : parseExtensions(body.extensions)
    const updated = await updateDetails(this.ctx, fileId as string, body)
    const extensionStatus = await startExtensions(this.ctx, updated.fileId, extensions, typeof body.webhookUrl === 'string' ? body.webhookUrl : undefined)
    const file = this.ctx.store.fileById(updated.fileId) ?? updated
    const answer = await detailsObject(this.ctx, file, file.current)
    sendJson(res, 200, withExtensionStatus(answer, extensionStatus))
  }

  async #listFields(_req: IncomingMessage, res: ServerResponse, _p: string[], query: URLSearchParams): Promise<void> {
    sendJson(res, 200, listMetadataFields(this.ctx, query))
  }

  async #createField(req: IncomingMessage, res: ServerResponse): Promise<void> {
    sendJson(res, 201, toFieldObject(await createMetadataField(this.ctx, await readJsonBody(req))))
  }

  async #updateField(req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    sendJson(res, 200, toFieldObject(await updateMetadataField(this.ctx, id as string, await readJsonBody(req))))
  }

  async #deleteField(_req: IncomingMessage, res: ServerResponse, [id]: string[]): Promise<void> {
    await deleteMetadataField(this.ctx, id as string)
    if (this.ctx.options.customFieldDeleteStatus === 200) sendJson(res, 200, {})
    else sendEmpty(res, 204)
  }

  async #deleteFile(_req: IncomingMessage, res: ServerResponse, [fileId]: string[]): Promise<void> {
    this.#file(fileId)
    await deleteFile(this.ctx, fileId as string)
    sendEmpty(res, 204)
  }

  async #bulkDelete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    sendJson(res, 200, await bulkDelete(this.ctx, await readJsonBody(req)))
  }

  async #tags(req: IncomingMessage, res: ServerResponse, change: 'addTags' | 'removeTags' | 'removeAITags'): Promise<void> {
    sendJson(res, 200, await changeTags(this.ctx, await readJsonBody(req), change))
  }

  async #copyMove(req: IncomingMessage, res: ServerResponse, move: boolean): Promise<void> {
    await copyOrMoveFile(this.ctx, await readJsonBody(req), move)
    sendEmpty(res, 204)
  }

  async #rename(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req)
    const { oldFilePath } = await renameFile(this.ctx, body)
    if (body.purgeCache === true) {
      this.ctx.cdn.purge(oldFilePath, true)
      sendJson(res, 200, { purgeRequestId: this.ctx.jobs.addPurge() })
    } else {
      sendJson(res, 200, {})
    }
  }

  async #versions(_req: IncomingMessage, res: ServerResponse, [fileId]: string[]): Promise<void> {
    const file = this.#file(fileId)
    const all = [...file.versions, file.current].sort((a, b) => a.number - b.number)
    sendJson(res, 200, all.map((v) => toFileObject(file, v, this.ctx.urls)))
  }

  #versionId(versionId: string | undefined): string {
    if (!versionId || !isWellFormedId(versionId)) throw badRequest('Your request contains invalid versionId parameter.')
    return versionId
  }

  async #version(_req: IncomingMessage, res: ServerResponse, [fileId, versionId]: string[]): Promise<void> {
    const file = this.#file(fileId)
    const id = this.#versionId(versionId)
    const version = file.current.id === id ? file.current : file.versions.find((v) => v.id === id)
    if (!version) throw notFound('The requested file version does not exist.')
    sendJson(res, 200, await detailsObject(this.ctx, file, version))
  }

  async #deleteVersion(_req: IncomingMessage, res: ServerResponse, [fileId, versionId]: string[]): Promise<void> {
    if (!fileId || !isWellFormedId(fileId)) throw badRequest('Your request contains invalid fileId parameter.')
    await deleteVersion(this.ctx, fileId, this.#versionId(versionId))
    sendEmpty(res, 204)
  }

  async #restore(_req: IncomingMessage, res: ServerResponse, [fileId, versionId]: string[]): Promise<void> {
    if (!fileId || !isWellFormedId(fileId)) throw badRequest('Your request contains invalid fileId parameter.')
    const file = await restoreVersion(this.ctx, fileId, this.#versionId(versionId))
    sendJson(res, 200, await detailsObject(this.ctx, file, file.current))
  }

  async #createFolder(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await createFolder(this.ctx, await readJsonBody(req))
    sendJson(res, 201, {})
  }

  async #deleteFolder(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await deleteFolder(this.ctx, await readJsonBody(req))
    sendEmpty(res, 204)
  }

  /** §4.13: the request is checked now (its errors answer the POST); the tree changes when the job completes. */
  async #folderJob(req: IncomingMessage, res: ServerResponse, type: 'COPY_FOLDER' | 'MOVE_FOLDER' | 'RENAME_FOLDER'): Promise<void> {
    const body = await readJsonBody(req)
    const check = (): FolderChange => type === 'RENAME_FOLDER'
      ? checkRenameFolder(this.ctx, body)
      : checkCopyOrMoveFolder(this.ctx, body, type === 'MOVE_FOLDER')
    await this.ctx.store.exclusive(async () => { check() })
    const purgeRequestId = type === 'RENAME_FOLDER' && body.purgeCache === true ? this.ctx.jobs.addPurge() : undefined
    const work = () => this.ctx.store.exclusive(async () => { await check()() })
    sendJson(res, 200, { jobId: this.ctx.jobs.addJob(type, work, purgeRequestId) })
  }

  async #jobStatus(_req: IncomingMessage, res: ServerResponse, [jobId]: string[]): Promise<void> {
    const job = this.ctx.jobs.job(jobId ?? '')
    if (!job) throw notFound('The requested job does not exist.')
    sendJson(res, 200, job)
  }

  async #purge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req)
    const target = parsePurgeUrl(typeof body.url === 'string' ? body.url : '', this.ctx.endpointUrls)
    if (!target) throw badRequest(INVALID_PURGE_URL)
    this.ctx.cdn.purge(target.cacheKey, target.prefix)
    sendJson(res, 201, { requestId: this.ctx.jobs.addPurge() })
  }

  async #purgeStatus(_req: IncomingMessage, res: ServerResponse, [requestId]: string[]): Promise<void> {
    const status = this.ctx.jobs.purgeStatus(requestId ?? '')
    if (!status) throw badRequest('No request found for this requestId.')
    sendJson(res, 200, { status })
  }

  async #metadata(_req: IncomingMessage, res: ServerResponse, [fileId]: string[]): Promise<void> {
    if (!fileId || !isWellFormedId(fileId)) throw badRequest('Your request contains invalid fileId parameter.')
    const file = this.ctx.store.fileById(fileId)
    if (!file) throw notFound(METADATA_FILE_MISSING)
    sendJson(res, 200, await this.#metadataOf(file, file.current))
  }

  async #metadataByUrl(_req: IncomingMessage, res: ServerResponse, _p: string[], query: URLSearchParams): Promise<void> {
    const notOurs = () => badRequest('The url should be accessible using your ImageKit.io account.')
    const relative = this.ctx.endpointUrls.relative(query.get('url') ?? '')
    const target = relative && parseDeliveryTarget(relative.rawTarget, relative.endpointPath)
    const file = target ? this.ctx.store.fileByPath(target.filePath) : undefined
    if (!target || !file) throw notOurs()
    const token = target.params.get('ik-obj-version')
    const version = token ? file.versions.find((v) => v.token === token) : file.current
    if (!version) throw notOurs()
    sendJson(res, 200, await this.#metadataOf(file, version))
  }

  /** §2.4 from the version's first bytes; images, videos and audio only (unless options.nonImageMetadata is 200). */
  async #metadataOf(file: FileRecord, version: VersionRecord): Promise<FileMetadata> {
    const media = version.fileType === 'image' || /^(video|audio)\//.test(version.mime)
    if (!media && this.ctx.options.nonImageMetadata === 400) throw badRequest(METADATA_NOT_MEDIA)
    return toMetadata(version, await embeddedFactsOf(this.ctx, file, version, METADATA_FILE_MISSING))
  }

  async #usage(_req: IncomingMessage, res: ServerResponse, _p: string[], query: URLSearchParams): Promise<void> {
    const start = query.get('startDate')
    const end = query.get('endDate')
    if (!start || !end) throw badRequest('startDate and endDate are required in query parameters.')
    const day = /^\d{4}-\d{2}-\d{2}$/
    const startMs = Date.parse(start + 'T00:00:00Z')
    const endMs = Date.parse(end + 'T00:00:00Z')
    if (!day.test(start) || !day.test(end) || Number.isNaN(startMs) || Number.isNaN(endMs)) {
      throw badRequest('startDate and endDate should be in format YYYY-MM-DD.')
    }
    if (startMs >= endMs) throw badRequest('startDate should be before endDate.')
    if (endMs - startMs >= USAGE_SPAN_LIMIT_DAYS * 86_400_000) throw badRequest('startDate and endDate should be within 90 days.')
    sendJson(res, 200, this.#usageAnswers.get(`${start}/${end}`, () => {
      let storage = 0
      for (const file of this.ctx.store.allFiles()) {
        storage += file.current.size
        for (const v of file.versions) storage += v.size
      }
      return {
        bandwidthBytes: this.ctx.usage.bandwidthBytes.within(start, end),
        mediaLibraryStorageBytes: storage,
        videoProcessingUnitsCount: 0,
        extensionUnitsCount: this.ctx.usage.extensionUnits.within(start, end),
        originalCacheStorageBytes: 0,
      }
    }))
  }
}
