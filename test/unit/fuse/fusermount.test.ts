/**
 * Which fusermount ikfs looks for and runs (native/load.ts, src/fuse/unmount.ts). FUSE 3 alone (Fedora,
 * openSUSE, Arch) has only fusermount3: ikfs once looked for fusermount only, so `ikfs mount` refused to
 * start there and a user's `ikfs unmount` could not run the helper.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fakePaths } from '../../helpers/fake-path.js'
import { findFusermounts, fuseAvailable, fusermountProblem, unmountFusermount } from '../../../native/load.js'
import { createLogger } from '../../../src/log.js'
import { mountFuse, type FuseMountOptions } from '../../../src/fuse/mount.js'
import { unmountCommands } from '../../../src/fuse/unmount.js'
import type { Vfs } from '../../../src/vfs/types.js'

const paths = fakePaths('ikfs-fusermount-')
afterAll(() => paths.remove())
const pathWith = paths.pathWith
const work = paths.dir

const devFuseOpens = !fuseAvailable('/nonexistent-dir').reason?.startsWith('/dev/fuse')

describe('finding fusermount', () => {
  it('finds fusermount3 where FUSE 3 is alone', () => {
    const dir = pathWith('fusermount3')
    expect(findFusermounts(dir)).toEqual({ fusermount3: join(dir, 'fusermount3') })
    expect(unmountFusermount(findFusermounts(dir))).toBe(join(dir, 'fusermount3'))
  })

  it('prefers fusermount3 to fusermount for unmounting, and takes fusermount where it is the only one', () => {
    const both = pathWith('fusermount', 'fusermount3')
    expect(unmountFusermount(findFusermounts(both))).toBe(join(both, 'fusermount3'))
    const old = pathWith('fusermount')
    expect(unmountFusermount(findFusermounts(old))).toBe(join(old, 'fusermount'))
    expect(unmountFusermount(findFusermounts(pathWith()))).toBeUndefined()
  })

  it('ignores a file of that name that is not executable, and a folder', () => {
    const dir = join(work, 'plain')
    mkdirSync(join(dir, 'fusermount'), { recursive: true })
    writeFileSync(join(dir, 'fusermount3'), '', { mode: 0o644 })
    expect(findFusermounts(dir)).toEqual({})
  })

  it.skipIf(!devFuseOpens)('lets a mount start with only fusermount3 on PATH', () => {
    expect(fuseAvailable(pathWith('fusermount3'))).toEqual({ ok: true })
    expect(fuseAvailable(pathWith('fusermount'))).toEqual({ ok: true })
  })

  it.skipIf(!devFuseOpens)('without either, names both and which binding runs which', () => {
    const { ok, reason } = fuseAvailable(pathWith())
    expect(ok).toBe(false)
    expect(reason).toMatch(/^neither fusermount3 nor fusermount is on PATH \(ikfs's libfuse3 binding mounts through fusermount3, the fuse-native fallback through fusermount\): install fuse3/)
  })

  it.skipIf(!devFuseOpens)('a mount checks for the fusermount of the binding it will use, before anything else', async () => {
    const path = process.env.PATH
    process.env.PATH = pathWith('fusermount3')
    try {
      const options = { binding: 'fuse-native', fuse: {} } as unknown as FuseMountOptions
      await expect(mountFuse({} as Vfs, join(work, 'not-there'), options, createLogger({ level: 'silent' })))
        .rejects.toThrow(/^cannot mount: the fuse-native fallback \(libfuse2\) mounts through fusermount, which is not on PATH/)
    } finally {
      process.env.PATH = path
    }
  })

  it('says which binding needs which fusermount', () => {
    const only3 = findFusermounts(pathWith('fusermount3'))
    const only2 = findFusermounts(pathWith('fusermount'))
    expect(fusermountProblem(only3, 'fuse3')).toBeUndefined()
    expect(fusermountProblem(only2, 'fuse-native')).toBeUndefined()
    expect(fusermountProblem(only3, 'fuse-native')?.problem).toBe(
      "the fuse-native fallback (libfuse2) mounts through fusermount, which is not on PATH (only FUSE 3's fusermount3 is)")
    expect(fusermountProblem(only3, 'fuse-native')?.fix).toMatch(/npm run build:native --prefix \/\S+\), or install FUSE 2's fusermount/)
    expect(fusermountProblem(only2, 'fuse3')?.problem).toBe(
      "ikfs's libfuse3 binding mounts through fusermount3, which is not on PATH (only FUSE 2's fusermount is)")
    expect(fusermountProblem(only2, 'fuse3')?.fix).toContain('--fuse-binding fuse-native')
  })
})

describe('unmountCommands', () => {
  it('runs the fusermount3 found, politely first, then lazily', () => {
    const fusermount = unmountFusermount(findFusermounts(pathWith('fusermount3')))
    expect(unmountCommands('/mnt/p', { root: false, fusermount })).toEqual({
      attempts: [[fusermount, ['-u', '/mnt/p']], [fusermount, ['-uz', '/mnt/p']]],
      lazyAttempts: [[fusermount, ['-uz', '/mnt/p']]],
    })
  })

  it('adds umount for root, and leaves out the lazy steps for a mount that must not be detached while busy', () => {
    expect(unmountCommands('/mnt/p', { root: true, fusermount: '/usr/bin/fusermount3', refuseBusy: true })).toEqual({
      attempts: [['/usr/bin/fusermount3', ['-u', '/mnt/p']], ['umount', ['/mnt/p']]],
      lazyAttempts: [['/usr/bin/fusermount3', ['-uz', '/mnt/p']], ['umount', ['-l', '/mnt/p']]],
    })
  })

  it('without any fusermount, root still has umount', () => {
    expect(unmountCommands('/mnt/p', { root: true, fusermount: undefined, lazy: true })).toEqual({
      attempts: [['umount', ['-l', '/mnt/p']]],
      lazyAttempts: [['umount', ['-l', '/mnt/p']]],
    })
  })
})
