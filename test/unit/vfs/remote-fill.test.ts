/**
 * fillFromRemote (remote-fill.ts): a stop (an unmount, giveWay of an unlinked copy) ends a fill at once, also
 * while it asks where a file renamed since its open went (the details call after a 404), instead of waiting
 * out that call's retries.
 */
import { describe, expect, it } from 'vitest'
import type { RequestOptions } from '../../../src/imagekit/api.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import type { FileObject } from '../../../src/imagekit/types.js'
import { fileInodeFrom } from '../../../src/vfs/inode.js'
import { fillFromRemote } from '../../../src/vfs/remote-fill.js'
import { FakeImageKit } from './fake-api.js'
import { memoryLogger, waitFor } from './helpers.js'

describe('fillFromRemote', () => {
  it('a stop during the details call of a file moved since its open ends the fill', async () => {
    const api = new FakeImageKit()
    api.addFolder('/d')
    const obj = api.addFile('/d/a.bin', Buffer.from('abc'))
    const node = fileInodeFrom(obj, 2)
    api.forgetUrls('') // the CDN forgot the URL: 404, as for a file renamed since its open
    const asked: (RequestOptions | undefined)[] = []
    // The library does not answer (its retries): only an abort ends the call.
    api.getFileDetails = (_fileId: string, options?: RequestOptions) => {
      asked.push(options)
      return new Promise<FileObject>((_resolve, reject) => {
        options?.signal?.addEventListener('abort', () => reject(new ImageKitError('IK_ABORTED', 'GET details: aborted')), { once: true })
      })
    }
    const stop = new AbortController()
    const fill = fillFromRemote(api, memoryLogger().logger, node, async () => undefined, stop.signal)
    const failed = fill.then(() => undefined, (e: unknown) => e)
    await waitFor(() => asked.length === 1)
    expect(asked[0]?.signal).toBe(stop.signal) // was undefined: the stop waited for the call's retries
    stop.abort()
    expect(await failed).toBeInstanceOf(Error)
  })
})
