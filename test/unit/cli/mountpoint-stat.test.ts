/**
 * The mountpoint stat `ikfs mount` and `ikfs doctor` share: made by a child process, so a hung FUSE mount
 * holds no thread of the command (whose exit would then wait for it). A real hung mount: the R12 test in
 * test/semantics/lifecycle.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MountpointHungError, statMountpoint } from '../../../src/cli/mountpoint-stat.js'

describe('statMountpoint', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ikfs-mountpoint-stat-'))
    await writeFile(join(dir, 'file'), 'x')
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('answers as fs.stat does: a folder, a file', async () => {
    expect((await statMountpoint(dir)).isDirectory()).toBe(true)
    expect((await statMountpoint(join(dir, 'file'))).isDirectory()).toBe(false)
  })

  it('keeps the errno code of a failure (ENOENT here; ENOTCONN for a dead mount)', async () => {
    await expect(statMountpoint(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(statMountpoint(join(dir, 'file', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' })
  })

  it('gives up after its time with a MountpointHungError (no child answers within 1 ms)', async () => {
    const hung = statMountpoint(dir, 1)
    await expect(hung).rejects.toBeInstanceOf(MountpointHungError)
    await expect(hung).rejects.toThrow(`${dir} does not answer within 0.001s`)
  })
})
