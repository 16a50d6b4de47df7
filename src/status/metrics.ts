/**
 * StatusSnapshot → Prometheus text exposition format 0.0.4 (what `--metrics ADDR` serves at /metrics).
 * VFS fields become `ikfs_vfs_<snake_case>`: counters get `_total`, gauges (sizes, open things, rates) not.
 * Uploads are summed by state rather than labelled per file, to keep the series count bounded.
 */
import type { UploadStatus } from '../vfs/types.js'
import type { StatusSnapshot } from './snapshot.js'

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

const UPLOAD_STATES: readonly UploadStatus['state'][] = ['writing', 'waiting', 'uploading', 'retrying', 'failed', 'rejected', 'empty']

/** VFS fields that go up and down (everything else the VFS reports is monotonic). */
const GAUGE_NAME = /(Rate|InFlight|Pending|Queued)$|^(open|cached|known|buffered|peak|queued|pending|spool)|^blockCache(Bytes|Blocks)$|^writtenCache(Bytes|Files)$/

interface Family {
  name: string
  type: 'counter' | 'gauge'
  help: string
  samples: { labels?: Record<string, string>; value: number }[]
}

export function renderMetrics(snapshot: StatusSnapshot): string {
  const families: Family[] = [
    gauge('ikfs_info', 'Constant 1, labelled with the version, mountpoint and endpoint.', [
      { labels: { version: snapshot.version, mountpoint: snapshot.mountpoint, endpoint: snapshot.endpoint }, value: 1 },
    ]),
    gauge('ikfs_up', '1 while the filesystem is mounted, 0 while starting or stopping.', [
      { value: snapshot.state === 'mounted' ? 1 : 0 },
    ]),
    gauge('ikfs_start_time_seconds', 'When the daemon started, seconds since the epoch.', [
      { value: snapshot.startedAtMs / 1000 },
    ]),
  ]
  for (const [key, value] of Object.entries(snapshot.vfs).sort(([a], [b]) => a.localeCompare(b))) {
    const isGauge = GAUGE_NAME.test(key)
    const name = `ikfs_vfs_${snakeCase(key)}${isGauge ? '' : '_total'}`
    families.push({ name, type: isGauge ? 'gauge' : 'counter', help: `VFS ${key}.`, samples: [{ value }] })
  }
  families.push(...uploadFamilies(snapshot.uploads), ...opFamilies(snapshot))
  return families.map(renderFamily).join('')
}

function uploadFamilies(uploads: readonly UploadStatus[]): Family[] {
  const byState = new Map<string, { files: number; bytes: number; sent: number }>()
  for (const state of UPLOAD_STATES) byState.set(state, { files: 0, bytes: 0, sent: 0 })
  for (const upload of uploads) {
    const entry = byState.get(upload.state) ?? { files: 0, bytes: 0, sent: 0 }
    entry.files += 1
    entry.bytes += upload.size
    entry.sent += upload.sentBytes
    byState.set(upload.state, entry)
  }
  const rows = [...byState]
  return [
    gauge('ikfs_uploads', 'Files in the upload queue, by state.', rows.map(([state, e]) => ({ labels: { state }, value: e.files }))),
    gauge('ikfs_upload_bytes', 'Size of the files in the upload queue, by state.', rows.map(([state, e]) => ({ labels: { state }, value: e.bytes }))),
    gauge('ikfs_upload_sent_bytes', 'Bytes of the queued files already sent, by state.', rows.map(([state, e]) => ({ labels: { state }, value: e.sent }))),
    gauge('ikfs_upload_attempts', 'Attempts made so far by the files in the queue.', [
      { value: uploads.reduce((sum, u) => sum + u.attempts, 0) },
    ]),
  ]
}

function opFamilies(snapshot: StatusSnapshot): Family[] {
  const ops = Object.entries(snapshot.ops).sort(([a], [b]) => a.localeCompare(b))
  const column = (field: 'calls' | 'errors' | 'timeouts' | 'late' | 'inFlight') =>
    ops.map(([op, c]) => ({ labels: { op }, value: c[field] }))
  return [
    counter('ikfs_fuse_calls_total', 'FUSE requests answered, by operation.', column('calls')),
    counter('ikfs_fuse_errors_total', 'FUSE requests answered with an error, by operation.', column('errors')),
    counter('ikfs_fuse_timeouts_total', 'FUSE requests answered by the deadline, by operation.', column('timeouts')),
    counter('ikfs_fuse_late_total', 'Results that arrived after the deadline had answered, by operation.', column('late')),
    gauge('ikfs_fuse_in_flight', 'FUSE requests being worked on, by operation.', column('inFlight')),
  ]
}

function gauge(name: string, help: string, samples: Family['samples']): Family {
  return { name, type: 'gauge', help, samples }
}

function counter(name: string, help: string, samples: Family['samples']): Family {
  return { name, type: 'counter', help, samples }
}

function renderFamily(family: Family): string {
  const lines = [`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`]
  for (const sample of family.samples) lines.push(`${family.name}${renderLabels(sample.labels)} ${renderValue(sample.value)}`)
  return lines.join('\n') + '\n'
}

function renderLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return ''
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  return `{${parts.join(',')}}`
}

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .toLowerCase()
}
