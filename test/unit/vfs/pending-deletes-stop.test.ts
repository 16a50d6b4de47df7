/**
 * PendingDeletes (W8) stopping: an unmount (close) ends the background deletes' requests, whatever the client's
 * own retries would still wait (429 backoff), and leaves their notes for the next mount; a store waiting at the
 * gate that its caller gives up (an open for writing stops a background upload) stops waiting, and so does an
 * rmdir or folder rename waiting for the deletes in the folder (settledUnder) whose caller gives up.
 */
import { readdirSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { PendingDeletes } from '../../../src/vfs/pending-deletes.js'
import { makeClient, startServer, type TestServer } from '../imagekit/helpers.js'
import { FakeImageKit } from './fake-api.js'
import { memoryLogger, scratchDir, waitFor } from './helpers.js'

const servers: TestServer[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close()
})

/** A real client against a library that answers every request 429, its backoff sleeps on a clock that never moves. */
async function rateLimitedForEver() {
  const server = await startServer((_req, res) => {
    res.writeHead(429, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ message: 'Too many requests' }))
  })
  servers.push(server)
  const { client } = makeClient(server.url, { clock: new ManualClock() })
  const dir = scratchDir('pending-deletes-stop')
  const { logger } = memoryLogger()
  const deletes = new PendingDeletes(dir, { api: client, clock: new ManualClock(), log: logger, deleted: async () => undefined })
  return { server, client, dir, deletes }
}

describe('PendingDeletes.close', () => {
  for (const versionId of [undefined, 'version-1']) {
    it(`returns while the library answers 429 for ever (${versionId === undefined ? 'the delete' : 'the version check before it'}), the note left for the next mount`, async () => {
      const { server, client, dir, deletes } = await rateLimitedForEver()
      deletes.begin('file-x', '/a/x.jpg', async () => undefined, versionId)
      await waitFor(() => server.requests.length > 0)
      expect(server.requests[0]!.method).toBe(versionId === undefined ? 'DELETE' : 'GET')
      await deletes.close() // before: waited for the client's backoff (here never over)
      expect(deletes.has('file-x')).toBe(true)
      expect(readdirSync(dir)).toHaveLength(1)
      await client.close()
    })
  }

  it('sends a delete whose fetch the unmount stopped once, without the client\'s retries, the note left when it fails', async () => {
    const { server, client, dir, deletes } = await rateLimitedForEver()
    let stopFetch!: () => void
    deletes.begin('file-x', '/a/x.jpg', () => new Promise<void>((resolve) => (stopFetch = resolve)))
    const closed = deletes.close()
    stopFetch() // as unlinked-copies.ts close does before
    await closed
    expect(server.requests.map((r) => r.method)).toEqual(['DELETE'])
    expect(deletes.has('file-x')).toBe(true)
    expect(readdirSync(dir)).toHaveLength(1)
    await client.close()
  })
})

describe('PendingDeletes.gate', () => {
  it('a store whose caller gives up (its signal) stops waiting for the delete, rejected as aborted (IK_ABORTED, the reason its cause), and never reaches the api', async () => {
    const api = new FakeImageKit()
    const { logger } = memoryLogger()
    const deletes = new PendingDeletes(scratchDir('pending-deletes-stop'), { api, clock: new ManualClock(), log: logger, deleted: async () => undefined })
    let finish!: () => void
    deletes.begin('file-x', '/a/x.jpg', () => new Promise<void>((resolve) => (finish = resolve)))
    const gated = deletes.gated(api)
    const stop = new AbortController()
    const reason = new Error('superseded')
    const upload = gated.uploadFile({ folder: '/a', fileName: 'x.jpg', localFile: '/nonexistent' }, { signal: stop.signal })
    const gate = deletes.gate('/a/x.jpg', stop.signal)
    const asAborted = { code: 'IK_ABORTED', cause: reason }
    stop.abort(reason)
    await expect(upload).rejects.toMatchObject(asAborted)
    await expect(gate).rejects.toMatchObject(asAborted)
    expect(api.writeCalls.uploadFile ?? 0).toBe(0)
    // Already aborted: rejects at once as well.
    await expect(deletes.gate('/a/x.jpg', stop.signal)).rejects.toMatchObject(asAborted)
    // Without a signal (or with one not fired) it still waits for the delete.
    let passed = false
    const waiting = deletes.gate('/a/x.jpg', new AbortController().signal).then(() => (passed = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(passed).toBe(false)
    finish()
    await waiting
    expect(deletes.has('file-x')).toBe(false)
    await deletes.close()
  })
})

describe('PendingDeletes.settledUnder', () => {
  it('a caller that gives up (its signal) stops waiting for a delete retrying 429s, rejected as the gate is (IK_ABORTED, the reason its cause)', async () => {
    const { server, client, deletes } = await rateLimitedForEver()
    deletes.begin('file-x', '/a/b/x.jpg', async () => undefined)
    await waitFor(() => server.requests.length > 0)
    const stop = new AbortController()
    const reason = new Error('interrupted')
    let outcome: unknown = 'waiting'
    const waiting = deletes.settledUnder('/a', stop.signal).then(() => (outcome = 'settled'), (e: unknown) => (outcome = e))
    await new Promise((resolve) => setImmediate(resolve))
    expect(outcome).toBe('waiting') // the delete is still under way
    stop.abort(reason)
    await waitFor(() => outcome !== 'waiting') // before: waited for the delete, here for ever
    await waiting
    expect(outcome).toMatchObject({ code: 'IK_ABORTED', cause: reason })
    // Already aborted: rejects at once as well; another folder's wait is not held by it.
    await expect(deletes.settledUnder('/a/b', stop.signal)).rejects.toMatchObject({ code: 'IK_ABORTED', cause: reason })
    await deletes.settledUnder('/c', new AbortController().signal)
    expect(deletes.has('file-x')).toBe(true)
    await deletes.close()
    await client.close()
  })

  it('rejects at unmount while the delete in the folder retries 429s, as the gate does (the note stays for the next mount)', async () => {
    const { server, client, dir, deletes } = await rateLimitedForEver()
    deletes.begin('file-x', '/a/b/x.jpg', async () => undefined)
    await waitFor(() => server.requests.length > 0)
    const settled = deletes.settledUnder('/a')
    const gated = deletes.gate('/a/b/x.jpg')
    const ended = deletes.endAt('/a/b/x.jpg')
    await deletes.close()
    await expect(settled).rejects.toMatchObject({ code: 'IK_NETWORK' })
    await expect(gated).rejects.toMatchObject({ code: 'IK_NETWORK' })
    await expect(ended).rejects.toMatchObject({ code: 'IK_NETWORK' })
    expect(readdirSync(dir)).toHaveLength(1)
    await client.close()
  })
})
