/**
 * A folder job that ended is read from the folders (folder-job.ts): ImageKit says nothing of why a job failed,
 * and documents no failure state, so a job racing another machine's change may fail or complete having moved
 * nothing. Its rename then fails as on a local disk: ENOENT when the source is gone, EEXIST when the target
 * was made meanwhile, with a log line saying which.
 */
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { runFolderJob } from '../../../src/vfs/folder-job.js'
import { fromImageKitError } from '../../../src/vfs/from-imagekit-error.js'
import { FakeImageKit } from './fake-api.js'
import { memoryLogger } from './helpers.js'

const failed = () => Promise.reject(new ImageKitError('IK_JOB_FAILED', 'POST /v1/bulkJobs/renameFolder job j: ended as Failed'))
const completed = () => Promise.resolve()

async function outcome(folders: string[], start: () => Promise<unknown>, files: string[] = []): Promise<{ code: string; lines: string[] }> {
  const api = new FakeImageKit()
  for (const folder of folders) api.addFolder(folder)
  for (const file of files) api.addFile(file, 3)
  const { logger, lines } = memoryLogger()
  const code = await runFolderJob({ api, clock: new ManualClock(), log: logger }, start, '/d', '/e').then(
    () => 'ok',
    (e: unknown) => fromImageKitError(e, { op: 'rename folder', target: '/d' }).code,
  )
  return { code, lines }
}

describe('a folder job that ended, read from the folders', () => {
  it.each([['failed', failed], ['completed', completed]] as const)('%s, its source gone and no target: ENOENT, logged', async (_, start) => {
    const { code, lines } = await outcome([], start)
    expect(code).toBe('ENOENT') // was EIO (failed) or success (completed)
    expect(lines.join('\n')).toMatch(/"from":"\/d"[^\n]*the folder job moved nothing: its source folder is gone/)
  })

  it.each([['failed', failed], ['completed', completed]] as const)('%s, its source there and its target too: EEXIST, logged', async (_, start) => {
    const { code, lines } = await outcome(['/d', '/e'], start)
    expect(code).toBe('EEXIST') // was EIO (failed) or success (completed)
    expect(lines.join('\n')).toMatch(/"to":"\/e"[^\n]*the folder job moved nothing: its target is taken/)
  })

  it.each([['failed', failed], ['completed', completed]] as const)('%s, its source there and a file at the target\'s name: EEXIST', async (_, start) => {
    expect((await outcome(['/d'], start, ['/e'])).code).toBe('EEXIST') // was EIO (failed) or success (completed)
  })

  it.each([['failed', failed], ['completed', completed]] as const)('%s, its source gone and its target there: the move holds', async (_, start) => {
    expect((await outcome(['/e'], start)).code).toBe('ok')
  })

  it('failed with its source there and no target: the failure stands (EIO)', async () => {
    expect((await outcome(['/d'], failed)).code).toBe('EIO')
  })

  it('completed with its source there and no target (a listing behind the job): the job is taken at its word, with a warning', async () => {
    const { code, lines } = await outcome(['/d'], completed)
    expect(code).toBe('ok')
    expect(lines.join('\n')).toMatch(/read Completed but the listings still show its source and not its target/)
  })
})
