/**
 * ImageKitClient: the ImageKitApi over HTTP. One method per endpoint the filesystem uses; the work lives in
 * http.ts (transport, errors), retry.ts, list.ts, read.ts, upload.ts, jobs.ts, url.ts and sign.ts.
 * Paths here are remote ImageKit paths; nothing in this module knows about local files or FUSE.
 */
import type { ConnectionOptions } from 'node:tls'
import type { Logger } from 'pino'
import { systemClock, type Clock } from '../clock.js'
import { redactUrl } from '../log.js'
import type {
  DeliveryTarget, ImageKitApi, ListFilesQuery, RangeResponse, RepeatableChangeOptions, RequestOptions, StreamUploadRequest, UploadRequest,
} from './api.js'
import { ImageKitError } from './errors.js'
import { expectBody, isAccountUsage, isFileObject, isFileObjectArray } from './guards.js'
import { HttpTransport, networkPhrase, type HostAnswer } from './http.js'
import { runBulkJob } from './jobs.js'
import { LIST_ROUTE, isListPage, listFiles } from './list.js'
import type { ProxySettings } from './proxy.js'
import { readRange, type DeliveryClient } from './read.js'
import { defaultRetryPolicy } from './retry.js'
import { expiryFor, signUrl } from './sign.js'
import { explainSignedUrlRefusal, isDeliveryRefusal, isSignedUrl, signedParts } from './signed-url-refused.js'
import type { AccountUsage, BulkJobStatus, FileObject, ListItem, UploadResponse } from './types.js'
import { UPLOAD_ROUTE, probeUploadHost, uploadFile, uploadFileStream } from './upload.js'
import { appendQuery, buildUrl, queryOf, trimTrailingSlashes } from './url.js'
import { giveUpOf } from './request-options.js'

export const DEFAULT_API_URL = 'https://api.imagekit.io'
export const DEFAULT_UPLOAD_URL = 'https://upload.imagekit.io'
/** Signed delivery URLs live an hour: long enough for a slow sequential read, short if one leaks. */
export const DEFAULT_SIGNED_URL_EXPIRY_SECONDS = 3600
/** Per request: time to response headers, and longest pause between body chunks. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
/** Retries after failures (5xx, network, timeouts); 429 waits have their own budget (retry.ts). */
export const DEFAULT_MAX_RETRIES = 5
/** The one global cap on concurrent HTTP requests per host; more requests queue inside undici. */
export const DEFAULT_MAX_CONNECTIONS_PER_ORIGIN = 32
export const DEFAULT_USER_AGENT = 'ikfs/0.1'
/** The preflight (`ikfs mount`, `ikfs doctor`) answers quickly rather than riding out a long outage. */
export const VERIFY_MAX_RETRIES = 1
/**
 * A signed read refused within this long after the clocks were last measured for one (#signedAgain) takes that
 * measurement instead of another API call: 10 s bounds the calls refused reads make (a burst of readers, a URL
 * refused for another cause read over and over) to one per 10 s, while a clock stepped again is still followed
 * (the API's other answers show it too, and this span, on this machine's clock, does not hold across a step).
 */
export const CLOCK_RECHECK_MS = 10_000
/** Days asked for, today included: ImageKit rejects ranges of 90 days or more, and excludes the end date. */
const USAGE_WINDOW_DAYS = 89
const DAY_MS = 86_400_000

export interface ImageKitClientOptions {
  /** Default DEFAULT_API_URL. */
  apiUrl?: string
  /** Default DEFAULT_UPLOAD_URL. */
  uploadUrl?: string
  /** `https://ik.imagekit.io/<imagekit_id>` (or a custom domain): what signatures are relative to. */
  urlEndpoint: string
  privateKey: string
  publicKey?: string
  /** Sign every delivery URL (account setting "Restrict unsigned URLs"). Default false. */
  onlySigned?: boolean
  /** Lifetime of signed URLs; default 3600. `Infinity` (explicit only) signs URLs that never expire. */
  signedUrlExpirySeconds?: number
  requestTimeoutMs?: number
  maxRetries?: number
  maxConnectionsPerOrigin?: number
  /** Which client reads delivery URLs (default: the socket reader). */
  deliveryClient?: DeliveryClient
  /** Extra TLS options for the socket reader (tests: their own CA). */
  deliveryTls?: ConnectionOptions
  /** HTTP(S)_PROXY and NO_PROXY; none: every request goes direct. */
  proxy?: ProxySettings
  logger: Logger
  clock?: Clock
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number
  userAgent?: string
}

/** A delivery URL that already names its version (listing URLs do; upload responses' do not). */
const VERSIONED_URL = /[?&](updatedAt|ik-obj-version)=/
/** Our own cache-busting parameter: any unknown query parameter is part of the CDN's cache key. */
export const VERSION_PARAM = 'ikfs-version'

export class ImageKitClient implements ImageKitApi {
  readonly #http: HttpTransport
  readonly #apiUrl: string
  readonly #urlEndpoint: string
  readonly #privateKey: string
  readonly #onlySigned: boolean
  readonly #signedUrlExpirySeconds: number
  readonly #clock: Clock
  /** The API call a refused signed URL makes to measure the clocks again (#signedAgain), while one is under way. */
  #clockCheck: Promise<void> | undefined
  /** When (this machine's clock) the last such call ended: refusals within CLOCK_RECHECK_MS of it take its figure. */
  #clockCheckedAtMs: number | undefined

  constructor(options: ImageKitClientOptions) {
    const expiry = options.signedUrlExpirySeconds ?? DEFAULT_SIGNED_URL_EXPIRY_SECONDS
    if (!(expiry > 0)) throw new TypeError(`signedUrlExpirySeconds must be positive, got ${expiry}`)
    if (!options.privateKey) throw new TypeError('privateKey is required')
    this.#apiUrl = trimTrailingSlashes(options.apiUrl ?? DEFAULT_API_URL)
    this.#urlEndpoint = trimTrailingSlashes(options.urlEndpoint)
    this.#privateKey = options.privateKey
    this.#onlySigned = options.onlySigned ?? false
    this.#signedUrlExpirySeconds = expiry
    this.#clock = options.clock ?? systemClock
    this.#http = new HttpTransport({
      apiUrl: this.#apiUrl,
      uploadUrl: trimTrailingSlashes(options.uploadUrl ?? DEFAULT_UPLOAD_URL),
      privateKey: options.privateKey,
      userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      maxConnectionsPerOrigin: options.maxConnectionsPerOrigin ?? DEFAULT_MAX_CONNECTIONS_PER_ORIGIN,
      ...(options.deliveryClient ? { deliveryClient: options.deliveryClient } : {}),
      ...(options.deliveryTls ? { deliveryTls: options.deliveryTls } : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
      policy: defaultRetryPolicy(options.maxRetries ?? DEFAULT_MAX_RETRIES),
      clock: this.#clock,
      random: options.random ?? Math.random,
      log: options.logger.child({ component: 'imagekit.client' }),
    })
  }

  listFiles(query: ListFilesQuery, options?: RequestOptions): AsyncIterable<ListItem> {
    return listFiles(this.#http, query, options)
  }

  async getFileDetails(fileId: string, options: RequestOptions = {}): Promise<FileObject> {
    const call = { method: 'GET' as const, route: '/v1/files/{fileId}/details' }
    const result = await this.#http.call({ ...call, host: 'api', params: { fileId }, idempotent: true, signal: options.signal, ...giveUpOf(options) })
    return expectBody(result, isFileObject, call, 'a file object')
  }

  async listFileVersions(fileId: string, options: RequestOptions = {}): Promise<FileObject[]> {
    const call = { method: 'GET' as const, route: '/v1/files/{fileId}/versions' }
    const result = await this.#http.call({ ...call, host: 'api', params: { fileId }, idempotent: true, signal: options.signal, ...giveUpOf(options) })
    return expectBody(result, isFileObjectArray, call, 'an array of file versions')
  }

  /** Usage over the last 89 days (the API's window must be under 90 days and excludes its end date). */
  async getAccountUsage(options: RequestOptions = {}): Promise<AccountUsage> {
    const now = this.#clock.now()
    const call = { method: 'GET' as const, route: '/v1/accounts/usage' }
    const query = { startDate: isoDate(now - (USAGE_WINDOW_DAYS - 1) * DAY_MS), endDate: isoDate(now + DAY_MS) }
    const result = await this.#http.call({ ...call, host: 'api', query, idempotent: true, signal: options.signal, ...giveUpOf(options) })
    return expectBody(result, isAccountUsage, call, 'account usage')
  }

  /**
   * The API's own `url` (it may point at a custom domain and carries `updatedAt` / `ik-obj-version`),
   * plus `tr=orig-true` for the stored bytes, signed when every URL must be or the file is private.
   */
  deliveryUrl(target: DeliveryTarget): string {
    const signed = this.#onlySigned || target.isPrivateFile
    const base = target.url && (!signed || target.url.startsWith(`${this.#urlEndpoint}/`))
      ? target.url
      // An account has several URL endpoints (ik.imagekit.io/<id>, custom domains) and the API's `url` may name
      // another one than ours, but a signature holds only for the endpoint it was computed against: build on
      // ours, keeping the query that pins the version (updatedAt, ik-obj-version).
      : buildUrl({ urlEndpoint: this.#urlEndpoint, filePath: target.filePath }) + queryOf(target.url)
    const pinned = target.versionId && !VERSIONED_URL.test(base) ? appendQuery(base, { [VERSION_PARAM]: target.versionId }) : base
    const url = appendQuery(pinned, { tr: 'orig-true' })
    if (!signed) return url
    return this.#signed(url)
  }

  /** `url` signed now. ImageKit checks the expiry by its own clock: a machine far behind it signs by the API's time (clock-skew.ts). */
  #signed(url: string): string {
    const expiresAt = expiryFor(this.#clock.now() + this.#http.clockSkew.signingOffsetMs, this.#signedUrlExpirySeconds)
    return signUrl({ url, urlEndpoint: this.#urlEndpoint, privateKey: this.#privateKey, expiresAt })
  }

  readRange(url: string, start: number, endInclusive: number | undefined, options?: RequestOptions): Promise<RangeResponse> {
    const reading = readRange(this.#http, url, start, endInclusive, options)
    if (!isSignedUrl(url)) return reading
    return reading.catch(async (e: unknown) => {
      const again = isDeliveryRefusal(e) ? await this.#signedAgain(url, options?.signal) : undefined
      if (again === undefined) throw explainSignedUrlRefusal(e, this.#signedUrlExpirySeconds)
      return readRange(this.#http, again, start, endInclusive, options).catch((e2: unknown) => {
        throw explainSignedUrlRefusal(e2, this.#signedUrlExpirySeconds)
      })
    })
  }

  /**
   * After the CDN refused the signed `url`: whether the clocks stepped apart since the API's last answer (this
   * machine's stepped back, or ImageKit's seen so), which the skew signing follows would show only at the next API
   * answer. One cheap API call measures it again, shared by the refusals meanwhile and by those within
   * CLOCK_RECHECK_MS after it (a burst of readers refused together, or a URL refused for another cause read over
   * and over, costs one call, not one each); when by ImageKit's clock `url` had expired and signing now gives a
   * later expiry, the URL signed again, for one more try. Else undefined: the refusal has another cause (or the
   * clocks still agree), and is answered as it is.
   */
  async #signedAgain(url: string, signal: AbortSignal | undefined): Promise<string | undefined> {
    const parts = signedParts(url)
    if (!parts) return undefined
    const first = await this.#measureClocks(signal)
    if (signal?.aborted) return undefined
    const skewMs = this.#http.clockSkew.skewMs
    if (skewMs === undefined || this.#clock.now() + skewMs < parts.expiresAt * 1000) return undefined
    const again = this.#signed(parts.unsigned)
    const expiresAt = signedParts(again)?.expiresAt ?? 0
    if (expiresAt <= parts.expiresAt) return undefined
    // One line per step: by the read whose refusal measured the clocks again.
    if (first) this.#http.settings.log.info(
      { route: new URL(url).pathname, skewMs: Math.round(skewMs) },
      'a signed URL expired by ImageKit\'s clock, which is ahead of this machine\'s since the API\'s last answer (a clock step): signed again by ImageKit\'s time',
    )
    return again
  }

  /**
   * Measures the clocks (the API's Date header, ClockSkew) for #signedAgain, unless one measurement is under way (it
   * is awaited) or one ended less than CLOCK_RECHECK_MS ago by this machine's clock (its figure stands; a clock
   * stepped since, either way, makes that span look negative or long, and measures again). The call is no one
   * reader's: a reader that gives up (`signal`) stops waiting for it, the others still get its answer (close()
   * ends it, as every GET). True when this call started the measurement.
   */
  async #measureClocks(signal: AbortSignal | undefined): Promise<boolean> {
    const sinceMs = this.#clockCheckedAtMs === undefined ? undefined : this.#clock.now() - this.#clockCheckedAtMs
    if (this.#clockCheck === undefined && sinceMs !== undefined && sinceMs >= 0 && sinceMs < CLOCK_RECHECK_MS) return false
    const first = this.#clockCheck === undefined
    this.#clockCheck ??= this.#http
      .call({ method: 'GET', host: 'api', route: LIST_ROUTE, query: { limit: 1 }, idempotent: true, maxRetries: VERIFY_MAX_RETRIES })
      .then(() => undefined, () => undefined)
      .finally(() => {
        this.#clockCheck = undefined
        this.#clockCheckedAtMs = this.#clock.now()
      })
    await untilAborted(this.#clockCheck, signal)
    return first
  }

  uploadFile(request: UploadRequest, options?: RequestOptions): Promise<UploadResponse> {
    return uploadFile(this.#http, request, options)
  }

  uploadFileStream(request: StreamUploadRequest, options?: RequestOptions): Promise<UploadResponse> {
    return uploadFileStream(this.#http, request, options)
  }

  async deleteFile(fileId: string, options: RequestOptions = {}): Promise<void> {
    await this.#deleteTolerantOfRetry({ route: '/v1/files/{fileId}', params: { fileId } }, options)
  }

  async renameFile(filePath: string, newFileName: string, options: RequestOptions = {}): Promise<void> {
    await this.#http.call({
      method: 'PUT',
      host: 'api',
      route: '/v1/files/rename',
      json: { filePath, newFileName, purgeCache: false },
      idempotent: false,
      statusOnly: true,
      signal: options.signal, ...giveUpOf(options),
    })
  }

  async moveFile(sourceFilePath: string, destinationPath: string, options: RequestOptions = {}): Promise<void> {
    await this.#http.call({
      method: 'POST',
      host: 'api',
      route: '/v1/files/move',
      json: { sourceFilePath, destinationPath },
      idempotent: false,
      statusOnly: true,
      signal: options.signal, ...giveUpOf(options),
    })
  }

  async copyFile(sourceFilePath: string, destinationPath: string, options: RepeatableChangeOptions = {}): Promise<void> {
    await this.#http.call({
      method: 'POST',
      host: 'api',
      route: '/v1/files/copy',
      json: { sourceFilePath, destinationPath, includeFileVersions: false },
      // A repeat after a lost answer adds a version with the same bytes to the copy, unless `done` finds it there.
      idempotent: false,
      statusOnly: true,
      ...(options.done ? { doneBeforeRepeat: options.done } : {}),
      signal: options.signal, ...giveUpOf(options),
    })
  }

  async updateFileDetails(
    fileId: string,
    details: { tags?: string[] | null; customMetadata?: Record<string, unknown>; customCoordinates?: string | null },
    options: RequestOptions = {},
  ): Promise<FileObject> {
    const call = { method: 'PATCH' as const, route: '/v1/files/{fileId}/details' }
    // Setting the same details twice leaves the same state: safe to repeat.
    const result = await this.#http.call({ ...call, host: 'api', params: { fileId }, json: details, idempotent: true, signal: options.signal, ...giveUpOf(options) })
    return expectBody(result, isFileObject, call, 'a file object')
  }

  async createFolder(parentFolderPath: string, folderName: string, options: RequestOptions = {}): Promise<void> {
    // Creating an existing folder is a no-op on ImageKit, so a repeat is harmless.
    await this.#http.call({
      method: 'POST',
      host: 'api',
      route: '/v1/folder',
      json: { folderName, parentFolderPath },
      idempotent: true,
      signal: options.signal, ...giveUpOf(options),
    })
  }

  async deleteFolder(folderPath: string, options: RepeatableChangeOptions = {}): Promise<void> {
    await this.#deleteTolerantOfRetry({ route: '/v1/folder', json: { folderPath } }, options)
  }

  renameFolder(folderPath: string, newFolderName: string, options?: RequestOptions): Promise<BulkJobStatus> {
    return runBulkJob(this.#http, { route: '/v1/bulkJobs/renameFolder', body: { folderPath, newFolderName, purgeCache: false } }, options)
  }

  moveFolder(sourceFolderPath: string, destinationPath: string, options?: RequestOptions): Promise<BulkJobStatus> {
    return runBulkJob(this.#http, { route: '/v1/bulkJobs/moveFolder', body: { sourceFolderPath, destinationPath } }, options)
  }

  /**
   * A cheap authenticated call (`GET /v1/files?limit=1`) for `ikfs mount` preflight and `ikfs doctor`.
   * Resolves with the URL of the file it listed, if the library has one (callers compare it with the URL
   * endpoint), and how far the API's clock is ahead of this machine's (negative: behind), from the answer's
   * Date header; when far ahead (more than NOTABLE_CLOCK_SKEW_MS), URLs are signed by the API's time, as long
   * as its latest answers show it so (clock-skew.ts ClockSkew). Throws IK_UNAUTHORIZED or IK_NETWORK /
   * IK_TIMEOUT with a message meant for people.
   */
  async verifyCredentials(options: RequestOptions = {}): Promise<{ sampleFileUrl?: string; clockSkewMs?: number }> {
    const host = redactUrl(this.#apiUrl)
    const route = `${host}${this.#http.viaProxy(this.#apiUrl)}`
    try {
      const result = await this.#http.call({
        method: 'GET',
        host: 'api',
        route: LIST_ROUTE,
        query: { limit: 1 },
        idempotent: true,
        signal: options.signal, ...giveUpOf(options),
        maxRetries: VERIFY_MAX_RETRIES,
      })
      const url = isListPage(result.value) ? result.value.find((item): item is FileObject => item.type !== 'folder')?.url : undefined
      const clockSkewMs = this.#http.clockSkew.skewMs
      return { ...(typeof url === 'string' ? { sampleFileUrl: url } : {}), ...(clockSkewMs === undefined ? {} : { clockSkewMs }) }
    } catch (error) {
      if (!(error instanceof ImageKitError)) throw error
      const details = { status: error.status, method: error.method, route: error.route, requestId: error.requestId, cause: error }
      if (error.code === 'IK_UNAUTHORIZED') {
        const said = error.message.replace(/^\S+ \S+: /, '')
        throw new ImageKitError('IK_UNAUTHORIZED', `${host} rejected the private key: ${said}`, details)
      }
      if (error.code === 'IK_NETWORK') {
        // No cause: an answer that is a network matter (a proxy's 407), said in the error's own words.
        const why = error.cause === undefined ? error.message.replace(/^\S+ \S+: /, '') : networkPhrase(error.cause)
        throw new ImageKitError('IK_NETWORK', `cannot reach ${route}: ${why}`, details)
      }
      if (error.code === 'IK_TIMEOUT') {
        throw new ImageKitError('IK_TIMEOUT', `cannot reach ${route}: ${networkPhrase(error.cause)}`, details)
      }
      // The Media API lists files at this route for any key: a 404 is another server (a mistyped API URL).
      if (error.status === 404) {
        throw new ImageKitError(error.code, `${host} is not the ImageKit Media API (is the API URL right?): ${error.message}`, details)
      }
      throw error
    }
  }

  /**
   * Whether the URL endpoint (reads) and, unless `uploads` is false, the upload host (writes) answer. Any HTTP
   * answer of the URL endpoint will do; the upload host must answer as ImageKit's Upload API does to an upload
   * without a file (upload.ts probeUploadHost), or busy (429, 5xx: its uploads are retried). Rejects naming the
   * first host that does not: IK_NETWORK or IK_TIMEOUT when no answer came, IK_UNAUTHORIZED when the upload
   * host refused the key, IK_BAD_RESPONSE when another server answered there. `onAnswered` hears of each host
   * that passed, as it does (what a deadline that runs out first names is the others).
   */
  async checkHosts(options: RequestOptions & { uploads?: boolean; onAnswered?: (host: CheckedHost) => void } = {}): Promise<void> {
    const hosts = [
      { what: 'the URL endpoint', url: this.#urlEndpoint, kind: 'endpoint' as const },
      ...(options.uploads === false ? [] : [{ what: 'the upload host', url: this.#http.settings.uploadUrl, kind: 'upload' as const }]),
    ]
    await Promise.all(hosts.map(async ({ what, url, kind }) => {
      const route = `${redactUrl(url)}${this.#http.viaProxy(url)}`
      let answer: HostAnswer | undefined
      try {
        if (kind === 'endpoint') await this.#http.probe(url, 'delivery', options.signal, VERIFY_MAX_RETRIES)
        else answer = await probeUploadHost(this.#http, options.signal, VERIFY_MAX_RETRIES)
      } catch (error) {
        if (!(error instanceof ImageKitError) || error.code === 'IK_ABORTED') throw error
        const method = kind === 'endpoint' ? 'HEAD' : 'POST'
        throw new ImageKitError(error.code, `cannot reach ${what} ${route}: ${networkPhrase(error.cause)}`, { method, route: redactUrl(url), cause: error })
      }
      if (answer) checkUploadAnswer(answer, `${what} ${route}`)
      options.onAnswered?.(kind)
    }))
  }

  /** Closes the connection pools; in-flight requests fail. */
  close(): Promise<void> {
    return this.#http.close()
  }

  /**
   * DELETE that treats a 404 on a *retry* as success: the earlier attempt may have deleted the object
   * before its response was lost. A 404 on the first attempt is a real IK_NOT_FOUND.
   */
  async #deleteTolerantOfRetry(target: { route: string; params?: Record<string, string>; json?: unknown }, options: RepeatableChangeOptions): Promise<void> {
    await this.#http.call({
      method: 'DELETE', host: 'api', ...target, idempotent: true, notFoundOnRetryIsSuccess: true, signal: options.signal, ...giveUpOf(options),
      ...(options.done ? { doneBeforeRepeat: options.done } : {}),
    })
  }
}


/** The hosts checkHosts() checks: the URL endpoint and the upload host. */
export type CheckedHost = 'endpoint' | 'upload'

/** Throws unless `answer` is the Upload API's to a file-less upload (400), or says it is busy for now. */
function checkUploadAnswer(answer: HostAnswer, host: string): void {
  const { status, apiMessage } = answer
  if (status === 429 || status >= 500) return
  const said = `${status}${apiMessage ? ` ${apiMessage}` : ''}`
  const details = { status, method: 'POST', route: UPLOAD_ROUTE }
  if (apiMessage !== undefined && status === 400) return
  if (apiMessage !== undefined && (status === 401 || status === 403)) {
    throw new ImageKitError('IK_UNAUTHORIZED', `${host} rejected the private key: ${said}`, details)
  }
  throw new ImageKitError('IK_BAD_RESPONSE', `${host} is not the ImageKit Upload API (is the upload URL right?): POST ${UPLOAD_ROUTE}: ${said}`, details)
}

/** `work`, or less when `signal` aborts first (the work goes on for whoever else awaits it). */
async function untilAborted(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return work
  if (signal.aborted) return
  let onAbort!: () => void
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}
