/**
 * A mount that runs for weeks: files made, read, renamed, saved over and deleted in folders that come and
 * go, with refreshes between. What the VFS keeps (IkVfs.sizes) must be bounded by what exists and what is
 * open, not by how many files ever went through it: each structure is compared after a few rounds and after
 * many. (test/bench/soak.mjs does the same on a real mount, for memory and descriptors.)
 */
import { constants } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { FakeImageKit, patternBytes } from './fake-api.js'
import { makeVfs, scratchDir, type Harness } from './helpers.js'

const CREATE = constants.O_CREAT | constants.O_RDWR | constants.O_EXCL
const FILES_PER_ROUND = 8

async function writeFile(h: Harness, path: string, data: Buffer): Promise<void> {
  const fh = await h.vfs.create(path, 0o644, CREATE)
  await h.vfs.write(path, fh, data, 0)
  await h.vfs.flush(path, fh)
  await h.vfs.release(path, fh)
}

async function readWhole(h: Harness, path: string, size: number): Promise<Buffer> {
  const fh = await h.vfs.open(path, constants.O_RDONLY)
  try {
    return await h.vfs.read(path, fh, size, 0)
  } finally {
    await h.vfs.release(path, fh)
  }
}

/** One round of churn in its own folder, which is gone again at the end; a refresh in the middle. */
async function round(h: Harness, n: number): Promise<void> {
  const dir = `/churn/r${n}`
  await h.vfs.mkdir(dir, 0o755)
  const names: string[] = []
  for (let i = 0; i < FILES_PER_ROUND; i++) {
    const data = patternBytes(1000 + i, n * 100 + i)
    await writeFile(h, `${dir}/f${i}.bin`, data)
    expect((await readWhole(h, `${dir}/f${i}.bin`, data.length)).equals(data)).toBe(true)
    names.push(`f${i}.bin`)
  }
  await h.vfs.rename(`${dir}/f0.bin`, `${dir}/g0.bin`) // a plain rename
  names[0] = 'g0.bin'
  await writeFile(h, `${dir}/.f1.bin.tmp`, patternBytes(500, n)) // an editor's save: a temporary file renamed over
  await h.vfs.rename(`${dir}/.f1.bin.tmp`, `${dir}/f1.bin`)
  await h.vfs.rename(`${dir}/f2.bin`, `${dir}/f2.bin~`) // vim's save: the original moved aside and put back (W17)
  await writeFile(h, `${dir}/f2.bin`, patternBytes(700, n))
  await h.vfs.unlink(`${dir}/f2.bin~`)
  h.vfs.forget() // `ikfs refresh`, SIGHUP: listings dropped, their nodes' numbers remembered
  for (const entry of await h.vfs.readdir(dir)) await h.vfs.getattr(`${dir}/${entry.name}`)
  for (const name of names) await h.vfs.unlink(`${dir}/${name}`)
  await h.vfs.rmdir(dir)
  h.clock.advance(60_000)
  h.vfs.checkInvariants()
}

describe('a long-running mount under churn', () => {
  it('keeps every structure bounded: nothing grows with the number of files that came and went', async () => {
    const api = new FakeImageKit()
    api.addFolder('/churn')
    // A block cache that the first rounds fill: its blocks (and the versions they are of) stay within its bytes.
    const h = makeVfs(api, {
      readOnly: false, cacheDir: scratchDir('churn'), libraryId: 'https://ik.example.test/demo', blockCacheBytes: 16 * 1024,
    })
    for (let n = 0; n < 3; n++) await round(h, n)
    const early = h.vfs.sizes()
    for (let n = 3; n < 40; n++) await round(h, n)
    const late = h.vfs.sizes()
    const grown = Object.keys(late).filter((k) => late[k]! > early[k]!)
    expect(grown.map((k) => `${k}: ${early[k]} after 3 rounds, ${late[k]} after 40`)).toEqual([])
    expect(Object.keys(late)).toEqual(expect.arrayContaining(['rememberedInodes', 'mtimes', 'pendingFiles', 'readers', 'handles', 'movedAside']))
    expect(h.lines.filter((l) => l.includes('"msg":"a save moved the original aside')).length).toBe(40) // one put-back per round
  })
})
