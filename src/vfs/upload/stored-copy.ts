/**
 * An upload whose answer was an error may have been stored all the same (a gateway's 5xx after the store, a
 * connection dropped or timed out once the body was sent). Sending it again would add one more version per
 * repeat (a 5xx storm made a dozen of one file). So before a repeat the library is asked: the file's current
 * version at its path (one call); when that was stored since the attempt began and has the file's size, its
 * bytes are read back through the delivery path (original bytes, at the version's own URL, as reads do) and
 * compared with the spool copy, streamed. Only equal bytes make it the upload's result: another machine's
 * upload of the same size at the same moment is never taken for ours.
 *
 * No size bound: reading the version back costs at most the bytes a repeat would send, in the cheaper
 * direction, and holds one chunk in memory at a time. It runs only when a version that may be ours is there.
 */
import { open, type FileHandle } from 'node:fs/promises'
import type { ImageKitApi, RangeResponse, RequestOptions } from '../../imagekit/api.js'
import { NOTABLE_CLOCK_SKEW_MS } from '../../imagekit/clock-skew.js'
import { isImageKitError } from '../../imagekit/errors.js'
import { errorCodeOf } from '../../imagekit/http.js'
import type { FileObject, UploadResponse } from '../../imagekit/types.js'
import type { PendingFile } from '../file-node.js'
import { findStored } from '../find-stored.js'
import { parseTimeMs, versionIdOf } from '../inode.js'
import { mayHaveBeenDone } from '../lost-answer.js'

/**
 * How much earlier than the attempt's start (our clock) a version may say it was stored (the API's clock):
 * clocks differ by seconds. A version older than the attempt with exactly our bytes is harmless to take. The
 * skew `ikfs mount` and `ikfs doctor` warn beyond (cli/clock-warning.ts), which names this as what a clock
 * further ahead breaks.
 */
export const CLOCK_SKEW_MS = NOTABLE_CLOCK_SKEW_MS

/** Failures before a connection was made: the request never left (an outage costs no look-ups). */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * Whether a failed upload attempt may have been stored: an error answer from the server (5xx), or no answer
 * (a dropped connection, a timeout). Not a 429 or a 408 (the server says it did not take the request), nor
 * a connection that was never made.
 */
export function mayHaveBeenStored(e: unknown): boolean {
  if (!mayHaveBeenDone(e) || !isImageKitError(e) || e.status === 408) return false
  const code = errorCodeOf(e.cause)
  return code === undefined || !NOT_CONNECTED.has(code)
}

/**
 * The version at `file`'s path holding exactly its spool bytes, stored since `sinceMs`, as an upload's answer;
 * undefined when there is none (or the library cannot tell now: the upload is then sent again).
 */
export async function storedCopyOf(api: ImageKitApi, file: PendingFile, sinceMs: number, options?: RequestOptions): Promise<UploadResponse | undefined> {
  if (file.size === 0) return undefined // ImageKit stores no empty files
  const current = await storedSince(api, file.folder, file.name, sinceMs, options)
  if (!current || current.size !== file.size) return undefined
  return (await holdsSpoolBytes(api, current, file, options)) ? uploadResponseOf(current) : undefined
}

/**
 * The stored file named `name` in `folder` if its current version was stored since `sinceMs` (our clock, give
 * or take CLOCK_SKEW_MS): what an upload attempt begun then may have made there, whatever its bytes. An unlink
 * or rename of a file whose attempt may have stored it finds it so (namespace.ts), and so does the next mount's
 * completion of such an unlink (write/interrupted-unlink.ts).
 */
export async function storedSince(api: ImageKitApi, folder: string, name: string, sinceMs: number, options?: RequestOptions): Promise<FileObject | undefined> {
  const current = await findStored(api, folder, name, options)
  return current && parseTimeMs(current.updatedAt) >= sinceMs - CLOCK_SKEW_MS ? current : undefined
}

/**
 * Whether `stored` holds exactly the spool bytes of `file`, read back whole; with the lookup's `options`, so that
 * what ends the lookup (a supersede by an open for writing, a stop) ends this download too, not only its first call.
 */
async function holdsSpoolBytes(api: ImageKitApi, stored: FileObject, file: PendingFile, options?: RequestOptions): Promise<boolean> {
  const url = api.deliveryUrl({ filePath: stored.filePath, url: stored.url, isPrivateFile: stored.isPrivateFile, versionId: versionIdOf(stored) })
  // The spool copy first: once the response is here, nothing may fail before the finally that destroys its
  // body (an unread body holds its pooled connection).
  const spool = await open(file.dataPath, 'r')
  try {
    const res = await api.readRange(url, 0, stored.size - 1, options)
    try {
      return await sameBytes(res, spool, file.size)
    } finally {
      res.body.destroy()
    }
  } finally {
    await spool.close()
  }
}

/** Whether the body of `res` (a read from offset 0) is exactly the `size` bytes of `spool`; reads it to the end at most. */
async function sameBytes(res: RangeResponse, spool: FileHandle, size: number): Promise<boolean> {
  if (res.start !== 0 || res.totalSize !== size) return false
  let ours = Buffer.alloc(0)
  let at = 0
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (at + chunk.length > size) return false
    if (ours.length < chunk.length) ours = Buffer.allocUnsafe(chunk.length)
    const { bytesRead } = await spool.read(ours, 0, chunk.length, at)
    if (bytesRead !== chunk.length || !ours.subarray(0, bytesRead).equals(chunk)) return false
    at += chunk.length
  }
  return at === size
}

/** What the upload that stored `stored` would have answered (the fields the write path reads). */
function uploadResponseOf(stored: FileObject): UploadResponse {
  return {
    fileId: stored.fileId,
    name: stored.name,
    size: stored.size,
    versionInfo: stored.versionInfo,
    filePath: stored.filePath,
    url: stored.url,
    fileType: stored.fileType,
    ...(stored.height !== undefined ? { height: stored.height } : {}),
    ...(stored.width !== undefined ? { width: stored.width } : {}),
    thumbnailUrl: stored.thumbnail,
    AITags: stored.AITags,
    tags: stored.tags,
    customCoordinates: stored.customCoordinates,
    isPrivateFile: stored.isPrivateFile,
    isPublished: stored.isPublished,
    customMetadata: stored.customMetadata,
  }
}
