/**
 * `POST {uploadUrl}/api/v1/files/upload`: multipart/form-data streamed from a local file, never read whole.
 * Each attempt builds a fresh envelope and reopens the file, so a retry replays the same bytes. The length
 * is known up front (Content-Length); the text fields go first and the file part last, and progress counts
 * the file bytes handed to the connection.
 *
 * Retrying an upload that may have reached the server is accepted: with useUniqueFileName=false a repeat is
 * just one more version of the same path.
 */
import { createReadStream, type ReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import FormData from 'form-data'
import type { RequestOptions, UploadRequest } from './api.js'
import { expectBody, isUploadResponse } from './guards.js'
import type { AttemptBody, HttpTransport } from './http.js'
import type { UploadResponse } from './types.js'

export const UPLOAD_ROUTE = '/api/v1/files/upload'
/** Fields the filesystem reads back after an upload (they are left out of the response unless asked for). */
export const UPLOAD_RESPONSE_FIELDS = ['tags', 'customCoordinates', 'isPrivateFile', 'customMetadata'] as const
/** File read size: large enough for few syscalls, small enough that progress moves smoothly. */
/** 1 MiB disk reads: fewer, larger socket writes (the upload of a 1 GiB file is bound by per-chunk costs). */
const FILE_CHUNK_BYTES = 1024 * 1024

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
  const { head, tail, contentType } = multipartFrame(upload)
  // Never a bigger read buffer than the file: small files are the common case, and 1 MiB each was most of their cost (GC).
  const file: ReadStream = createReadStream(upload.localFile, { highWaterMark: Math.max(1, Math.min(FILE_CHUNK_BYTES, fileSize)) })
  return {
    body: Readable.from(framedFile(head, file, tail, fileSize, upload.onProgress), { objectMode: false }),
    headers: { 'content-type': contentType, 'content-length': String(head.length + fileSize + tail.length) },
    dispose() {
      file.destroy()
    },
  }
}

/**
 * The multipart envelope around the file, built by form-data (field encoding, boundary, file-part
 * headers) with an empty file part: everything before the file's bytes, and the CRLF plus closing
 * boundary after them. The file itself is streamed between the two, so form-data's legacy stream
 * machinery never touches the bytes (it halved upload throughput).
 */
function multipartFrame(upload: UploadRequest): { head: Buffer; tail: Buffer; contentType: string } {
  const form = new FormData()
  for (const [name, value] of uploadFields(upload)) form.append(name, value)
  form.append('file', Buffer.alloc(0), { filename: upload.fileName, contentType: 'application/octet-stream' })
  const whole = form.getBuffer()
  const tail = Buffer.from(`\r\n--${form.getBoundary()}--\r\n`)
  return { head: whole.subarray(0, whole.length - tail.length), tail, contentType: form.getHeaders()['content-type'] as string }
}

async function* framedFile(head: Buffer, file: AsyncIterable<Buffer>, tail: Buffer, fileSize: number, onProgress?: (sentBytes: number) => void): AsyncGenerator<Buffer> {
  yield head
  let sent = 0
  for await (const chunk of file) {
    yield chunk
    sent += chunk.length
    onProgress?.(Math.min(sent, fileSize))
  }
  if (sent !== fileSize) throw new Error(`the file changed size while it was uploaded (${sent} of ${fileSize} bytes)`)
  yield tail
}
