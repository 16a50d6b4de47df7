/** Bulk folder jobs (§4.13) and purge requests (§4.14): work is done at once, status reads Pending for a while. */
import type { BulkJobStatus } from '../imagekit/types.js'
import type { Clock } from '../clock.js'
import { newObjectId } from './ids.js'

/** Jobs and purge requests remembered; the oldest are forgotten beyond this. */
const MAX_REMEMBERED = 10_000

interface Job {
  type: BulkJobStatus['type']
  startedAt: number
  purgeRequestId?: string
}

export class JobRegistry {
  readonly #jobs = new Map<string, Job>()
  readonly #purges = new Map<string, number>()
  constructor(readonly clock: Clock, readonly pendingMs: number) {}

  addJob(type: BulkJobStatus['type'], purgeRequestId?: string): string {
    const jobId = newObjectId()
    remember(this.#jobs, jobId, { type, startedAt: this.clock.now(), ...(purgeRequestId ? { purgeRequestId } : {}) })
    return jobId
  }

  job(jobId: string): BulkJobStatus | undefined {
    const job = this.#jobs.get(jobId)
    if (!job) return undefined
    const out: BulkJobStatus = { jobId, type: job.type, status: this.#status(job.startedAt) }
    if (job.purgeRequestId) out.purgeRequestId = job.purgeRequestId
    return out
  }

  addPurge(): string {
    const requestId = newObjectId()
    remember(this.#purges, requestId, this.clock.now())
    return requestId
  }

  purgeStatus(requestId: string): 'Pending' | 'Completed' | undefined {
    const startedAt = this.#purges.get(requestId)
    return startedAt === undefined ? undefined : this.#status(startedAt)
  }

  #status(startedAt: number): 'Pending' | 'Completed' {
    return this.clock.now() - startedAt >= this.pendingMs ? 'Completed' : 'Pending'
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value)
  if (map.size > MAX_REMEMBERED) {
    const oldest = map.keys().next().value
    if (oldest !== undefined) map.delete(oldest)
  }
}
