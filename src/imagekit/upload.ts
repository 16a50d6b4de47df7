/**
 * `POST {uploadUrl}/api/v1/files/upload`: multipart/form-data streamed from a local file, never read whole.
 * Each attempt builds a fresh form and reopens the file, so a retry replays the same bytes. The length is
 * known up front (Content-Length), the text fields go first and the file part last, so progress is simply
 * "body bytes sent minus the fields' bytes".
 *
 * Retrying an upload that may have reached the server is accepted: with useUniqueFileName=false a repeat is
 * just one more version of the same path.
 */
import { createReadStream, type ReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Transform, type TransformCallback } from 'node:stream'
import FormData from 'form-data'
import type { RequestOptions, UploadRequest } from './api.js'
import { expectBody, isUploadResponse } from './guards.js'
import type { AttemptBody, HttpTransport } from './http.js'
import type { UploadResponse } from './types.js'

export const UPLOAD_ROUTE = '/api/v1/files/upload'
/** Fields the filesystem reads back after an upload (they are left out of the response unless asked for). */
export const UPLOAD_RESPONSE_FIELDS = ['tags', 'customCoordinates', 'isPrivateFile', 'customMetadata'] as const
/** File read size: large enough for few syscalls, small enough that progress moves smoothly. */
const FILE_CHUNK_BYTES = 256 * 1024

export async function uploadFile(http: HttpTransport, upload: UploadRequest, options: RequestOptions = {}): Promise<UploadResponse> {
  const call = { method: 'POST' as const, route: UPLOAD_ROUTE }
  const result = await http.call({
    ...call,
    host: 'upload',
    idempotent: false,
    signal: options.signal,
    body: () => multipartBody(upload),
  })
  return expectBody(result, isUploadResponse, call, 'an upload response')
}

/** The text fields of the form, in the order they are sent (before the file part). */
export function uploadFields(upload: UploadRequest): [string, string][] {
  const fields: [string, string][] = [
    ['fileName', upload.fileName],
    ['folder', upload.folder],
    ['useUniqueFileName', 'false'],
  ]
  if (upload.tags && upload.tags.length > 0) fields.push(['tags', upload.tags.join(',')])
  if (upload.isPrivateFile !== undefined) fields.push(['isPrivateFile', String(upload.isPrivateFile)])
  if (upload.customCoordinates) fields.push(['customCoordinates', upload.customCoordinates])
  if (upload.customMetadata !== undefined) fields.push(['customMetadata', JSON.stringify(upload.customMetadata)])
  if (upload.keepExistingMetadata) {
    fields.push(['overwriteTags', 'false'], ['overwriteCustomMetadata', 'false'], ['overwriteAITags', 'false'])
  }
  fields.push(['responseFields', UPLOAD_RESPONSE_FIELDS.join(',')])
  return fields
}

async function multipartBody(upload: UploadRequest): Promise<AttemptBody> {
  const { size: fileSize } = await stat(upload.localFile)
  const form = new FormData()
  for (const [name, value] of uploadFields(upload)) form.append(name, value)
  const file: ReadStream = createReadStream(upload.localFile, { highWaterMark: FILE_CHUNK_BYTES })
  form.append('file', file, { filename: upload.fileName, contentType: 'application/octet-stream', knownLength: fileSize })
  const totalBytes = await new Promise<number>((resolve, reject) => form.getLength((error, length) => (error ? reject(error) : resolve(length))))
  // After the file bytes come CRLF and the closing boundary `--<boundary>--CRLF`.
  const trailerBytes = 2 + `--${form.getBoundary()}--\r\n`.length
  const fileStartsAt = totalBytes - trailerBytes - fileSize
  const counter = new ProgressCounter(fileStartsAt, fileSize, upload.onProgress)
  form.on('error', (error: Error) => counter.destroy(error))
  form.pipe(counter)
  return {
    body: counter,
    headers: { ...form.getHeaders(), 'content-length': String(totalBytes) },
    dispose() {
      // form-data is a legacy stream: its pipe detaches itself when `counter` closes.
      file.destroy()
      if (!counter.writableFinished) counter.destroy()
    },
  }
}

/** Passes the body through, reporting how many file bytes have gone out. */
class ProgressCounter extends Transform {
  #sent = 0
  #reported = -1
  readonly #fileStartsAt: number
  readonly #fileSize: number
  readonly #onProgress: ((sentBytes: number) => void) | undefined

  constructor(fileStartsAt: number, fileSize: number, onProgress: ((sentBytes: number) => void) | undefined) {
    super()
    this.#fileStartsAt = fileStartsAt
    this.#fileSize = fileSize
    this.#onProgress = onProgress
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#sent += chunk.length
    const fileBytes = Math.min(this.#fileSize, Math.max(0, this.#sent - this.#fileStartsAt))
    if (this.#onProgress && fileBytes !== this.#reported) {
      this.#reported = fileBytes
      this.#onProgress(fileBytes)
    }
    callback(null, chunk)
  }
}
