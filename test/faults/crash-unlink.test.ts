// W8 after a crash: `rm` of a file with a stored version whose new content waits in the spool for its upload
// (here --write-back) deletes it remotely, then forgets it in the spool. The daemon is killed with SIGKILL in
// between (a proxy passes the delete on and holds its answer): a new mount with the same --cache-dir must not
// upload the file back. Nor, the delete not sent before the kill, delete a version another machine stored at the name since.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { fuseSkipReason, mountLibrary, remoteEntries, waitFor, type Library } from '../integration/harness.js'
import { useFaultRig } from './rig.js'

const skip = fuseSkipReason()
if (skip) console.warn(`skipping crash unlink test: ${skip}`)

/**
 * Passes every request on to `target`; the answers to file deletes are held back (the delete is done), or with
 * `holdRequests` the deletes themselves (never done: the daemon dies before the library is asked).
 */
async function holdDeleteAnswers(target: string, holdRequests = false): Promise<{ url: string; deletesDone: () => number; close(): Promise<void> }> {
  const to = new URL(target)
  let deletesDone = 0
  const server: Server = createServer((req, res) => {
    const holdAnswer = req.method === 'DELETE' && /^\/v1\/files\/[^/]+$/.test(req.url ?? '')
    if (holdAnswer && holdRequests) {
      deletesDone++
      req.resume()
      return
    }
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (holdAnswer) {
        deletesDone++
        answer.resume()
        return
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    up.once('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deletesDone: () => deletesDone,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}

describe.skipIf(skip !== null)('kill -9 during an unlink', () => {
  const rig = useFaultRig('ikfs-faults-unlink-')
  let lib: Library
  let work: string
  beforeAll(() => ({ lib, work } = rig))

  /**
   * `FOLDER/f.txt` written anew (waiting in the spool: write-back), then `rm`: the daemon is killed (-9) during the
   * library's delete, whose answer the proxy holds back (done in the library), or (`beforeSending`) whose request
   * it holds back (never reaching the library).
   */
  async function rmThenKill9(cache: string, folder: string, beforeSending: boolean): Promise<void> {
    const proxy = await holdDeleteAnswers(lib.url, beforeSending)
    const first = await mountLibrary(lib, { args: ['--api-url', proxy.url, '--cache-dir', cache, '--write-back', '10m', '--dir-cache-time', '5m'] })
    try {
      await writeFile(join(first.path, folder, 'f.txt'), 'new content, waiting for its upload\n')
      const rm = new Promise<void>((resolve) => execFile('rm', [join(first.path, folder, 'f.txt')], { timeout: 60_000 }, () => resolve()))
      await waitFor(() => proxy.deletesDone() === 1, 20_000, 'the remote delete asked')
      first.kill9()
      expect(await first.waitExit(10_000)).toBeNull()
      await rm
    } finally {
      await first.stop()
      await proxy.close()
    }
  }

  it('W8: a file unlinked while its next upload waited does not come back after a kill -9 between the remote delete and the spool', async () => {
    const cache = join(work, 'cache')
    await lib.upload('/gone', 'f.txt', Buffer.from('stored\n'))
    await lib.upload('/gone', 'other.txt', Buffer.from('keeps the folder\n'))
    await rmThenKill9(cache, 'gone', false)
    expect((await remoteEntries(lib, '/gone')).map((e) => e.name)).toEqual(['other.txt'])

    // The spool is recovered at start, and a stop waits for the uploads it resumed (W3).
    const second = await rig.mount(['--cache-dir', cache])
    expect(await second.stop()).toBe(0)
    expect((await remoteEntries(lib, '/gone')).map((e) => e.name)).toEqual(['other.txt'])
  })
  it('W8: the next mount leaves the file when another machine stored a version at its path after a kill -9 before the remote delete', async () => {
    const cache = join(work, 'cache-theirs')
    await lib.upload('/kept', 'f.txt', Buffer.from('stored\n'))
    await rmThenKill9(cache, 'kept', true)
    // Another machine stores a file at the name meanwhile: a new version of the same file in ImageKit.
    const before = await lib.details('/kept/f.txt')
    const theirs = await lib.upload('/kept', 'f.txt', Buffer.from('theirs\n'))
    expect(theirs.fileId).toBe(before.fileId)

    const second = await rig.mount(['--cache-dir', cache])
    // The unlink is finished: handed to the background deletes, which find another version current.
    await waitFor(() => second.log().includes('gained a version since the unlink'), 20_000, 'the version check')
    expect(await second.stop()).toBe(0)
    // Before: the next mount deleted the file by its id, their version with it ('no file /kept/f.txt').
    const now = await lib.details('/kept/f.txt')
    expect(now.versionInfo.id).toBe(theirs.versionInfo.id)
    expect((await lib.get(now.url)).body.toString()).toBe('theirs\n')
  })
})
