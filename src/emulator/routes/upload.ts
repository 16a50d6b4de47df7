/**
 * Upload API (§4.18): `POST /api/v1/files/upload` and `/api/v2/files/upload`. The multipart body is streamed
 * to a temp file (never buffered), then committed as a new file or a new version.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { rm } from 'node:fs/promises'
import type { EmulatorContext } from '../context.js'
import { validateCustomCoordinates, validateTags } from '../detail-ops.js'
import { commitUpload, type UploadCommit } from '../file-ops.js'
import { RESPONSE_FIELDS, toUploadResponse } from '../file-object.js'
import { checkClientAuth } from '../client-auth.js'
import { checkUploadJwt } from '../upload-jwt.js'
import { readEmbeddedFacts } from '../embedded-metadata.js'
import { parseExtensions, startExtensions, withExtensionStatus } from '../extensions.js'
import { checkUploadTransformation, PRE_TRANSFORMATION_QUEUED_MESSAGE } from '../upload-transformation.js'
import { ApiError, badRequest, sendApiError, sendJson } from '../http-io.js'
import { boundaryOf, MultipartError, parseMultipart, type PartSink } from '../multipart.js'
import { uploadChecksGate } from '../upload-checks.js'
import { Base64Sink, InvalidFileFieldError, TempFileSink, UploadTooLargeError } from '../upload-sinks.js'
import { fetchIntoSink, UrlFetchError } from '../url-source.js'
import { mimeFromName } from '../mime.js'

export const MISSING_FILE_MESSAGE = 'Your request is missing file parameter.'
export const MISSING_FILE_NAME_MESSAGE = 'Your request is missing fileName parameter.'
export const BOTH_AUTH_MESSAGE = 'Your request contains both signature and basic auth parameter. Use only one method, you might be exposing your private API key.'
/** Text fields are small (names, tags, JSON metadata); anything larger is not a real request. */
const MAX_TEXT_FIELD_BYTES = 1024 * 1024

/**
 * The 400 of a file over the size limit, in the live service's words (free plan, ../shared/imagekit-api.md §4.18);
 * the docs word it without the figure ("... The file size exceeds limits."). ikfs reads both (imagekit/too-large.ts).
 */
export function tooLargeMessage(maxBytes: number): string {
  return `Your request contains invalid file parameter. The file size exceeds ${maxBytes} bytes limit.`
}

/** The size limit of an upload by its name: videos have their own (options.maxVideoUploadBytes). */
function uploadLimit(ctx: EmulatorContext, fileName: string | undefined): number {
  const video = fileName !== undefined && mimeFromName(fileName).startsWith('video/')
  return video ? ctx.options.maxVideoUploadBytes : ctx.options.maxUploadBytes
}

class TextSink implements PartSink {
  #chunks: Buffer[] = []
  #size = 0
  constructor(readonly name: string, readonly done: (value: string) => void) {}
  write(chunk: Buffer): void {
    this.#size += chunk.length
    if (this.#size > MAX_TEXT_FIELD_BYTES) throw badRequest(`The ${this.name} parameter is too large.`)
    this.#chunks.push(chunk)
  }
  end(): void {
    this.done(Buffer.concat(this.#chunks).toString('utf8'))
  }
}

/**
 * `auth`: Basic auth was checked already, or the form must carry client-side authentication: v1's signed
 * token (`form`, client-auth.ts) or v2's JWT (`jwt`, upload-jwt.ts).
 */
export async function handleUpload(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, auth: 'basic' | 'form' | 'jwt' = 'basic'): Promise<void> {
  const boundary = boundaryOf(req.headers['content-type'])
  if (!boundary) throw badRequest('Your request should be multipart/form-data.')
  const fields = new Map<string, string>()
  let tempPath: string | undefined
  let fileSink: TempFileSink | undefined
  let textSink: Base64Sink | undefined
  let partFileName: string | undefined
  let committed = false
  const limitOf = () => uploadLimit(ctx, fields.get('fileName') || partFileName)
  try {
    try {
      // Not destroyed when the parser stops early (a refusal): refuseUpload reads the rest and drops it, so the
      // kept-alive connection serves the next request instead of hanging until it is reset.
      await parseMultipart(req.iterator({ destroyOnReturn: false }), boundary, (headers) => {
        if (headers.name !== 'file') return new TextSink(headers.name, (v) => fields.set(headers.name, v))
        if (fileSink) throw badRequest('Your request contains more than one file parameter.')
        const file = ctx.tempFiles.take('upload')
        tempPath = file.path
        partFileName = headers.filename
        // The name's limit when its field came first; else the larger one while streaming, the name's checked after.
        const streamLimit = fields.get('fileName') ? limitOf() : Math.max(ctx.options.maxUploadBytes, ctx.options.maxVideoUploadBytes)
        fileSink = new TempFileSink(file, streamLimit)
        const isText = headers.filename === undefined && (!headers.contentType || /^text\/plain\b/i.test(headers.contentType))
        if (!isText) return fileSink
        textSink = new Base64Sink(fileSink, ctx.options.urlUploads)
        return textSink
      })
    } catch (e) {
      await fileSink?.abort()
      const fileError = fileFieldError(ctx, e, limitOf())
      if (fileError !== e) throw fileError
      if (e instanceof MultipartError) throw badRequest(`Your request contains an invalid multipart body: ${e.message}.`)
      // The client went away mid-body (an aborted stream): nothing is stored, and it is no emulator bug.
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') throw badRequest('Your request contains an invalid multipart body: the connection closed before its end.')
      throw e
    }
    if (auth === 'basic' && fields.has('signature')) throw badRequest(BOTH_AUTH_MESSAGE)
    if (auth !== 'basic') {
      const check = auth === 'jwt' ? checkUploadJwt : checkClientAuth
      const refused = check(fields, ctx.options, ctx.uploadTokens, ctx.clock.now())
      if (refused) throw refused
    }
    if (fileSink && textSink?.url !== undefined) {
      try {
        await fetchIntoSink(textSink.url, fileSink)
      } catch (e) {
        throw fileFieldError(ctx, e, limitOf())
      }
    }
    if (!fileSink || fileSink.size === 0) throw badRequest(MISSING_FILE_MESSAGE)
    const fileName = fields.get('fileName')
    if (!fileName) throw badRequest(MISSING_FILE_NAME_MESSAGE)
    const limit = uploadLimit(ctx, fileName)
    if (fileSink.size > limit) throw badRequest(tooLargeMessage(limit))
    const bool = (name: string, fallback: boolean): boolean => {
      const v = fields.get(name)
      if (v === undefined || v === '') return fallback
      if (v !== 'true' && v !== 'false') throw badRequest(`Invalid value for ${name} parameter. It should be true or false.`)
      return v === 'true'
    }
    const tagsRaw = fields.get('tags')
    const metadataRaw = fields.get('customMetadata')
    let customMetadata: Record<string, unknown> | undefined
    if (metadataRaw !== undefined && metadataRaw !== '') {
      try {
        customMetadata = JSON.parse(metadataRaw) as Record<string, unknown>
      } catch {
        customMetadata = undefined
      }
      if (typeof customMetadata !== 'object' || customMetadata === null || Array.isArray(customMetadata)) {
        throw new ApiError(400, 'Invalid custom metadata.', { errors: { customMetadata: 'should be a JSON object' } })
      }
    }
    const responseFields = new Set((fields.get('responseFields') ?? '').split(',').map((s) => s.trim()).filter((s) => s))
    for (const f of responseFields) {
      if (!(RESPONSE_FIELDS as readonly string[]).includes(f)) throw badRequest(`Invalid value ${f} in responseFields parameter.`)
    }
    const coords = fields.get('customCoordinates')
    const transformation = checkUploadTransformation(fields.get('transformation'))
    const extensionsRaw = fields.get('extensions')
    const extensions = extensionsRaw === undefined || extensionsRaw === '' ? undefined : parseExtensions(extensionsRaw)
    const commit: UploadCommit = {
      tempPath: fileSink.path,
      size: fileSink.size,
      head: fileSink.head,
      folder: fields.get('folder') ?? '/',
      fileName,
      useUniqueFileName: bool('useUniqueFileName', true),
      overwriteFile: bool('overwriteFile', true),
      overwriteTags: bool('overwriteTags', true),
      overwriteCustomMetadata: bool('overwriteCustomMetadata', true),
      overwriteAITags: bool('overwriteAITags', true),
      tags: tagsRaw === undefined || tagsRaw === '' ? undefined : validateTags(tagsRaw.split(',')),
      customCoordinates: coords === undefined || coords === '' ? undefined : validateCustomCoordinates(coords),
      customMetadata,
      description: fields.get('description'),
      isPrivateFile: bool('isPrivateFile', false),
      isPublished: bool('isPublished', true),
    }
    const gate = uploadChecksGate(fields.get('checks'), { ...commit, webhookUrl: fields.get('webhookUrl') }, commit.size)
    if (gate) commit.accept = gate
    const file = await commitUpload(ctx, commit)
    committed = true
    const extensionStatus = await startExtensions(ctx, file.fileId, extensions, fields.get('webhookUrl'))
    const stored = ctx.store.fileById(file.fileId) ?? file
    if (transformation.pre !== undefined && stored.current.mime.startsWith('video/')) {
      // Stored as sent at once (no processing here); the real service stores the transformed video later.
      sendJson(res, 202, { message: PRE_TRANSFORMATION_QUEUED_MESSAGE }, {}, true)
      return
    }
    const wantsEmbedded = stored.current.fileType === 'image' && (responseFields.has('metadata') || responseFields.has('embeddedMetadata'))
    const answer = toUploadResponse(stored, ctx.urls, responseFields, wantsEmbedded ? readEmbeddedFacts(fileSink.head) : undefined)
    sendJson(res, 200, withExtensionStatus(answer, extensionStatus), {}, true)
  } finally {
    if (!committed) await fileSink?.abort() // open still when a URL upload was refused before its fetch
    if (!committed && tempPath) await rm(tempPath, { force: true })
  }
}

/** The 400 for a `file` value that gave no file; other errors pass through. */
function fileFieldError(ctx: EmulatorContext, e: unknown, limit: number): unknown {
  if (e instanceof UploadTooLargeError) return badRequest(tooLargeMessage(limit))
  if (e instanceof UrlFetchError) return badRequest(`Your request contains invalid file parameter. ${e.message}.`)
  if (e instanceof InvalidFileFieldError) {
    return badRequest(e.message === 'url' && !ctx.options.urlUploads
      ? 'Your request contains invalid file parameter. This emulator does not fetch files from URLs (urlUploads off).'
      : 'Your request contains invalid file parameter.')
  }
  return e
}

/**
 * A refused request keeps being read (and dropped) this long after the answer, then its connection is
 * closed. Closing a connection with unread data resets it, and the reset can discard the answer before the
 * client reads it (a streamed upload would then see "connection reset" instead of, say, 411): real servers
 * linger the same way.
 */
export const REFUSAL_LINGER_MS = 2_000

/** Refusals sent before the whole body was read: answer, then read the rest and drop it. */
export function refuseUpload(req: IncomingMessage, res: ServerResponse, err: ApiError): void {
  const socket = req.socket as IncomingMessage['socket'] | null // detached from req once the answer is sent
  sendApiError(res, err)
  req.resume()
  if (!socket || socket.destroyed) return
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS)
  timer.unref()
  // Both listeners go with the first: a keep-alive socket serves many refusals (an outage), and one 'close'
  // listener left per refusal piled up (MaxListenersExceededWarning after ten).
  const done = (): void => {
    clearTimeout(timer)
    req.off('end', done)
    socket.off('close', done)
  }
  req.once('end', done)
  socket.once('close', done)
}
