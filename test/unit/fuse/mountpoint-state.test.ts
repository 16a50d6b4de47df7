/**
 * mountpointState: the one answer ikfs mount, ikfs doctor and mountFuse read a mountpoint by. A dead mount
 * (ENOTCONN) and a hung one made for real: R12 in test/semantics/lifecycle.test.ts and test/integration/fuse-adapter.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mountpointState } from '../../../src/fuse/mountpoint-state.js'

describe('mountpointState', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ikfs-mountpoint-state-'))
    await writeFile(join(dir, 'file'), 'x')
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

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
