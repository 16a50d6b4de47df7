/**
 * What one small upload costs the emulator besides its bytes: system calls and thread-pool round trips that
 * a real upload server would not make per request (README, Where the time goes: Small files).
 */
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { moveBytes } from '../../../src/emulator/bytes.js'
import { newObjectId, newVersionToken } from '../../../src/emulator/ids.js'
import { TempFiles } from '../../../src/emulator/temp-files.js'
import { TempFileSink } from '../../../src/emulator/upload-sinks.js'
import { fsRequestsDuring } from '../../helpers/fs-requests.js'
import { tempDir } from '../../helpers/temp-dirs.js'

vi.mock('node:crypto', async (original) => {
  const real = await original<typeof import('node:crypto')>()
  return { ...real, randomBytes: vi.fn(real.randomBytes) }
})
vi.mock('node:fs', async (original) => {
  const real = await original<typeof import('node:fs')>()
  return { ...real, mkdirSync: vi.fn(real.mkdirSync) }
})

describe('a small upload in the emulator', () => {
  it('ids and version tokens are unique and shaped as before, without asking the system for random bytes each time', () => {
    const randomBytes = vi.mocked(crypto.randomBytes)
    randomBytes.mockClear()
    const ids = Array.from({ length: 1000 }, () => newObjectId())
    const tokens = Array.from({ length: 1000 }, () => newVersionToken())
    expect(new Set(ids).size).toBe(1000)
    expect(new Set(tokens).size).toBe(1000)
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{24}$/)
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9._]{32}$/)
    expect(randomBytes.mock.calls.length).toBeLessThanOrEqual(Math.ceil((1000 * 12 + 1000 * 32) / 4096) + 1)
  })

  it('moving an upload into a folder that exists makes no directory; into a missing one makes it', async () => {
    const dir = await tempDir('ikemu-move-')
    await mkdir(join(dir, 'files', 'shots'), { recursive: true })
    await writeFile(join(dir, 'a'), 'a')
    await writeFile(join(dir, 'b'), 'b')
    const mkdirSync = vi.mocked(fs.mkdirSync)
    mkdirSync.mockClear()
    await moveBytes(join(dir, 'a'), join(dir, 'files', 'shots', 'a.txt'))
    expect(mkdirSync).not.toHaveBeenCalled()
    await moveBytes(join(dir, 'b'), join(dir, 'files', 'new', 'deeper', 'b.txt'))
    expect(mkdirSync).toHaveBeenCalledTimes(1)
    expect(await readFile(join(dir, 'files', 'shots', 'a.txt'), 'utf8')).toBe('a')
    expect(await readFile(join(dir, 'files', 'new', 'deeper', 'b.txt'), 'utf8')).toBe('b')
    await expect(moveBytes(join(dir, 'gone'), join(dir, 'files', 'x'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('a small body is written and its file closed without a thread-pool round trip', async () => {
    const dir = await tempDir('ikemu-sink-')
    const temp = new TempFiles(dir)
    try {
      const file = temp.take('upload')
      await file.fd // opened ahead of the request in practice (a ready file)
      const sink = new TempFileSink(file, 1024 * 1024)
      const body = Buffer.alloc(64 * 1024, 7)
      const requests = await fsRequestsDuring(async () => {
        await sink.write(body.subarray(0, 1000))
        await sink.write(body.subarray(1000))
        await sink.end()
      })
      expect(requests).toEqual([])
      expect(await readFile(file.path)).toEqual(body)
      expect((await readdir(dir)).filter((n) => n.startsWith('upload-'))).toEqual([file.path.slice(dir.length + 1)])
    } finally {
      await temp.close()
    }
  })

  it('a body past what is kept in memory goes to disk as it arrives and is stored whole', async () => {
    const dir = await tempDir('ikemu-sink-')
    const temp = new TempFiles(dir)
    try {
      const file = temp.take('upload')
      const sink = new TempFileSink(file, 8 * 1024 * 1024)
      const body = crypto.randomBytes(3 * 1024 * 1024 + 5)
      for (let at = 0; at < body.length; at += 65536) await sink.write(body.subarray(at, at + 65536))
      await sink.end()
      await sink.abort() // after end: closes nothing twice
      expect(sink.size).toBe(body.length)
      expect((await readFile(file.path)).equals(body)).toBe(true) // not toEqual: it compares 3 MiB byte by byte, slowly
    } finally {
      await temp.close()
    }
  })
})
