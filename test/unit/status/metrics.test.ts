import { describe, expect, it } from 'vitest'
import { escapeLabel, renderMetrics, snakeCase } from '../../../src/status/metrics.js'
import { snapshotFixture } from './fixtures.js'

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('renderMetrics', () => {
  const text = renderMetrics(snapshotFixture())

  it('declares every family once with HELP and TYPE before its samples', () => {
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '))
    const names = types.map((l) => l.split(' ')[2])
    expect(new Set(names).size).toBe(names.length)
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      const name = line.split(/[{ ]/)[0]!
      expect(names, line).toContain(name)
      expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/)
    }
  })

  it('turns monotonic VFS fields into _total counters and sizes or rates into gauges', () => {
    expect(text).toContain('# TYPE ikfs_vfs_dir_cache_hits_total counter')
    expect(sample(text, 'ikfs_vfs_dir_cache_hits_total')).toBe(30)
    expect(sample(text, 'ikfs_vfs_upload_retries_total')).toBe(3)
    expect(text).toContain('# TYPE ikfs_vfs_block_cache_bytes gauge')
    expect(sample(text, 'ikfs_vfs_block_cache_bytes')).toBe(4 * 1024 * 1024)
    expect(sample(text, 'ikfs_vfs_block_cache_hit_rate')).toBe(0.9)
    expect(text).toContain('# TYPE ikfs_vfs_written_cache_bytes gauge')
    expect(sample(text, 'ikfs_vfs_written_cache_files')).toBe(12)
    expect(sample(text, 'ikfs_vfs_open_handles')).toBe(2)
  })

  it('sums the upload queue by state instead of one series per file', () => {
    expect(sample(text, 'ikfs_uploads{state="uploading"}')).toBe(1)
    expect(sample(text, 'ikfs_uploads{state="retrying"}')).toBe(1)
    expect(sample(text, 'ikfs_uploads{state="failed"}')).toBe(0)
    expect(sample(text, 'ikfs_upload_sent_bytes{state="uploading"}')).toBe(450)
    expect(sample(text, 'ikfs_upload_bytes{state="waiting"}')).toBe(200)
    expect(sample(text, 'ikfs_upload_attempts')).toBe(4)
    expect(text).not.toContain('big.jpg')
  })

  it('labels FUSE op counters by op', () => {
    expect(sample(text, 'ikfs_fuse_calls_total{op="getattr"}')).toBe(100)
    expect(sample(text, 'ikfs_fuse_errors_total{op="getattr"}')).toBe(4)
    expect(sample(text, 'ikfs_fuse_timeouts_total{op="read"}')).toBe(1)
    expect(sample(text, 'ikfs_fuse_in_flight{op="read"}')).toBe(2)
  })

  it('reports up only while mounted', () => {
    expect(sample(text, 'ikfs_up')).toBe(1)
    expect(sample(renderMetrics(snapshotFixture({ state: 'stopping' })), 'ikfs_up')).toBe(0)
    expect(sample(text, 'ikfs_start_time_seconds')).toBe(1_700_000_000)
  })

  it('escapes label values', () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd')
    const odd = renderMetrics(snapshotFixture({ mountpoint: '/mnt/"x"' }))
    expect(odd).toContain('mountpoint="/mnt/\\"x\\""')
  })

  it('snake-cases camelCase names', () => {
    expect(snakeCase('bytesReadFromNetwork')).toBe('bytes_read_from_network')
    expect(snakeCase('peakBufferedBytes')).toBe('peak_buffered_bytes')
    expect(snakeCase('HTTPRetries')).toBe('http_retries')
  })
})
