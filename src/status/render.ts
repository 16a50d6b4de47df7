/**
 * StatusSnapshot → the text `ikfs status` prints: a summary, cache sizes and hit rates, one progress bar
 * per queued upload, FUSE op counts, then every other counter the VFS reports (so new counters show up
 * without a change here).
 */
import type { UploadStatus } from '../vfs/types.js'
import type { StatusSnapshot } from './snapshot.js'
import { plural } from '../plural.js'

/** Characters in an upload's progress bar: fits an 80-column terminal beside sizes and the path. */
export const PROGRESS_BAR_WIDTH = 20

/** Fields shown in their own sections; the rest goes under "Counters". */
const SHOWN = new Set([
  'openHandles', 'openReaders', 'cachedDirs', 'knownInodes', 'dirCacheHits', 'dirCacheMisses', 'listingsFetched',
  'listingItems', 'blockCacheBytes', 'blockCacheBlocks', 'blockCacheHits', 'blockCacheMisses', 'blockCacheHitRate',
  'writtenCacheBytes', 'writtenCacheFiles', 'bufferedBytes', 'peakBufferedBytes', 'rangeRequests', 'bytesReadFromNetwork', 'staleResponses', 'streamResumes',
])

export function renderStatus(s: StatusSnapshot): string {
  const v = s.vfs
  const lines: string[] = []
  lines.push(`ikfs ${s.version} (pid ${s.pid}): ${s.state} ${s.endpoint} at ${s.mountpoint}, up ${duration(s.nowMs - s.startedAtMs)}`)
  lines.push(`Open files: ${count(v.openHandles, 'handle')}, ${count(v.openReaders, 'reader')}`)
  lines.push('Cache:')
  lines.push(
    `  listings  ${count(v.cachedDirs, 'folder')} (${count(v.knownInodes, 'entry', 'entries')}), hit rate ` +
      `${rate(v.dirCacheHits, v.dirCacheMisses)} (${count(v.dirCacheHits, 'hit')}, ${count(v.dirCacheMisses, 'miss', 'misses')}), ` +
      `${num(v.listingsFetched)} fetched`,
  )
  lines.push(
    `  blocks    ${bytes(v.blockCacheBytes)} in ${count(v.blockCacheBlocks, 'block')}, hit rate ` +
      `${rate(v.blockCacheHits, v.blockCacheMisses)} (${count(v.blockCacheHits, 'hit')}, ${count(v.blockCacheMisses, 'miss', 'misses')})`,
  )
  // Small files just uploaded (--written-cache-size), read back from memory.
  lines.push(`  written   ${bytes(v.writtenCacheBytes)} in ${count(v.writtenCacheFiles, 'file')}`)
  lines.push(`  buffered  ${bytes(v.bufferedBytes)} (peak ${bytes(v.peakBufferedBytes)})`)
  lines.push(
    `Network: ${count(v.rangeRequests, 'range request')}, ${bytes(v.bytesReadFromNetwork)} read, ` +
      `${count(v.staleResponses, 'stale response')}, ${count(v.streamResumes, 'resumed stream')}`,
  )
  lines.push(...uploadLines(s.uploads, s.nowMs))
  lines.push(...opLines(s))
  const rest = Object.entries(v).filter(([k]) => !SHOWN.has(k)).sort(([a], [b]) => a.localeCompare(b))
  if (rest.length > 0) {
    lines.push('Counters:')
    for (const [k, value] of rest) lines.push(`  ${k} ${num(value)}`)
  }
  return lines.join('\n') + '\n'
}

function uploadLines(uploads: readonly UploadStatus[], nowMs: number): string[] {
  if (uploads.length === 0) return ['Uploads: none queued']
  const byState = new Map<string, number>()
  for (const u of uploads) byState.set(u.state, (byState.get(u.state) ?? 0) + 1)
  const lines = [`Uploads: ${[...byState].map(([state, n]) => `${n} ${state}`).join(', ')}`]
  for (const u of uploads) {
    const fraction = u.size > 0 ? Math.min(1, u.sentBytes / u.size) : u.state === 'empty' ? 1 : 0
    let line = `  ${progressBar(fraction)} ${`${Math.floor(fraction * 100)}%`.padStart(4)}  ` +
      `${bytes(u.sentBytes)} / ${bytes(u.size)}  ${u.state}`
    if (u.attempts > 1) line += ` (attempt ${u.attempts})`
    line += `  ${u.localPath}`
    lines.push(line)
    // Before any attempt, the time is --write-back's delay: "next attempt" read as if one had failed.
    const when = u.attempts === 0 ? 'uploads in' : 'next attempt in'
    const next = u.nextAttemptAtMs !== undefined ? `${when} ${duration(Math.max(0, u.nextAttemptAtMs - nowMs))}` : ''
    if (u.lastError || next) lines.push(`      ${[u.lastError ? `last error: ${u.lastError}` : '', next].filter(Boolean).join('; ')}`)
    if (u.waitsFor === 'delete') lines.push('      uploads once the file unlinked at this name (open for reading then) is deleted from the library')
    // Not retried until written again, renamed, or the next mount (over the size limit, not that: W6): the library's own words say what to change.
    if (u.state === 'rejected' && u.refusal) lines.push(`      refused by the library: ${u.refusal}`)
  }
  return lines
}

function opLines(s: StatusSnapshot): string[] {
  const ops = Object.entries(s.ops).filter(([, c]) => c.calls > 0 || c.inFlight > 0).sort(([, a], [, b]) => b.calls - a.calls)
  if (ops.length === 0) return ['FUSE ops: none yet']
  const total = (f: 'calls' | 'errors' | 'timeouts' | 'inFlight') => ops.reduce((sum, [, c]) => sum + c[f], 0)
  const lines = [
    `FUSE ops: ${count(total('calls'), 'call')}, ${count(total('errors'), 'error')}, ${count(total('timeouts'), 'timeout')}, ` +
      `${num(total('inFlight'))} in flight`,
  ]
  const parts = ops.map(([op, c]) => `${op} ${num(c.calls)}${c.errors > 0 ? ` (${num(c.errors)} err)` : ''}`)
  for (let i = 0; i < parts.length; i += 6) lines.push(`  ${parts.slice(i, i + 6).join(', ')}`)
  return lines
}

export function progressBar(fraction: number, width = PROGRESS_BAR_WIDTH): string {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0))
  const filled = Math.round(clamped * width)
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`
}

function rate(hits = 0, misses = 0): string {
  const total = hits + misses
  return total === 0 ? 'n/a' : `${((hits / total) * 100).toFixed(1)}%`
}

function num(value: number | undefined): string {
  return (value ?? 0).toLocaleString('en-US', { maximumFractionDigits: 3 })
}

function count(value: number | undefined, one: string, many?: string): string {
  return plural(value ?? 0, one, many, num)
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function bytes(value: number | undefined): string {
  let n = value ?? 0
  let unit = 0
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024
    unit += 1
  }
  return unit === 0 ? `${n} B` : `${n.toFixed(1)} ${UNITS[unit]}`
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`
}
