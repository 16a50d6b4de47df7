/**
 * What a running mount says about itself: one JSON document served at /status and rendered as
 * Prometheus text at /metrics. Built from the Vfs (`status()` when it has one, else `stats()`) and the
 * FUSE adapter's per-op counters, at the moment it is asked for; nothing is sampled in the background.
 */
import type { UploadStatus, Vfs, VfsStatus } from '../vfs/types.js'

export type MountState = 'starting' | 'mounted' | 'stopping'

export interface OpCounterSnapshot {
  calls: number
  errors: number
  timeouts: number
  late: number
  inFlight: number
}

export interface StatusSnapshot {
  version: string
  pid: number
  mountpoint: string
  endpoint: string
  state: MountState
  startedAtMs: number
  nowMs: number
  /** Numeric VFS counters and gauges (cache sizes, hits, misses, hit rates, open files ...). */
  vfs: Record<string, number>
  uploads: UploadStatus[]
  /** Per FUSE op: calls, errors, timeouts, late answers, in flight. */
  ops: Record<string, OpCounterSnapshot>
}

/** The Vfs as the status board sees it: either of the two reporting methods may be missing. */
export type ReportingVfs = Vfs & {
  status?: () => VfsStatus
  stats?: () => object
}

export interface OpCountersSource {
  snapshot(): Record<string, OpCounterSnapshot>
}

export interface StatusIdentity {
  version: string
  pid: number
  mountpoint: string
  endpoint: string
}

/**
 * Holds what the snapshot is built from. Created before mounting (so the control socket can answer
 * "starting"), attached to the Vfs once it exists, marked stopping on the way out.
 */
export class StatusBoard {
  readonly #identity: StatusIdentity
  readonly #now: () => number
  readonly #startedAtMs: number
  #state: MountState = 'starting'
  #vfs: ReportingVfs | undefined
  #ops: OpCountersSource | undefined
  #refresh: ((localPath?: string) => Promise<void>) | undefined

  constructor(identity: StatusIdentity, now: () => number) {
    this.#identity = identity
    this.#now = now
    this.#startedAtMs = now()
  }

  get state(): MountState {
    return this.#state
  }

  /** `refresh`: what `forget` does (default: drop the Vfs's cached listings). */
  attach(vfs: ReportingVfs, ops?: OpCountersSource, refresh?: (localPath?: string) => Promise<void>): void {
    this.#vfs = vfs
    this.#ops = ops
    this.#refresh = refresh
  }

  mounted(): void {
    this.#state = 'mounted'
  }

  stopping(): void {
    this.#state = 'stopping'
  }

  /** Drops cached listings (all, or under `localPath`); false when no Vfs is attached yet. */
  async forget(localPath?: string): Promise<boolean> {
    if (!this.#vfs) return false
    if (this.#refresh) await this.#refresh(localPath)
    else this.#vfs.forget(localPath)
    return true
  }

  snapshot(): StatusSnapshot {
    const { counters, uploads } = vfsReport(this.#vfs)
    return {
      ...this.#identity,
      state: this.#state,
      startedAtMs: this.#startedAtMs,
      nowMs: this.#now(),
      vfs: counters,
      uploads,
      ops: this.#ops?.snapshot() ?? {},
    }
  }
}

function vfsReport(vfs: ReportingVfs | undefined): VfsStatus {
  if (!vfs) return { counters: {}, uploads: [] }
  if (typeof vfs.status === 'function') {
    const status = vfs.status()
    return { counters: numericFields(status.counters), uploads: status.uploads.map((u) => ({ ...u })) }
  }
  if (typeof vfs.stats === 'function') return { counters: numericFields(vfs.stats()), uploads: [] }
  return { counters: {}, uploads: [] }
}

function numericFields(source: object): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'number' && Number.isFinite(value)) out[key] = value
  }
  return out
}
