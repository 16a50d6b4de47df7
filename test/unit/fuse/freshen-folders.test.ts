import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { freshenFolders } from '../../../src/fuse/freshen-folders.js'
import { MAX_MISSING_NAMES } from '../../../src/fuse/missing-names.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ikfs-freshen-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('freshenFolders', () => {
  it('looks at as many long folder paths as a refresh can name: over the 2 MiB a command line holds (was E2BIG, none looked at)', async () => {
    // Every folder of MissingNames' bound, each a deep path of ~300 bytes: about 3 MB, past execve's limit.
    const folders = Array.from({ length: MAX_MISSING_NAMES }, (_, i) => `/${'deep-folder-name/'.repeat(17)}${i}`)
    expect(folders.reduce((sum, f) => sum + Buffer.byteLength(join(dir, f)) + 1, 0)).toBeGreaterThan(2 * 1024 * 1024)
    expect(await freshenFolders(dir, folders, 30_000)).toBe(true)
  })

  it('takes any name a folder may have, a line break included', async () => {
    expect(await freshenFolders(dir, ['/a\nb', '/c d', '/é'], 30_000)).toBe(true)
  })
})
