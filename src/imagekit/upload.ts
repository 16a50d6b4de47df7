/**
 * `POST {uploadUrl}/api/v1/files/upload`: multipart/form-data, the text fields first and the file part last.
 *
 * - `uploadFile` sends a local file with a known length (Content-Length). Each attempt builds a fresh body
 *   and rereads the file, so a retry replays the same bytes. A small file is read into one buffer with its
 *   envelope, synchronously: it was just written, so the read is a copy from the page cache (microseconds)
 *   where the thread-pool round trips of an asynchronous stat and read took hundreds under load, and the
 *   stream machinery most of the rest of a small upload's cost. A large file is streamed in 1 MiB reads,
 *   never read whole. Progress counts file bytes handed to the connection.
 * - `uploadFileStream` sends bytes as they are produced, length unknown (chunked transfer encoding), in a
 *   single attempt: a stream cannot be replayed. Aborting it cuts the body short, so the server never sees
 *   the closing boundary and stores nothing. Its chunks may be lent (reused once two more were asked for,
 *   see vfs/upload/growing-file.ts): they go straight to undici, which is done with one before asking for
 *   the next but one.
 *
 * Retrying an upload that may have reached the server is accepted, even after its 2xx response was cut short:
 * with useUniqueFileName=false a repeat is one more version of the same path. Before each repeat the caller's
 * `storedBefore` may find the version an earlier attempt stored (a 5xx after the store, a lost answer); that
 * version is then the result, and the bytes are not sent again.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, createReadStream, fstatSync, openSync, type ReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import FormData from 'form-data'
import type { RequestOptions, StreamUploadRequest, UploadFields, UploadRequest } from './api.js'
import { expectBody, isUploadResponse } from './guards.js'
import type { AttemptBody, HostAnswer, HttpTransport } from './http.js'
import { giveUpOf } from './request-options.js'
import type { UploadResponse } from './types.js'
import { readFullySync } from '../read-fully.js'

export const UPLOAD_ROUTE = '/api/v1/files/upload'
/** Fields the filesystem reads back after an upload (they are left out of the response unless asked for). */
export const UPLOAD_RESPONSE_FIELDS = ['tags', 'customCoordinates', 'isPrivateFile', 'customMetadata', 'isPublished'] as const
/** 1 MiB disk reads: fewer, larger socket writes (the upload of a 1 GiB file is bound by per-chunk costs). */
const FILE_CHUNK_BYTES = 1024 * 1024
/** Files up to this size are sent from one buffer (read whole, at most this much memory per upload). */
export const SMALL_FILE_BYTES = 1024 * 1024

const CALL = { method: 'POST' as const, route: UPLOAD_ROUTE }

/**
 * Multipart boundaries: this process's random prefix and a counter of fixed width (so that no boundary is the
 * start of another), as unlikely to occur in a file as form-data's own (random per form), without asking the
 * system for random bytes for every upload.
 */
const BOUNDARY_PREFIX = `--------------------------ikfs${randomBytes(12).toString('hex')}`
let boundaries = 0

function nextBoundary(): string {
  boundaries += 1
  return BOUNDARY_PREFIX + boundaries.toString(16).padStart(12, '0')
}

export async function uploadFile(http: HttpTransport, upload: UploadRequest, options: RequestOptions = {}): Promise<UploadResponse> {
  let storedBefore: UploadResponse | undefined
  const found = upload.storedBefore
  const result = await http.call({
    ...CALL,
    host: 'upload',
    // Also after a 2xx whose body was lost (see above): giving up would fail close(2) for a stored file.
    idempotent: true,
    signal: options.signal,
    ...giveUpOf(options),
    body: () => fileBody(upload),
    ...(found ? { doneBeforeRepeat: async (previous) => (storedBefore = await found(previous)) !== undefined } : {}),
  })
  if (result.status === 0 && storedBefore) return storedBefore
  return expectBody(result, isUploadResponse, CALL, 'an upload response')
}

export async function uploadFileStream(http: HttpTransport, upload: StreamUploadRequest, options: RequestOptions = {}): Promise<UploadResponse> {
  const result = await http.call({
    ...CALL,
    host: 'upload',
    idempotent: false,
    signal: options.signal,
    maxRetries: 0,
    body: async () => streamBody(upload),
  })
  return expectBody(result, isUploadResponse, CALL, 'an upload response')
}

/** The header that marks probeUploadHost's request. */
export const UPLOAD_CHECK_HEADER = 'x-ikfs-check'
/** The name the upload host check's form gives; no file goes with it, so nothing can be stored. */
const CHECK_FILE_NAME = 'ikfs-upload-check'

/**
 * What the upload host answers to an upload without a file (the `fileName` field only): ImageKit's Upload API
 * refuses it with 400 and a JSON message ("Your request is missing file parameter."), storing nothing, or
 * with 401/403 when it refuses the key. Any other server answers otherwise.
 */
export function probeUploadHost(http: HttpTransport, signal?: AbortSignal, maxRetries?: number): Promise<HostAnswer> {
  const form = new FormData()
  form.setBoundary(nextBoundary())
  form.append('fileName', CHECK_FILE_NAME)
  const body = form.getBuffer()
  const headers = {
    'content-type': form.getHeaders()['content-type'] as string,
    'content-length': String(body.length),
    // Tells whoever stands between or reads the logs (a proxy, the tests' upload counter) that this is no upload.
    [UPLOAD_CHECK_HEADER]: 'upload-host',
  }
  return http.askUploadHost({ ...CALL, headers, body }, signal, maxRetries)
}

/** The text fields of the form, in the order they are sent (before the file part). */
export function uploadFields(upload: UploadFields): [string, string][] {
  const fields: [string, string][] = [
    ['fileName', upload.fileName],
    ['folder', upload.folder],
    ['useUniqueFileName', 'false'],
  ]
  if (upload.tags && upload.tags.length > 0) fields.push(['tags', upload.tags.join(',')])
  if (upload.isPrivateFile !== undefined) fields.push(['isPrivateFile', String(upload.isPrivateFile)])
  if (upload.isPublished === false) fields.push(['isPublished', 'false'])
  if (upload.customCoordinates) fields.push(['customCoordinates', upload.customCoordinates])
  if (upload.customMetadata !== undefined) fields.push(['customMetadata', JSON.stringify(upload.customMetadata)])
  if (upload.keepExistingMetadata) {
    fields.push(['overwriteTags', 'false'], ['overwriteCustomMetadata', 'false'], ['overwriteAITags', 'false'])
  }
  fields.push(['responseFields', UPLOAD_RESPONSE_FIELDS.join(',')])
  return fields
}

/** The file's bytes for one attempt, read while the caller holds changes to it (UploadRequest.reading). */
async function fileBody(upload: UploadRequest): Promise<AttemptBody> {
  const done = await upload.reading?.()
  let read = false
  const release = (): void => {
    if (read) return
    read = true
    done?.()
  }
  try {
    return await readFileBody(upload, release)
  } catch (e) {
    release()
    throw e
  }
}

async function readFileBody(upload: UploadRequest, release: () => void): Promise<AttemptBody> {
  const handle = upload.localFileHandle
  const fileSize = handle ? fstatSync(handle.fd).size : (await stat(upload.localFile)).size
  const { head, tail, contentType } = multipartFrame(upload)
  const headers = { 'content-type': contentType, 'content-length': String(head.length + fileSize + tail.length) }
  if (fileSize <= SMALL_FILE_BYTES) {
    const body = Buffer.allocUnsafe(head.length + fileSize + tail.length)
    head.copy(body, 0)
    const bytes = body.subarray(head.length, head.length + fileSize)
    readExactly(handle?.fd ?? upload.localFile, bytes)
    upload.read?.(bytes)
    release()
    tail.copy(body, head.length + fileSize)
    upload.onProgress?.(fileSize)
    return { body, headers, dispose() {} }
  }
  const file: ReadStream = createReadStream(upload.localFile, { highWaterMark: FILE_CHUNK_BYTES })
  return {
    body: Readable.from(framed(head, file, tail, upload.onProgress, fileSize, release), { objectMode: false }),
    headers,
    dispose() {
      file.destroy()
      release()
    },
  }
}

function streamBody(upload: StreamUploadRequest): AttemptBody {
  const { head, tail, contentType } = multipartFrame(upload)
  // No Content-Length: undici sends the body with chunked transfer encoding. Handed over as an async
  // iterable, undici pulls the next chunk only once the socket took the previous one.
  return { body: framed(head, upload.body, tail, upload.onProgress), headers: { 'content-type': contentType }, dispose() {} }
}

/** Fills `into` from the start of a file (an open descriptor or a path); a shorter file changed under the upload. */
function readExactly(source: number | string, into: Buffer): void {
  const fd = typeof source === 'string' ? openSync(source, 'r') : source
  try {
    const done = readFullySync(fd, into, 0, into.length, 0)
    if (done < into.length) throw new Error(`the file changed size while it was uploaded (${done} of ${into.length} bytes)`)
  } finally {
    if (fd !== source) closeSync(fd)
  }
}

/**
 * The multipart envelope around the file, built by form-data (field encoding, boundary, file-part
 * headers) with an empty file part: everything before the file's bytes, and the CRLF plus closing
 * boundary after them. The file itself goes between the two, so form-data's legacy stream machinery
 * never touches the bytes (it halved upload throughput).
 */
function multipartFrame(upload: UploadFields): { head: Buffer; tail: Buffer; contentType: string } {
  const form = new FormData()
  form.setBoundary(nextBoundary())
  for (const [name, value] of uploadFields(upload)) form.append(name, value)
  form.append('file', Buffer.alloc(0), { filename: upload.fileName, contentType: 'application/octet-stream' })
  const whole = form.getBuffer()
  const tail = Buffer.from(`\r\n--${form.getBoundary()}--\r\n`)
  return { head: whole.subarray(0, whole.length - tail.length), tail, contentType: form.getHeaders()['content-type'] as string }
}

/**
 * head, the file's chunks, tail; with `expectedSize`, a file that ends at another size fails the attempt.
 * `fileRead` is called once the file's last chunk was read.
 */
async function* framed(
  head: Buffer, file: AsyncIterable<Buffer>, tail: Buffer, onProgress?: (sentBytes: number) => void, expectedSize?: number,
  fileRead?: () => void,
): AsyncGenerator<Buffer> {
  yield head
  let sent = 0
  for await (const chunk of file) {
    yield chunk
    sent += chunk.length
    onProgress?.(expectedSize === undefined ? sent : Math.min(sent, expectedSize))
  }
  fileRead?.()
  if (expectedSize !== undefined && sent !== expectedSize) {
    throw new Error(`the file changed size while it was uploaded (${sent} of ${expectedSize} bytes)`)
  }
  yield tail
}
