import { describe, expect, it } from 'vitest'
import { bytes, duration, progressBar, renderStatus } from '../../../src/status/render.js'
import { snapshotFixture } from './fixtures.js'

describe('renderStatus', () => {
  const text = renderStatus(snapshotFixture())

  it('summarises the mount, open files and caches', () => {
    expect(text).toContain('ikfs 0.1.0 (pid 4242): mounted https://ik.imagekit.io/demo at /mnt/ik, up 1m30s')
    expect(text).toContain('Open files: 2 handles, 1 reader')
    expect(text).toContain('hit rate 75.0% (30 hits, 10 misses)')
    expect(text).toContain('4.0 MiB in 4 blocks, hit rate 90.0%')
    expect(text).toContain('  written   3.0 MiB in 12 files\n')
  })

  it('draws one progress bar per queued upload, with retry details', () => {
    expect(text).toContain('Uploads: 1 uploading, 1 waiting, 1 retrying')
    const big = text.split('\n').find((l) => l.includes('/photos/big.jpg'))
    expect(big).toContain('[#########-----------]  45%')
    expect(big).toContain('450 B / 1000 B  uploading')
    const flaky = text.split('\n').findIndex((l) => l.includes('/docs/flaky.pdf'))
    expect(text.split('\n')[flaky]).toContain('(attempt 3)')
    expect(text.split('\n')[flaky + 1]).toContain('last error: IK_RATE_LIMITED: too many requests; next attempt in 4s')
  })

  it('lists op totals and counters it has no section for', () => {
    expect(text).toContain('FUSE ops: 150 calls, 4 errors, 1 timeout, 2 in flight')
    expect(text).toContain('getattr 100 (4 err), read 50')
    expect(text).toMatch(/Counters:\n {2}uploadRetries 3/)
  })

  it('says when a file --write-back holds back uploads, not "next attempt" as after a failure', () => {
    const held = renderStatus(snapshotFixture({
      uploads: [{ localPath: '/later.jpg', size: 100, sentBytes: 0, state: 'waiting', attempts: 0, nextAttemptAtMs: 1_700_000_149_000 }],
    }))
    expect(held.split('\n')[held.split('\n').findIndex((l) => l.includes('/later.jpg')) + 1]).toBe('      uploads in 59s')
  })

  it('says in the library\'s words why a rejected upload was refused, and no next attempt', () => {
    const refusal = 'POST /api/v1/files/upload: 400 A file can have at most 100 versions. (requestId r-1)'
    const refused = renderStatus(snapshotFixture({
      uploads: [{ localPath: '/many.jpg', size: 100, sentBytes: 0, state: 'rejected', attempts: 1, lastError: 'IK_BAD_REQUEST (HTTP 400)', refusal }],
    })).split('\n')
    const at = refused.findIndex((l) => l.includes('/many.jpg'))
    expect(refused[at]).toContain('rejected')
    expect(refused.slice(at + 1, at + 3)).toEqual(['      last error: IK_BAD_REQUEST (HTTP 400)', `      refused by the library: ${refusal}`])
  })

  it('says so when nothing is queued or no op ran', () => {
    const quiet = renderStatus(snapshotFixture({ uploads: [], ops: {} }))
    expect(quiet).toContain('Uploads: none queued')
    expect(quiet).toContain('FUSE ops: none yet')
  })
})

describe('formatting helpers', () => {
  it('clamps progress bars', () => {
    expect(progressBar(0)).toBe('[--------------------]')
    expect(progressBar(1)).toBe('[####################]')
    expect(progressBar(2, 4)).toBe('[####]')
    expect(progressBar(Number.NaN, 4)).toBe('[----]')
  })
  it('formats sizes and durations', () => {
    expect(bytes(512)).toBe('512 B')
    expect(bytes(1536)).toBe('1.5 KiB')
    expect(bytes(3 * 1024 ** 3)).toBe('3.0 GiB')
    expect(duration(59_999)).toBe('59s')
    expect(duration(3_720_000)).toBe('1h02m')
    expect(duration(3 * 86_400_000)).toBe('3d00h')
  })
})
