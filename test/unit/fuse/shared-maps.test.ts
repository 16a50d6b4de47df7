import { describe, expect, it } from 'vitest'
import { hasSharedWritableMap } from '../../../src/fuse/shared-maps.js'

const line = (perms: string, path: string) => `7f0c2a400000-7f0c2a6dc000 ${perms} 00000000 00:2a 17                         ${path}\n`
const HEAD = '55d4c0b1e000-55d4c0b4a000 r--p 00000000 08:01 1311                       /usr/bin/python3.11\n'

describe('hasSharedWritableMap', () => {
  it('finds a shared writable map of exactly that path', () => {
    expect(hasSharedWritableMap(HEAD + line('rw-s', '/mnt/ik/a.bin'), '/mnt/ik/a.bin')).toBe(true)
  })

  it('ignores read-only and private maps, other files, and paths that only end like it', () => {
    const maps = HEAD + line('r--s', '/mnt/ik/a.bin') + line('rw-p', '/mnt/ik/a.bin') + line('rw-s', '/mnt/ik/a.bin2') +
      line('rw-s', '/x /mnt/ik/a.bin') + line('rw-s', '/mnt/ik/a.bin (deleted)')
    expect(hasSharedWritableMap(maps, '/mnt/ik/a.bin')).toBe(false)
    expect(hasSharedWritableMap(HEAD, '/mnt/ik/a.bin')).toBe(false)
  })

  it('compares names as the kernel writes them: bytes, with a newline as \\012', () => {
    const name = '/mnt/ik/été\nx.bin'
    const maps = HEAD + line('rw-s', Buffer.from('/mnt/ik/été\\012x.bin').toString('latin1'))
    expect(hasSharedWritableMap(maps, name)).toBe(true)
  })
})
