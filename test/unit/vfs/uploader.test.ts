/** The upload queue's unmount drain: one line per file it waits for, saying what becomes of it. */
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { PendingFile } from '../../../src/vfs/file-node.js'
import { Counters } from '../../../src/vfs/stats.js'
import { Uploader } from '../../../src/vfs/upload/uploader.js'
import { captureLogger } from '../fuse/log-capture.js'

function pending(name: string): PendingFile {
  const file = new PendingFile(name, `/spool/${name}`, '/', name, `/${name}`, 2, 10, 0, 0, undefined)
  file.unsent = true
  return file
}

describe('Uploader.drain (unmount)', () => {
  it('says which uploads landed, which the next mount retries, and which are refused for good', async () => {
    const { logger, records } = captureLogger()
    let finish!: () => void
    const gate = new Promise<void>((resolve) => (finish = resolve))
    const outcome: Record<string, () => Promise<boolean>> = {
      'ok.bin': async () => true,
      'flaky.bin': async () => { throw new ImageKitError('IK_SERVER', 'POST /api/v1/files/upload: 503') },
      'huge.bin': async () => { throw new ImageKitError('IK_TOO_LARGE', 'POST /api/v1/files/upload: 400 too large') },
    }
    const uploader = new Uploader({
      clock: new ManualClock(), log: logger, counters: new Counters(), maxParallel: 4,
      perform: async (file) => {
        await gate
        return outcome[file.name]!()
      },
      persist: async () => undefined,
    })
    const files = Object.keys(outcome).map(pending)
    const uploads = files.map((file) => uploader.upload(file).catch(() => undefined))
    const draining = uploader.drain()
    finish()
    await draining
    await Promise.all(uploads)
    uploader.close()
    const said = (name: string) => records.filter((r) => r.path === `/${name}` && r.msg.includes('before unmount')).map((r) => r.msg)
    expect(said('ok.bin')).toEqual(['waiting for this upload before unmounting', 'upload done before unmount'])
    expect(said('flaky.bin')).toEqual(['waiting for this upload before unmounting', 'upload failed before unmount; the next mount of this library (same --endpoint) with this cache dir retries it'])
    expect(said('huge.bin')).toEqual([
      'waiting for this upload before unmounting',
      'upload refused before unmount (larger than the account allows); the file stays in the spool, not retried',
    ])
  })

  it('names the files whose upload failed earlier and now waits for a retry, which the next mount finishes', async () => {
    const { logger, records } = captureLogger()
    const failing = new Set(['flaky.bin', 'huge.bin'])
    const uploader = new Uploader({
      clock: new ManualClock(), log: logger, counters: new Counters(), maxParallel: 4,
      perform: async (file) => {
        if (!failing.has(file.name)) return true
        throw file.name === 'huge.bin'
          ? new ImageKitError('IK_TOO_LARGE', 'POST /api/v1/files/upload: 400 too large')
          : new ImageKitError('IK_NETWORK', 'POST /api/v1/files/upload: connection refused')
      },
      persist: async () => undefined,
    })
    for (const file of ['flaky.bin', 'huge.bin'].map(pending)) await uploader.upload(file).catch(() => undefined)
    await uploader.drain()
    uploader.close()
    const said = (name: string) => records.filter((r) => r.path === `/${name}` && r.msg.includes('before unmount')).map((r) => r.msg)
    expect(said('flaky.bin')).toEqual(['upload failed and not retried before unmount; the file stays in the spool, and the next mount of this library (same --endpoint) with this cache dir retries it'])
    expect(records.find((r) => r.path === '/flaky.bin' && r.msg.startsWith('upload failed and not retried'))).toMatchObject({ lastError: 'IK_NETWORK', attempts: 1 })
    expect(records.filter((r) => r.path === '/huge.bin' && r.msg.startsWith('upload refused earlier')).length).toBe(1)
  })
})

/** Time as systemClock keeps it, by hand: a sleep whose signal aborts is gone (its timer cleared), as setTimeout's. */
class CountingClock extends ManualClock {
  live = 0
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error)
    this.live++
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.live--
        reject(signal?.reason as Error)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      void super.sleep(ms).then(() => {
        if (signal?.aborted) return
        signal?.removeEventListener('abort', onAbort)
        this.live--
        resolve()
      })
    })
  }
}

describe('Uploader timers', () => {
  it('a file closed again and again within its --write-back delay has one timer, not one per close', async () => {
    const clock = new CountingClock()
    const { logger } = captureLogger()
    let uploads = 0
    const uploader = new Uploader({
      clock, log: logger, counters: new Counters(), maxParallel: 4,
      perform: async () => {
        uploads++
        return true
      },
      persist: async () => undefined,
    })
    const file = pending('appended.log')
    for (let i = 0; i < 100; i++) {
      uploader.schedule(file, 5 * 60_000) // each close of a log file appended to line by line
      clock.advance(1000)
    }
    expect(clock.live).toBe(1)
    uploader.cancel(file) // an unlink: nothing is left to wait for
    expect(clock.live).toBe(0)
    uploader.schedule(file, 5 * 60_000)
    clock.advance(5 * 60_000)
    await new Promise((resolve) => setImmediate(resolve))
    expect([uploads, clock.live]).toEqual([1, 0])
    uploader.schedule(file, 5 * 60_000)
    uploader.close() // unmount
    expect(clock.live).toBe(0)
  })
})
