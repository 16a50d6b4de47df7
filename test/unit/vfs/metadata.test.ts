import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { fromImageKitError } from '../../../src/vfs/from-imagekit-error.js'
import { USAGE_WAIT_MS } from '../../../src/vfs/statfs.js'
import type { StatFs } from '../../../src/vfs/types.js'
import { FakeImageKit } from './fake-api.js'
import { expectCode, makeVfs } from './helpers.js'

describe('xattrs', () => {
  it('lists only present attributes and answers them from the listing', async () => {
    const api = new FakeImageKit()
    const f = api.addFile('/t.jpg', 1234, {
      tags: ['red', 'sale'],
      AITags: [{ name: 'Cat', confidence: 97.5, source: 'google-auto-tagging' }],
      customCoordinates: '1,2,3,4',
      customMetadata: { sku: 'A1' },
      isPrivateFile: true,
    })
    api.addFile('/plain.jpg', 10)
    const { vfs } = makeVfs(api)
    const names = await vfs.listxattr('/t.jpg')
    expect(names).toEqual([
      'user.imagekit.tags', 'user.imagekit.ai-tags', 'user.imagekit.custom-coordinates',
      'user.imagekit.custom-metadata', 'user.imagekit.file-type', 'user.imagekit.has-alpha',
      'user.imagekit.height', 'user.imagekit.width', 'user.imagekit.is-private-file', 'user.imagekit.is-published', 'user.imagekit.btime',
      'user.imagekit.size', 'user.imagekit.mime', 'user.imagekit.file-id', 'user.imagekit.version-id', 'user.imagekit.url',
      'user.xdg.tags', // the tags again, under the name KDE's file manager reads and writes
    ])
    const get = async (n: string) => (await vfs.getxattr('/t.jpg', `user.imagekit.${n}`)).toString()
    expect(await get('tags')).toBe('red,sale')
    expect((await vfs.getxattr('/t.jpg', 'user.xdg.tags')).toString()).toBe('red,sale')
    expect(JSON.parse(await get('ai-tags'))).toEqual([{ name: 'Cat', confidence: 97.5, source: 'google-auto-tagging' }])
    expect(JSON.parse(await get('custom-metadata'))).toEqual({ sku: 'A1' })
    expect(await get('custom-coordinates')).toBe('1,2,3,4')
    expect(await get('is-private-file')).toBe('true')
    expect(await get('size')).toBe('1234')
    expect(await get('file-id')).toBe(f.fileId)
    expect(await get('url')).toBe(f.url)
    expect(await get('btime')).toBe(f.createdAt)
    const plain = await vfs.listxattr('/plain.jpg')
    expect(plain).not.toContain('user.imagekit.tags')
    expect(plain).not.toContain('user.xdg.tags')
    expect(plain).not.toContain('user.imagekit.custom-metadata')
    await expectCode(vfs.getxattr('/plain.jpg', 'user.imagekit.tags'), 'ENODATA')
    expect(await vfs.listxattr('/')).toEqual([])
  })

  it('answers unknown user.* names with ENODATA and other namespaces with ENOTSUP, without any API call', async () => {
    const api = new FakeImageKit()
    api.addFile('/x', 1)
    const { vfs } = makeVfs(api)
    for (const name of ['security.capability', 'security.selinux', 'system.posix_acl_access', 'trusted.x']) {
      await expectCode(vfs.getxattr('/x', name), 'ENOTSUP')
    }
    await expectCode(vfs.getxattr('/x', 'user.other'), 'ENODATA')
    expect(api.calls.listFiles).toBe(0)
  })
})

describe('statfs', () => {
  it('uses cached account usage with 1 MiB blocks and uint32 counts', async () => {
    const api = new FakeImageKit()
    api.usage.mediaLibraryStorageBytes = 10 * 2 ** 30
    const { vfs, clock } = makeVfs(api, { statfsCacheTimeMs: 1000 })
    const s = await vfs.statfs('/')
    expect(s.bsize).toBe(2 ** 20)
    expect(s.blocks - s.bfree).toBe(10 * 1024)
    for (const v of Object.values(s)) expect(v >= 0 && v <= 0xffffffff && Number.isInteger(v)).toBe(true)
    expect(s.namemax).toBe(255)
    await vfs.statfs('/')
    expect(api.calls.getAccountUsage).toBe(1)
    clock.advance(1000)
    await vfs.statfs('/')
    expect(api.calls.getAccountUsage).toBe(2)
  })

  it('reports the configured total and never fails', async () => {
    const api = new FakeImageKit()
    api.usage.mediaLibraryStorageBytes = 3 * 2 ** 30
    const { vfs, clock } = makeVfs(api, { statfsTotalBytes: 100 * 2 ** 30, statfsCacheTimeMs: 1000 })
    api.failNext.set('getAccountUsage', new ImageKitError('IK_SERVER', 'usage: 503'))
    const first = await vfs.statfs('/')
    expect(first.blocks).toBe(100 * 1024)
    expect(first.bfree).toBe(100 * 1024) // no value yet: zero used
    clock.advance(1000)
    const second = await vfs.statfs('/')
    expect(second.blocks - second.bfree).toBe(3 * 1024)
    api.failNext.set('getAccountUsage', new ImageKitError('IK_NETWORK', 'usage: reset'))
    clock.advance(1000)
    const third = await vfs.statfs('/')
    expect(third.blocks - third.bfree).toBe(3 * 1024) // last value kept
  })

  it('R11: waits at most 2 s for an API that does not answer, with the last value; a later statfs shows the answer', async () => {
    const api = new FakeImageKit()
    api.usage.mediaLibraryStorageBytes = 3 * 2 ** 30
    const { vfs, clock } = makeVfs(api, { statfsCacheTimeMs: 1000 })
    let answer!: () => void
    const answered = new Promise<void>((resolve) => (answer = resolve))
    const usage = api.getAccountUsage.bind(api)
    api.getAccountUsage = async () => {
      await answered
      return usage()
    }
    const first = vfs.statfs('/')
    clock.advance(USAGE_WAIT_MS)
    const stillWaiting = new Promise((resolve) => setTimeout(() => resolve('still waiting for the API'), 200))
    const s = await Promise.race([first, stillWaiting])
    expect(s).toMatchObject({ bsize: 2 ** 20 })
    expect((s as StatFs).blocks - (s as StatFs).bfree).toBe(0) // no value yet: zero used
    answer()
    await new Promise((resolve) => setImmediate(resolve))
    const later = await vfs.statfs('/')
    expect(later.blocks - later.bfree).toBe(3 * 1024)
    expect(api.calls.getAccountUsage).toBe(1)
  })

  it('counts known inodes as the files in use, out of a total that holds them (df -i)', async () => {
    const api = new FakeImageKit()
    for (let i = 0; i < 5; i++) api.addFile(`/f${i}`, 1)
    const { vfs } = makeVfs(api)
    await vfs.readdir('/')
    const s = await vfs.statfs('/')
    expect(s.files - s.ffree).toBeGreaterThanOrEqual(5)
    expect(s.files - s.ffree).toBeLessThan(10)
    expect(s.favail).toBe(s.ffree)
  })
})

describe('fromImageKitError', () => {
  const map = (code: ConstructorParameters<typeof ImageKitError>[0]) =>
    fromImageKitError(new ImageKitError(code, 'x'), { op: 'read', target: '/a' }).code
  it('maps each client code to one errno', () => {
    expect(map('IK_NOT_FOUND')).toBe('ENOENT')
    expect(map('IK_UNAUTHORIZED')).toBe('EACCES')
    expect(map('IK_FORBIDDEN')).toBe('EACCES')
    expect(map('IK_TOO_LARGE')).toBe('EFBIG')
    expect(map('IK_CONFLICT')).toBe('EEXIST')
    expect(map('IK_TIMEOUT')).toBe('EIO') // R13: no filesystem syscall has ETIMEDOUT
    expect(map('IK_RANGE_NOT_SATISFIABLE')).toBe('EIO')
    expect(map('IK_SERVER')).toBe('EIO')
    expect(map('IK_RATE_LIMITED')).toBe('EIO')
    const bug = fromImageKitError(new TypeError('oops'), { op: 'x', target: '/a' })
    expect(bug.code).toBe('EIO')
    expect(bug.level).toBe('error')
  })
  it('never puts a URL in the message', () => {
    const e = fromImageKitError(new ImageKitError('IK_FORBIDDEN', 'GET delivery'), { op: 'read', target: '/a.jpg' })
    expect(e.message).not.toMatch(/https?:|ik-s=|ik-t=/)
  })
})
