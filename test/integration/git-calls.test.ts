// Media API calls of git on a default mount (no write-back): git writes each object as objects/xx/tmp_obj_*,
// closes it (the upload) and renames it to its hash name. Each call counts against ImageKit's rate limits, so
// the folders are not listed again after those renames: each objects/xx folder is listed once, by its mkdir.
// Counted from the daemon's debug log (listings) and by file (git fsck of the library's copy), never by time.
import { spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fuseSkipReason, leftMounted, mountLibrary, remoteBytesPath, run, startLibrary, tempDir, type Library, type Mounted } from './harness.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping git call counts: ${skip}`)

const STEP_MS = 120_000
const git = (...args: string[]) => run('git', ['-c', 'gc.auto=0', '-c', 'user.name=ikfs', '-c', 'user.email=ikfs@localhost', ...args], STEP_MS)

/** `git -C repo unpack-objects < pack`. */
function unpackObjects(repo: string, pack: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', repo, 'unpack-objects', '-q'], { stdio: ['pipe', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    createReadStream(pack).pipe(child.stdin)
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git unpack-objects exited ${code}: ${stderr}`))))
  })
}

describe.skipIf(skip !== null)('git on a default mount: Media API calls', () => {
  let lib: Library
  let m: Mounted
  let work: string

  beforeAll(async () => {
    work = await tempDir('ikfs-git-calls-')
    lib = await startLibrary()
    await lib.setFaults({ rateLimitPerSecond: 0 })
    m = await mountLibrary(lib, { args: ['--cache-dir', join(work, 'cache')] })
  })
  afterAll(async () => {
    const path = m?.path
    await m?.stop()
    await lib?.stop()
    if (path) expect(await leftMounted([path])).toEqual([])
    await rm(work, { recursive: true, force: true })
  }, 120_000)

  it('unpack-objects lists each objects/xx folder once (at its mkdir), not again after each object renamed into it', async () => {
    // A repository of loose objects, two commits: about 260 objects, so many folders get several.
    const src = join(work, 'src')
    for (let i = 0; i < 200; i++) {
      await mkdir(join(src, `d${i % 4}`), { recursive: true })
      await writeFile(join(src, `d${i % 4}`, `f${i}.txt`), `file ${i}\n`)
    }
    await git('-C', src, 'init', '-q')
    await git('-C', src, 'add', '.')
    await git('-C', src, 'commit', '-qm', 'one')
    for (let i = 0; i < 200; i += 4) await writeFile(join(src, `d${i % 4}`, `f${i}.txt`), `file ${i}, changed\n`)
    await git('-C', src, 'commit', '-qam', 'two')
    const pack = join(work, 'all.pack')
    await run('sh', ['-c', `git -C "${src}" pack-objects --all --stdout < /dev/null > "${pack}"`], STEP_MS)
    const objects = (await git('-C', src, 'rev-list', '--all', '--objects')).stdout.trim().split('\n').length

    await git('init', '-q', join(m.path, 'up'))
    await unpackObjects(join(m.path, 'up'), pack)

    const folders = (await readdir(join(m.path, 'up', '.git', 'objects'))).filter((name) => /^[0-9a-f]{2}$/.test(name))
    expect(folders.length).toBeLessThan(objects) // some folders hold several objects
    const listings = folders.map((xx) => m.listingCount(`/up/.git/objects/${xx}`))
    expect(listings.filter((n) => n !== 1), 'objects/xx folders listed other than once').toEqual([])
    // What the mount shows is what the library holds: a clone of the library's copy is whole.
    await git('-C', remoteBytesPath(lib, '/up'), 'fsck', '--full', '--no-dangling')
    const stored = (await git('-C', remoteBytesPath(lib, '/up'), 'count-objects', '-v')).stdout
    expect(stored).toMatch(new RegExp(`^count: ${objects}$`, 'm'))
  })
})
