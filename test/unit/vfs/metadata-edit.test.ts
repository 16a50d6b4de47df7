/** R10: tags, custom coordinates and custom metadata set and removed as user.imagekit.* attributes. */
import { constants } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { XATTR_CREATE, XATTR_REPLACE } from '../../../src/vfs/metadata-edit.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, type Harness } from './helpers.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function writable(api: FakeImageKit, overrides = {}): Harness {
  const d = mkdtempSync(join(tmpdir(), 'ikfs-xattr-'))
  dirs.push(d)
  return makeVfs(api, { readOnly: false, cacheDir: join(d, 'cache'), libraryId: 'https://ik.example.test/demo', ...overrides })
}

const value = (s: string) => Buffer.from(s, 'utf8')
const attr = async (h: Harness, path: string, name: string) => (await h.vfs.getxattr(path, `user.imagekit.${name}`)).toString('utf8')

describe('writable metadata attributes', () => {
  it('setting tags updates the file through the API, and the mount shows them at once', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    const file = api.addFile('/p/a.jpg', 10)
    const h = writable(api)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value(' summer, beach ,summer,, '), 0)
    expect(api.detailUpdates).toEqual([{ fileId: file.fileId, details: { tags: ['summer', 'beach'] } }])
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('summer,beach')
    expect(await h.vfs.listxattr('/p/a.jpg')).toContain('user.imagekit.tags')
    // user.xdg.tags (KDE's file manager) is the same tags.
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('sea,summer'), 0)
    expect(api.detailUpdates.at(-1)?.details).toEqual({ tags: ['sea', 'summer'] })
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('sea,summer')
    // An empty value clears them, as removing the attribute does.
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value(''), 0)
    expect(api.detailUpdates.at(-1)?.details).toEqual({ tags: null })
    await expectCode(h.vfs.getxattr('/p/a.jpg', 'user.imagekit.tags'), 'ENODATA')
  })

  it('custom coordinates must be x,y,width,height; removing them clears them', async () => {
    const api = new FakeImageKit()
    api.addFile('/a.jpg', 10)
    const h = writable(api)
    await expectCode(h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-coordinates', value('1,2,3'), 0), 'EINVAL')
    expect(api.detailUpdates).toEqual([])
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-coordinates', value('10, 20, 300, 400'), 0)
    expect(await attr(h, '/a.jpg', 'custom-coordinates')).toBe('10,20,300,400')
    await h.vfs.removexattr('/a.jpg', 'user.imagekit.custom-coordinates')
    expect(api.detailUpdates.at(-1)?.details).toEqual({ customCoordinates: null })
    await expectCode(h.vfs.getxattr('/a.jpg', 'user.imagekit.custom-coordinates'), 'ENODATA')
    await expectCode(h.vfs.removexattr('/a.jpg', 'user.imagekit.custom-coordinates'), 'ENODATA')
  })

  it('custom metadata is replaced as a whole JSON object: keys left out are removed', async () => {
    const api = new FakeImageKit()
    api.addFile('/a.jpg', 10, { customMetadata: { brand: 'x', price: 3 } })
    const h = writable(api)
    await expectCode(h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-metadata', value('[1]'), 0), 'EINVAL')
    await expectCode(h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-metadata', value('{no'), 0), 'EINVAL')
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-metadata', value('{"price":5,"color":"red"}'), 0)
    expect(api.detailUpdates.at(-1)?.details).toEqual({ customMetadata: { price: 5, color: 'red', brand: null } })
    expect(JSON.parse(await attr(h, '/a.jpg', 'custom-metadata'))).toEqual({ price: 5, color: 'red' })
    await h.vfs.removexattr('/a.jpg', 'user.imagekit.custom-metadata')
    expect(api.detailUpdates.at(-1)?.details).toEqual({ customMetadata: { price: null, color: null } })
    await expectCode(h.vfs.getxattr('/a.jpg', 'user.imagekit.custom-metadata'), 'ENODATA')
  })

  it('XATTR_CREATE and XATTR_REPLACE are honoured', async () => {
    const api = new FakeImageKit()
    api.addFile('/a.jpg', 10, { tags: ['old'] })
    const h = writable(api)
    await expectCode(h.vfs.setxattr('/a.jpg', 'user.imagekit.tags', value('new'), XATTR_CREATE), 'EEXIST')
    await expectCode(h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-coordinates', value('1,2,3,4'), XATTR_REPLACE), 'ENODATA')
    expect(api.detailUpdates).toEqual([])
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.tags', value('new'), XATTR_REPLACE)
    expect(await attr(h, '/a.jpg', 'tags')).toBe('new')
  })

  it('what ImageKit computes, other names, folders and files not stored yet refuse with ENOTSUP (cp -a passes over it quietly)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    api.addFile('/p/a.jpg', 10)
    const h = writable(api)
    for (const name of ['user.imagekit.file-id', 'user.imagekit.ai-tags', 'user.imagekit.size', 'user.xdg.origin.url', 'user.xdg.comment', 'user.imagekit.nope']) {
      await expectCode(h.vfs.setxattr('/p/a.jpg', name, value('x'), 0), 'ENOTSUP')
      await expectCode(h.vfs.removexattr('/p/a.jpg', name), 'ENOTSUP')
    }
    await expectCode(h.vfs.setxattr('/p', 'user.imagekit.tags', value('x'), 0), 'ENOTSUP')
    const fh = await h.vfs.create('/p/new.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/p/new.jpg', fh, patternBytes(5), 0)
    await expectCode(h.vfs.setxattr('/p/new.jpg', 'user.imagekit.tags', value('x'), 0), 'ENOTSUP')
    expect(api.detailUpdates).toEqual([])
    // Once its upload is stored, the new file takes tags like any other.
    await h.vfs.flush('/p/new.jpg', fh)
    await h.vfs.release('/p/new.jpg', fh)
    await h.vfs.setxattr('/p/new.jpg', 'user.imagekit.tags', value('fresh'), 0)
    expect(await attr(h, '/p/new.jpg', 'tags')).toBe('fresh')
    expect(api.detailUpdates).toHaveLength(1)
    await h.vfs.close()
  })

  it('with write-back, a closed file waiting for its upload is uploaded at once, then changed', async () => {
    const api = new FakeImageKit()
    const h = writable(api, { writeBackDelayMs: 3_600_000 })
    const fh = await h.vfs.create('/later.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/later.jpg', fh, patternBytes(7), 0)
    await h.vfs.flush('/later.jpg', fh)
    await h.vfs.release('/later.jpg', fh)
    expect(api.writeCalls.uploadFile).toBe(0) // an hour of write-back delay to go
    await h.vfs.setxattr('/later.jpg', 'user.imagekit.tags', value('now'), 0)
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.detailUpdates).toHaveLength(1)
    expect(await attr(h, '/later.jpg', 'tags')).toBe('now')
    await h.vfs.close()
  })

  it('old versions are read-only; ImageKit refusing a change is EINVAL with its reason; a read-only mount is EROFS', async () => {
    const api = new FakeImageKit()
    api.addFile('/a.jpg', 10, { updatedAt: '2024-03-04T05:06:07.089Z' })
    api.overwrite('/a.jpg', patternBytes(5), '2024-06-01T00:00:00.000Z')
    const h = writable(api, { versions: true })
    await expectCode(h.vfs.setxattr('/a-v2024-03-04-050607-089.jpg', 'user.imagekit.tags', value('x'), 0), 'EACCES')
    api.failNext.set('updateFileDetails', new ImageKitError('IK_BAD_REQUEST', 'Invalid custom metadata.', { status: 400 }))
    await expectCode(h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-metadata', value('{"unknownField":1}'), 0), 'EINVAL')
    const ro = makeVfs(api)
    await expectCode(ro.vfs.setxattr('/a.jpg', 'user.imagekit.tags', value('x'), 0), 'EROFS')
    await expectCode(ro.vfs.removexattr('/a.jpg', 'user.imagekit.tags'), 'EROFS')
  })
})
