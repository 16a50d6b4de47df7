// R5 in the emulator: a delivery sends the bytes of the version its headers (size, ETag) name, also when an
// upload of a new version of the file lands while the delivery is being answered. The delivery's open of the
// bytes file is held here until the upload is stored (as a busy disk's thread pool may): an open made after the
// version was chosen found the new version's bytes at the file's path and sent them under the old version's
// headers. A mount then read a mix (two mounts, seed 66: the new bytes, short of the old size, then the rest
// resumed from the old version).
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startTestEmulator, type TestEmulator } from './helpers.js'

/** While `path` is set, an open of it waits until `release` is called; `reached` resolves when one waits. */
const gate = vi.hoisted(() => {
  const g = {
    path: undefined as string | undefined,
    release: () => undefined as void,
    released: Promise.resolve(),
    reached: Promise.resolve(),
    reach: () => undefined as void,
    arm(path: string) {
      g.path = path
      g.released = new Promise<void>((r) => (g.release = r))
      g.reached = new Promise<void>((r) => (g.reach = r))
    },
  }
  return g
})

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>()
  const open: typeof fs.open = async (path, flags, mode) => {
    if (gate.path !== undefined && path === gate.path) {
      gate.reach()
      await gate.released
    }
    return fs.open(path, flags, mode)
  }
  return { ...fs, default: { ...fs, open }, open }
})

const OLD = Buffer.from('old version: 0123456789')
const NEW = Buffer.from('new version: abcdefghij') // as many bytes: no size check could tell them apart

const versionOf = (answer: Record<string, unknown>) => (answer.versionInfo as { id: string }).id

describe('a delivery while a new version is stored', () => {
  let t: TestEmulator
  beforeAll(async () => {
    t = await startTestEmulator()
  })
  afterAll(async () => {
    await t?.stop()
  })

  it('R5: sends the bytes of the version its ETag names, never the new bytes under the old headers', async () => {
    const old = await t.put('/race/f.bin', OLD)
    gate.arm(join(t.dataDir, 'files', 'race', 'f.bin'))
    const answer = fetch(`${t.emu.urlEndpoint}/race/f.bin?tr=orig-true`)
    // The delivery has chosen its version: it waits for its open, or (opened at once) its headers are out.
    await Promise.race([gate.reached, answer])
    const stored = await t.put('/race/f.bin', NEW)
    gate.release()
    const res = await answer
    const body = Buffer.from(await res.arrayBuffer())
    gate.path = undefined
    const etags = new Map([[versionOf(old), OLD], [versionOf(stored), NEW]].map(([id, bytes]) => [`"${id as string}"`, bytes as Buffer]))
    const etag = res.headers.get('etag')!
    expect([...etags.keys()]).toContain(etag)
    expect(body.toString()).toBe(etags.get(etag)!.toString())
  })
})
