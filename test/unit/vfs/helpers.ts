import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach } from 'vitest'
import { ManualClock } from '../../../src/clock.js'
import type { Logger } from '../../../src/log.js'
import type { VfsOptions } from '../../../src/vfs/types.js'
import { createVfs, type IkVfs, type VfsDeps } from '../../../src/vfs/vfs.js'
import type { FakeImageKit } from './fake-api.js'

export const MiB = 1024 * 1024

export const baseOptions: VfsOptions = {
  readOnly: true,
  dirCacheTimeMs: 60_000,
  filePerm: 0o644,
  dirPerm: 0o755,
  uid: 1000,
  gid: 1000,
  umask: 0o022,
  versions: false,
  encoding: 'Slash,LtGt,DoubleQuote,Dollar,Question,Hash,Percent,BackSlash,Del,Ctl,InvalidUtf8,Dot,SquareBracket',
  blockCacheBytes: 64 * MiB,
  maxBufferedBytes: 32 * MiB,
  maxCachedDirs: 100,
  statfsTotalBytes: 0,
  statfsCacheTimeMs: 60_000,
  cacheDir: '/nonexistent/ikfs-unit-read-only',
  writeBackDelayMs: 0,
  uploadTags: [],
  maxParallelUploads: 4,
}

/** A logger that keeps records in memory, parsed and as the JSON lines pino wrote. */
export function memoryLogger(): { logger: Logger; records: Record<string, unknown>[]; lines: string[] } {
  const records: Record<string, unknown>[] = []
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        lines.push(line)
        records.push(JSON.parse(line) as Record<string, unknown>)
      }
      cb()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), records, lines }
}

export interface Harness {
  vfs: IkVfs
  clock: ManualClock
  records: Record<string, unknown>[]
  lines: string[]
}

export function makeVfs(api: FakeImageKit, overrides: Partial<VfsOptions> = {}, deps: Pick<VfsDeps, 'dropCachedPages'> = {}): Harness {
  const clock = new ManualClock()
  const { logger, records, lines } = memoryLogger()
  const vfs = createVfs(api, { ...baseOptions, ...overrides }, { logger, clock, ...deps })
  testVfses.push(vfs)
  return { vfs, clock, records, lines }
}

/**
 * What the running test made, undone after it: every Vfs is closed (newest first: one a test left open to
 * play a kill -9 is closed after the one that took its spool over), no descriptor may stay open into a
 * scratch dir (a Vfs that leaks one fails the test), then the scratch dirs go.
 */
const testVfses: IkVfs[] = []
const scratchDirs: string[] = []

/** A fresh temp dir (`ikfs-<what>-XXXXXX`), removed after the test. */
export function scratchDir(what: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ikfs-${what}-`))
  scratchDirs.push(dir)
  return dir
}

/** This process's descriptors open on files under `dir` (deleted ones too). */
export function descriptorsInto(dir: string): string[] {
  const open: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith(`${dir}/`)) open.push(`fd ${fd}: ${target}`)
    } catch {
      // closed meanwhile (the listing's own descriptor)
    }
  }
  return open
}

afterEach(async () => {
  const dirs = scratchDirs.splice(0)
  try {
    for (const vfs of testVfses.splice(0).reverse()) await vfs.close()
    const leaked = dirs.flatMap(descriptorsInto)
    if (leaked.length > 0) throw new Error(`descriptors left open after every Vfs closed:\n  ${leaked.join('\n  ')}`)
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
})

/** Polls `condition` until true or the deadline; no fixed sleeps. */
export async function waitFor(condition: () => boolean, deadlineMs = 5000): Promise<void> {
  const start = performance.now()
  while (!condition()) {
    if (performance.now() - start > deadlineMs) throw new Error('condition not met before the deadline')
    await new Promise((r) => setImmediate(r))
  }
}

export async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown
  try {
    await p
  } catch (e) {
    caught = e
  }
  if (!caught) throw new Error(`expected ${code}, but it resolved`)
  const got = (caught as { code?: unknown }).code
  if (got !== code) throw new Error(`expected ${code}, got ${String(got)}: ${(caught as Error).message}`)
}
