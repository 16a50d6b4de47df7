/**
 * A stored file's bytes into a local file, streamed (never whole in memory), for an open that changes an
 * existing file. A body cut short resumes with a range from where it stopped, as reads do
 * (MAX_RESUME_ATTEMPTS without progress); a file that changed remotely meanwhile is an EIO. The fill comes at
 * the first read, write or truncate, maybe long after the open: a 404 is what the file gives once it was
 * renamed or moved (its folder too, here or elsewhere) and the CDN forgot the old name's URL, so the same
 * version is then found by its file id, at its new path (one details call), as a reader does (vfs.ts #onStale).
 * With `etag` (the ETag the version's earlier ranges had) a response with another one is refused too: the
 * path's URL delivering a version stored over it elsewhere with as many bytes.
 */
import type { ImageKitApi } from '../imagekit/api.js'
import { hasImageKitCode } from '../imagekit/errors.js'
import type { Logger } from '../log.js'
import { VfsError } from './errors.js'
import { fromImageKitError } from './from-imagekit-error.js'
import type { FileInode } from './inode.js'
import { MAX_RESUME_ATTEMPTS } from './reader/range-stream.js'

/**
 * `write` puts a chunk at its offset; its failures end the fill as they are, and so does `signal`'s abort.
 * Returns the bytes written.
 */
export async function fillFromRemote(
  api: ImageKitApi, log: Logger, node: FileInode, write: (chunk: Buffer, position: number) => Promise<void>, signal?: AbortSignal, etag?: string,
): Promise<number> {
  const target = `fill ${node.remotePath}`
  let size = 0
  try {
    let url = api.deliveryUrl({ filePath: node.remotePath, url: node.url, isPrivateFile: node.isPrivateFile, versionId: node.versionId })
    for (let failures = 0, refound = false; size < node.size;) {
      const res = await api.readRange(url, size, undefined, { signal }).catch(async (e: unknown) => {
        if (refound || !hasImageKitCode(e, 'IK_NOT_FOUND')) throw e
        refound = true
        // With the fill's signal: a stop (an unmount, giveWay) ends the fill now, not after this call's retries.
        const now = await api.getFileDetails(node.fileId, { signal }).catch((err: unknown) => {
          if (signal?.aborted) throw err
          return undefined
        })
        if (now?.versionInfo.id !== node.versionId || now.size !== node.size) throw e // deleted, or another version
        log.debug({ path: node.remotePath, now: now.filePath }, 'fill: the file was moved since its open; reading it where it is')
        url = api.deliveryUrl({ filePath: now.filePath, url: now.url, isPrivateFile: now.isPrivateFile, versionId: node.versionId })
        return await api.readRange(url, size, undefined, { signal })
      })
      if (res.start > size || res.totalSize !== node.size || (etag !== undefined && res.etag !== undefined && res.etag.replace(/^W\//, '') !== etag)) {
        res.body.destroy()
        throw new VfsError('EIO', `${target}: the remote file changed; reopen it`)
      }
      const before = size
      try {
        let skip = size - res.start // a 200 that ignored the range starts at 0
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          const part = skip >= chunk.length ? undefined : chunk.subarray(skip)
          skip = Math.max(0, skip - chunk.length)
          if (!part) continue
          await write(part, size)
          size += part.length
        }
        if (size === before) throw new VfsError('EIO', `${target}: the server sent no bytes from ${size}`)
      } catch (e) {
        failures = size > before ? 1 : failures + 1
        if (e instanceof VfsError || signal?.aborted || failures > MAX_RESUME_ATTEMPTS) throw e
        log.debug({ path: node.remotePath, at: size, err: e }, 'fill: body cut short; resuming')
      }
    }
  } catch (e) {
    throw fromImageKitError(e, { op: 'open for writing', target: node.remotePath })
  }
  return size
}
