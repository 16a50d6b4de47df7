/** --dir-prefetch: subfolders of a folder read by readdir are listed in the background, bounded. */
import { describe, expect, it } from 'vitest'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { CONCURRENCY, MAX_DEPTH, PAUSE_AFTER_FAILURE_MS } from '../../../src/vfs/dir-prefetch.js'
import { FakeImageKit } from './fake-api.js'
import { makeVfs, waitFor } from './helpers.js'

function tree(): FakeImageKit {
  const api = new FakeImageKit()
  for (const top of ['a', 'b', 'c', 'd', 'e']) {
    api.addFolder(`/${top}`)
    api.addFile(`/${top}/f.txt`, 3)
    api.addFolder(`/${top}/inner`)
  }
  api.addFile('/root.txt', 3)
  return api
}

const listed = (api: FakeImageKit) => api.listQueries.map((q) => q.path)

describe('--dir-prefetch', () => {
  it('reading a folder lists its first N subfolders in the background, in name order, theirs, and the folders after it; reading them costs nothing', async () => {
    const api = tree()
    const { vfs } = makeVfs(api, { dirPrefetch: 3 })
    await vfs.readdir('/')
    await waitFor(() => listed(api).length === 7)
    expect(listed(api)[0]).toBe('/')
    expect([...listed(api)].sort()).toEqual(['/', '/a', '/a/inner', '/b', '/b/inner', '/c', '/c/inner'])
    expect(listed(api).indexOf('/a')).toBeLessThan(listed(api).indexOf('/b'))
    expect(await vfs.readdir('/b/inner')).toEqual([])
    expect(listed(api)).toHaveLength(7)
    expect(listed(api)).not.toContain('/d')
    // Reading /b also lists the folders after it in / (where a walk goes next): /d and /e, past the limit
    // of 3 from /, and theirs; each folder once.
    expect((await vfs.readdir('/b')).map((e) => e.name).sort()).toEqual(['f.txt', 'inner'])
    await waitFor(() => listed(api).length === 11)
    expect([...listed(api)].sort()).toEqual(['/', '/a', '/a/inner', '/b', '/b/inner', '/c', '/c/inner', '/d', '/d/inner', '/e', '/e/inner'])
    await vfs.readdir('/e')
    expect(listed(api)).toHaveLength(11)
  })

  it(`reaches ${MAX_DEPTH} levels below the folder read`, async () => {
    const api = new FakeImageKit()
    for (const path of ['/x', '/x/y', '/x/y/z', '/x/y/z/deep']) api.addFolder(path)
    const { vfs } = makeVfs(api, { dirPrefetch: 4 })
    await vfs.readdir('/x')
    await waitFor(() => listed(api).includes('/x/y/z'))
    await new Promise((r) => setTimeout(r, 20))
    expect(listed(api)).toEqual(['/', '/x', '/x/y', '/x/y/z'])
  })

  it('is off by default', async () => {
    const api = tree()
    const { vfs } = makeVfs(api)
    await vfs.readdir('/')
    await new Promise((r) => setTimeout(r, 20))
    expect(listed(api)).toEqual(['/'])
  })

  it(`lists ${CONCURRENCY} folders at a time, and a folder asked for meanwhile shares its prefetch`, async () => {
    const api = tree()
    const { vfs } = makeVfs(api, { dirPrefetch: 5 })
    let inFlight = 0
    let most = 0
    const held: (() => void)[] = []
    api.listGate = async (query) => {
      if (query.path === '/') return
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise<void>((resolve) => held.push(resolve))
      inFlight--
    }
    await vfs.readdir('/')
    await waitFor(() => held.length === CONCURRENCY)
    const readA = vfs.readdir('/a') // /a is being prefetched: this waits for that listing, no second one
    // Released one at a time: /a's own subfolder (queued when /a's listing came) goes before /c, /d, /e.
    while (held.length > 0 || inFlight > 0 || listed(api).length < 11) {
      held.shift()?.()
      await new Promise((r) => setImmediate(r))
    }
    expect((await readA).map((e) => e.name).sort()).toEqual(['f.txt', 'inner'])
    expect(most).toBe(CONCURRENCY)
    expect(listed(api).filter((p) => p === '/a')).toHaveLength(1)
    expect([...listed(api)].sort()).toEqual(['/', '/a', '/a/inner', '/b', '/b/inner', '/c', '/c/inner', '/d', '/d/inner', '/e', '/e/inner'])
    expect(listed(api).indexOf('/a/inner')).toBeLessThan(listed(api).indexOf('/c'))
  })

  it('stops prefetching for a while after a prefetch fails (a 429 must not eat the rate limit of the next ones)', async () => {
    const api = tree()
    const { vfs, clock } = makeVfs(api, { dirPrefetch: 5 })
    api.listGate = async (query) => {
      if (query.path === '/a') throw new ImageKitError('IK_RATE_LIMITED', 'GET /v1/files: 429', { status: 429 })
    }
    await vfs.readdir('/')
    await waitFor(() => listed(api).includes('/a'))
    await new Promise((r) => setTimeout(r, 20))
    const afterFailure = listed(api).length
    expect(listed(api)).not.toContain('/c') // the queue was dropped
    api.listGate = undefined
    await vfs.readdir('/c') // read by the user: listed, but no prefetch of /c/inner
    await new Promise((r) => setTimeout(r, 20))
    expect(listed(api)).toHaveLength(afterFailure + 1)
    expect(listed(api)).not.toContain('/c/inner')
    clock.advance(PAUSE_AFTER_FAILURE_MS)
    await vfs.readdir('/d')
    await waitFor(() => listed(api).includes('/d/inner'))
  })
})
