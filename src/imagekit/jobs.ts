/**
 * Folder bulk jobs (rename, move): start the job, then poll `GET /v1/bulkJobs/{jobId}` with growing pauses
 * until it is `Completed`. `Pending` keeps polling; any other status is IK_JOB_FAILED (ImageKit documents
 * no failure state, so anything unknown is treated as one); an overall deadline bounds the wait.
 */
import type { RequestOptions } from './api.js'
import { ImageKitError } from './errors.js'
import { expectBody, isBulkJobStatus, isJobStarted } from './guards.js'
import type { HttpTransport } from './http.js'
import { giveUpOf } from './request-options.js'
import { sleepUnlessAborted } from './retry.js'
import type { BulkJobStatus } from './types.js'

export const JOB_STATUS_ROUTE = '/v1/bulkJobs/{jobId}'
/** First pause before polling: small folders finish in well under a second. */
export const JOB_POLL_INITIAL_MS = 250
/** Pauses grow by this factor per poll... */
export const JOB_POLL_GROWTH = 1.5
/** ...up to this, so a long job costs one status call every few seconds. */
export const JOB_POLL_MAX_MS = 5_000
/** A job still pending after this long is reported as a timeout (it may still finish on the server). */
export const JOB_DEADLINE_MS = 15 * 60_000

export interface StartJob {
  route: string
  body: Record<string, unknown>
}

export interface JobTiming {
  initialPollMs: number
  maxPollMs: number
  deadlineMs: number
}

export const DEFAULT_JOB_TIMING: JobTiming = {
  initialPollMs: JOB_POLL_INITIAL_MS,
  maxPollMs: JOB_POLL_MAX_MS,
  deadlineMs: JOB_DEADLINE_MS,
}

export async function runBulkJob(
  http: HttpTransport,
  start: StartJob,
  options: RequestOptions = {},
  timing: JobTiming = DEFAULT_JOB_TIMING,
): Promise<BulkJobStatus> {
  const { clock, log } = http.settings
  const startCall = { method: 'POST' as const, route: start.route }
  const started = await http.call({ ...startCall, host: 'api', json: start.body, idempotent: false, signal: options.signal, ...giveUpOf(options) })
  const { jobId } = expectBody(started, isJobStarted, startCall, 'a jobId')
  const deadline = clock.now() + timing.deadlineMs
  const statusCall = { method: 'GET' as const, route: JOB_STATUS_ROUTE }
  let pauseMs = timing.initialPollMs
  for (;;) {
    await sleepUnlessAborted(clock, pauseMs, options.signal, `${statusCall.method} ${statusCall.route}`)
    const result = await http.call({ ...statusCall, host: 'api', params: { jobId }, idempotent: true, signal: options.signal, ...giveUpOf(options) })
    const status = expectBody(result, isBulkJobStatus, statusCall, 'a job status')
    if (status.status === 'Completed') return status
    if (status.status !== 'Pending') {
      throw new ImageKitError('IK_JOB_FAILED', `${start.route} job ${jobId}: ended as ${status.status}`, {
        method: 'POST',
        route: start.route,
        requestId: result.requestId,
      })
    }
    if (clock.now() >= deadline) {
      log.warn({ jobId, route: start.route }, 'bulk job still pending at the deadline')
      throw new ImageKitError('IK_TIMEOUT', `${start.route} job ${jobId}: still pending after ${Math.round(timing.deadlineMs / 1000)} s`, {
        method: 'POST',
        route: start.route,
        requestId: result.requestId,
      })
    }
    pauseMs = Math.min(timing.maxPollMs, Math.ceil(pauseMs * JOB_POLL_GROWTH))
  }
}
