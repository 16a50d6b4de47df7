/**
 * Background deletes (W8, pending-deletes.ts): the delete of a file unlinked while open for reading takes only
 * what was unlinked. Another machine's upload to the path after the unlink is a new version of the same file
 * (ImageKit), which a delete by id would take with it: the file is then left.
 */
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { PendingDeletes } from '../../../src/vfs/pending-deletes.js'
import { captureLogger } from '../fuse/log-capture.js'
import { FakeImageKit } from './fake-api.js'
import { scratchDir } from './helpers.js'

function setUp() {
  const api = new FakeImageKit()
  const { logger, records } = captureLogger()
  const forgotten: string[] = []
  const dir = scratchDir('deletes')
  const make = () => new PendingDeletes(dir, {
    api, clock: new ManualClock(), log: logger,
    deleted: async (fileId) => void forgotten.push(fileId),
  })
  return { api, records, forgotten, dir, make }
}

describe('PendingDeletes: what the delete takes (W8)', () => {
  it('deletes the file while the version unlinked is still its current one', async () => {
    const { api, forgotten, dir, make } = setUp()
    const file = api.addFile('/a/played.bin', Buffer.from('old'))
    const deletes = make()
    deletes.begin(file.fileId, '/a/played.bin', async () => undefined, file.versionInfo.id)
    await deletes.gate('/a/played.bin')
    expect(api.fileAt('/a/played.bin')).toBeUndefined()
    expect(forgotten).toEqual([file.fileId])
    expect(readdirSync(dir)).toEqual([])
    await deletes.close()
  })

  it('leaves the file when another machine uploaded to its path after the unlink (a new version of it), and says so once', async () => {
    const { api, records, forgotten, dir, make } = setUp()
    const file = api.addFile('/a/played.bin', Buffer.from('old'))
    const deletes = make()
    // The upload lands while the bytes are fetched for the readers, before the delete.
    deletes.begin(file.fileId, '/a/played.bin', async () => {
      api.overwrite('/a/played.bin', Buffer.from('theirs'), new Date(Date.now() + 1000).toISOString())
    }, file.versionInfo.id)
    expect(deletes.has(file.fileId)).toBe(true) // hidden meanwhile
    await deletes.gate('/a/played.bin')
    const now = api.fileAt('/a/played.bin')
    expect(now?.bytes.toString()).toBe('theirs')
    expect(now?.obj.fileId).toBe(file.fileId)
    expect(now?.versions).toBe(2)
    expect(api.writeCalls.deleteFile).toBe(0)
    expect(forgotten).toEqual([]) // nothing of it forgotten: the next listing shows it again
    expect(deletes.has(file.fileId)).toBe(false)
    expect(readdirSync(dir)).toEqual([])
    const said = records.filter((r) => (r as { fileId?: string }).fileId === file.fileId && r.msg.includes('was not deleted'))
    expect(said).toHaveLength(1)
    expect(said[0]).toMatchObject({ level: 30, path: '/a/played.bin', unlinkedVersion: file.versionInfo.id })
    await deletes.close()
  })

  it('a note the next mount finds does the same; one written before versions were noted deletes the file as before', async () => {
    const { api, forgotten, dir, make } = setUp()
    const kept = api.addFile('/a/kept.bin', Buffer.from('old'))
    const old = api.addFile('/a/old-note.bin', Buffer.from('old'))
    writeFileSync(join(dir, '0000000000000001.json'), JSON.stringify({ v: 1, fileId: kept.fileId, path: '/a/kept.bin', versionId: kept.versionInfo.id }) + '\n')
    writeFileSync(join(dir, '0000000000000002.json'), JSON.stringify({ v: 1, fileId: old.fileId, path: '/a/old-note.bin' }) + '\n')
    api.overwrite('/a/kept.bin', Buffer.from('theirs'), new Date(Date.now() + 1000).toISOString())
    api.overwrite('/a/old-note.bin', Buffer.from('theirs'), new Date(Date.now() + 1000).toISOString())
    const deletes = make()
    deletes.resume()
    await deletes.gate('/a/kept.bin')
    await deletes.gate('/a/old-note.bin')
    expect(api.fileAt('/a/kept.bin')?.bytes.toString()).toBe('theirs')
    expect(api.fileAt('/a/old-note.bin')).toBeUndefined()
    expect(forgotten).toEqual([old.fileId])
    expect(readdirSync(dir)).toEqual([])
    await deletes.close()
  })

  it('a file found gone already (deleted elsewhere) counts as deleted', async () => {
    const { api, forgotten, make } = setUp()
    const file = api.addFile('/a/gone.bin', Buffer.from('old'))
    const deletes = make()
    deletes.begin(file.fileId, '/a/gone.bin', async () => api.removeFile('/a/gone.bin'), file.versionInfo.id)
    await deletes.gate('/a/gone.bin')
    expect(forgotten).toEqual([file.fileId])
    expect(api.writeCalls.deleteFile).toBe(0)
    await deletes.close()
  })
})
