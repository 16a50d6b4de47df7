import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadOrCreateDemoKeys } from '../../../src/cli/demo.js'
import { fsLabel, fuseMountOptions, vfsOptions } from '../../../src/cli/derive.js'
import { loadConfig } from '../../../src/config/load.js'

const config = loadConfig({
  env: { IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: 'private_k1234', IKFS_STATFS_TOTAL: '1T', IKFS_WRITTEN_CACHE_SIZE: '0' },
  cwd: '/',
  home: '/home/u',
  identity: { uid: 7, gid: 8, umask: 0o077 },
})

describe('derive', () => {
  it('names the filesystem after the remote, the ImageKit id or the host, safely for the -o string', () => {
    expect(fsLabel({ endpoint: 'https://ik.imagekit.io/acme' })).toBe('acme')
    expect(fsLabel({ endpoint: 'https://media.example.com' })).toBe('media.example.com')
    expect(fsLabel({ endpoint: 'https://ik.imagekit.io/acme', remote: 'my,photos=x' })).toBe('my_photos_x')
  })

  it('maps durations to seconds for libfuse and keeps modes for the vfs', () => {
    const fuse = fuseMountOptions(config).fuse
    expect([fuse.entryTimeoutS, fuse.attrTimeoutS, fuse.negativeTimeoutS]).toEqual([5, 5, 60])
    expect(fuse).not.toHaveProperty('umask')
    const vfs = vfsOptions(config)
    expect(vfs).toMatchObject({ uid: 7, gid: 8, umask: 0o077, filePerm: 0o644, dirPerm: 0o755, statfsTotalBytes: 1024 ** 4, writtenCacheBytes: 0 })
  })
})

describe('demo keys', () => {
  it('are made once, kept with mode 0600, and reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ikfs-demo-'))
    try {
      const first = loadOrCreateDemoKeys(dir)
      expect(first.privateKey).toMatch(/^private_[A-Za-z0-9_-]{20,}$/)
      expect(first.publicKey).toMatch(/^public_/)
      expect(statSync(join(dir, 'keys.json')).mode & 0o777).toBe(0o600)
      expect(loadOrCreateDemoKeys(dir)).toEqual(first)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
