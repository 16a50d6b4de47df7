/**
 * URL endpoint (§6): GET/HEAD `/<id>[/tr:...]/<encoded path>`, streamed from disk, with Range (one range, or
 * several as multipart/byteranges) and conditional requests (304) as CloudFront answers them (byte-ranges.ts),
 * signed-URL checks (§6.4, §5.3) and the stale CDN (§6.2).
 *
 * Image optimisation: unless `orig-true` is asked for, an image is served as its original bytes followed by
 * OPTIMISED_MARKER (decoders ignore trailing bytes; for SVG it is an XML comment), so it stays a valid
 * image whose bytes and size differ from the original, as a re-encoded image would. Non-images are
 * served as stored. Transformations (`w-300`, `n-ik_ml_thumbnail` ...) are not applied (the emulator does no
 * image processing): the answer names them in NOT_APPLIED_HEADER, and the log once per distinct list.
 * With `orig-true` there is nothing to say: the real CDN ignores the other parameters then too.
 */
import { close, createReadStream, openSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import { isNotModified, parseRange, rangeStillApplies, type ByteRange, type RangeRequest } from '../byte-ranges.js'
import type { EmulatorContext } from '../context.js'
import { parseDeliveryTarget, isNamedTransformationAlone, wantsOriginal, type DeliveryTarget } from '../delivery-target.js'
import { contentTypeHeader } from '../mime.js'
import type { VersionRecord } from '../records.js'
import { verifySignedTarget } from '../signature.js'

/** Disk reads of 1 MiB: fewer, larger socket writes, so the emulator is not what limits read benchmarks. */
const DELIVERY_CHUNK_BYTES = 1024 * 1024

export const OPTIMISED_MARKER = Buffer.from('\n<!-- ik-emulator: optimised delivery; add tr=orig-true for the original bytes -->\n', 'utf8')
/** §6.3: what a `curl -I` on a media-library file showed (180 days). */
export const CACHE_CONTROL = 'public, s-maxage=15552000, max-age=15552000, must-revalidate'

/** Names the transformations asked for and not applied, so a client (or its developer) can tell. */
export const NOT_APPLIED_HEADER = 'x-ik-emulator-transformation-not-applied'
/** Header values are kept short and printable ASCII (a text overlay may hold anything). */
const NOT_APPLIED_MAX_CHARS = 512
/** Distinct transformation lists logged per emulator; beyond that they are only in the header. */
const NOT_APPLIED_LOGGED_MAX = 1000
const notAppliedLogged = new WeakMap<EmulatorContext, Set<string>>()

/** The header value for the transformations `target` asks for and the emulator does not apply; undefined if none. */
function notApplied(ctx: EmulatorContext, target: DeliveryTarget): string | undefined {
  if (target.transformations.length === 0 || wantsOriginal(target)) return undefined
  const value = target.transformations.join(',').replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c)).slice(0, NOT_APPLIED_MAX_CHARS)
  let logged = notAppliedLogged.get(ctx)
  if (!logged) notAppliedLogged.set(ctx, (logged = new Set()))
  if (!logged.has(value) && logged.size < NOT_APPLIED_LOGGED_MAX) {
    logged.add(value)
    ctx.logger.info({ transformation: value }, 'delivery: transformation not applied (the emulator does no image processing); serving the stored file')
  }
  return value
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  const body = status === 404 ? 'Not Found' : status === 401 ? 'Unauthorized' : 'Bad Request'
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'ik-error': `${code} - ${message}`,
    'cache-control': 'no-cache',
  })
  res.end(body)
}

interface Resolved {
  fileId: string
  version: VersionRecord
  bytesPath: string
}

function resolveFresh(ctx: EmulatorContext, target: DeliveryTarget): Resolved | undefined {
  const file = ctx.store.fileByPath(target.filePath)
  if (!file) return undefined
  const token = target.params.get('ik-obj-version')
  const version = !token || file.current.token === token ? file.current : file.versions.find((v) => v.token === token)
  return version ? { fileId: file.fileId, version, bytesPath: ctx.store.bytesPathOf(file, version) } : undefined
}

/** A remembered answer: its version in the library, or the copy kept after the version was deleted. */
function resolveCached(ctx: EmulatorContext, target: DeliveryTarget): Resolved | undefined {
  const entry = ctx.cdn.lookup(target.cacheKey)
  if (!entry) return undefined
  if (entry.retained) return { fileId: entry.fileId, ...entry.retained }
  const file = ctx.store.fileById(entry.fileId)
  const version = file && (file.current.id === entry.versionId ? file.current : file.versions.find((v) => v.id === entry.versionId))
  if (!file || !version) {
    ctx.cdn.forget(target.cacheKey)
    return undefined
  }
  return { fileId: file.fileId, version, bytesPath: ctx.store.bytesPathOf(file, version) }
}

export async function handleDelivery(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawTarget = req.url ?? '/'
  const target = parseDeliveryTarget(rawTarget, ctx.endpointPath)
  if (!target) return refuse(res, 404, 'ENOENT', 'The requested resource does not exist.')
  const verdict = verifySignedTarget(rawTarget, ctx.endpointPath, ctx.options.privateKey, ctx.clock.now())
  if (verdict.kind === 'invalid') {
    return refuse(res, 401, 'EUNAUTHORIZED', verdict.why === 'expired' ? 'The signed URL has expired.' : 'The URL signature is invalid.')
  }
  let resolved = resolveCached(ctx, target)
  if (!resolved) {
    resolved = resolveFresh(ctx, target)
    if (!resolved) return refuse(res, 404, 'ENOENT', 'The requested file does not exist.')
    ctx.cdn.remember(target.cacheKey, resolved.fileId, resolved.version.id)
  }
  const { version, bytesPath } = resolved
  // The real CDN does not deliver drafts; that it answers as for a missing file is the emulator's choice.
  if (!version.isPublished) return refuse(res, 404, 'ENOENT', 'The requested file does not exist.')
  if (verdict.kind === 'unsigned') {
    if (ctx.options.restrictUnsigned) return refuse(res, 401, 'EUNAUTHORIZED', 'This account only serves signed URLs.')
    if (version.isPrivateFile && !isNamedTransformationAlone(target)) {
      return refuse(res, 401, 'EUNAUTHORIZED', 'This file is private: request it with a signed URL.')
    }
  }
  const ignored = notApplied(ctx, target)
  await sendBytes(ctx, req, res, version, bytesPath, version.fileType === 'image' && !wantsOriginal(target), ignored)
}

async function sendBytes(
  ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, version: VersionRecord, bytesPath: string, optimised: boolean,
  notAppliedTransformation: string | undefined,
): Promise<void> {
  const storedSize = version.size
  const suffix = optimised ? OPTIMISED_MARKER : Buffer.alloc(0)
  const total = storedSize + suffix.length
  const etag = `"${version.id}${optimised ? '-opt' : ''}"`
  const headers: Record<string, string> = {
    'content-type': contentTypeHeader(version.mime),
    etag,
    'last-modified': new Date(version.updatedAt).toUTCString(),
    'accept-ranges': 'bytes',
    'cache-control': CACHE_CONTROL,
    'x-server': 'ImageKit.io',
  }
  if (notAppliedTransformation !== undefined) headers[NOT_APPLIED_HEADER] = notAppliedTransformation
  if (isNotModified(req.headers['if-none-match'], req.headers['if-modified-since'], etag, version.updatedAt)) {
    const { 'content-type': _type, 'accept-ranges': _ranges, ...validators } = headers
    res.writeHead(304, validators)
    res.end()
    return
  }
  const ifRange = req.headers['if-range']
  let range: RangeRequest = rangeStillApplies(typeof ifRange === 'string' ? ifRange : undefined, etag, version.updatedAt)
    ? parseRange(req.headers.range, total)
    : { kind: 'none' }
  if (range.kind === 'ranges' && ctx.faults.ignoreRange()) range = { kind: 'none' }
  if (range.kind === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${total}`, 'content-length': '0' })
    res.end()
    return
  }
  const ranges = range.kind === 'ranges' ? range.ranges : [{ start: 0, end: total - 1 }]
  const parts = ranges.length > 1 ? multipart(ranges, total, headers['content-type'] as string) : undefined
  const length = parts ? parts.length : total === 0 ? 0 : (ranges[0] as ByteRange).end - (ranges[0] as ByteRange).start + 1
  if (parts) headers['content-type'] = `multipart/byteranges; boundary=${parts.boundary}`
  else if (range.kind === 'ranges') headers['content-range'] = `bytes ${(ranges[0] as ByteRange).start}-${(ranges[0] as ByteRange).end}/${total}`
  headers['content-length'] = String(length)
  const status = range.kind === 'ranges' ? 206 : 200
  if (req.method === 'HEAD' || length === 0) {
    res.writeHead(status, headers)
    res.end()
    return
  }
  // Opened in the same synchronous stretch as the version was chosen (no await since): an upload that stores
  // a new version renames its bytes onto the current version's path, and an open after that (the thread
  // pool's, later) would send the new bytes under this version's size and ETag (a reader resuming a short
  // body then gets a mix of both).
  let fd: number | undefined
  if ((ranges[0] as ByteRange).start < storedSize) {
    try {
      fd = openSync(bytesPath, 'r')
    } catch {
      return refuse(res, 404, 'ENOENT', 'The requested file does not exist.')
    }
  }
  res.writeHead(status, headers)
  try {
    const { start, end } = ranges[0] as ByteRange
    if (parts) {
      await pipeline(Readable.from(multipartBody(fd, storedSize, suffix, ranges, parts)), res)
    } else if (fd !== undefined && suffix.length === 0) {
      // The common case (originals, non-images): straight from disk, no generator in between.
      await pipeline(readFrom(fd, start, Math.min(end, storedSize - 1)), res)
    } else {
      await pipeline(Readable.from(bodyParts(fd, storedSize, suffix, start, end)), res)
    }
    ctx.usage.bandwidthBytes.add(ctx.clock.now(), length)
  } catch (e) {
    res.destroy(e as Error)
  } finally {
    if (fd !== undefined) close(fd, () => undefined)
  }
}

interface Multipart {
  boundary: string
  /** Each range's part head (boundary line, Content-Type, Content-Range, blank line). */
  heads: Buffer[]
  tail: Buffer
  /** Bytes of the whole body. */
  length: number
}

/** RFC 9110 §14.6: the multipart/byteranges framing of `ranges` of a `total`-byte body of type `type`. */
function multipart(ranges: readonly ByteRange[], total: number, type: string): Multipart {
  const boundary = randomBytes(12).toString('hex')
  const heads = ranges.map((r, i) => Buffer.from(`${i > 0 ? '\r\n' : ''}--${boundary}\r\ncontent-type: ${type}\r\ncontent-range: bytes ${r.start}-${r.end}/${total}\r\n\r\n`, 'latin1'))
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1')
  let length = tail.length
  for (const [i, r] of ranges.entries()) length += (heads[i] as Buffer).length + r.end - r.start + 1
  return { boundary, heads, tail, length }
}

async function* multipartBody(fd: number | undefined, storedSize: number, suffix: Buffer, ranges: readonly ByteRange[], parts: Multipart): AsyncGenerator<Buffer> {
  for (const [i, r] of ranges.entries()) {
    yield parts.heads[i] as Buffer
    yield* bodyParts(fd, storedSize, suffix, r.start, r.end)
  }
  yield parts.tail
}

/** Bytes `start..end` (inclusive) of an open file; the caller closes `fd`. */
function readFrom(fd: number, start: number, end: number): Readable {
  return createReadStream('', { fd, start, end, autoClose: false, highWaterMark: DELIVERY_CHUNK_BYTES })
}

/** The bytes `start..end` (inclusive) of stored bytes followed by `suffix`, streamed from disk. */
async function* bodyParts(fd: number | undefined, storedSize: number, suffix: Buffer, start: number, end: number): AsyncGenerator<Buffer> {
  if (fd !== undefined && start < storedSize) {
    for await (const chunk of readFrom(fd, start, Math.min(end, storedSize - 1))) yield chunk as Buffer
  }
  if (end >= storedSize) yield suffix.subarray(Math.max(0, start - storedSize), end - storedSize + 1)
}
