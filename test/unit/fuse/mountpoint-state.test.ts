/**
 * mountpointState: the one answer ikfs mount, ikfs doctor and mountFuse read a mountpoint by. A dead mount
 * (ENOTCONN) and a hung one made for real: R12 in test/semantics/lifecycle.test.ts and test/integration/fuse-adapter.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MountpointHungError, mountpointState, statMountpoint } from '../../../src/fuse/mountpoint-state.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ikfs-mountpoint-state-'))
  await writeFile(join(dir, 'file'), 'x')
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('mountpointState', () => {

  it('tells a folder, a file, a missing path and another failure apart', async () => {
    expect(await mountpointState(dir)).toEqual({ kind: 'folder' })
    expect(await mountpointState(join(dir, 'file'))).toEqual({ kind: 'not-folder' })
    expect(await mountpointState(join(dir, 'missing'))).toEqual({ kind: 'absent' })
    expect(await mountpointState(join(dir, 'file', 'below'))).toEqual({ kind: 'failed', reason: 'ENOTDIR' })
  })

  it('is hung when no answer comes in time (no child answers within 1 ms)', async () => {
    expect(await mountpointState(dir, 1)).toEqual({ kind: 'hung', timeoutMs: 1 })
  })
})

// Made by a child process, so a hung FUSE mount holds no thread of the command (whose exit would then wait for it).
describe('statMountpoint', () => {
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
