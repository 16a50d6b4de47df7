/**
 * Uploads a large file while it is being written, so that its last close only waits for the tail and the
 * server's answer instead of the whole upload.
 *
 * A file qualifies while it started empty (a new file, or opened with O_TRUNC), has one writer, and every
 * write so far appended at its end (one at a time). Once such a file passes `thresholdBytes` (small files
 * keep the plain upload at close), its upload starts with a body that follows the spool file as it grows
 * (growing-file.ts; chunked transfer encoding, length unknown); the last close ends the body. The spool
 * file and its journal record stay exactly what they are without streaming: the durable copy.
 *
 * Anything else aborts the streamed request, and the file is uploaded at close as usual (with retries): a
 * write anywhere but the end, overlapping writes, a truncate, a rename or unlink, a second open for
 * writing, a failure of the request, unmount. An aborted request never reaches its closing boundary, so
 * the server stores nothing. A server that refuses a streamed body (411 Length Required) turns streaming off
 * until the next mount, and so do MAX_FAILURES_IN_A_ROW streams failing otherwise (a refusal can also arrive as
 * a reset connection, when the server closes it before the answer is read). Another 4xx may be about the file
 * as much as about its streamed form (a 400 for a file type the account does not take, a version limit, the size
 * limit): the upload at close of the same file tells which. Refused too, the refusal was the file's, and
 * streaming stays on (before, any such 400 turned it off for the mount); stored, it was the streamed form's,
 * and streaming goes off as for a 411. A 401/403 is the key's, and says nothing of streaming.
 *
 * Bounds: a stream holds one of the uploader's slots from its start (it is an upload in flight; none is
 * started unless another slot stays free for closes), one connection, and one chunk of memory.
 */
import type { ImageKitApi } from '../../imagekit/api.js'
import { hasImageKitCode, isImageKitError } from '../../imagekit/errors.js'
import type { UploadResponse } from '../../imagekit/types.js'
import type { Logger } from '../../log.js'
import type { PendingFile } from '../file-node.js'
import type { PageTrimOptions } from '../spool/page-trim.js'
import { uploadFieldsOf } from './fields.js'
import { GrowingFile } from './growing-file.js'
import { describe, isRefusal, type Uploader } from './uploader.js'

/** Files smaller than this when closed are uploaded at close: a streamed body only pays off for large ones. */
export const STREAM_THRESHOLD_BYTES = 4 * 1024 * 1024
/** Streams failing this many times in a row (each file then uploaded at close) turn streaming off. */
export const MAX_FAILURES_IN_A_ROW = 3

/** With the page-cache options, a stream drops what it has read from the page cache (spool/page-trim.ts). */
export interface StreamerDeps extends PageTrimOptions {
  api: ImageKitApi
  log: Logger
  uploader: Uploader
  uploadTags: readonly string[]
  enabled: boolean
  thresholdBytes: number
  /**
   * Whether the delete of a file unlinked at `remotePath` while open for reading is under way (pending-deletes.ts):
   * an upload there waits for it, so no stream starts (it would hold a slot, and the close, until then).
   */
  deleteUnderWay?: (remotePath: string) => boolean
}

/** One file's streamed upload. */
export class StreamedUpload {
  readonly #body: GrowingFile
  readonly #abort = new AbortController()
  readonly #result: Promise<UploadResponse>
  /** Why the request failed, once it did (undefined while it is healthy or after it succeeded). */
  error: unknown
  sentBytes = 0

  constructor(
    api: ImageKitApi, file: PendingFile, uploadTags: readonly string[], onFailure: (e: unknown, sentBytes: number) => void,
    trim: PageTrimOptions = {}, closingLater?: (closed: Promise<void>) => void,
  ) {
    this.#body = new GrowingFile(file.dataPath, { ...trim, closingLater })
    this.#body.grew(file.size)
    this.#result = api.uploadFileStream(
      { ...uploadFieldsOf(file, uploadTags), body: this.#body, onProgress: (sent) => (this.sentBytes = sent) },
      { signal: this.#abort.signal },
    )
    this.#result.catch((e: unknown) => {
      this.error ??= e
      this.#body.fail(e instanceof Error ? e : new Error('streamed upload failed')) // releases a reader waiting for bytes
      onFailure(e, this.sentBytes)
    })
  }

  grew(size: number): void {
    this.#body.grew(size)
  }

  /** The file is complete: the body ends at `size` and the server's answer is awaited. */
  finish(size: number): Promise<UploadResponse> {
    this.#body.end(size)
    return this.#result
  }

  abort(): void {
    this.error ??= new Error('aborted')
    this.#abort.abort()
    this.#body.fail(new Error('streamed upload aborted'))
  }
}

export class Streamer {
  readonly #d: StreamerDeps
  #disabled = false
  #failuresInARow = 0
  readonly #live = new Set<PendingFile>()
  /** Files whose stream a 4xx refused that may be the file's or its streamed form's: the upload at close tells. */
  readonly #refusedStreams = new WeakMap<PendingFile, unknown>()
  /** Files whose stream the API refused as over the size limit, with the bytes sent by then (tooLargeAlready). */
  readonly #tooLarge = new WeakMap<PendingFile, { error: unknown; sentBytes: number }>()
  /** Bodies' descriptors closed after their upload ended (behind a trim's sync), until they are. */
  readonly #closingLater = new Set<Promise<void>>()

  constructor(deps: StreamerDeps) {
    this.#d = deps
  }

  /** Whether streaming is still on for this mount (a refusal turns it off). */
  get enabled(): boolean {
    return this.#d.enabled && !this.#disabled
  }

  /**
   * A write at `position` is about to happen. Returns whether it keeps the file append-only (so `wrote()`
   * should follow); any other write ends the file's streaming for good.
   */
  writing(file: PendingFile, position: number): boolean {
    if (!file.appendOnly) return false
    if (position === file.size && file.writesInFlight === 0) return true
    this.stop(file, 'a write not at the end of the file')
    return false
  }

  /** An append completed: the stream may read up to the new size, or start now that the file is large enough. */
  wrote(file: PendingFile): void {
    if (!file.appendOnly) return // stopped while this write was in progress
    if (file.streamed) return file.streamed.grew(file.size)
    if (file.size < this.#d.thresholdBytes || !this.enabled || file.openCount !== 1) return
    if (this.#d.deleteUnderWay?.(file.remotePath) === true) return
    if (!this.#d.uploader.tryReserve(file)) return // no slot to spare: maybe at a later write
    file.streamed = new StreamedUpload(this.#d.api, file, this.#d.uploadTags, (e, sent) => this.#failed(file, e, sent), this.#d, (closed) => {
      this.#closingLater.add(closed)
      void closed.then(() => this.#closingLater.delete(closed))
    })
    this.#live.add(file)
    this.#d.log.debug({ path: file.localPath, size: file.size }, 'streaming the upload while the file is written')
  }

  /** The file changed otherwise than by appending (or is going away): abort its stream, never stream it again. */
  stop(file: PendingFile, reason: string): void {
    file.appendOnly = false
    const streamed = file.streamed
    if (!streamed) return
    this.#forget(file)
    streamed.abort()
    this.#d.log.debug({ path: file.localPath, reason }, 'streamed upload aborted; the file is uploaded at close')
  }

  /**
   * The file is complete (its last close, or fsync): ends the streamed body and returns the server's answer,
   * or undefined when the file has no healthy stream (the caller uploads it the usual way). `onFailure` hears
   * why a complete stream failed (its answer may have been an error after the server stored it).
   */
  async finish(file: PendingFile, onProgress: (sentBytes: number) => void, onFailure?: (e: unknown) => void): Promise<UploadResponse | undefined> {
    const streamed = file.streamed
    if (!streamed) return undefined
    this.#forget(file, false) // the caller's upload holds the slot from here on
    if (streamed.error !== undefined || !file.appendOnly) {
      streamed.abort()
      return undefined
    }
    onProgress(streamed.sentBytes)
    try {
      const res = await streamed.finish(file.size)
      this.#failuresInARow = 0
      this.#refusedStreams.delete(file)
      return res
    } catch (e) {
      this.#d.log.info({ path: file.localPath, err: e }, 'streamed upload failed; uploading the file again')
      onFailure?.(e)
      return undefined
    }
  }

  /**
   * The file was stored by an upload not streamed (at close, after its stream was refused): when a 4xx refused
   * that stream, the same file went through once not streamed, so the refusal was of the streamed form.
   */
  storedWithoutStream(file: PendingFile): void {
    const refusal = this.#refusedStreams.get(file)
    if (refusal === undefined) return
    this.#refusedStreams.delete(file)
    this.#disable(`the upload server refused a streamed upload (${describe(refusal)}) and took the same file not streamed`, refusal)
  }

  /**
   * An upload not streamed of the file was refused for good too (uploader.ts isRefusal): the refusal of its
   * stream was the file's (its type, a version limit, its size), not the streamed form's; streaming stays on.
   */
  refusedWithoutStream(file: PendingFile, e: unknown): void {
    if (!isRefusal(e) || !this.#refusedStreams.has(file)) return
    this.#refusedStreams.delete(file)
    this.#d.log.info({ path: file.localPath, err: e }, 'the library refused the file itself, streamed or not; streaming stays on')
  }

  /**
   * The API's refusal of the file's stream as over the size limit, when the file is still at least as large as
   * what that stream had sent (the limit is below that): the upload at close would send the whole file again
   * (GiBs, for a long video) to be refused alike, so it takes this answer instead (W6). Asked once.
   */
  tooLargeAlready(file: PendingFile): unknown {
    const refused = this.#tooLarge.get(file)
    this.#tooLarge.delete(file)
    if (refused === undefined || file.size < refused.sentBytes) return undefined
    this.#d.log.info(
      { path: file.localPath, size: file.size, streamedBytes: refused.sentBytes, err: refused.error },
      'not sent again at close: the API refused its stream as over the size limit, and the file is still at least as large as that stream had sent',
    )
    return refused.error
  }

  /** Unmount: no stream outlives the mount. */
  close(): void {
    for (const file of [...this.#live]) this.stop(file, 'unmount')
  }

  /** After close and the uploads' end: the bodies' descriptors are closed. */
  async settled(): Promise<void> {
    while (this.#closingLater.size > 0) await Promise.all(this.#closingLater)
  }

  #disable(why: string, e: unknown): void {
    if (!this.#disabled) this.#d.log.warn({ err: e }, `${why}; files are uploaded at close until the next mount`)
    this.#disabled = true
  }

  #forget(file: PendingFile, releaseSlot = true): void {
    file.streamed = undefined
    this.#live.delete(file)
    if (releaseSlot) this.#d.uploader.unreserve(file)
  }

  #failed(file: PendingFile, e: unknown, sentBytes: number): void {
    if (hasImageKitCode(e, 'IK_ABORTED')) return
    file.appendOnly = false // uploaded at close from now on, never streamed again
    // The API's own words (a 400; a proxy's 413 may be about the streamed form): the file is over the limit. Its
    // refusal is the file's, not the streamed form's: the close takes it (tooLargeAlready), or uploads a file
    // truncated below it since, whose answer says nothing about this stream.
    if (hasImageKitCode(e, 'IK_TOO_LARGE') && e.status === 400) {
      this.#tooLarge.set(file, { error: e, sentBytes })
      this.#d.log.info({ path: file.localPath, streamedBytes: sentBytes, err: e }, 'streamed upload refused as over the size limit; the close fails alike unless the file is truncated below what was sent')
      if (this.#live.has(file)) this.#forget(file)
      return
    }
    const refusal = refusalOf(e)
    if (refusal === 'streams') {
      this.#disable(`the upload server refused a streamed upload (${describe(e)})`, e)
    } else if (refusal === 'either') {
      // Not counted as a failure: the upload at close tells whose it was (storedWithoutStream, refusedWithoutStream).
      this.#refusedStreams.set(file, e)
      this.#d.log.info({ path: file.localPath, err: e }, 'streamed upload refused; the file is uploaded at close, which tells whether the refusal was of the streamed form')
    } else if (refusal === undefined && ++this.#failuresInARow >= MAX_FAILURES_IN_A_ROW) {
      this.#disable(`${this.#failuresInARow} streamed uploads failed in a row (last: ${describe(e)})`, e)
    } else {
      this.#d.log.info({ path: file.localPath, err: e }, 'streamed upload failed; the file is uploaded at close')
    }
    if (this.#live.has(file)) this.#forget(file) // before close: free the slot now, finish() sees no stream
  }
}

/**
 * What a failed stream's answer refused: 'streams' (411 Length Required: a body without a length), 'key' (401/403:
 * every upload fails alike), 'either' (another 4xx but 408 and 429: the file, or its streamed form), or
 * undefined (no refusal: a timeout, 429 or the 400 that passes, 5xx, a dropped connection).
 */
function refusalOf(e: unknown): 'streams' | 'key' | 'either' | undefined {
  if (!isImageKitError(e) || e.status === undefined || e.retriable || e.status < 400 || e.status >= 500 || e.status === 408 || e.status === 429) return undefined
  if (e.status === 411) return 'streams'
  if (e.status === 401 || e.status === 403) return 'key'
  return 'either'
}
