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
import { open } from 'node:fs/promises'
import type { ImageKitApi, RequestOptions } from '../../imagekit/api.js'
import { isImageKitError } from '../../imagekit/errors.js'
import { errorCodeOf } from '../../imagekit/http.js'
import type { FileObject, UploadResponse } from '../../imagekit/types.js'
import type { PendingFile } from '../file-node.js'
import { findStored } from '../find-stored.js'
import { parseTimeMs, versionIdOf } from '../inode.js'
import { mayHaveBeenDone } from '../lost-answer.js'

/**
 * How much earlier than the attempt's start (our clock) a version may say it was stored (the API's clock):
 * clocks differ by seconds. A version older than the attempt with exactly our bytes is harmless to take.
 */
export const CLOCK_SKEW_MS = 60_000

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

/** Files stored elsewhere since the attempt, of the file's size, whose bytes are compared (see lookElsewhere). */
export const MAX_MOVED_CANDIDATES = 4

/**
 * The version at `file`'s path holding exactly its spool bytes, stored since `sinceMs`, as an upload's answer;
 * undefined when there is none (or the library cannot tell now: the upload is then sent again).
 * `lookElsewhere` (an earlier attempt's check, made seconds to days later, as after a crash): when the path
 * holds no such version, the file may have been moved or renamed since by another machine, which keeps its
 * bytes and time. One more call asks for the files of its size stored since, anywhere; the first few are
 * compared, and one holding exactly its bytes is the answer (at its new path). Sending it again would bring
 * a copy back at the old path, or store it over a newer file put there since.
 */
export async function storedCopyOf(
  api: ImageKitApi, file: PendingFile, sinceMs: number, options?: RequestOptions & { lookElsewhere?: boolean },
): Promise<UploadResponse | undefined> {
  if (file.size === 0) return undefined // ImageKit stores no empty files
  const current = await findStored(api, file.folder, file.name, options)
  if (current && mayBeOurs(current, file, sinceMs) && (await holdsSpoolBytes(api, current, file))) return uploadResponseOf(current)
  if (!options?.lookElsewhere) return undefined
  for (const moved of await storedElsewhereSince(api, file, sinceMs, options)) {
    if (await holdsSpoolBytes(api, moved, file)) return uploadResponseOf(moved)
  }
  return undefined
}

function mayBeOurs(stored: FileObject, file: PendingFile, sinceMs: number): boolean {
  return stored.size === file.size && parseTimeMs(stored.updatedAt) >= sinceMs - CLOCK_SKEW_MS
}

/** Current files of `file`'s size stored since `sinceMs` at other paths (the first MAX_MOVED_CANDIDATES). */
async function storedElsewhereSince(api: ImageKitApi, file: PendingFile, sinceMs: number, options: RequestOptions): Promise<FileObject[]> {
  const since = new Date(sinceMs - CLOCK_SKEW_MS).toISOString()
  const searchQuery = `type = "file" AND size = ${file.size} AND updatedAt >= "${since}"`
  const found: FileObject[] = []
  for await (const item of api.listFiles({ type: 'file', searchQuery }, options)) {
    if (item.type !== 'file' || item.filePath === file.remotePath || !mayBeOurs(item, file, sinceMs)) continue
    found.push(item)
    if (found.length === MAX_MOVED_CANDIDATES) break
  }
  return found
}

async function holdsSpoolBytes(api: ImageKitApi, stored: FileObject, file: PendingFile): Promise<boolean> {
  const url = api.deliveryUrl({ filePath: stored.filePath, url: stored.url, isPrivateFile: stored.isPrivateFile, versionId: versionIdOf(stored) })
  const res = await api.readRange(url, 0, stored.size - 1)
  const spool = await open(file.dataPath, 'r')
  try {
    if (res.start !== 0 || res.totalSize !== file.size) return false
    let ours = Buffer.alloc(0)
    let at = 0
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (at + chunk.length > file.size) return false
      if (ours.length < chunk.length) ours = Buffer.allocUnsafe(chunk.length)
      const { bytesRead } = await spool.read(ours, 0, chunk.length, at)
      if (bytesRead !== chunk.length || !ours.subarray(0, bytesRead).equals(chunk)) return false
      at += chunk.length
    }
    return at === file.size
  } finally {
    res.body.destroy()
    await spool.close()
  }
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
