/** The upload queue's unmount drain: one line per file it waits for, saying what becomes of it. */
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { errorFromStatus } from '../../../src/imagekit/http.js'
import { PendingFile } from '../../../src/vfs/file-node.js'
import { Counters } from '../../../src/vfs/stats.js'
import { tooLargeNote, Uploader } from '../../../src/vfs/upload/uploader.js'
import { stillTooLarge } from '../../../src/vfs/spool/record.js'
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
      'refused.bin': async () => { throw new ImageKitError('IK_BAD_REQUEST', 'POST /api/v1/files/upload: 400 A file can have at most 100 versions.', { status: 400 }) },
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
    // Over the size limit, the next mount does not send it again (W6); another refusal it tries once more (W3).
    expect(said('huge.bin')).toEqual([
      'waiting for this upload before unmounting',
      'upload refused before unmount: the file is larger than the account allows; it stays in the spool, and is not tried again until it is written again or renamed (not at the next mount either)',
    ])
    expect(said('refused.bin')).toEqual([
      'waiting for this upload before unmounting',
      'upload refused before unmount; the file stays in the spool, and the next mount of this library with this cache dir tries it once more',
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

describe('Uploader.drain: a file refused as too large', () => {
  it('is said to be tried once more at the next mount when it was cut below the size it was refused at since (the rule replay.ts follows)', async () => {
    const { logger, records } = captureLogger()
    const uploader = new Uploader({
      clock: new ManualClock(), log: logger, counters: new Counters(), maxParallel: 4,
      perform: async () => { throw new ImageKitError('IK_TOO_LARGE', 'POST /api/v1/files/upload: 400 too large') },
      persist: async () => undefined,
    })
    const [cut, still] = ['cut.bin', 'still.bin'].map(pending)
    for (const file of [cut!, still!]) await uploader.upload(file).catch(() => undefined)
    expect(cut!.tooLarge).toEqual({ size: 10 })
    // An open for writing truncates it (its state stays rejected until its close commits): the next mount's
    // replay sizes its spool file, finds it below what was refused, and sends it again.
    cut!.size = 4
    expect(cut!.status().keptRejectedAtMount).toBeUndefined()
    expect(still!.status().keptRejectedAtMount).toBe(true)
    await uploader.drain()
    uploader.close()
    const said = (name: string) => records.filter((r) => r.path === `/${name}` && r.msg.startsWith('upload refused earlier')).map((r) => r.msg)
    expect(said('cut.bin')).toEqual(['upload refused earlier by the library; the file stays in the spool, and the next mount of this library with this cache dir tries it once more'])
    expect(said('still.bin')).toEqual(['upload refused earlier: the file is larger than the account allows; it stays in the spool, and is not tried again until it is written again or renamed (not at the next mount either)'])
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

/** Lets every promise chain that a clock step woke run to its next wait. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** An upload answered like a library that is down (after the client's own retries). */
function outageError(): ImageKitError {
  return new ImageKitError('IK_SERVER', 'POST /api/v1/files/upload: 503', { status: 503, retriable: true })
}

describe('Uploader during an outage (W3)', () => {
  // Before: each of 200 pending files retried on its own backoff (5 s, 10 s, 20 s, …): 200 attempts at once,
  // then 200 more at each step, against a library that was down (800 attempts in a minute).
  it('200 pending files wait on one probe while the library is down, then all go up, a few at a time', async () => {
    const clock = new ManualClock()
    const { logger } = captureLogger()
    let down = true
    let attempts = 0
    let inFlight = 0
    let maxInFlight = 0
    const uploader = new Uploader({
      clock, log: logger, counters: new Counters(), maxParallel: 8,
      perform: async (file) => {
        attempts++
        maxInFlight = Math.max(maxInFlight, ++inFlight)
        await new Promise((resolve) => setImmediate(resolve))
        inFlight--
        if (down) throw outageError()
        file.unsent = false
        return true
      },
      persist: async () => undefined,
    })
    const files = Array.from({ length: 200 }, (_, i) => pending(`f${i}.bin`))
    for (const file of files) uploader.schedule(file, 0) // write-back, or the spool's files at mount
    for (let t = 0; t < 60_000; t += 100) {
      clock.advance(100)
      await settle()
    }
    // The 8 attempts in flight when the outage began, then one probe per backoff step: the steps are at least
    // 2.5 s, 5 s, 10 s and 20 s (5 s doubling, half of it jitter), so at most 4 probes fit in the minute.
    expect(attempts).toBeGreaterThan(8)
    expect(attempts).toBeLessThanOrEqual(8 + 4)
    expect(files.every((f) => f.unsent)).toBe(true)
    expect(uploader.timers).toBeLessThanOrEqual(1) // one probe timer, not one per file
    down = false
    for (let t = 0; t < 5 * 60_000 && files.some((f) => f.unsent); t += 100) {
      clock.advance(100)
      await settle()
    }
    expect(files.filter((f) => f.unsent)).toEqual([])
    expect(maxInFlight).toBeLessThanOrEqual(8)
    uploader.close()
  })

  it('unmount names the files that wait for the library, untried, and leaves them to the next mount', async () => {
    const clock = new ManualClock()
    const { logger, records } = captureLogger()
    let attempts = 0
    const uploader = new Uploader({
      clock, log: logger, counters: new Counters(), maxParallel: 1,
      perform: async () => {
        attempts++
        throw outageError()
      },
      persist: async () => undefined,
    })
    await uploader.upload(pending('first.bin')).catch(() => undefined) // a close's upload finds the library down
    const later = pending('later.bin')
    uploader.schedule(later, 1000) // a write-back, due while the library is still down
    clock.advance(1000)
    await settle()
    await uploader.drain()
    uploader.close()
    expect(attempts).toBe(1)
    expect(records.filter((r) => r.path === '/later.bin').map((r) => r.msg)).toEqual([
      'upload waits for the library to answer again and is not tried before unmount; the file stays in the spool, and the next mount of this library (same --endpoint) with this cache dir retries it',
    ])
    expect(records.filter((r) => r.path === '/first.bin' && r.msg.startsWith('upload failed and not retried before unmount'))).toHaveLength(1)
  })

  it('the probe is the smallest waiting file not probed yet in this outage: a failing probe sends little, and none is probed twice in a row', async () => {
    const clock = new ManualClock()
    const { logger } = captureLogger()
    const sent: string[] = []
    const uploader = new Uploader({
      clock, log: logger, counters: new Counters(), maxParallel: 4,
      perform: async (file) => {
        sent.push(file.name)
        throw outageError()
      },
      persist: async () => undefined,
    })
    const files = [['big.bin', 3_000_000], ['small.bin', 10], ['mid.bin', 5_000]] as const
    for (const [name, size] of files) {
      const file = pending(name)
      file.size = size
      uploader.schedule(file, 0)
    }
    for (let t = 0; t < 5 * 60_000 && sent.length < 7; t += 500) {
      clock.advance(500)
      await settle()
    }
    uploader.close()
    // All three were in flight when the library went down; then one probe at a time, smallest first, each in turn.
    expect(sent.slice(3)).toEqual(['small.bin', 'mid.bin', 'big.bin', 'small.bin'])
  })

  it('a probe that finds no file waiting (they were deleted) is sent with the next one that comes, not a whole backoff later', async () => {
    const clock = new ManualClock()
    const { logger } = captureLogger()
    let down = true
    const sentAt: number[] = []
    const uploader = new Uploader({
      clock, log: logger, counters: new Counters(), maxParallel: 2,
      perform: async (file) => {
        sentAt.push(clock.now())
        if (down) throw outageError()
        file.unsent = false
        return true
      },
      persist: async () => undefined,
    })
    // An outage of minutes: the probes fail, the backoff grows to its cap.
    const gone = pending('gone.bin')
    uploader.schedule(gone, 0)
    for (let t = 0; t < 20 * 60_000; t += 1000) {
      clock.advance(1000)
      await settle()
    }
    // The file is deleted (unlink cancels its upload) and the library comes back; the probe time passes.
    uploader.cancel(gone)
    down = false
    for (let t = 0; t < 6 * 60_000; t += 1000) {
      clock.advance(1000)
      await settle()
    }
    // A file written now, with --write-back: its upload is the probe, sent when it comes due.
    const next = pending('next.bin')
    uploader.schedule(next, 5000)
    const dueAt = clock.now() + 5000
    for (let t = 0; t < 10_000; t += 1000) {
      clock.advance(1000)
      await settle()
    }
    uploader.close()
    // Sent at the first clock step after it came due (a backoff at its cap was 2.5 to 5 min more).
    expect(sentAt.filter((ms) => ms >= dueAt).map((ms) => ms - dueAt)).toEqual([1000])
    expect(next.unsent).toBe(false)
  })

  it('a 429 storm: the probe waits for X-RateLimit-Reset, not a shorter backoff', async () => {
    const clock = new ManualClock()
    const { logger } = captureLogger()
    const attemptsAt: number[] = []
    const start = clock.now()
    const uploader = new Uploader({
      clock, log: logger, counters: new Counters(), maxParallel: 2,
      perform: async () => {
        attemptsAt.push(clock.now() - start)
        throw new ImageKitError('IK_RATE_LIMITED', 'POST /api/v1/files/upload: 429', { status: 429, retryAfterMs: 90_000 })
      },
      persist: async () => undefined,
    })
    const files = Array.from({ length: 20 }, (_, i) => pending(`r${i}.bin`))
    for (const file of files) uploader.schedule(file, 0)
    for (let t = 0; t < 100_000; t += 500) {
      clock.advance(500)
      await settle()
    }
    uploader.close()
    // Two in flight when the storm began; the next request only once the limit resets, from one file.
    expect(attemptsAt.filter((ms) => ms < 1000)).toHaveLength(2)
    expect(attemptsAt.filter((ms) => ms >= 1000 && ms < 90_000)).toEqual([])
    expect(attemptsAt.filter((ms) => ms >= 90_000)).toHaveLength(1)
  })
})

describe('a refusal over the upload size limit (W6)', () => {
  const refusal = (message: string) => errorFromStatus({
    host: 'upload', method: 'POST', route: '/api/v1/files/upload', status: 400, headers: {}, bodyText: JSON.stringify({ message }), scrub: (t) => t,
  })

  it('notes the size refused, and the limit when the answer says it (the live service\'s and the emulator\'s words); a file as large or over that limit is still too large', () => {
    const said = tooLargeNote(2_097_152, refusal('Your request contains invalid file parameter. The file size exceeds 1048576 bytes limit.'))
    expect(said).toEqual({ size: 2_097_152, limitBytes: 1_048_576 })
    expect([stillTooLarge(said, 2_097_152), stillTooLarge(said, 1_048_577), stillTooLarge(said, 1_048_576)]).toEqual([true, true, false])
    // The docs' words name no limit: the size refused is what is kept.
    const unsaid = tooLargeNote(30_000_000, refusal('Your request contains invalid file parameter. The file size exceeds limits.'))
    expect(unsaid).toEqual({ size: 30_000_000 })
    expect([stillTooLarge(unsaid, 30_000_000), stillTooLarge(unsaid, 29_999_999)]).toEqual([true, false])
    expect(tooLargeNote(30_000_000, new ImageKitError('IK_TOO_LARGE', 'POST upload: too large', { status: 413 }))).toEqual({ size: 30_000_000 })
  })

  it('a limit not below the size refused is not why it was refused (a figure misread): only the size is kept', () => {
    // 25 MB read as 25 MiB (26214400): a file of 25.5e6 bytes was refused under it, so the account's limit is lower.
    expect(tooLargeNote(25_500_000, refusal('File size exceeds the maximum allowed size of 25 MB.'))).toEqual({ size: 25_500_000 })
    expect(tooLargeNote(30_000_000, refusal('File size exceeds the maximum allowed size of 25 MB.'))).toEqual({ size: 30_000_000, limitBytes: 26_214_400 })
  })
})

describe('Uploader: an upload at a path where a delete is under way (W8)', () => {
  it('waits outside the upload slots until that delete is done; a cancel (an open for writing) drops the wait; unmount names what is left', async () => {
    const { logger, records } = captureLogger()
    const deletes = new Map<string, { done: Promise<void>; finish: () => void; fail: (e: Error) => void }>()
    for (const path of ['/a.bin', '/b.bin', '/c.bin']) {
      let finish!: () => void
      let fail!: (e: Error) => void
      // As pending-deletes.ts: no longer under way once it settles.
      const done = new Promise<void>((resolve, reject) => {
        finish = () => { deletes.delete(path); resolve() }
        fail = reject
      })
      done.catch(() => undefined)
      deletes.set(path, { done, finish, fail })
    }
    const performed: string[] = []
    const clock = new ManualClock()
    const uploader = new Uploader({
      clock, log: logger, counters: new Counters(), maxParallel: 1,
      perform: async (file) => {
        performed.push(file.name)
        return true
      },
      persist: async () => undefined,
      deleteUnderWayAt: (remotePath) => deletes.get(remotePath)?.done,
    })
    const [a, b, c, other] = ['a.bin', 'b.bin', 'c.bin', 'other.bin'].map(pending)
    // A close's commit (committer.ts) and a background attempt (a write-back delay, a retry) alike.
    uploader.scheduleAfter(a!, deletes.get('/a.bin')!.done)
    uploader.schedule(b!, 0)
    uploader.schedule(c!, 0)
    clock.advance(0)
    await flush()
    expect(a!.status()).toMatchObject({ state: 'waiting', waitsFor: 'delete' })
    expect(b!.status()).toMatchObject({ state: 'waiting', waitsFor: 'delete' })
    expect(uploader.active).toBe(0) // no slot held: another file's upload goes at once, with one slot
    await uploader.upload(other!)
    expect(performed).toEqual(['other.bin'])
    // An open for writing of b cancels what was scheduled: that delete's end uploads nothing of it.
    uploader.cancel(b!)
    expect(b!.status().waitsFor).toBeUndefined()
    deletes.get('/a.bin')!.finish()
    deletes.get('/b.bin')!.finish()
    await flush()
    await a!.inflight
    expect(performed).toEqual(['other.bin', 'a.bin'])
    expect(a!.status().waitsFor).toBeUndefined()
    // Unmount: the delete c waits for is not done (its gate rejects): c is left to the next mount, said once.
    deletes.get('/c.bin')!.fail(new Error('unmounting'))
    await flush()
    await uploader.drain()
    uploader.close()
    expect(performed).toEqual(['other.bin', 'a.bin'])
    expect(records.filter((r) => r.path === '/c.bin').map((r) => r.msg)).toEqual([
      'upload waits for the library\'s delete of the file unlinked at this path while open for reading, not done before unmount; the file stays in the spool, and the next mount of this library with this cache dir finishes that delete, then uploads it',
    ])
  })
})

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
