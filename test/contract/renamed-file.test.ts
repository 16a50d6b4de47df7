/**
 * After renaming or moving a stored file, ikfs builds its node at the new path itself (vfs/renamed-file.ts)
 * instead of listing the folders again. Here that node is compared, field by field, with the one the next
 * listing of the emulator gives, so that a change of the emulator (or of what it copies from the API) shows.
 * Known, and allowed: the server moves `updatedAt` at a rename, and its url carries it; ikfs takes the time
 * of the answer and a url without a query (reads pin it with the version id, as after an upload). Whether the
 * API's url escapes `| ^ [ ]` is unconfirmed (the emulator's --url-encoding): ikfs encodes as the SDKs do, so
 * with the emulator's `uri` form the two urls may spell such a name differently, naming the same file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makePng } from '../../src/emulator/seed/images.js'
import { ImageKitClient } from '../../src/imagekit/client.js'
import type { UrlEncoding } from '../../src/emulator/options.js'
import type { FileObject } from '../../src/imagekit/types.js'
import { createLogger } from '../../src/log.js'
import { fileInodeFrom, fileInodeFromUpload, type FileInode } from '../../src/vfs/inode.js'
import { renamedFileNode } from '../../src/vfs/renamed-file.js'
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js'
import { fetchBytes, sdkFor, uploadBytes } from './sdk.js'

const INO = 42
const png = makePng(12, 8, { alpha: true })

function clientFor(t: TestEmulator): ImageKitClient {
  return new ImageKitClient({
    apiUrl: t.emu.url, uploadUrl: t.emu.url, urlEndpoint: t.urlEndpoint, privateKey: t.privateKey, logger: createLogger({ level: 'silent' }),
  })
}

async function listed(client: ImageKitClient, filePath: string): Promise<FileObject> {
  const folder = filePath.slice(0, filePath.lastIndexOf('/')) || '/'
  for await (const item of client.listFiles({ path: folder, type: 'all' })) {
    if (item.type === 'file' && item.filePath === filePath) return item
  }
  throw new Error(`${filePath} is not listed`)
}

/** Renames (or moves, then renames) through the client, as namespace.ts does; the times around the call. */
async function rename(client: ImageKitClient, from: string, to: string): Promise<{ before: number; after: number }> {
  const folderOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/'
  const nameOf = (p: string) => p.slice(p.lastIndexOf('/') + 1)
  const before = Date.now()
  if (folderOf(from) !== folderOf(to)) await client.moveFile(from, folderOf(to))
  const moved = `${folderOf(to) === '/' ? '' : folderOf(to)}/${nameOf(from)}`
  if (nameOf(from) !== nameOf(to)) await client.renameFile(moved, nameOf(to))
  return { before, after: Date.now() }
}

/** The url without its query, each path segment decoded: what the CDN finds the file by. */
function fileNamedBy(url: string): string {
  return url.split('?')[0]!.split('/').map((s) => decodeURIComponent(s)).join('/')
}

/** Same url as the API's (without its query), spelled alike unless the API escapes `| ^ [ ]` in it (`uri`). */
function expectSameUrl(mine: string, theirs: string, encoding: UrlEncoding): void {
  if (encoding === 'sdk' || !/[|^[\]]/.test(fileNamedBy(theirs))) expect(mine).toBe(theirs.split('?')[0])
  else expect(fileNamedBy(mine)).toBe(fileNamedBy(theirs))
}

/** Every field but the two the server moves at a rename; the url's path is compared on its own. */
function expectSameBut(mine: FileInode, theirs: FileInode, times: { before: number; after: number }, encoding: UrlEncoding): void {
  const { url: myUrl, updatedAtMs: mine_t, ...myFields } = mine
  const { url: theirUrl, updatedAtMs: their_t, ...theirFields } = theirs
  expect(myFields).toEqual(theirFields)
  expectSameUrl(myUrl, theirUrl, encoding)
  expect(theirUrl).toMatch(/^[^?]*\?updatedAt=\d+$/)
  for (const t of [mine_t, their_t]) {
    expect(t).toBeGreaterThanOrEqual(times.before - 1)
    expect(t).toBeLessThanOrEqual(times.after + 1)
  }
}

const settings: { publicUrlBase?: string; urlEncoding: UrlEncoding }[] = [
  { urlEncoding: 'uri' }, { urlEncoding: 'sdk' }, { publicUrlBase: 'http://cdn.invalid/custom-domain', urlEncoding: 'uri' },
]
for (const { publicUrlBase, urlEncoding } of settings) {
  describe(`a renamed file's node built by ikfs equals the next listing's (API urls: ${urlEncoding})${publicUrlBase ? ' (files named by a custom domain)' : ''}`, () => {
    let t: TestEmulator
    let client: ImageKitClient
    beforeAll(async () => {
      t = await startTestEmulator({ urlEncoding, ...(publicUrlBase ? { publicUrlBase } : {}) })
      client = clientFor(t)
    })
    afterAll(async () => {
      await client?.close()
      await t?.stop()
    })

    it('for a listed file with tags and metadata, renamed within its folder and moved under another name', async () => {
      await uploadBytes(sdkFor(t), '/photos 2024', 'café (1).png', png, { tags: ['a', 'b'], customCoordinates: '1,2,3,4' })
      let node = fileInodeFrom(await listed(client, '/photos 2024/café (1).png'), INO)
      for (const to of ['/photos 2024/été, 2.png', '/archive/sub dir/été 3.png']) {
        const times = await rename(client, node.remotePath, to)
        const mine = renamedFileNode(node, INO, to, times.after) // the time the answer came, as ikfs takes it
        const theirs = fileInodeFrom(await listed(client, to), INO)
        expectSameBut(mine, theirs, times, urlEncoding)
        node = theirs
      }
    })

    it('for a file whose name has | ^ [ ] (escaped by encodeURI, kept by the SDKs), renamed and moved', async () => {
      await uploadBytes(sdkFor(t), '/odd', 'a|b^[c].png', png)
      let node = fileInodeFrom(await listed(client, '/odd/a|b^[c].png'), INO)
      for (const to of ['/odd/d|e^[f] {g}.png', '/odd [2]/h|i^[j].png']) {
        const times = await rename(client, node.remotePath, to)
        const mine = renamedFileNode(node, INO, to, times.after)
        const theirs = fileInodeFrom(await listed(client, to), INO)
        expectSameBut(mine, theirs, times, urlEncoding)
        if (!publicUrlBase) {
          // Signed (as for a private file) over ikfs's spelling of the name: the URL endpoint takes it.
          const got = await fetchBytes(client.deliveryUrl({ filePath: mine.remotePath, url: mine.url, isPrivateFile: true, versionId: mine.versionId }))
          expect(got.status).toBe(200)
          expect(got.bytes.equals(png)).toBe(true)
        }
        node = theirs
      }
    })

    it('for a file whose node came from its upload answer (git writes an object, then renames it)', async () => {
      const answer = await uploadBytes(sdkFor(t), '/objects/ab', 'tmp_obj_Xy1', png)
      const uploaded = fileInodeFromUpload(answer as never, INO, { createdAtMs: Date.now(), updatedAtMs: Date.now() })
      const times = await rename(client, '/objects/ab/tmp_obj_Xy1', '/objects/ab/cdef01')
      const mine = renamedFileNode(uploaded, INO, '/objects/ab/cdef01', Date.now())
      const theirs = fileInodeFrom(await listed(client, '/objects/ab/cdef01'), INO)
      expectSameUrl(mine.url, theirs.url, urlEncoding)
      for (const field of ['remotePath', 'fileId', 'versionId', 'isVersion', 'size', 'isPrivateFile', 'fileType', 'isPublished'] as const) {
        expect(mine[field], field).toEqual(theirs[field])
      }
      expect(mine.updatedAtMs).toBeGreaterThanOrEqual(times.after)
      if (!publicUrlBase) {
        // What reads ask for: the url pinned with the version id serves the file's bytes at its new path.
        const got = await fetchBytes(client.deliveryUrl({ filePath: mine.remotePath, url: mine.url, isPrivateFile: false, versionId: mine.versionId }))
        expect(got.status).toBe(200)
        expect(got.bytes.equals(png)).toBe(true)
      }
    })
  })
}
