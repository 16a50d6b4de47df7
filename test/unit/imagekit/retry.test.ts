/** withRetry's giveUp: a caller that knows the server is down ends a call at its next failure, not after all retries. */
import { describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/clock.js'
import { ImageKitError } from '../../../src/imagekit/errors.js'
import { defaultRetryPolicy, withRetry } from '../../../src/imagekit/retry.js'
import { captureLogger } from '../fuse/log-capture.js'

describe('withRetry giveUp', () => {
  it('is told each retriable failure, and ends the call with it once it says so', async () => {
    const { logger } = captureLogger()
    const told: string[] = []
    let attempts = 0
    const call = withRetry(async () => {
      attempts++
      throw new ImageKitError('IK_SERVER', `POST /api/v1/files/upload: 503 (${attempts})`, { status: 503, retriable: true })
    }, {
      policy: { ...defaultRetryPolicy(5), baseDelayMs: 1, maxDelayMs: 1 },
      clock: systemClock, random: () => 0, log: logger, operation: 'POST /api/v1/files/upload',
      giveUp: (failure) => {
        told.push(failure.message)
        return told.length === 2
      },
    })
    await expect(call).rejects.toMatchObject({ code: 'IK_SERVER', message: 'POST /api/v1/files/upload: 503 (2)' })
    expect(attempts).toBe(2) // was 6: every retry, whatever the caller knew
    expect(told).toHaveLength(2)
  })
})
