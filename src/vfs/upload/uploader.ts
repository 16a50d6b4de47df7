/**
 * The upload queue: at most `maxParallel` uploads at once (the one cap on uploads, STYLE §2.6); write-back
 * delays; a background retrier with capped exponential backoff for uploads that failed after the client's
 * own retries, and while the library is down one probe for all of them (outage.ts); `drain()` for unmount.
 * The upload itself (API call, node update, journal) is `perform`, supplied by the write path. Timers are sleeps on the Clock, one per file at most: whatever supersedes a
 * file's timer (a later schedule, an upload, a cancel, `file.generation` bumped) clears it, and close clears
 * them all, so a file closed every second with a long write-back delay holds one timer, not one per close.
 */
import type { Clock } from '../../clock.js'
import { hasImageKitCode, isImageKitError, type ImageKitError } from '../../imagekit/errors.js'
import type { Logger } from '../../log.js'
import type { PendingFile } from '../file-node.js'
import { keptRejectedAtMount, type TooLargeNote } from '../spool/record.js'
import type { Counters } from '../stats.js'
import { isOutage, Outage } from './outage.js'

/** First retry after a final failure: the client already retried for seconds, so wait a little longer. */
export const RETRY_BASE_MS = 5_000
/** Cap on the retry interval: an outage of hours is retried every 5 min, not every hour. */
export const RETRY_MAX_MS = 5 * 60_000
/** Unmount's line for a file whose upload (never tried, or started meanwhile) waits for the library to answer again (outage.ts). */
const WAITS_FOR_LIBRARY = 'upload waits for the library to answer again and is not tried before unmount; the file stays in the spool, and the next mount of this library (same --endpoint) with this cache dir retries it'
/** Unmount's line for a file whose upload waits for the delete of the file unlinked at its path (scheduleAfter). */
const WAITS_FOR_DELETE = 'upload waits for the library\'s delete of the file unlinked at this path while open for reading, not done before unmount; the file stays in the spool, and the next mount of this library with this cache dir finishes that delete, then uploads it'
/** The one line for an upload refused for good (isRefusal), beside its path, spool file and the API's answer (err). */
const REFUSED = 'upload refused by the library (no retry changes its answer); the file stays in the spool (spoolFile) and is not tried again until it is written again or renamed, or the next mount of this library with this cache dir'
const REFUSED_TOO_LARGE = 'upload refused: the file is larger than the account allows; it stays in the spool (spoolFile) and is not tried again until it is written again or renamed (not at the next mount either: only a change of the account\'s limit could change the answer)'
/** Unmount's line for a file refused earlier, by its kind of refusal. */
const REFUSED_BEFORE = 'upload refused earlier by the library; the file stays in the spool, and the next mount of this library with this cache dir tries it once more'
const REFUSED_BEFORE_TOO_LARGE = 'upload refused earlier: the file is larger than the account allows; it stays in the spool, and is not tried again until it is written again or renamed (not at the next mount either)'
/** A long upload logs its progress this often. */
const PROGRESS_LOG_MS = 10_000

export interface UploaderDeps {
  clock: Clock
  log: Logger
  counters: Counters
  maxParallel: number
  /**
   * Uploads the file's spool bytes to its destination; throws the client's error. False when there was
   * nothing left to send (an unlink ended the file while its upload waited).
   */
  perform(file: PendingFile, onProgress: (sentBytes: number) => void, control: AttemptControl): Promise<boolean>
  /** Rewrites the file's journal record after a state change (best effort). */
  persist(file: PendingFile): Promise<void>
  /** Uniform in [0, 1): the jitter of the outage's backoff (default Math.random). */
  random?: () => number
  /**
   * The end of the library's delete of a file unlinked at `remotePath` while open for reading, while one is under
   * way (pending-deletes.ts), else undefined: an attempt in the background waits for it before it takes a slot.
   */
  deleteUnderWayAt?: (remotePath: string) => Promise<void> | undefined
}

/** How an attempt's requests stop retrying while the library is down (RequestOptions.giveUp). */
export interface AttemptControl {
  /** The giveUp of the upload's own requests: told each failure (which tells the outage), true to stop. */
  uploadFailed(failure: ImageKitError): boolean
  /** The giveUp of the API calls around it (was it stored already?): true to stop; not told to the outage. */
  stopped(): boolean
  /** Fires when the attempt is superseded (Uploader.supersede): its requests and waits end, nothing more is sent. */
  superseded?: AbortSignal
}

export function isTooLarge(e: unknown): boolean {
  return hasImageKitCode(e, 'IK_TOO_LARGE')
}

/**
 * What a file of `size` bytes was refused at as too large (`e`, IK_TOO_LARGE): that size, and the limit when the
 * answer named one (imagekit/too-large.ts). A limit not below the size refused cannot be why it was refused (a
 * figure misread, or another limit's): only the size is kept then, as when the answer names none.
 */
export function tooLargeNote(size: number, e: unknown): TooLargeNote {
  const limitBytes = isImageKitError(e) ? e.limitBytes : undefined
  return limitBytes !== undefined && Number.isSafeInteger(limitBytes) && limitBytes > 0 && limitBytes < size ? { size, limitBytes } : { size }
}

/**
 * The upload API refused the file for good: a 400 (or another 4xx it answers for the request itself) that no
 * retry changes, such as a file over the size limit, a file type the account refuses, a version limit reached,
 * a name or field it will not take. Not 401/403 (the key: every upload fails alike), 408, 409 or 429, nor a
 * 400 the API marks as passing (too many updates of the file just now: http.ts makes that a 429).
 */
export function isRefusal(e: unknown): e is ImageKitError {
  return isImageKitError(e) && (e.code === 'IK_TOO_LARGE' || (e.code === 'IK_BAD_REQUEST' && !e.retriable))
}

export class Uploader {
  readonly #deps: UploaderDeps
  readonly #queued = new Set<PendingFile>()
  readonly #slotWaiters: (() => void)[] = []
  /** Each file's one timer (its write-back delay or its next retry), aborted when superseded. */
  readonly #timers = new Map<PendingFile, AbortController>()
  /** While the library is down, pending uploads wait here for one probe instead of retrying each on its own. */
  readonly #outage: Outage<PendingFile>
  /** The attempt under way of each file, for supersede. */
  readonly #attempts = new Map<PendingFile, AbortController>()
  #closed = false
  #active = 0

  constructor(deps: UploaderDeps) {
    this.#deps = deps
    this.#outage = new Outage({
      clock: deps.clock, log: deps.log, random: deps.random ?? Math.random, baseMs: RETRY_BASE_MS, maxMs: RETRY_MAX_MS,
      cost: (file) => file.size,
      // A probe that cannot ask the library now (its file is gone, or has an attempt under way) passes the turn on.
      probe: (file) => {
        if (file.inflight || !file.unsent || file.unlinked || file.state === 'rejected' || writtenOn(file)) this.#outage.inconclusive(file)
        else this.#background(file)
      },
      resume: (files) => {
        for (const file of files) if (file.unsent && !file.unlinked && file.state !== 'rejected') this.#background(file)
      },
    })
  }

  /** Files with unsent content (for status). */
  get files(): ReadonlySet<PendingFile> {
    return this.#queued
  }

  /** Timers set (write-back delays and retries): one per file at most, and one for all while the library is down. */
  get timers(): number {
    return this.#timers.size + this.#outage.timers
  }

  /**
   * A file refused before that stays unsent, with no attempt planned, until it is written again or renamed (a
   * file still over the size limit it was refused at, found by the next mount: replay.ts); listed as rejected.
   */
  keepRejected(file: PendingFile): void {
    this.cancel(file)
    file.state = 'rejected'
    this.#queued.add(file)
  }

  /** Upload after `delayMs` (write-back); a later schedule, upload or cancel supersedes it. */
  schedule(file: PendingFile, delayMs: number): void {
    const generation = ++file.generation
    this.#outage.release(file)
    file.state = 'waiting'
    file.nextAttemptAtMs = this.#deps.clock.now() + delayMs
    this.#queued.add(file)
    this.#after(file, delayMs, () => {
      if (file.generation === generation) this.#background(file)
    })
  }

  /**
   * Upload once `ready` resolves: the delete of a file unlinked at its path (pending-deletes.ts gate), which must
   * come first. Until then it takes no slot and has no attempt under way, so an open for writing, a rename or an
   * unlink of it does not wait for that delete; a later schedule, upload or cancel supersedes it, as a timer. When
   * `ready` rejects (unmounting), the file stays in the spool for the next mount (drain says so).
   */
  scheduleAfter(file: PendingFile, ready: Promise<void>): void {
    const generation = ++file.generation
    this.#stopTimer(file)
    this.#outage.release(file)
    file.state = 'waiting'
    file.nextAttemptAtMs = undefined
    file.waitsForDelete = true
    this.#queued.add(file)
    if (this.#closed) return
    const timer = new AbortController()
    this.#timers.set(file, timer)
    ready.then(() => {
      if (this.#timers.get(file) === timer) this.#timers.delete(file)
      if (this.#closed || timer.signal.aborted || file.generation !== generation) return
      file.waitsForDelete = false
      this.upload(file, true).catch(() => undefined) // not #background: a delete begun at the path since is gated by the api
    }, () => {
      if (this.#timers.get(file) === timer) this.#timers.delete(file)
    })
  }

  /** Forget scheduled attempts (an in-flight upload finishes; await `file.inflight`). */
  cancel(file: PendingFile): void {
    file.generation++
    this.#stopTimer(file)
    this.#outage.release(file)
    file.nextAttemptAtMs = undefined
    if (!file.inflight) this.#queued.delete(file)
  }

  /**
   * Takes a slot now, for an upload that starts before the file is complete (a streamed upload): the file's
   * next `upload()` runs in that slot instead of waiting for one. Only while another slot stays free: such an
   * upload lasts as long as its writer keeps the file open, and a writer may wait for the close of another
   * file first (a sidecar written before the video is finished), whose upload must then find a slot.
   */
  tryReserve(file: PendingFile): boolean {
    if (file.slotReserved) return true
    if (this.#active >= Math.max(1, this.#deps.maxParallel) - 1) return false
    this.#active++
    file.slotReserved = true
    return true
  }

  /**
   * A new version of the file is coming (an open for writing waits for this attempt): an attempt under way that
   * is not reading the file's bytes now (it waits out a backoff or a 429's reset, or looks for what an earlier
   * try stored) ends at once, sending nothing more, instead of storing the old content after the open asked for
   * a new one (a version of bytes about to be replaced, which a reader elsewhere would see). The file stays
   * unsent: the new version's close uploads it, or a release with no change queues it again. A request reading
   * the bytes is let finish.
   */
  supersede(file: PendingFile): void {
    if (file.sent === undefined) this.#attempts.get(file)?.abort()
  }

  /** Gives back a slot taken by tryReserve that no upload used (the streamed upload was abandoned). */
  unreserve(file: PendingFile): void {
    if (!file.slotReserved) return
    file.slotReserved = false
    this.#release()
  }

  /**
   * Uploads now (after a free slot); resolves once stored, rejects with the final error (a retry is then
   * scheduled). `background`: an attempt nobody waits for (write-back, retries), which waits instead while the
   * library is down (outage.ts); one a close or fsync waits for is made, and reports its outcome, as always.
   */
  upload(file: PendingFile, background = false): Promise<void> {
    // The upload in flight may be sending older bytes (uploads in the background do not stop writers): once it
    // is done, whatever is still unsent goes up.
    if (file.inflight) return file.inflight.then(() => this.#again(file, background), () => this.#again(file, background))
    file.generation++
    this.#stopTimer(file)
    this.#queued.add(file)
    if (background && writtenOn(file)) return Promise.resolve() // its close (or fsync) commits and uploads it
    if (background && this.#waitsForLibrary(file)) return Promise.resolve()
    this.#outage.release(file)
    const run = this.#run(file, background).finally(() => {
      file.inflight = undefined
    })
    file.inflight = run
    return run
  }

  #again(file: PendingFile, background: boolean): Promise<void> {
    return file.unsent && !file.unlinked && file.state !== 'rejected' ? this.upload(file, background) : Promise.resolve()
  }

  #background(file: PendingFile): void {
    // An upload to a path where the delete of a file unlinked there is under way would wait in its slot (the
    // write path's api gates it) for as long as that file's download for its readers takes: it waits outside.
    const deleted = file.inflight ? undefined : this.#deps.deleteUnderWayAt?.(file.remotePath)
    if (deleted) return this.scheduleAfter(file, deleted)
    this.upload(file, true).catch(() => undefined) // #run logged it and scheduled the retry
  }

  /** While the library is down a background attempt (not the probe) waits for it instead: true when it does. */
  #waitsForLibrary(file: PendingFile): boolean {
    if (!this.#outage.down || this.#outage.isProbe(file)) return false
    this.#outage.hold(file)
    file.nextAttemptAtMs = this.#outage.nextProbeAtMs
    return true
  }

  /** Runs `fn` after `ms`, as the file's one timer (replacing the one it had). */
  #after(file: PendingFile, ms: number, fn: () => void): void {
    this.#stopTimer(file)
    if (this.#closed) return
    const timer = new AbortController()
    this.#timers.set(file, timer)
    this.#deps.clock.sleep(ms, timer.signal).then(() => {
      if (this.#timers.get(file) === timer) this.#timers.delete(file)
      if (!this.#closed && !timer.signal.aborted) fn()
    }, () => undefined)
  }

  #stopTimer(file: PendingFile): void {
    this.#timers.get(file)?.abort()
    this.#timers.delete(file)
    file.waitsForDelete = false
  }

  async #run(file: PendingFile, background: boolean): Promise<void> {
    const { log, counters, clock } = this.#deps
    const stateBefore = file.state
    file.state = 'waiting'
    file.nextAttemptAtMs = undefined
    if (file.slotReserved) file.slotReserved = false // this run takes over the reserved slot
    else await this.#acquire()
    // The library went down while this waited for its slot: it waits for the library instead.
    if (background && this.#waitsForLibrary(file)) {
      if (stateBefore === 'failed') file.state = 'failed'
      this.#release()
      return
    }
    const retry = file.attempts > 0
    file.attempts++
    file.state = retry ? 'retrying' : 'uploading'
    file.sentBytes = 0
    counters.uploadsStarted++
    if (retry) counters.uploadsRetried++
    const startedMs = clock.now()
    const changes = file.changes
    let loggedMs = startedMs
    // One info line per stored file ('upload finished') is enough for a `cp -r` of thousands, and one warning per
    // failed attempt (which says when the next one comes) for an outage of hours: starts are debug, retries' too.
    const attempt = file.attempts
    log.debug({ path: file.localPath, size: file.size, attempt }, 'upload started')
    // Each failed upload request tells the outage (API calls do not: the upload host may answer while the Media
    // API is throttled); a background attempt stops retrying once the library is known to be down (by its own
    // failures or others'), and waits with the others for the probe (outage.ts). One that close or fsync waits
    // for retries as before.
    const superseded = new AbortController()
    this.#attempts.set(file, superseded)
    const control: AttemptControl = {
      uploadFailed: (failure) => this.#outage.requestFailed(failure) && background,
      stopped: () => (background && this.#outage.down) || superseded.signal.aborted,
      superseded: superseded.signal,
    }
    try {
      const stored = await this.#deps.perform(file, (sent) => {
        file.sentBytes = sent
        const now = clock.now()
        if (now - loggedMs >= PROGRESS_LOG_MS) {
          loggedMs = now
          log.info({ path: file.localPath, sentBytes: sent, size: file.size }, 'upload progress')
        }
      }, control)
      file.lastError = undefined
      file.refusal = undefined
      file.tooLarge = undefined
      file.attempts = 0
      if (!file.unsent) this.#queued.delete(file)
      if (stored) this.#outage.succeeded()
      else this.#outage.inconclusive(file) // nothing was sent: the library was not asked
      if (stored) {
        counters.uploadsSucceeded++
        counters.bytesUploaded += file.size
        log.info({ path: file.localPath, size: file.size, ms: clock.now() - startedMs, attempt }, 'upload finished')
      }
    } catch (e) {
      counters.uploadsFailed++
      file.lastError = describe(e)
      if (isRefusal(e) && file.changes === changes) {
        // Said here once, for every kind of attempt (a close, an fsync, the mount's): close and fsync report
        // it as an errno and log no more than that (committer.ts uploadError).
        this.#outage.inconclusive(file)
        file.state = 'rejected'
        file.refusal = e.message
        file.tooLarge = isTooLarge(e) ? tooLargeNote(file.size, e) : undefined
        log.error({ path: file.localPath, size: file.size, spoolFile: file.dataPath, err: e }, isTooLarge(e) ? REFUSED_TOO_LARGE : REFUSED)
      } else if (isRefusal(e)) {
        // The bytes it refused were changed meanwhile: whoever changed them uploads them (uploader.upload's #again).
        this.#outage.inconclusive(file)
        file.state = file.openCount > 0 ? 'open' : 'waiting'
        log.info({ path: file.localPath, err: e }, 'upload refused, but the file was written meanwhile: its new content is uploaded')
      } else if (isOutage(e)) {
        // Retried with every other pending upload, once one attempt gets through (outage.ts).
        file.state = 'failed'
        this.#outage.failed(file, e)
        file.nextAttemptAtMs = this.#outage.nextProbeAtMs
        const retryInMs = file.nextAttemptAtMs === undefined ? undefined : file.nextAttemptAtMs - clock.now()
        log.warn({ path: file.localPath, attempt: file.attempts, retryInMs, err: e }, 'upload failed; the file stays in the spool and will be retried')
      } else {
        this.#outage.inconclusive(file)
        const delayMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(20, file.attempts - 1))
        this.#retryLater(file, delayMs)
        log.warn({ path: file.localPath, attempt: file.attempts, retryInMs: delayMs, err: e }, 'upload failed; the file stays in the spool and will be retried')
      }
      await this.#deps.persist(file).catch((err: unknown) => log.error({ path: file.localPath, err }, 'cannot update the journal'))
      throw e
    } finally {
      this.#attempts.delete(file)
      this.#release()
    }
  }

  #retryLater(file: PendingFile, delayMs: number): void {
    const generation = ++file.generation
    file.state = 'failed'
    file.nextAttemptAtMs = this.#deps.clock.now() + delayMs
    this.#after(file, delayMs, () => {
      if (file.generation === generation && !file.unlinked) this.#background(file)
    })
  }

  async #acquire(): Promise<void> {
    if (this.#active < Math.max(1, this.#deps.maxParallel)) {
      this.#active++
      return
    }
    await new Promise<void>((resolve) => this.#slotWaiters.push(resolve))
  }

  #release(): void {
    const next = this.#slotWaiters.shift()
    if (next) next() // the slot passes on
    else this.#active--
  }

  get active(): number {
    return this.#active
  }

  /** Unmount: start uploads that are only waiting for their write-back delay, wait for every upload in flight. */
  async drain(): Promise<void> {
    const { log } = this.#deps
    for (const file of this.#queued) {
      if (file.state === 'waiting' && !file.inflight && file.unsent && !file.waitsForDelete) this.#background(file)
    }
    // Not retried now (the API failed them moments ago, and another round of retries could hold the stop for
    // minutes): said per file, so that the log shows what the next mount has to finish.
    for (const file of this.#queued) {
      if (file.inflight || file.unlinked) continue
      if (file.waitsForDelete && file.unsent) {
        log.warn({ path: file.localPath }, WAITS_FOR_DELETE)
      } else if (file.state !== 'failed' && this.#outage.holds(file)) {
        log.warn({ path: file.localPath }, WAITS_FOR_LIBRARY)
      } else if (file.state === 'failed') {
        log.warn({ path: file.localPath, attempts: file.attempts, lastError: file.lastError }, 'upload failed and not retried before unmount; the file stays in the spool, and the next mount of this library (same --endpoint) with this cache dir retries it')
      } else if (file.state === 'rejected') {
        // What the next mount does with it (the shared rule, as replay.ts and `ikfs status`): a file cut below the
        // size it was refused at since (an open writer's truncate, not closed yet) is tried once more then.
        log.warn({ path: file.localPath, size: file.size, spoolFile: file.dataPath, refusal: file.refusal }, keptRejectedAtMount(file, file.size) ? REFUSED_BEFORE_TOO_LARGE : REFUSED_BEFORE)
      }
    }
    const running = [...this.#queued].filter((f) => f.inflight)
    if (running.length > 0) log.info({ uploads: running.length }, 'waiting for uploads before unmounting')
    // A line per file, so that a long wait shows what it waits for (not only when each one ends).
    for (const file of running) log.info({ path: file.localPath, size: file.size, sentBytes: file.sentBytes }, 'waiting for this upload before unmounting')
    await Promise.all(running.map(async (file) => {
      try {
        await file.inflight
        if (this.#outage.holds(file)) log.warn({ path: file.localPath }, WAITS_FOR_LIBRARY)
        else log.info({ path: file.localPath }, 'upload done before unmount')
      } catch {
        if (file.state === 'rejected' && keptRejectedAtMount(file, file.size)) log.warn({ path: file.localPath }, 'upload refused before unmount: the file is larger than the account allows; it stays in the spool, and is not tried again until it is written again or renamed (not at the next mount either)')
        else if (file.state === 'rejected') log.warn({ path: file.localPath }, 'upload refused before unmount; the file stays in the spool, and the next mount of this library with this cache dir tries it once more')
        else log.warn({ path: file.localPath }, 'upload failed before unmount; the next mount of this library (same --endpoint) with this cache dir retries it')
      }
    }))
  }

  close(): void {
    this.#closed = true
    this.#outage.close()
    for (const timer of this.#timers.values()) timer.abort()
    this.#timers.clear()
  }
}

/**
 * Open, and changed since its last close or fsync: a background attempt (a retry, the probe of an outage) would
 * store bytes no call committed, a program's half-done rewrite; the next close or fsync commits and uploads them.
 * Writes through an O_SYNC or O_DSYNC descriptor leave the file clean (kept durably) but are no close
 * either (syncWrittenSinceCommit).
 */
function writtenOn(file: PendingFile): boolean {
  return (file.dirty || file.syncWrittenSinceCommit) && file.openCount > 0
}

/** A short reason for status and the journal: the error code, never a URL or key. */
export function describe(e: unknown): string {
  if (isImageKitError(e)) return e.status !== undefined ? `${e.code} (HTTP ${e.status})` : e.code
  if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string') return String((e as NodeJS.ErrnoException).code)
  return 'unexpected failure'
}
