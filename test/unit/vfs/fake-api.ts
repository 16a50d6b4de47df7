/**
 * An in-memory ImageKitApi for VFS unit tests: folders, files with versions, paged listings, ranged
 * reads with real stream backpressure, and scripted faults (errors, errors after a stored upload, mid-body drops, stale bytes,
 * 200s that ignore the range, a gate that holds chunks). Counts every call.
 */
import { Readable } from 'node:stream'
import { readFile } from 'node:fs/promises'
import type {
  BodySink, DeliveryTarget, ImageKitApi, ListFilesQuery, RangeResponse, RepeatableChangeOptions, RequestOptions, StreamUploadRequest, UploadFields,
  UploadRequest,
} from '../../../src/imagekit/api.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { SMALL_FILE_BYTES } from '../../../src/imagekit/upload.js'
import type { AccountUsage, BulkJobStatus, FileObject, FolderObject, ListItem, UploadResponse } from '../../../src/imagekit/types.js'

const ENDPOINT = 'https://ik.example.test/demo'
const T0 = Date.parse('2024-01-02T03:04:05.006Z')

interface Version {
  obj: FileObject
  bytes: Buffer
}
interface Entry {
  current: Version
  old: Version[]
}

export interface Generated {
  count: number
  make: (i: number) => ListItem
}

let idCounter = 0
export function newId(): string {
  return (++idCounter).toString(16).padStart(24, '0')
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1)
}
function parentOf(p: string): string {
  const i = p.lastIndexOf('/')
  return i <= 0 ? '/' : p.slice(0, i)
}

export function patternBytes(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size)
  let x = seed * 2654435761 >>> 0
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

export function makeFileObject(filePath: string, size: number, extra: Partial<FileObject> = {}): FileObject {
  const fileId = extra.fileId ?? newId()
  const updatedAt = extra.updatedAt ?? new Date(T0).toISOString()
  return {
    type: 'file',
    fileId,
    name: basename(filePath),
    filePath,
    tags: null,
    AITags: null,
    versionInfo: { id: fileId, name: 'Version 1' },
    isPrivateFile: false,
    isPublished: true,
    customCoordinates: null,
    url: `${ENDPOINT}${encodeURI(filePath)}?updatedAt=${Date.parse(updatedAt)}`,
    thumbnail: '',
    fileType: 'image',
    mime: 'image/jpeg',
    width: 640,
    height: 480,
    size,
    hasAlpha: false,
    customMetadata: {},
    createdAt: new Date(T0).toISOString(),
    updatedAt,
    ...extra,
  }
}

export function makeFolderObject(folderPath: string): FolderObject {
  return {
    type: 'folder',
    folderId: newId(),
    name: basename(folderPath),
    folderPath,
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0 + 1000).toISOString(),
  }
}

export class FakeImageKit implements ImageKitApi {
  pageSize = 1000
  chunkBytes = 64 * 1024
  readonly calls = { listFiles: 0, listPages: 0, getFileDetails: 0, listFileVersions: 0, getAccountUsage: 0, readRange: 0 }
  readonly listQueries: ListFilesQuery[] = []
  readonly ranges: { url: string; start: number; end: number | undefined }[] = []
  bytesServed = 0
  usage: AccountUsage = {
    bandwidthBytes: 0, mediaLibraryStorageBytes: 5 * 2 ** 30, videoProcessingUnitsCount: 0,
    extensionUnitsCount: 0, originalCacheStorageBytes: 0,
  }

  // ---- faults ----
  /** The next call of this op throws this error. */
  readonly failNext = new Map<string, Error>()
  /** The next upload (uploadFile or uploadFileStream) is stored, then answered with this error (a gateway's 504 after the store). */
  failAfterStoreNext: Error | undefined
  /** Every call of the op fails with this error until it is deleted (an outage). */
  readonly failAlways = new Map<string, Error>()
  /** Each of the next N bodies dies after this many bytes. */
  dropAfterBytes: number | undefined
  dropCount = 0
  /** Serve 200 with the whole file, ignoring the range. */
  ignoreRange = false
  /** Bytes the "CDN" serves for a URL instead of the real ones (stale cache). */
  readonly staleByUrl = new Map<string, Buffer>()
  /** Awaited before every chunk is pushed (to pace streams in concurrency tests). */
  gate: (() => Promise<void>) | undefined
  /** Awaited by listFiles after it took its snapshot of the folder, before the first item (a slow listing). */
  listGate: ((query: ListFilesQuery) => Promise<void>) | undefined

  readonly #folders = new Map<string, FolderObject>()
  readonly #files = new Map<string, Entry>()
  readonly #byUrl = new Map<string, Buffer>()
  readonly #generated = new Map<string, Generated>()

  addFolder(folderPath: string): FolderObject {
    const f = makeFolderObject(folderPath)
    this.#folders.set(folderPath, f)
    return f
  }

  addFile(filePath: string, bytes: Buffer | number, extra: Partial<FileObject> = {}): FileObject {
    const data = typeof bytes === 'number' ? patternBytes(bytes, this.#files.size + 1) : bytes
    const obj = makeFileObject(filePath, data.length, extra)
    this.#files.set(filePath, { current: { obj, bytes: data }, old: [] })
    this.#byUrl.set(obj.url, data)
    return obj
  }

  /** Upload over an existing file: same fileId, new version; the old one becomes a file-version. */
  overwrite(filePath: string, bytes: Buffer, updatedAt: string): FileObject {
    const e = this.#files.get(filePath)
    if (!e) throw new Error(`no ${filePath}`)
    const old = e.current
    const token = `tok${newId()}`
    const oldObj: FileObject = {
      ...old.obj, type: 'file-version',
      url: `${ENDPOINT}${encodeURI(filePath)}?ik-obj-version=${token}&updatedAt=${Date.parse(old.obj.updatedAt)}`,
    }
    this.#byUrl.set(oldObj.url, old.bytes)
    e.old.push({ obj: oldObj, bytes: old.bytes })
    const versionId = newId()
    const obj: FileObject = {
      ...old.obj, versionInfo: { id: versionId, name: `Version ${e.old.length + 1}` }, size: bytes.length, updatedAt,
      url: `${ENDPOINT}${encodeURI(filePath)}?updatedAt=${Date.parse(updatedAt)}`,
    }
    e.current = { obj, bytes }
    this.#byUrl.set(obj.url, bytes)
    return obj
  }

  /** Change details without a new version (a new updatedAt → a new url). */
  touch(filePath: string, updatedAt: string): FileObject {
    const e = this.#files.get(filePath)
    if (!e) throw new Error(`no ${filePath}`)
    const obj: FileObject = { ...e.current.obj, updatedAt, url: `${ENDPOINT}${encodeURI(filePath)}?updatedAt=${Date.parse(updatedAt)}` }
    e.current = { obj, bytes: e.current.bytes }
    this.#byUrl.set(obj.url, e.current.bytes)
    return obj
  }

  /** Deletes an older version (DELETE /v1/files/{fileId}/versions/{versionId}); its URL, never fetched, then answers 404. */
  deleteVersion(filePath: string, versionId: string): void {
    const e = this.#files.get(filePath)
    const at = e?.old.findIndex((v) => v.obj.versionInfo.id === versionId) ?? -1
    if (!e || at < 0) throw new Error(`no version ${versionId} of ${filePath}`)
    const [gone] = e.old.splice(at, 1)
    this.#byUrl.delete(gone!.obj.url)
  }

  removeFile(filePath: string): void {
    this.#files.delete(filePath)
  }

  /** The CDN forgets the URLs starting with `prefix` (a renamed or moved file's old ones): ranges there then answer 404. */
  forgetUrls(prefix: string): void {
    for (const url of [...this.#byUrl.keys()]) if (url.startsWith(prefix)) this.#byUrl.delete(url)
  }

  /** A folder whose items are made on demand (memory tests). */
  generate(folderPath: string, g: Generated): void {
    this.#generated.set(folderPath, g)
  }

  #maybeFail(op: string): void {
    const always = this.failAlways.get(op)
    if (always) throw always
    const e = this.failNext.get(op)
    if (e) {
      this.failNext.delete(op)
      throw e
    }
  }

  // ---- ImageKitApi ----

  async *listFiles(query: ListFilesQuery, _options?: RequestOptions): AsyncIterable<ListItem> {
    this.calls.listFiles++
    this.listQueries.push(query)
    this.#maybeFail('listFiles')
    const path = query.path ?? '/'
    const type = query.type ?? 'file'
    const generated = this.#generated.get(path)
    const count = generated ? generated.count : undefined
    const items: ListItem[] = generated ? [] : this.#itemsIn(path, type)
    const total = count ?? items.length
    if (this.listGate) await this.listGate(query)
    for (let skip = 0; ; skip += this.pageSize) {
      this.calls.listPages++
      await Promise.resolve() // a page arrives asynchronously
      const end = Math.min(total, skip + this.pageSize)
      for (let i = skip; i < end; i++) yield generated ? generated.make(i) : items[i]!
      if (end - skip < this.pageSize) break
    }
  }

  #itemsIn(path: string, type: string): ListItem[] {
    const out: ListItem[] = []
    if (type === 'all' || type === 'folder') {
      for (const f of this.#folders.values()) if (parentOf(f.folderPath) === path) out.push(f)
    }
    for (const e of this.#files.values()) {
      if (parentOf(e.current.obj.filePath) !== path) continue
      if (type === 'all' || type === 'file') out.push(e.current.obj)
      if (type === 'file-version') for (const v of e.old) out.push(v.obj)
    }
    return out
  }

  async getFileDetails(fileId: string): Promise<FileObject> {
    this.calls.getFileDetails++
    this.#maybeFail('getFileDetails')
    for (const e of this.#files.values()) if (e.current.obj.fileId === fileId) return e.current.obj
    throw new ImageKitError('IK_NOT_FOUND', 'GET /v1/files/{fileId}/details: not found', { status: 404 })
  }

  async listFileVersions(fileId: string): Promise<FileObject[]> {
    this.calls.listFileVersions++
    for (const e of this.#files.values()) {
      if (e.current.obj.fileId === fileId) return [e.current.obj, ...e.old.map((v) => v.obj)]
    }
    throw new ImageKitError('IK_NOT_FOUND', 'not found', { status: 404 })
  }

  async getAccountUsage(): Promise<AccountUsage> {
    this.calls.getAccountUsage++
    this.#maybeFail('getAccountUsage')
    return { ...this.usage }
  }

  /** Like the client: a url without a version of its own is pinned with `ikfs-version`, then `tr=orig-true`. */
  deliveryUrl(target: DeliveryTarget): string {
    let url = target.url
    if (target.versionId && !/[?&](updatedAt|ik-obj-version)=/.test(url)) url += (url.includes('?') ? '&' : '?') + `ikfs-version=${target.versionId}`
    return url + (url.includes('?') ? '&' : '?') + 'tr=orig-true'
  }

  /** Like the CDN: a url with no version of its own (an upload response's, pinned or bare) serves the current bytes. */
  #currentAtBareUrl(url: string): Buffer | undefined {
    const bare = url.replace(/[?&]ikfs-version=[^&]*$/, '')
    if (bare.includes('?')) return undefined
    for (const [filePath, e] of this.#files) if (`${ENDPOINT}${encodeURI(filePath)}` === bare) return e.current.bytes
    return undefined
  }

  async readRange(url: string, start: number, endInclusive: number | undefined, options?: RequestOptions): Promise<RangeResponse> {
    this.calls.readRange++
    this.ranges.push({ url, start, end: endInclusive })
    this.#maybeFail('readRange')
    await Promise.resolve()
    const base = url.replace(/[?&]tr=orig-true$/, '')
    const real = this.#byUrl.get(base) ?? this.#currentAtBareUrl(base)
    const data = this.staleByUrl.get(base) ?? real
    if (!data) throw new ImageKitError('IK_NOT_FOUND', 'GET delivery: not found', { status: 404 })
    if (start >= data.length && !this.ignoreRange) {
      throw new ImageKitError('IK_RANGE_NOT_SATISFIABLE', 'GET delivery: 416', { status: 416 })
    }
    const from = this.ignoreRange ? 0 : start
    const to = this.ignoreRange || endInclusive === undefined ? data.length : Math.min(data.length, endInclusive + 1)
    let dropAfter: number | undefined
    if (this.dropCount > 0 && this.dropAfterBytes !== undefined) {
      this.dropCount--
      dropAfter = this.dropAfterBytes
    }
    const range = new ReadableRange(from, data.length, this.#body(data.subarray(from, to), dropAfter, options?.signal))
    range.etag = `"${this.#etagOf(data)}"`
    return range
  }

  /** One ETag per distinct content served, as a CDN gives. */
  readonly #etags = new WeakMap<Buffer, number>()
  #nextEtag = 1
  #etagOf(data: Buffer): number {
    let tag = this.#etags.get(data)
    if (tag === undefined) this.#etags.set(data, (tag = this.#nextEtag++))
    return tag
  }

  #body(data: Buffer, dropAfter: number | undefined, signal: AbortSignal | undefined): Readable {
    let pos = 0
    let busy = false
    const fake = this
    const stream = new Readable({
      highWaterMark: this.chunkBytes,
      read() {
        if (busy) return
        busy = true
        const pushOne = () => {
          busy = false
          if (stream.destroyed) return
          if (dropAfter !== undefined && pos >= dropAfter) {
            stream.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
            return
          }
          if (pos >= data.length) {
            stream.push(null)
            return
          }
          let n = Math.min(fake.chunkBytes, data.length - pos)
          if (dropAfter !== undefined) n = Math.min(n, dropAfter - pos)
          const chunk = Buffer.from(data.subarray(pos, pos + n))
          pos += n
          fake.bytesServed += n
          if (stream.push(chunk)) {
            // keep going while the consumer wants more
            busy = true
            queueMicrotask(pushNext)
          }
        }
        const pushNext = () => {
          if (fake.gate) void fake.gate().then(pushOne)
          else pushOne()
        }
        pushNext()
      },
    })
    signal?.addEventListener('abort', () => stream.destroy(), { once: true })
    return stream
  }

  // ---- write side (faithful to imagekit-api.md §4.4-4.13, §4.18, §5.2) ----

  #copies = 0
  readonly writeCalls = { uploadFile: 0, uploadFileStream: 0, deleteFile: 0, renameFile: 0, moveFile: 0, copyFile: 0, createFolder: 0, deleteFolder: 0, renameFolder: 0, moveFolder: 0 }
  /** Uploads larger than this are refused with IK_TOO_LARGE (the plan's limit). */
  maxUploadBytes = 25 * 1024 * 1024
  /** Awaited inside every upload (hold uploads open in concurrency tests). */
  uploadGate: (() => Promise<void>) | undefined
  /** Awaited after an upload's body was read and before the server stores it and answers. */
  answerGate: (() => Promise<void>) | undefined
  /** Upload bodies read so far (the bytes an upload sends are those of this moment). */
  bodiesRead = 0
  uploadsInFlight = 0
  maxUploadsInFlight = 0
  readonly uploads: { filePath: string; size: number; isPrivateFile?: boolean; isPublished?: boolean; keepExistingMetadata?: boolean; tags?: string[]; customCoordinates?: string | null; streamed?: boolean }[] = []
  /** Every streamed upload (uploadFileStream), with what became of it. */
  readonly streams: { filePath: string; fields: UploadFields; received: number; state: 'open' | 'stored' | 'aborted' | 'failed' }[] = []
  /** The next streamed upload is answered with this error before its body is read (a server refusing chunked bodies). */
  refuseNextStream: ImageKitError | undefined
  /** The next streamed upload fails with this error once it has received this many bytes (a dropped connection). */
  failNextStreamAt: { bytes: number; error: ImageKitError } | undefined
  /** Awaited before every chunk a streamed upload reads (to hold a stream open, or pace it). */
  streamGate: (() => Promise<void>) | undefined
  #clock = T0 + 3_600_000

  #nextTime(): string {
    this.#clock += 1000
    return new Date(this.#clock).toISOString()
  }

  fileAt(filePath: string): { obj: FileObject; bytes: Buffer; versions: number } | undefined {
    const e = this.#files.get(filePath)
    return e ? { obj: e.current.obj, bytes: e.current.bytes, versions: e.old.length + 1 } : undefined
  }

  hasFolder(folderPath: string): boolean {
    return this.#folders.has(folderPath)
  }

  filePaths(): string[] {
    return [...this.#files.keys()].sort()
  }

  #ensureFolders(folderPath: string): void {
    if (folderPath === '/' || this.#folders.has(folderPath)) return
    this.#ensureFolders(parentOf(folderPath))
    this.addFolder(folderPath)
  }

  #urlFor(filePath: string, updatedAt: string): string {
    return `${ENDPOINT}${encodeURI(filePath)}?updatedAt=${Date.parse(updatedAt)}`
  }

  async uploadFile(request: UploadRequest): Promise<UploadResponse> {
    this.writeCalls.uploadFile++
    this.uploadsInFlight++
    this.maxUploadsInFlight = Math.max(this.maxUploadsInFlight, this.uploadsInFlight)
    try {
      await Promise.resolve()
      // The client holds changes to the file while a request reads it (UploadRequest.reading): from the start of
      // the request (the gate stands for a large file's bytes read while they are sent) to the end of its body.
      const read = await request.reading?.()
      let bytes: Buffer
      try {
        if (this.uploadGate) await this.uploadGate()
        this.#maybeFail('uploadFile')
        bytes = await readFile(request.localFile)
        // As the client does with a small file, which it reads whole into one buffer (imagekit/upload.ts).
        if (bytes.length <= SMALL_FILE_BYTES) request.read?.(bytes)
      } finally {
        read?.()
      }
      this.bodiesRead++
      if (bytes.length === 0) throw new ImageKitError('IK_BAD_REQUEST', 'POST upload: 400', { status: 400 })
      if (bytes.length > this.maxUploadBytes) throw new ImageKitError('IK_TOO_LARGE', 'POST upload: too large', { status: 400 })
      request.onProgress?.(bytes.length)
      if (this.answerGate) await this.answerGate()
      return this.#answer(this.#store(request, bytes, false))
    } finally {
      this.uploadsInFlight--
    }
  }

  /** Reads the body as it comes (abortable); stores it only once it ended, like a server that saw the closing boundary. */
  async uploadFileStream(request: StreamUploadRequest, options: RequestOptions = {}): Promise<UploadResponse> {
    this.writeCalls.uploadFileStream++
    const folder = request.folder === '/' ? '' : request.folder.replace(/\/$/, '')
    const { body, onProgress: _onProgress, ...fields } = request
    const stream = { filePath: `${folder}/${request.fileName}`, fields, received: 0, state: 'open' as 'open' | 'stored' | 'aborted' | 'failed' }
    this.streams.push(stream)
    const refusal = this.refuseNextStream
    this.refuseNextStream = undefined
    const failAt = this.failNextStreamAt
    this.failNextStreamAt = undefined
    const aborted = (): ImageKitError => {
      stream.state = 'aborted'
      return new ImageKitError('IK_ABORTED', 'POST /api/v1/files/upload: aborted')
    }
    try {
      await Promise.resolve()
      if (refusal) throw refusal
      const chunks: Buffer[] = []
      for await (const chunk of body) {
        if (options.signal?.aborted) throw aborted()
        if (this.streamGate) await this.streamGate()
        if (options.signal?.aborted) throw aborted()
        chunks.push(Buffer.from(chunk))
        stream.received += chunk.length
        request.onProgress?.(stream.received)
        if (failAt && stream.received >= failAt.bytes) throw failAt.error
        if (stream.received > this.maxUploadBytes) throw new ImageKitError('IK_TOO_LARGE', 'POST upload: too large', { status: 400 })
      }
      if (options.signal?.aborted) throw aborted()
      const bytes = Buffer.concat(chunks)
      if (bytes.length === 0) throw new ImageKitError('IK_BAD_REQUEST', 'POST upload: 400', { status: 400 })
      stream.state = 'stored'
      return this.#answer(this.#store(request, bytes, true))
    } catch (e) {
      if (stream.state === 'open') stream.state = options.signal?.aborted ? 'aborted' : 'failed'
      throw options.signal?.aborted ? aborted() : e
    }
  }

  #answer(stored: UploadResponse): UploadResponse {
    const e = this.failAfterStoreNext
    this.failAfterStoreNext = undefined
    if (e) throw e
    return stored
  }

  #store(request: UploadFields, bytes: Buffer, streamed: boolean): UploadResponse {
    const folder = request.folder === '/' ? '' : request.folder.replace(/\/$/, '')
    const filePath = `${folder}/${request.fileName}`
    this.#ensureFolders(folder || '/')
    this.uploads.push({
      filePath, size: bytes.length, isPrivateFile: request.isPrivateFile, isPublished: request.isPublished, keepExistingMetadata: request.keepExistingMetadata,
      tags: request.tags, customCoordinates: request.customCoordinates, ...(streamed ? { streamed } : {}),
    })
    const updatedAt = this.#nextTime()
    const existing = this.#files.get(filePath)
    let obj: FileObject
    if (existing) {
      obj = this.overwrite(filePath, bytes, updatedAt)
      const keep = request.keepExistingMetadata === true
      obj = {
        ...obj,
        tags: request.tags ?? (keep ? existing.old[existing.old.length - 1]!.obj.tags : null),
        customMetadata: keep ? obj.customMetadata : {},
        isPrivateFile: request.isPrivateFile ?? false,
        isPublished: request.isPublished ?? true,
      }
      existing.current = { obj, bytes }
    } else {
      obj = this.addFile(filePath, bytes, { updatedAt, tags: request.tags ?? null, isPrivateFile: request.isPrivateFile ?? false, isPublished: request.isPublished ?? true })
    }
    return {
      fileId: obj.fileId, name: obj.name, size: obj.size, versionInfo: obj.versionInfo, filePath: obj.filePath,
      url: `${ENDPOINT}${encodeURI(filePath)}`, // bare, as the real API: the CDN may serve stale bytes here
      fileType: 'non-image', thumbnailUrl: '', AITags: null, tags: obj.tags, isPrivateFile: obj.isPrivateFile, isPublished: obj.isPublished,
      ...(this.answerUploadsWithoutMetadata ? {} : { customMetadata: obj.customMetadata ?? {} }), // asked for in responseFields
    }
  }

  async deleteFile(fileId: string): Promise<void> {
    this.writeCalls.deleteFile++
    await this.renameGate?.()
    this.#maybeFail('deleteFile')
    for (const [path, e] of this.#files) {
      if (e.current.obj.fileId === fileId) {
        this.#files.delete(path)
        return
      }
    }
    throw new ImageKitError('IK_NOT_FOUND', 'DELETE /v1/files/{fileId}: 404', { status: 404 })
  }

  #repath(e: Entry, filePath: string): void {
    const updatedAt = this.#nextTime()
    const obj: FileObject = { ...e.current.obj, name: basename(filePath), filePath, updatedAt, url: this.#urlFor(filePath, updatedAt) }
    this.#byUrl.set(obj.url, e.current.bytes)
    e.current = { obj, bytes: e.current.bytes }
    e.old = e.old.map((v) => {
      const url = `${ENDPOINT}${encodeURI(filePath)}?${v.obj.url.split('?')[1] ?? ''}` // its version token, at the new path
      this.#byUrl.set(url, v.bytes)
      return { obj: { ...v.obj, name: basename(filePath), filePath, url }, bytes: v.bytes }
    })
    this.#files.set(filePath, e)
  }

  async renameFile(filePath: string, newFileName: string): Promise<void> {
    this.writeCalls.renameFile++
    await this.renameGate?.()
    this.#maybeFail('renameFile')
    const e = this.#files.get(filePath)
    if (!e) throw new ImageKitError('IK_NOT_FOUND', 'PUT /v1/files/rename: 404', { status: 404 })
    const target = `${parentOf(filePath) === '/' ? '' : parentOf(filePath)}/${newFileName}`
    if (this.#files.has(target) || this.#folders.has(target)) throw new ImageKitError('IK_CONFLICT', 'PUT /v1/files/rename: 409', { status: 409, reason: 'FILE_ALREADY_EXISTS' })
    this.#files.delete(filePath)
    this.#repath(e, target)
    this.#repeatMeetsWorkDone('renameFile')
  }

  async moveFile(sourceFilePath: string, destinationPath: string): Promise<void> {
    this.writeCalls.moveFile++
    this.#maybeFail('moveFile')
    const e = this.#files.get(sourceFilePath)
    if (!e) throw new ImageKitError('IK_NOT_FOUND', 'POST /v1/files/move: 404', { status: 404 })
    const folder = destinationPath.replace(/\/$/, '')
    const target = `${folder}/${basename(sourceFilePath)}`
    this.#files.delete(sourceFilePath)
    const there = this.#files.get(target)
    if (there) {
      // same-name collision: the moved versions are appended to the destination's history
      there.old.push(there.current, ...e.old)
      there.current = { obj: { ...e.current.obj, fileId: there.current.obj.fileId, filePath: target }, bytes: e.current.bytes }
      return
    }
    this.#ensureFolders(folder || '/')
    this.#repath(e, target)
    this.#repeatMeetsWorkDone('moveFile')
  }

  /** The current version into a folder, same name; a same-named file there gains it as a version (the API's rule). */
  async copyFile(sourceFilePath: string, destinationPath: string): Promise<void> {
    this.writeCalls.copyFile++
    this.#maybeFail('copyFile')
    const e = this.#files.get(sourceFilePath)
    if (!e) throw new ImageKitError('IK_NOT_FOUND', 'POST /v1/files/copy: 404', { status: 404 })
    const folder = destinationPath.replace(/\/$/, '')
    const target = `${folder}/${basename(sourceFilePath)}`
    if (target === sourceFilePath) throw new ImageKitError('IK_BAD_REQUEST', 'POST /v1/files/copy: 400 SAME_SOURCE_AND_DESTINATION', { status: 400 })
    const updatedAt = new Date(T0 + ++this.#copies * 1000).toISOString()
    if (this.#files.has(target)) {
      this.overwrite(target, e.current.bytes, updatedAt)
      return
    }
    this.#ensureFolders(folder || '/')
    const { fileId: _id, versionInfo: _v, name: _n, filePath: _p, url: _u, ...kept } = e.current.obj
    this.addFile(target, e.current.bytes, { ...kept, createdAt: updatedAt, updatedAt })
  }

  readonly detailUpdates: { fileId: string; details: Parameters<ImageKitApi['updateFileDetails']>[1] }[] = []
  /** Awaited inside every rename of a file or a folder, and every delete (hold one open while something else happens). */
  renameGate: (() => Promise<void>) | undefined
  /** Upload answers leave customMetadata out (an API that ignores responseFields). */
  answerUploadsWithoutMetadata = false

  /** PATCH details as ImageKit does it: null clears, custom metadata keys merge (null removes one). */
  async updateFileDetails(fileId: string, details: Parameters<ImageKitApi['updateFileDetails']>[1]): Promise<FileObject> {
    this.detailUpdates.push({ fileId, details })
    this.#maybeFail('updateFileDetails')
    for (const e of this.#files.values()) {
      const obj = e.current.obj
      if (obj.fileId !== fileId) continue
      const metadata: Record<string, unknown> = { ...obj.customMetadata }
      for (const [k, v] of Object.entries(details.customMetadata ?? {})) {
        if (v === null) delete metadata[k]
        else metadata[k] = v
      }
      e.current.obj = {
        ...obj,
        ...('tags' in details ? { tags: details.tags ?? null } : {}),
        ...('customCoordinates' in details ? { customCoordinates: details.customCoordinates ?? null } : {}),
        customMetadata: metadata,
      }
      return e.current.obj
    }
    throw new ImageKitError('IK_NOT_FOUND', 'PATCH /v1/files/{fileId}/details: not found', { status: 404 })
  }

  async createFolder(parentFolderPath: string, folderName: string): Promise<void> {
    this.writeCalls.createFolder++
    this.#maybeFail('createFolder')
    const parent = parentFolderPath.replace(/\/$/, '')
    this.#ensureFolders(`${parent}/${folderName}`)
  }

  /**
   * Folders whose next delete is answered 503 without the work, as the client's retry sees it: `meanwhile`
   * runs (another machine's change), then the repeat is sent unless `done` says not to.
   */
  readonly deleteFolderRepeated = new Map<string, () => void>()

  async deleteFolder(folderPath: string, options: RepeatableChangeOptions = {}): Promise<void> {
    this.writeCalls.deleteFolder++
    this.#maybeFail('deleteFolder')
    const meanwhile = this.deleteFolderRepeated.get(folderPath)
    if (meanwhile) {
      this.deleteFolderRepeated.delete(folderPath)
      meanwhile()
      if (await options.done?.().catch(() => false)) return
      this.writeCalls.deleteFolder++
    }
    if (!this.#folders.has(folderPath)) throw new ImageKitError('IK_NOT_FOUND', 'DELETE /v1/folder: 404', { status: 404 })
    const prefix = folderPath + '/'
    for (const k of [...this.#folders.keys()]) if (k === folderPath || k.startsWith(prefix)) this.#folders.delete(k)
    for (const k of [...this.#files.keys()]) if (k.startsWith(prefix)) this.#files.delete(k)
  }

  #moveTree(from: string, to: string): void {
    const prefix = from + '/'
    for (const k of [...this.#folders.keys()].sort()) {
      if (k !== from && !k.startsWith(prefix)) continue
      this.#folders.delete(k)
      this.addFolder(to + k.slice(from.length))
    }
    for (const [k, e] of [...this.#files]) {
      if (!k.startsWith(prefix)) continue
      this.#files.delete(k)
      this.#repath(e, to + k.slice(from.length))
    }
  }

  /**
   * Ops whose next call is done, then fails as the client's repeat of it would after a 5xx lost its answer:
   * 404, the source being gone.
   */
  readonly repeatMeetsWorkDoneOf = new Set<'renameFile' | 'moveFile'>()

  #repeatMeetsWorkDone(op: 'renameFile' | 'moveFile'): void {
    if (this.repeatMeetsWorkDoneOf.delete(op)) throw new ImageKitError('IK_NOT_FOUND', `${op}: 404 on a repeat after a lost answer`, { status: 404 })
  }

  /** Ops whose next call is done but answers as if the connection dropped after a 2xx status (job id lost). */
  readonly loseAnswerOf = new Set<'renameFolder' | 'moveFolder'>()
  /** Ops whose next call answers a 2xx that is lost, without doing anything (to test giving up). */
  readonly loseAnswerUndoneOf = new Set<'renameFolder' | 'moveFolder'>()

  #lostAnswer(op: 'renameFolder' | 'moveFolder', done: boolean): ImageKitError | undefined {
    const lost = done ? this.loseAnswerOf.delete(op) : this.loseAnswerUndoneOf.delete(op)
    if (!lost) return undefined
    return new ImageKitError('IK_NETWORK', `POST /v1/bulkJobs/${op}: connection closed by the server (UND_ERR_SOCKET)`, { status: 200 })
  }

  async renameFolder(folderPath: string, newFolderName: string): Promise<BulkJobStatus> {
    this.writeCalls.renameFolder++
    await this.renameGate?.()
    this.#maybeFail('renameFolder')
    const undone = this.#lostAnswer('renameFolder', false)
    if (undone) throw undone
    if (!this.#folders.has(folderPath)) throw new ImageKitError('IK_NOT_FOUND', 'rename folder: 404', { status: 404 })
    const parent = parentOf(folderPath)
    this.#moveTree(folderPath, `${parent === '/' ? '' : parent}/${newFolderName}`)
    const lost = this.#lostAnswer('renameFolder', true)
    if (lost) throw lost
    return { jobId: newId(), type: 'RENAME_FOLDER', status: 'Completed' }
  }

  async moveFolder(sourceFolderPath: string, destinationPath: string): Promise<BulkJobStatus> {
    this.writeCalls.moveFolder++
    this.#maybeFail('moveFolder')
    if (!this.#folders.has(sourceFolderPath)) throw new ImageKitError('IK_NOT_FOUND', 'move folder: 404', { status: 404 })
    const dest = destinationPath.replace(/\/$/, '')
    this.#moveTree(sourceFolderPath, `${dest}/${basename(sourceFolderPath)}`)
    const lost = this.#lostAnswer('moveFolder', true)
    if (lost) throw lost
    return { jobId: newId(), type: 'MOVE_FOLDER', status: 'Completed' }
  }
}

/**
 * RangeResponse over the fake's Readable, as the real one behaves: chunks are copied into the sink's
 * regions; when the sink has no room the Readable pauses until resume().
 */
class ReadableRange implements RangeResponse {
  etag: string | undefined
  #sink: BodySink | undefined
  #leftover: Buffer | undefined
  #ended = false
  #done: { resolve: () => void; reject: (e: unknown) => void } | undefined

  constructor(readonly start: number, readonly totalSize: number, readonly body: Readable) {}

  deliver(sink: BodySink): Promise<void> {
    this.#sink = sink
    return new Promise<void>((resolve, reject) => {
      this.#done = { resolve, reject }
      this.body.on('data', (chunk: Buffer) => {
        this.#leftover = chunk
        this.#flush()
      })
      this.body.on('end', () => {
        this.#ended = true
        if (!this.#leftover) this.#settle()
      })
      this.body.on('error', (e) => this.#settle(e))
      this.body.on('close', () => {
        if (!(this.#ended && this.#leftover)) this.#settle() // an ended body settles once its last bytes are out
      })
    })
  }

  resume(): void {
    this.#flush()
    if (!this.#leftover && !this.body.destroyed) this.body.resume()
  }

  close(): void {
    this.body.destroy()
    this.#settle()
  }

  #flush(): void {
    const chunk = this.#leftover
    if (!chunk || !this.#sink) return
    let at = 0
    while (at < chunk.length) {
      const region = this.#sink.nextRegion()
      if (!region || region.length === 0) {
        this.#leftover = chunk.subarray(at)
        this.body.pause()
        return
      }
      const n = Math.min(region.length, chunk.length - at)
      chunk.copy(region, 0, at, at + n)
      at += n
      this.#sink.wrote(n)
      if (!this.#done) return // closed by the sink
    }
    this.#leftover = undefined
    if (this.#ended) this.#settle()
  }

  #settle(error?: unknown): void {
    const done = this.#done
    this.#done = undefined
    if (error === undefined) done?.resolve()
    else done?.reject(error)
  }
}
