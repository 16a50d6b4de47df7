/**
 * PendingDeletes (src/vfs/pending-deletes.ts) on its own: `gated(api)` holds the calls that store a file at a
 * path while a delete there is under way and passes every other call straight on; `resume()` takes up the
 * notes a crash left and removes the unreadable ones.
 */
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import type { ImageKitApi } from '../../../src/imagekit/api.js'
import { PendingDeletes } from '../../../src/vfs/pending-deletes.js'
import { memoryLogger, scratchDir, waitFor } from './helpers.js'

/** The calls that store a file at a path, with that path (/a/x.jpg each). */
const GATED = {
  uploadFile: (api: ImageKitApi) => api.uploadFile({ folder: '/a', fileName: 'x.jpg', localFile: '/nonexistent' }),
  uploadFileStream: (api: ImageKitApi) => api.uploadFileStream({ folder: '/a', fileName: 'x.jpg', body: (async function* () {})() }),
  renameFile: (api: ImageKitApi) => api.renameFile('/a/old.jpg', 'x.jpg'),
  moveFile: (api: ImageKitApi) => api.moveFile('/b/x.jpg', '/a'),
  copyFile: (api: ImageKitApi) => api.copyFile('/b/x.jpg', '/a'),
} satisfies Partial<Record<keyof ImageKitApi, (api: ImageKitApi) => Promise<unknown>>>

/**
 * An ImageKitApi whose every method records its call and answers at once with an object of its own. Its
 * methods live on the class and read a private field, as ImageKitClient's do: a wrapper that copies own
 * properties only, or calls them with another `this`, fails here.
 */
class RecordingApi implements ImageKitApi {
  readonly #calls: { method: string; args: unknown[]; answer: object }[] = []
  get calls(): readonly { method: string; args: unknown[]; answer: object }[] {
    return this.#calls
  }
  #answer(method: string, args: unknown[]): never {
    const answer = { answerOf: method }
    this.#calls.push({ method, args, answer })
    return Promise.resolve(answer) as never
  }
  listFiles(...args: unknown[]): never {
    const answer = { answerOf: 'listFiles' }
    this.#calls.push({ method: 'listFiles', args, answer })
    return answer as never
  }
  getFileDetails(...args: unknown[]): never { return this.#answer('getFileDetails', args) }
  listFileVersions(...args: unknown[]): never { return this.#answer('listFileVersions', args) }
  getAccountUsage(...args: unknown[]): never { return this.#answer('getAccountUsage', args) }
  deliveryUrl(...args: unknown[]): never {
    this.#calls.push({ method: 'deliveryUrl', args, answer: {} })
    return 'https://ik.invalid/a/x.jpg' as never
  }
  readRange(...args: unknown[]): never { return this.#answer('readRange', args) }
  uploadFile(...args: unknown[]): never { return this.#answer('uploadFile', args) }
  uploadFileStream(...args: unknown[]): never { return this.#answer('uploadFileStream', args) }
  deleteFile(...args: unknown[]): never { return this.#answer('deleteFile', args) }
  renameFile(...args: unknown[]): never { return this.#answer('renameFile', args) }
  moveFile(...args: unknown[]): never { return this.#answer('moveFile', args) }
  copyFile(...args: unknown[]): never { return this.#answer('copyFile', args) }
  updateFileDetails(...args: unknown[]): never { return this.#answer('updateFileDetails', args) }
  createFolder(...args: unknown[]): never { return this.#answer('createFolder', args) }
  deleteFolder(...args: unknown[]): never { return this.#answer('deleteFolder', args) }
  renameFolder(...args: unknown[]): never { return this.#answer('renameFolder', args) }
  moveFolder(...args: unknown[]): never { return this.#answer('moveFolder', args) }
}

const open: PendingDeletes[] = []
/** The held fetches (their close waits for them, as unmount stops the real ones first). */
const held: (() => void)[] = []
afterEach(async () => {
  for (const finish of held.splice(0)) finish()
  for (const deletes of open.splice(0)) await deletes.close()
})

function pendingDeletes(api: ImageKitApi): { deletes: PendingDeletes; dir: string; records: Record<string, unknown>[] } {
  const dir = scratchDir('pending-deletes')
  const { logger, records } = memoryLogger()
  const deletes = new PendingDeletes(dir, { api, clock: new ManualClock(), log: logger, deleted: async () => undefined })
  open.push(deletes)
  return { deletes, dir, records }
}

/** A delete of /a/x.jpg under way until `finish` is called (its fetch for the readers is held). */
function deleteUnderWay(deletes: PendingDeletes): { finish: () => void } {
  let finish!: () => void
  const fetched = new Promise<void>((resolve) => (finish = resolve))
  held.push(finish)
  deletes.begin('file-x', '/a/x.jpg', () => fetched)
  return { finish }
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('PendingDeletes.gated', () => {
  it('every call that stores nothing at a path reaches the api at once, with its arguments and its answer, while a delete is under way', async () => {
    const api = new RecordingApi()
    const { deletes } = pendingDeletes(api)
    deleteUnderWay(deletes)
    const gated = deletes.gated(api)
    // Every method of the api the gate does not hold, found from the class: a method added to ImageKitApi
    // (which RecordingApi must then implement) is checked here without this test being changed.
    const methods = Object.getOwnPropertyNames(RecordingApi.prototype)
      .filter((m) => m !== 'constructor' && m !== 'calls' && !(m in GATED))
    expect(methods).toHaveLength(12)
    for (const method of methods) {
      const args = ['/a/x.jpg', '/a', { signal: undefined }]
      const answer = (gated as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args)
      const call = api.calls.at(-1)!
      expect(call.method).toBe(method)
      // Its arguments, up to the method's own (a wrapper may pass just those, options left undefined).
      const passed = call.args.filter((a) => a !== undefined)
      expect(passed.length).toBeGreaterThan(0)
      expect(passed).toEqual(args.slice(0, passed.length))
      if (method === 'deliveryUrl') expect(answer).toBe('https://ik.invalid/a/x.jpg')
      else if (method === 'listFiles') expect(answer).toBe(call.answer)
      else expect(await answer).toBe(call.answer)
    }
  })

  it('a call that stores a file at the path of a delete under way waits until the delete is done; one at another path does not', async () => {
    const api = new RecordingApi()
    const { deletes } = pendingDeletes(api)
    const { finish } = deleteUnderWay(deletes)
    const gated = deletes.gated(api)
    const stores = Object.values(GATED).map((store) => store(gated))
    await gated.uploadFile({ folder: '/a', fileName: 'y.jpg', localFile: '/nonexistent' })
    await settle()
    expect(api.calls.map((c) => c.method)).toEqual(['uploadFile'])
    expect(api.calls[0]!.args[0]).toMatchObject({ fileName: 'y.jpg' })

    finish()
    const answers = await Promise.all(stores)
    expect(api.calls.map((c) => c.method)).toEqual(['uploadFile', 'deleteFile', ...Object.keys(GATED)])
    expect(answers).toEqual(api.calls.slice(2).map((c) => c.answer))
    expect(deletes.size).toBe(0)
  })

  it('two deletes at one path (another file unlinked there too): a store there waits for both, and it is under way until both are done', async () => {
    const api = new RecordingApi()
    const { deletes } = pendingDeletes(api)
    const { finish: finishX } = deleteUnderWay(deletes)
    let finishY!: () => void
    const fetchedY = new Promise<void>((resolve) => (finishY = resolve))
    held.push(finishY)
    deletes.begin('file-y', '/a/x.jpg', () => fetchedY)
    const store = GATED.uploadFile(deletes.gated(api))
    expect(deletes.underWayAt('/a/x.jpg')).toBe(true)
    expect(deletes.underWayAt('/a/y.jpg')).toBe(false)
    finishX()
    await waitFor(() => !deletes.has('file-x'))
    await settle()
    expect(deletes.underWayAt('/a/x.jpg')).toBe(true)
    expect(deletes.endAt('/a/x.jpg')).toBeDefined()
    expect(api.calls.map((c) => c.method)).toEqual(['deleteFile'])
    finishY()
    await store
    expect(api.calls.map((c) => c.method)).toEqual(['deleteFile', 'deleteFile', 'uploadFile'])
    expect(deletes.underWayAt('/a/x.jpg')).toBe(false)
    expect(deletes.endAt('/a/x.jpg')).toBeUndefined()
  })

  it('a method replaced on the api after gated() is the one its calls reach', async () => {
    const api = new RecordingApi()
    const { deletes } = pendingDeletes(api)
    const gated = deletes.gated(api)
    const replaced: unknown[] = []
    Object.assign(api, { getFileDetails: async (...args: unknown[]) => replaced.push(args) })
    await gated.getFileDetails('file-y')
    expect(replaced.map((args) => (args as unknown[])[0])).toEqual(['file-y'])
    expect(api.calls).toEqual([])
  })
})

describe('PendingDeletes.resume', () => {
  it('takes up each readable note (hidden, then deleted, then the note goes) and removes a torn note, a .tmp and a note without a path', async () => {
    const api = new RecordingApi()
    const { deletes, dir, records } = pendingDeletes(api)
    writeFileSync(join(dir, 'n1.json'), `${JSON.stringify({ v: 1, fileId: 'file-1', path: '/a/one.jpg' })}\n`)
    writeFileSync(join(dir, 'n2.json'), '{"v":1,"fileId":"file-2","pa')
    writeFileSync(join(dir, 'n3.json.tmp'), `${JSON.stringify({ v: 1, fileId: 'file-3', path: '/a/three.jpg' })}\n`)
    writeFileSync(join(dir, 'n4.json'), `${JSON.stringify({ v: 1, fileId: 'file-4', path: 'a/four.jpg' })}\n`)
    deletes.resume()
    expect(deletes.has('file-1')).toBe(true)
    expect(deletes.size).toBe(1)
    expect(records.filter((r) => /not deleted from the library yet/.test(String(r.msg))).map((r) => r.fileId)).toEqual(['file-1'])
    await waitFor(() => deletes.size === 0)
    expect(api.calls.map((c) => [c.method, c.args[0]])).toEqual([['deleteFile', 'file-1']])
    expect(readdirSync(dir)).toEqual([])
  })
})
