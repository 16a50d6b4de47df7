/**
 * Bulk folder jobs (§4.13) and purge requests (§4.14). A job's work runs once the job has been pending
 * `pendingMs`, whether or not anyone polls it; its status reads `Pending` until the work is done. Work that
 * fails (the library changed while the job was pending) leaves the job `Failed`: the real service documents
 * no failure state, so that word is the emulator's (with the `refusedJobsComplete` fault it reads `Completed`). Purge requests only report `Pending` for a while.
 * Extensions answered `pending` (extensions.ts) store their results after the same wait.
 * `close()` drops the jobs still pending and their timers.
 */
import type { BulkJobStatus } from '../imagekit/types.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../log.js'
import { ApiError } from './http-io.js'
import { newObjectId } from './ids.js'

/** Jobs and purge requests remembered; the oldest are forgotten beyond this. */
const MAX_REMEMBERED = 10_000

export type JobStatus = 'Pending' | 'Completed' | 'Failed'

interface Job {
  type: BulkJobStatus['type']
  status: JobStatus
  purgeRequestId?: string
}

export class JobRegistry {
  readonly #jobs = new Map<string, Job>()
  readonly #purges = new Map<string, number>()
  readonly #waits = new Set<AbortController>()
  /** `refusedStatus`: what a job whose work the library no longer allows reads (faults.ts refusedJobsComplete). */
  constructor(
    readonly clock: Clock, readonly pendingMs: number, readonly logger: Logger,
    readonly refusedStatus: () => JobStatus = () => 'Failed',
  ) {}

  /** Starts a job: `work` changes the library when the job comes due. */
  addJob(type: BulkJobStatus['type'], work: () => Promise<void>, purgeRequestId?: string): string {
    const jobId = newObjectId()
    const job: Job = { type, status: 'Pending', ...(purgeRequestId ? { purgeRequestId } : {}) }
    remember(this.#jobs, jobId, job)
    void this.#runWhenDue(jobId, job, work)
    return jobId
  }

  job(jobId: string): BulkJobStatus | undefined {
    const job = this.#jobs.get(jobId)
    if (!job) return undefined
    const out: BulkJobStatus = { jobId, type: job.type, status: job.status }
    if (job.purgeRequestId) out.purgeRequestId = job.purgeRequestId
    return out
  }

  /** Runs `work` once `delayMs` (default `pendingMs`) have passed (extensions answered `pending`); dropped if the emulator closes first. */
  later(work: () => Promise<void>, delayMs = this.pendingMs): void {
    void this.#whenDue(delayMs).then(async (due) => {
      if (!due) return
      try {
        await work()
      } catch (e) {
        this.logger.error({ err: e }, 'emulator bug: delayed work failed')
      }
    })
  }

  addPurge(): string {
    const requestId = newObjectId()
    remember(this.#purges, requestId, this.clock.now())
    return requestId
  }

  purgeStatus(requestId: string): 'Pending' | 'Completed' | undefined {
    const startedAt = this.#purges.get(requestId)
    if (startedAt === undefined) return undefined
    return this.clock.now() - startedAt >= this.pendingMs ? 'Completed' : 'Pending'
  }

  close(): void {
    for (const wait of this.#waits) wait.abort()
    this.#waits.clear()
  }

  async #runWhenDue(jobId: string, job: Job, work: () => Promise<void>): Promise<void> {
    if (!(await this.#whenDue())) return
    try {
      await work()
      job.status = 'Completed'
    } catch (e) {
      job.status = e instanceof ApiError ? this.refusedStatus() : 'Failed'
      if (e instanceof ApiError) this.logger.info({ jobId, type: job.type, status: job.status, reason: e.message }, 'bulk job refused: the library changed while it was pending')
      else this.logger.error({ jobId, type: job.type, err: e }, 'emulator bug: bulk job failed')
    }
  }

  /** Waits `delayMs`; false when the registry closed meanwhile. */
  async #whenDue(delayMs = this.pendingMs): Promise<boolean> {
    const wait = new AbortController()
    this.#waits.add(wait)
    try {
      await this.clock.sleep(delayMs, wait.signal)
    } catch {
      return false // closed while pending
    } finally {
      this.#waits.delete(wait)
    }
    return !wait.signal.aborted // a clock that does not watch the signal
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value)
  if (map.size > MAX_REMEMBERED) {
    const oldest = map.keys().next().value
    if (oldest !== undefined) map.delete(oldest)
  }
}
