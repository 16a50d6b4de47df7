/** folderExists: the one question both W7's folder checks and W9's folder jobs ask of the API. */
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { folderExists } from '../../../src/vfs/folder-exists.js'
import { whereFolderIs } from '../../../src/vfs/folder-job.js'
import { FakeImageKit } from './fake-api.js'

describe('folderExists', () => {
  it('asks for the parent\'s folders of that name only, one call, and tells a folder from a file of that name', async () => {
    const api = new FakeImageKit()
    api.addFolder('/p/x')
    api.addFile('/p/y', 3)
    for (let i = 0; i < 5; i++) api.addFolder(`/p/other-${i}`)
    expect(await folderExists(api, '/p/x')).toBe(true)
    expect(await folderExists(api, '/p/y')).toBe(false)
    expect(await folderExists(api, '/p/z')).toBe(false)
    expect(api.listQueries).toEqual([
      expect.objectContaining({ path: '/p', type: 'folder', searchQuery: 'type = "folder" AND name = "x"' }),
      expect.objectContaining({ path: '/p', searchQuery: 'type = "folder" AND name = "y"' }),
      expect.objectContaining({ path: '/p', searchQuery: 'type = "folder" AND name = "z"' }),
    ])
  })

  it('throws when the API cannot say, and so does whereFolderIs (its caller asks again later)', async () => {
    const api = new FakeImageKit()
    api.addFolder('/a')
    api.failAlways.set('listFiles', new ImageKitError('IK_NETWORK', 'network down'))
    await expect(folderExists(api, '/a')).rejects.toThrow(/network down/)
    await expect(whereFolderIs(api, ['/a', '/b'])).rejects.toThrow(/network down/)
    api.failAlways.delete('listFiles')
    expect(await whereFolderIs(api, ['/a', '/b'])).toBe('/a')
  })
})
