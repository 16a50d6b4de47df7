/** R10: tags, custom coordinates and custom metadata set and removed as user.imagekit.* attributes. */
import { constants } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { CONFIRM_MS } from '../../../src/vfs/folder-presence.js'
import { SAME_COPY_MS, XATTR_CREATE, XATTR_REPLACE } from '../../../src/vfs/metadata-edit.js'
import { detailsHold } from '../../../src/vfs/wanted-details.js'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { expectCode, makeVfs, scratchDir, type Harness } from './helpers.js'

function writable(api: FakeImageKit, overrides = {}): Harness & { cacheDir: string } {
  const cacheDir = join(scratchDir('xattr'), 'cache')
  return { ...makeVfs(api, { readOnly: false, cacheDir, libraryId: 'https://ik.example.test/demo', ...overrides }), cacheDir }
}

/** Writes a new file of 5 bytes at `path` and closes it (stored at close). */
async function storeFile(h: Harness, path: string): Promise<void> {
  const fh = await h.vfs.create(path, 0o644, constants.O_CREAT | constants.O_WRONLY)
  await h.vfs.write(path, fh, patternBytes(5), 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

/** A stored /p/a.jpg on a writable mount. */
function storedFile() {
  const api = new FakeImageKit()
  api.addFolder('/p')
  const file = api.addFile('/p/a.jpg', 10)
  return { api, file, h: writable(api) }
}

const value = (s: string) => Buffer.from(s, 'utf8')
/** fsync(2) through a handle of its own, as `sync FILE` does. */
async function syncFile(h: Harness, path: string): Promise<void> {
  const fh = await h.vfs.open(path, constants.O_RDONLY)
  try {
    await h.vfs.fsync(path, fh, false)
  } finally {
    await h.vfs.release(path, fh)
  }
}
const attr = async (h: Harness, path: string, name: string) => (await h.vfs.getxattr(path, `user.imagekit.${name}`)).toString('utf8')

describe('writable metadata attributes', () => {
  it('setting tags updates the file through the API, and the mount shows them at once', async () => {
    const { api, file, h } = storedFile()
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value(' summer, beach ,summer,, '), 0)
    expect(api.detailUpdates).toEqual([{ fileId: file.fileId, details: { tags: ['summer', 'beach'] } }])
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('summer,beach')
    expect(await h.vfs.listxattr('/p/a.jpg')).toContain('user.imagekit.tags')
    // user.xdg.tags (KDE's file manager) is the same tags.
    h.clock.advance(SAME_COPY_MS) // another program, not a copy bringing both names (see below)
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('sea,summer'), 0)
    expect(api.detailUpdates.at(-1)?.details).toEqual({ tags: ['sea', 'summer'] })
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('sea,summer')
    // An empty value clears them, as removing the attribute does.
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value(''), 0)
    expect(api.detailUpdates.at(-1)?.details).toEqual({ tags: null })
    await expectCode(h.vfs.getxattr('/p/a.jpg', 'user.imagekit.tags'), 'ENODATA')
  })

  it('R10: a change of the tags leaves user.imagekit.url as it was while the version is the same, through the next listings: rsync -X reads it between the names it sets', async () => {
    const { api, file, h } = storedFile()
    // The API moves the file's updatedAt at each change of its details, and its url (a cache key) with it.
    const update = api.updateFileDetails.bind(api)
    let changes = 0
    api.updateFileDetails = async (fileId, details) => api.touch((await update(fileId, details)).filePath, new Date(Date.parse(file.updatedAt) + ++changes * 60_000).toISOString())
    const url = await attr(h, '/p/a.jpg', 'url')
    // rsync -X of a copy tagged anew: the tags, then the url (abbreviated to a checksum: it matched), then user.xdg.tags.
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red'), 0)
    expect(await attr(h, '/p/a.jpg', 'url')).toBe(url)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.url', value(url), 0) // accepted, changes nothing
    h.clock.advance(CONFIRM_MS) // a set of the same tags then asks the details, which show them: nothing set
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red'), 0)
    expect(await attr(h, '/p/a.jpg', 'url')).toBe(url)
    expect(changes).toBe(1)
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('red')
    // The next listings keep it, though they show the url the change gave, and another machine's change too.
    h.clock.advance(60_000)
    expect(await attr(h, '/p/a.jpg', 'url')).toBe(url)
    await api.updateFileDetails(file.fileId, { tags: ['blue'] })
    h.clock.advance(60_000)
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('blue') // listed again
    expect(await attr(h, '/p/a.jpg', 'url')).toBe(url)
    expect((await api.getFileDetails(file.fileId)).url).not.toBe(url)
    // Forgotten (as at a new mount), the listing's url shows; so does a new version's.
    h.vfs.forget('/p')
    const now = await attr(h, '/p/a.jpg', 'url')
    expect(now).not.toBe(url)
    expect(now).toBe((await api.getFileDetails(file.fileId)).url)
    api.overwrite('/p/a.jpg', patternBytes(12), new Date(Date.parse(file.updatedAt) + 3_600_000).toISOString())
    h.clock.advance(60_000)
    expect(await attr(h, '/p/a.jpg', 'size')).toBe('12')
    expect(await attr(h, '/p/a.jpg', 'url')).toBe((await api.getFileDetails(file.fileId)).url)
    expect(await attr(h, '/p/a.jpg', 'url')).not.toBe(now)
    await h.vfs.close()
  })

  it('setting what the library answered moments ago for the file (rsync -X sets both tag names in a row) asks nothing', async () => {
    const { api, file, h } = storedFile()
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red,blue'), 0)
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('red,blue'), 0) // was a second update, the same
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.custom-coordinates', value('1,2,3,4'), 0)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.custom-coordinates', value('1,2,3,4'), 0)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red,blue'), 0)
    expect(api.detailUpdates).toEqual([
      { fileId: file.fileId, details: { tags: ['red', 'blue'] } },
      { fileId: file.fileId, details: { customCoordinates: '1,2,3,4' } },
    ])
    // Another value is set.
    h.clock.advance(CONFIRM_MS)
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('red'), 0)
    expect(api.detailUpdates.slice(2).map((u) => u.details)).toEqual([{ tags: ['red'] }])
    // The same once that answer is old asks the file's details: while they hold it nothing is set (an update
    // would move updatedAt, so the mtime and user.imagekit.url, and rsync -X would set it all again each run, R10)...
    h.clock.advance(CONFIRM_MS)
    const asked = api.calls.getFileDetails
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red'), 0)
    expect(api.calls.getFileDetails).toBe(asked + 1)
    expect(api.detailUpdates).toHaveLength(3)
    // ...and it is set when another machine changed them since the listing was read.
    await api.updateFileDetails(file.fileId, { tags: ['green'] })
    h.clock.advance(CONFIRM_MS)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red'), 0)
    expect(api.detailUpdates.slice(3).map((u) => u.details)).toEqual([{ tags: ['green'] }, { tags: ['red'] }])
    // XATTR_CREATE still sees the tags there.
    await expectCode(h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red'), XATTR_CREATE), 'EEXIST')
    await h.vfs.close()
  })

  it('R10: a copy bringing both tag names, which disagree (tagged under one of them), keeps user.imagekit.tags, whatever order they come in', async () => {
    const { api, h } = storedFile()
    // rsync -X sets every name in sorted order: user.imagekit.tags, then user.xdg.tags (the copy's older tags).
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red,green'), 0)
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('red,blue'), 0)
    expect(api.detailUpdates.map((u) => u.details)).toEqual([{ tags: ['red', 'green'] }])
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('red,green')
    expect(h.lines.some((l) => l.includes('user.imagekit.tags kept'))).toBe(true)
    // The next run: the same again, nothing changes.
    h.clock.advance(CONFIRM_MS)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red,green'), 0)
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('red,blue'), 0)
    expect(api.detailUpdates).toHaveLength(1)
    // cp -a and tar follow the copy's own order: user.xdg.tags first, then user.imagekit.tags, which wins too.
    h.clock.advance(SAME_COPY_MS)
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('sea'), 0)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red,green'), 0)
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('red,green')
    // A copy holding one name only: rsync -X removes the other after setting it, which would clear the tags.
    h.clock.advance(SAME_COPY_MS)
    await h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('dolphin'), 0)
    await h.vfs.removexattr('/p/a.jpg', 'user.imagekit.tags')
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('dolphin')
    h.clock.advance(SAME_COPY_MS)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('mine'), 0)
    await h.vfs.removexattr('/p/a.jpg', 'user.xdg.tags')
    expect(await attr(h, '/p/a.jpg', 'tags')).toBe('mine')
    // Later, by itself, either name sets or removes them.
    h.clock.advance(SAME_COPY_MS)
    await h.vfs.removexattr('/p/a.jpg', 'user.xdg.tags')
    await expectCode(h.vfs.getxattr('/p/a.jpg', 'user.imagekit.tags'), 'ENODATA')
    await h.vfs.close()
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

  it('custom metadata replaces what the file has now, also keys set elsewhere since the listing was read', async () => {
    const api = new FakeImageKit()
    const file = api.addFile('/a.jpg', 10, { customMetadata: { price: 3 } })
    const h = writable(api)
    expect(JSON.parse(await attr(h, '/a.jpg', 'custom-metadata'))).toEqual({ price: 3 }) // listed (and cached)
    await api.updateFileDetails(file.fileId, { customMetadata: { color: 'red' } }) // another client, within --dir-cache-time
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-metadata', value('{"price":1}'), 0)
    expect(api.fileAt('/a.jpg')!.obj.customMetadata).toEqual({ price: 1 })
    expect(JSON.parse(await attr(h, '/a.jpg', 'custom-metadata'))).toEqual({ price: 1 })
    await h.vfs.removexattr('/a.jpg', 'user.imagekit.custom-metadata')
    expect(api.fileAt('/a.jpg')!.obj.customMetadata).toEqual({})
  })

  it('a file deleted elsewhere after the listing: setting is ENOENT, and the name goes from the listing', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    api.addFile('/p/gone.jpg', 10)
    api.addFile('/p/kept.jpg', 10)
    const h = writable(api)
    expect((await h.vfs.readdir('/p')).map((e) => e.name).sort()).toEqual(['gone.jpg', 'kept.jpg'])
    api.removeFile('/p/gone.jpg')
    await expectCode(h.vfs.setxattr('/p/gone.jpg', 'user.imagekit.tags', value('a'), 0), 'ENOENT')
    expect((await h.vfs.readdir('/p')).map((e) => e.name)).toEqual(['kept.jpg'])
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

  it('R10: XATTR_CREATE, XATTR_REPLACE and the removal of a name the file lacks are answered before the same-copy rule', async () => {
    const { api, h } = storedFile()
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red'), 0)
    // Right after, the other name (there now, the same tags) with XATTR_CREATE: it exists, whatever the value.
    await expectCode(h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('red'), XATTR_CREATE), 'EEXIST')
    await expectCode(h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('blue'), XATTR_CREATE), 'EEXIST')
    h.clock.advance(SAME_COPY_MS)
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value(''), 0) // no tags now: neither name is there
    await expectCode(h.vfs.setxattr('/p/a.jpg', 'user.xdg.tags', value('blue'), XATTR_REPLACE), 'ENODATA')
    h.clock.advance(SAME_COPY_MS)
    await expectCode(h.vfs.removexattr('/p/a.jpg', 'user.xdg.tags'), 'ENODATA')
    await expectCode(h.vfs.removexattr('/p/a.jpg', 'user.imagekit.tags'), 'ENODATA')
    await expectCode(h.vfs.getxattr('/p/a.jpg', 'user.imagekit.tags'), 'ENODATA')
    expect(api.detailUpdates.map((u) => u.details)).toEqual([{ tags: ['red'] }, { tags: null }])
    await h.vfs.close()
  })

  it('R10: rsync -X of an untagged source removes both tag names: the second, gone with the first, is accepted', async () => {
    const { api, h } = storedFile()
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.tags', value('red'), 0)
    h.clock.advance(SAME_COPY_MS)
    await h.vfs.removexattr('/p/a.jpg', 'user.imagekit.tags')
    await h.vfs.removexattr('/p/a.jpg', 'user.xdg.tags') // right after: rsync's second removal, not an error
    await expectCode(h.vfs.getxattr('/p/a.jpg', 'user.xdg.tags'), 'ENODATA')
    h.clock.advance(SAME_COPY_MS)
    await expectCode(h.vfs.removexattr('/p/a.jpg', 'user.xdg.tags'), 'ENODATA') // later: nothing to remove
    expect(api.detailUpdates.map((u) => u.details)).toEqual([{ tags: ['red'] }, { tags: null }])
    await h.vfs.close()
  })

  it('other names and folders refuse with ENOTSUP (cp -a passes over it quietly)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    api.addFile('/p/a.jpg', 10)
    const h = writable(api)
    for (const name of ['user.xdg.origin.url', 'user.xdg.comment', 'user.imagekit.nope']) {
      await expectCode(h.vfs.setxattr('/p/a.jpg', name, value('x'), 0), 'ENOTSUP')
      await expectCode(h.vfs.removexattr('/p/a.jpg', name), 'ENOTSUP')
    }
    await expectCode(h.vfs.setxattr('/p', 'user.imagekit.tags', value('x'), 0), 'ENOTSUP')
    await expectCode(h.vfs.setxattr('/p', 'user.imagekit.file-id', value('x'), 0), 'ENOTSUP')
    expect(api.detailUpdates).toEqual([])
    await h.vfs.close()
  })

  it('what ImageKit computes is accepted and left as it is (a copy brings back its source\'s); a privacy change refuses', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    const stored = api.addFile('/p/a.jpg', 10)
    const h = writable(api)
    for (const name of ['user.imagekit.file-id', 'user.imagekit.ai-tags', 'user.imagekit.size', 'user.imagekit.url', 'user.imagekit.width']) {
      await h.vfs.setxattr('/p/a.jpg', name, value('from another file'), 0)
    }
    await h.vfs.removexattr('/p/a.jpg', 'user.imagekit.url') // rsync -X removes what its source lacks
    await h.vfs.removexattr('/p/a.jpg', 'user.imagekit.is-private-file')
    await h.vfs.setxattr('/p/a.jpg', 'user.imagekit.is-private-file', value('false'), 0) // the value it has
    expect(await attr(h, '/p/a.jpg', 'file-id')).toBe(stored.fileId)
    expect(await attr(h, '/p/a.jpg', 'size')).toBe('10')
    expect(await h.vfs.listxattr('/p/a.jpg')).toContain('user.imagekit.url')
    await expectCode(h.vfs.setxattr('/p/a.jpg', 'user.imagekit.is-private-file', value('true'), 0), 'ENOTSUP')
    await expectCode(h.vfs.setxattr('/p/a.jpg', 'user.imagekit.is-published', value('false'), 0), 'ENOTSUP')
    await expectCode(h.vfs.setxattr('/p/a.jpg', 'user.imagekit.file-id', value('x'), XATTR_CREATE), 'EEXIST')
    const listed = await h.vfs.listxattr('/p/a.jpg')
    const absent = ['user.imagekit.height', 'user.imagekit.ai-tags', 'user.imagekit.mime'].find((n) => !listed.includes(n))
    if (absent === undefined) throw new Error(`the fake file has every attribute: ${listed.join(', ')}`)
    await expectCode(h.vfs.setxattr('/p/a.jpg', absent, value('1'), XATTR_REPLACE), 'ENODATA')
    await expectCode(h.vfs.removexattr('/p/a.jpg', absent), 'ENODATA')
    expect(api.detailUpdates).toEqual([])
    await h.vfs.close()
  })

  it('a file just uploaded: the names its upload answer lacks take one details call, shared by concurrent asks, never repeated after a failure', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    const h = writable(api)
    await storeFile(h, '/p/one.txt')
    const before = api.calls.getFileDetails
    expect(await h.vfs.listxattr('/p/one.txt')).toContain('user.imagekit.mime') // every listed file has one
    expect(api.calls.getFileDetails).toBe(before)
    await h.vfs.removexattr('/p/one.txt', 'user.imagekit.mime') // rsync -X of a file without it: accepted, no call
    expect(api.calls.getFileDetails).toBe(before)
    const values = await Promise.all(['mime', 'btime', 'url', 'mime'].map((n) => attr(h, '/p/one.txt', n)))
    expect(api.calls.getFileDetails).toBe(before + 1)
    const listed = api.fileAt('/p/one.txt')!.obj
    expect(values).toEqual([listed.mime, listed.createdAt, listed.url, listed.mime])
    await storeFile(h, '/p/two.txt')
    api.failNext.set('getFileDetails', new ImageKitError('IK_SERVER', 'GET details: 503', { status: 503 }))
    await expectCode(h.vfs.getxattr('/p/two.txt', 'user.imagekit.mime'), 'ENODATA') // the upload's values stay
    expect(await attr(h, '/p/two.txt', 'has-alpha')).toBe('false')
    expect(api.calls.getFileDetails).toBe(before + 2)
    expect(await h.vfs.listxattr('/p/two.txt')).not.toContain('user.imagekit.mime')
  })

  it('a file just uploaded and unlinked (or renamed) while its details call is out stays gone: the answer does not list it again', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    const h = writable(api)
    await storeFile(h, '/p/gone.txt')
    await storeFile(h, '/p/moved.txt')
    const details = api.getFileDetails.bind(api)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    // Answered as the library had the file, then held while the mount unlinks or renames it.
    api.getFileDetails = async (fileId: string) => {
      const answer = await details(fileId)
      await held
      return answer
    }
    const asked = [h.vfs.getxattr('/p/gone.txt', 'user.imagekit.mime'), h.vfs.getxattr('/p/moved.txt', 'user.imagekit.mime')]
    await h.vfs.unlink('/p/gone.txt')
    await h.vfs.rename('/p/moved.txt', '/p/there.txt')
    release()
    await Promise.allSettled(asked)
    const names = (await h.vfs.readdir('/p')).map((e) => e.name)
    expect(names).not.toContain('gone.txt') // was listed again, though unlinked
    expect(names).not.toContain('moved.txt') // was listed again beside its new name
    expect(names).toContain('there.txt')
    await expectCode(h.vfs.getattr('/p/gone.txt'), 'ENOENT')
    await expectCode(h.vfs.getattr('/p/moved.txt'), 'ENOENT')
    await h.vfs.close()
  })

  it('a file still open for writing (cp -a) keeps what is set and gets it right after its upload lands', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p')
    const h = writable(api)
    const fh = await h.vfs.create('/p/new.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/p/new.jpg', fh, patternBytes(5), 0)
    // Before its upload: what is known, not what ImageKit will compute (type, dimensions, id).
    expect(await h.vfs.listxattr('/p/new.jpg')).toEqual(['user.imagekit.is-private-file', 'user.imagekit.is-published', 'user.imagekit.btime', 'user.imagekit.size'])
    await h.vfs.setxattr('/p/new.jpg', 'user.imagekit.tags', value('copied, tags'), 0)
    await h.vfs.setxattr('/p/new.jpg', 'user.xdg.tags', value('copied,tags'), 0)
    await h.vfs.setxattr('/p/new.jpg', 'user.imagekit.custom-metadata', value('{"shot":"studio"}'), XATTR_CREATE)
    await h.vfs.setxattr('/p/new.jpg', 'user.imagekit.custom-coordinates', value('1,2,3,4'), 0)
    await expectCode(h.vfs.setxattr('/p/new.jpg', 'user.imagekit.tags', value('x'), XATTR_CREATE), 'EEXIST')
    await h.vfs.setxattr('/p/new.jpg', 'user.imagekit.file-id', value('x'), 0) // ImageKit's to give: accepted, ignored
    expect(api.detailUpdates).toEqual([])
    expect(await attr(h, '/p/new.jpg', 'tags')).toBe('copied,tags')
    expect(JSON.parse(await attr(h, '/p/new.jpg', 'custom-metadata'))).toEqual({ shot: 'studio' })
    await expectCode(h.vfs.getxattr('/p/new.jpg', 'user.imagekit.file-id'), 'ENODATA') // not stored yet
    await h.vfs.flush('/p/new.jpg', fh)
    await h.vfs.release('/p/new.jpg', fh)
    const stored = api.fileAt('/p/new.jpg')!.obj
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.detailUpdates).toEqual([{ fileId: stored.fileId, details: { tags: ['copied', 'tags'], customMetadata: { shot: 'studio' }, customCoordinates: '1,2,3,4' } }])
    expect(stored).toMatchObject({ tags: ['copied', 'tags'], customMetadata: { shot: 'studio' }, customCoordinates: '1,2,3,4' })
    expect(await attr(h, '/p/new.jpg', 'tags')).toBe('copied,tags')
    expect(await attr(h, '/p/new.jpg', 'file-id')).toBe(stored.fileId)
    await h.vfs.close()
  })

  it('an overwrite shows and keeps the tags of the file it replaces; custom metadata set meanwhile replaces its own', async () => {
    const api = new FakeImageKit()
    const old = api.addFile('/a.jpg', 10, { tags: ['old'], customMetadata: { brand: 'x', price: 3 } })
    const h = writable(api)
    const fh = await h.vfs.open('/a.jpg', constants.O_WRONLY | constants.O_TRUNC)
    await h.vfs.write('/a.jpg', fh, patternBytes(4), 0)
    expect(await attr(h, '/a.jpg', 'tags')).toBe('old')
    expect(await attr(h, '/a.jpg', 'file-id')).toBe(old.fileId)
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-metadata', value('{"price":5}'), XATTR_REPLACE)
    await h.vfs.flush('/a.jpg', fh)
    await h.vfs.release('/a.jpg', fh)
    expect(api.detailUpdates).toEqual([{ fileId: old.fileId, details: { customMetadata: { price: 5, brand: null } } }])
    expect(api.fileAt('/a.jpg')!.obj).toMatchObject({ fileId: old.fileId, tags: ['old'], customMetadata: { price: 5 } })
    expect(api.fileAt('/a.jpg')!.bytes).toEqual(patternBytes(4))
    // An upload answer without the custom metadata: the file's keys are asked for, so the change still replaces.
    api.answerUploadsWithoutMetadata = true
    const again = await h.vfs.open('/a.jpg', constants.O_WRONLY | constants.O_TRUNC)
    await h.vfs.write('/a.jpg', again, patternBytes(5), 0)
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-metadata', value('{"color":"red"}'), 0)
    await h.vfs.flush('/a.jpg', again)
    await h.vfs.release('/a.jpg', again)
    expect(api.detailUpdates.at(-1)).toEqual({ fileId: old.fileId, details: { customMetadata: { color: 'red', price: null } } })
    expect(api.fileAt('/a.jpg')!.obj.customMetadata).toEqual({ color: 'red' })
    await h.vfs.close()
  })

  it('with write-back, a closed file waiting for its upload keeps the change for that upload (nothing is uploaded early)', async () => {
    const api = new FakeImageKit()
    const h = writable(api, { writeBackDelayMs: 3_600_000 })
    const fh = await h.vfs.create('/later.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/later.jpg', fh, patternBytes(7), 0)
    await h.vfs.flush('/later.jpg', fh)
    await h.vfs.release('/later.jpg', fh)
    await h.vfs.setxattr('/later.jpg', 'user.imagekit.tags', value('now'), 0)
    expect(api.writeCalls.uploadFile).toBe(0) // an hour of write-back delay to go
    expect(await attr(h, '/later.jpg', 'tags')).toBe('now')
    await syncFile(h, '/later.jpg')
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.fileAt('/later.jpg')!.obj.tags).toEqual(['now'])
    await h.vfs.close()
  })

  it('W9: an atomic save over a file waiting for its upload keeps what was set on it, unless the saved file has its own', async () => {
    const api = new FakeImageKit()
    const h = writable(api, { writeBackDelayMs: 3_600_000 })
    const save = async (path: string, bytes: number) => {
      const fh = await h.vfs.create(path, 0o644, constants.O_CREAT | constants.O_WRONLY)
      await h.vfs.write(path, fh, patternBytes(bytes), 0)
      await h.vfs.flush(path, fh)
      await h.vfs.release(path, fh)
    }
    // `cp -a` into the mount, then `sed -i` (a temporary file renamed over it) within the write-back delay.
    await save('/a.jpg', 5)
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.tags', value('kept'), 0)
    await h.vfs.setxattr('/a.jpg', 'user.imagekit.custom-coordinates', value('1,2,3,4'), 0)
    await save('/a.jpg.tmp', 6)
    await h.vfs.setxattr('/a.jpg.tmp', 'user.imagekit.custom-coordinates', value('5,6,7,8'), 0) // its own: wins
    await h.vfs.rename('/a.jpg.tmp', '/a.jpg')
    expect(await attr(h, '/a.jpg', 'tags')).toBe('kept')
    await syncFile(h, '/a.jpg')
    expect(api.uploads.map((u) => u.filePath)).toEqual(['/a.jpg'])
    expect(api.fileAt('/a.jpg')!.bytes).toEqual(patternBytes(6))
    expect(api.fileAt('/a.jpg')!.obj.tags).toEqual(['kept'])
    expect(api.fileAt('/a.jpg')!.obj.customCoordinates).toBe('5,6,7,8')
    await h.vfs.close()
  })

  it('what is set on an empty file is in its spool record: a remount sets it once the file has content', async () => {
    const api = new FakeImageKit()
    const h = writable(api)
    const cacheDir = h.cacheDir
    const fh = await h.vfs.create('/e.txt', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.setxattr('/e.txt', 'user.imagekit.tags', value('kept'), 0)
    await h.vfs.flush('/e.txt', fh)
    await h.vfs.release('/e.txt', fh)
    await h.vfs.close()
    const h2 = makeVfs(api, { readOnly: false, cacheDir, libraryId: 'https://ik.example.test/demo' })
    expect(await attr(h2, '/e.txt', 'tags')).toBe('kept')
    const fh2 = await h2.vfs.open('/e.txt', constants.O_WRONLY)
    await h2.vfs.write('/e.txt', fh2, patternBytes(3), 0)
    await h2.vfs.flush('/e.txt', fh2)
    await h2.vfs.release('/e.txt', fh2)
    expect(api.fileAt('/e.txt')!.obj.tags).toEqual(['kept'])
    await h2.vfs.close()
  })

  it('setting them after the upload fails, the retry sets them without uploading again; a refusal keeps the bytes', async () => {
    const api = new FakeImageKit()
    const h = writable(api)
    const fh = await h.vfs.create('/r.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/r.jpg', fh, patternBytes(6), 0)
    await h.vfs.setxattr('/r.jpg', 'user.imagekit.tags', value('t'), 0)
    api.failNext.set('updateFileDetails', new ImageKitError('IK_SERVER', 'PATCH details: 503', { status: 503 }))
    await expectCode(h.vfs.flush('/r.jpg', fh), 'EIO')
    await h.vfs.release('/r.jpg', fh)
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.fileAt('/r.jpg')!.bytes).toEqual(patternBytes(6))
    expect(await attr(h, '/r.jpg', 'tags')).toBe('t')
    await syncFile(h, '/r.jpg')
    expect(api.writeCalls.uploadFile).toBe(1)
    expect(api.fileAt('/r.jpg')!.obj.tags).toEqual(['t'])
    expect(h.vfs.status().uploads).toEqual([])

    const fh2 = await h.vfs.create('/bad.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/bad.jpg', fh2, patternBytes(2), 0)
    await h.vfs.setxattr('/bad.jpg', 'user.imagekit.custom-metadata', value('{"undefinedField":1}'), 0)
    api.failNext.set('updateFileDetails', new ImageKitError('IK_BAD_REQUEST', 'Invalid custom metadata.', { status: 400 }))
    await h.vfs.flush('/bad.jpg', fh2)
    await h.vfs.release('/bad.jpg', fh2)
    expect(api.fileAt('/bad.jpg')!.bytes).toEqual(patternBytes(2))
    expect(h.lines.join('\n')).toMatch(/the file is stored, but ImageKit refused the tags and metadata set on it/)
    expect(h.vfs.status().uploads).toEqual([])

    // Refused custom metadata does not cost the tags and coordinates that came with it (cp -a of a file with all three).
    const fh3 = await h.vfs.create('/mixed.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/mixed.jpg', fh3, patternBytes(3), 0)
    await h.vfs.setxattr('/mixed.jpg', 'user.imagekit.tags', value('kept,too'), 0)
    await h.vfs.setxattr('/mixed.jpg', 'user.imagekit.custom-coordinates', value('1,2,3,4'), 0)
    await h.vfs.setxattr('/mixed.jpg', 'user.imagekit.custom-metadata', value('{"undefinedField":1}'), 0)
    api.failNext.set('updateFileDetails', new ImageKitError('IK_BAD_REQUEST', 'Invalid custom metadata.', { status: 400 }))
    await h.vfs.flush('/mixed.jpg', fh3)
    await h.vfs.release('/mixed.jpg', fh3)
    expect(api.fileAt('/mixed.jpg')!.obj).toMatchObject({ tags: ['kept', 'too'], customCoordinates: '1,2,3,4', customMetadata: {} })
    expect(api.detailUpdates.at(-1)?.details).toEqual({ tags: ['kept', 'too'], customCoordinates: '1,2,3,4' })
    expect(await attr(h, '/mixed.jpg', 'tags')).toBe('kept,too')
    expect(h.lines.join('\n')).toMatch(/ImageKit refused the details set on it; setting them without the custom metadata/)
    expect(h.vfs.status().uploads).toEqual([])
    await h.vfs.close()
  })

  it('tags ImageKit refuses after the upload do not cost the custom metadata and coordinates set with them', async () => {
    const api = new FakeImageKit()
    const update = api.updateFileDetails.bind(api)
    // ImageKit's own limit: at most 500 characters of tags.
    api.updateFileDetails = async (fileId, details) => {
      if ((details.tags ?? []).join(',').length > 500) {
        api.detailUpdates.push({ fileId, details })
        throw new ImageKitError('IK_BAD_REQUEST', 'tags can not be longer than 500 characters in total.', { status: 400 })
      }
      return update(fileId, details)
    }
    const h = writable(api)
    const fh = await h.vfs.create('/long.jpg', 0o644, constants.O_CREAT | constants.O_WRONLY)
    await h.vfs.write('/long.jpg', fh, patternBytes(3), 0)
    await h.vfs.setxattr('/long.jpg', 'user.imagekit.custom-metadata', value('{"price":4}'), 0)
    await h.vfs.setxattr('/long.jpg', 'user.imagekit.custom-coordinates', value('1,2,3,4'), 0)
    await h.vfs.setxattr('/long.jpg', 'user.imagekit.tags', value(Array.from({ length: 200 }, (_, i) => `t${i}`).join(',')), 0)
    await h.vfs.flush('/long.jpg', fh)
    await h.vfs.release('/long.jpg', fh)
    expect(api.fileAt('/long.jpg')!.obj).toMatchObject({ tags: null, customCoordinates: '1,2,3,4', customMetadata: { price: 4 } })
    expect(JSON.parse(await attr(h, '/long.jpg', 'custom-metadata'))).toEqual({ price: 4 })
    expect(await attr(h, '/long.jpg', 'custom-coordinates')).toBe('1,2,3,4')
    await expectCode(h.vfs.getxattr('/long.jpg', 'user.imagekit.tags'), 'ENODATA')
    expect(h.lines.join('\n')).toMatch(/tags can not be longer than 500 characters/)
    expect(h.vfs.status().uploads).toEqual([])
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

describe('detailsHold: whether an update whose answers were lost was made', () => {
  const file = { tags: ['a', 'b'], customCoordinates: null, customMetadata: { shot: 'studio' } }
  it('compares only what was wanted, tags as a set, none as null or empty', () => {
    expect(detailsHold(file, { tags: ['b', 'a'] })).toBe(true)
    expect(detailsHold(file, { tags: ['a'] })).toBe(false)
    expect(detailsHold({ ...file, tags: null }, { tags: [] })).toBe(true)
    expect(detailsHold(file, { customCoordinates: null })).toBe(true)
    expect(detailsHold(file, { customCoordinates: '1,2,3,4' })).toBe(false)
    expect(detailsHold(file, { customMetadata: { shot: 'studio' } })).toBe(true)
    expect(detailsHold(file, { customMetadata: {} })).toBe(false)
    expect(detailsHold(file, { customMetadata: { shot: 'street' } })).toBe(false)
  })
})
