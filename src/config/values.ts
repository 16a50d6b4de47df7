/**
 * Parsers for option values as rclone writes them. Each returns the value or throws ValueProblem, a short
 * reason without the offending text; load.ts adds the option, the source and (unless secret) the value.
 */

export class ValueProblem extends Error {
  override name = 'ValueProblem'
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  M: 30 * 86_400_000,
  y: 365 * 86_400_000,
}

const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w|M|y)/y

/** "1h30m", "500ms", "10s", "2d"; a bare number is seconds (rclone). Returns whole milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim()
  if (s === '') throw new ValueProblem('is not a duration (examples: 500ms, 10s, 5m, 1h30m)')
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1_000)
  let total = 0
  DURATION_PART.lastIndex = 0
  let matched = 0
  while (matched < s.length) {
    DURATION_PART.lastIndex = matched
    const m = DURATION_PART.exec(s)
    if (!m || m.index !== matched) {
      throw new ValueProblem('is not a duration (examples: 500ms, 10s, 5m, 1h30m)')
    }
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number)
    matched = DURATION_PART.lastIndex
  }
  if (!Number.isSafeInteger(Math.round(total))) throw new ValueProblem('is too long a duration')
  return Math.round(total)
}

/** Shortest rclone-style spelling of a whole number of milliseconds ("1h30m", "500ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  let rest = ms
  let out = ''
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size)
    if (n > 0) out += `${n}${unit}`
    rest -= n * size
  }
  return out
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
}

/** "64M", "1G", "1.5G", "512KiB", "100B"; base 1024; a bare number is KiB, as in rclone. Returns bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([bBkKmMgGtTpP])(?:i?[bB])?)?$/.exec(text.trim())
  if (!m) throw new ValueProblem('is not a size (examples: 0, 512K, 64M, 1G)')
  const unit = (m[2] ?? 'k').toLowerCase()
  const bytes = Math.round(Number(m[1]) * (SIZE_UNITS[unit] as number))
  if (!Number.isSafeInteger(bytes)) throw new ValueProblem('is too large a size')
  return bytes
}

/** Shortest exact base-1024 spelling ("256M", "1G", "100B"). */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0'
  for (const [unit, size] of [['P', 1024 ** 5], ['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`
  }
  return `${bytes}B`
}

/** Octal permission bits: "0644", "644", "0o644". */
export function parseMode(text: string, max: number): number {
  const m = /^(?:0o|0)?([0-7]{1,4})$/i.exec(text.trim())
  if (!m) throw new ValueProblem('is not an octal mode (examples: 0644, 022)')
  const mode = parseInt(m[1] as string, 8)
  if (mode > max) throw new ValueProblem(`is above the largest allowed mode 0${max.toString(8)}`)
  return mode
}

export function formatMode(mode: number): string {
  return '0' + mode.toString(8).padStart(3, '0')
}

const TRUE_WORDS = new Set(['true', 't', '1', 'yes', 'y', 'on'])
const FALSE_WORDS = new Set(['false', 'f', '0', 'no', 'n', 'off'])

export function parseBool(text: string): boolean {
  const s = text.trim().toLowerCase()
  if (TRUE_WORDS.has(s)) return true
  if (FALSE_WORDS.has(s)) return false
  throw new ValueProblem('is not a boolean (true or false)')
}

export function parseInteger(text: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  const s = text.trim()
  if (!/^-?\d+$/.test(s)) throw new ValueProblem('is not a whole number')
  const n = Number(s)
  if (n < min || n > max) throw new ValueProblem(`is out of range (${min}..${max})`)
  return n
}

/** An absolute http(s) URL without query or fragment, returned without a trailing slash. */
export function parseUrl(text: string): string {
  const s = text.trim()
  let url: URL
  try {
    url = new URL(s)
  } catch {
    throw new ValueProblem('is not a URL (example: https://ik.imagekit.io/your_id)')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ValueProblem('is not an http(s) URL')
  if (url.username || url.password) throw new ValueProblem('must not contain a user name or password')
  if (url.search || url.hash) throw new ValueProblem('must not contain a query or fragment')
  return s.replace(/\/+$/, '')
}

/** Comma-separated rclone encoding names, checked against `known`; returned normalised (no spaces). */
export function parseEncoding(text: string, known: readonly string[]): string {
  const names = text.split(',').map((n) => n.trim()).filter((n) => n !== '')
  if (names.length === 0) throw new ValueProblem('is empty (use "None" for no encoding)')
  for (const n of names) {
    if (!known.includes(n)) throw new ValueProblem(`contains the unknown encoding name "${n}"`)
  }
  return names.join(',')
}
