/** The last line of a stop cut short: what stays in the spool, and what the next mount does with it. */
import { describe, expect, it } from 'vitest'
import { leftInSpool } from '../../../src/cli/left-in-spool.js'
import type { UploadStatus } from '../../../src/vfs/types.js'

const upload = (localPath: string, state: UploadStatus['state']): UploadStatus => ({ localPath, size: 1, sentBytes: 0, state, attempts: 1 })

describe('leftInSpool', () => {
  it('says the next mount stores what waits, and only tries once more what the library rejected', () => {
    expect(leftInSpool([upload('/a', 'failed')])).toBe(
      '1 file stays in the spool, and the next mount of this library (same --endpoint) with this cache dir stores it: /a (failed)')
    expect(leftInSpool([upload('/a', 'failed'), upload('/b', 'rejected'), upload('/w', 'writing')])).toBe(
      '2 files stay in the spool, and the next mount of this library (same --endpoint) with this cache dir stores them ' +
      '(the rejected ones: tries each once more): /a (failed), /b (rejected)')
    expect(leftInSpool([upload('/w', 'writing')])).toBe('nothing stays in the spool')
  })

  it('says the next mount does not send again a file rejected as over the size limit (W6)', () => {
    const big: UploadStatus = { ...upload('/big', 'rejected'), lastError: 'IK_TOO_LARGE (HTTP 400)', keptRejectedAtMount: true }
    expect(leftInSpool([upload('/a', 'failed'), big])).toBe(
      '2 files stay in the spool, and the next mount of this library (same --endpoint) with this cache dir stores them ' +
      '(not the rejected ones, over the size limit: renamed or written again, each is tried again): /a (failed), /big (rejected)')
    expect(leftInSpool([big, upload('/b', 'rejected')])).toContain(
      '(the rejected ones: tries each once more, except those over the size limit, tried again once renamed or written again)')
  })

  it('decides by the rule the next mount follows (the status says it), not by the error: a refusal without the note is tried again', () => {
    // Refused as too large before records noted it (an older ikfs), or as large no more: the next mount sends it
    // (replay.ts), though its last error names the size limit.
    const unnoted: UploadStatus = { ...upload('/old', 'rejected'), lastError: 'IK_TOO_LARGE (HTTP 400)' }
    expect(leftInSpool([unnoted])).toBe(
      '1 file stays in the spool, and the next mount of this library (same --endpoint) with this cache dir stores it ' +
      '(the rejected ones: tries each once more): /old (rejected)')
  })
})
