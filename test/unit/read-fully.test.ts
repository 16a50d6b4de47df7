import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readFully, readFullySync } from '../../src/read-fully.js'

describe('readFully', () => {
  let dir: string
  let path: string
  const bytes = Buffer.from('0123456789abcdef')
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ikfs-read-fully-'))
    path = join(dir, 'f')
    writeFileSync(path, bytes)
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('reads again after a short read until the range is full', async () => {
    const fh = await open(path, 'r')
    try {
      // A handle whose reads return at most 3 bytes each (a signal, a file growing under the read).
      const calls: number[] = []
      const short = { read: (into: Buffer, offset: number, length: number, position: number) => {
        calls.push(position)
        return fh.read(into, offset, Math.min(3, length), position)
      } } as unknown as FileHandle
      const into = Buffer.alloc(12, '.')
      expect(await readFully(short, into, 2, 10, 4)).toBe(10)
      expect(into.toString()).toBe('..456789abcd')
      expect(calls).toEqual([4, 7, 10, 13])
    } finally {
      await fh.close()
    }
  })

  it('stops at the end of the file and answers the bytes read', async () => {
    const fh = await open(path, 'r')
    try {
      const into = Buffer.alloc(8, '.')
      expect(await readFully(fh, into, 0, 8, 12)).toBe(4)
      expect(into.toString()).toBe('cdef....')
      expect(await readFully(fh, into, 0, 8, 16)).toBe(0)
    } finally {
      await fh.close()
    }
  })

  it('synchronously, the same on a descriptor', () => {
    const fd = openSync(path, 'r')
    try {
      const into = Buffer.alloc(12, '.')
      expect(readFullySync(fd, into, 2, 10, 4)).toBe(10)
      expect(into.toString()).toBe('..456789abcd')
      expect(readFullySync(fd, into, 0, 8, 12)).toBe(4)
      expect(into.subarray(0, 4).toString()).toBe('cdef')
    } finally {
      closeSync(fd)
    }
  })
})
