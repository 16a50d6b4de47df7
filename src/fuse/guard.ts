/**
 * Wraps every FUSE op once, so that nothing escapes to fuse-native:
 * - sync throws and rejections are caught (a throw in a handler kills the daemon and leaves a dead mount);
 * - VfsError.code becomes an errno via errno.ts (EIO where the op's syscalls do not document the code) and
 *   is logged at the error's own level (at least warn when answered EIO instead); anything else is a bug: EIO, logged at error with its stack;
 * - each op has our own deadline (fuse-native's hidden 15 s timeout is off): on expiry the kernel gets EIO
 *   once (no filesystem syscall has ETIMEDOUT) and the late result is dropped; `cb` is never called twice;
 * - per-op counters for `ikfs status`.
 * The reply is encoded synchronously right before `cb`, so a late result never touches a buffer that
 * fuse-native has already handed back to libfuse; work that writes into such a buffer itself (readInto) gets
 * a flag that is set before the deadline's answer.
 */
import type { FuseReply } from '../../native/binding-types.js'
import type { Logger } from '../log.js'
import { isVfsError } from '../vfs/errors.js'
import type { ReadCancel } from '../vfs/types.js'
import { FUSE_ERRNO, answeredCode, type FuseOp } from './errno.js'

/** A listing or ranged read that takes longer than this is hung, not slow. */
export const DEFAULT_DEADLINE_MS = 120_000
/**
 * Ops that wait for a whole transfer (the upload of a closed file, the download that fills a file opened
 * for appending, a rename that re-uploads or waits for a bulk job) get no deadline of ours: a 5 GiB upload
 * over a slow link legitimately takes longer than any fixed limit, and answering ETIMEDOUT while it goes
 * on would report a failure for a write that then succeeds. The transfers themselves are bounded by the
 * client's per-request idle timeouts and retry budgets.
 */
export const SLOW_OP_DEADLINE_MS = 0
const SLOW_OPS: ReadonlySet<string> = new Set(['release', 'flush', 'fsync', 'open', 'create', 'truncate', 'ftruncate', 'rename'])

export type { FuseReply }

export interface OpCounter {
  calls: number
  errors: number
  timeouts: number
  /** Results that arrived after the deadline had answered. */
  late: number
  inFlight: number
}

/** Per-op counters; one object per mount, read by the status server. */
export class OpCounters {
  #byOp = new Map<string, OpCounter>()

  get(op: string): OpCounter {
    let counter = this.#byOp.get(op)
    if (!counter) {
      counter = { calls: 0, errors: 0, timeouts: 0, late: 0, inFlight: 0 }
      this.#byOp.set(op, counter)
    }
    return counter
  }

  snapshot(): Record<string, OpCounter> {
    return Object.fromEntries([...this.#byOp].map(([op, c]) => [op, { ...c }]))
  }
}

export interface DeadlineTimers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

const realTimers: DeadlineTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

export interface OpGuardOptions {
  /** Per-op deadline overrides in ms (0 or Infinity: none). */
  deadlinesMs?: Partial<Record<string, number>>
  defaultDeadlineMs?: number
  slowOpDeadlineMs?: number
  timers?: DeadlineTimers
  counters?: OpCounters
}

export class OpGuard {
  readonly counters: OpCounters
  #log: Logger
  #options: OpGuardOptions
  #timers: DeadlineTimers

  constructor(logger: Logger, options: OpGuardOptions = {}) {
    this.#log = logger
    this.#options = options
    this.#timers = options.timers ?? realTimers
    this.counters = options.counters ?? new OpCounters()
  }

  deadlineMs(op: string): number {
    const override = this.#options.deadlinesMs?.[op]
    if (override !== undefined) return override
    return SLOW_OPS.has(op)
      ? (this.#options.slowOpDeadlineMs ?? SLOW_OP_DEADLINE_MS)
      : (this.#options.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS)
  }

  /**
   * Runs `work` and answers `cb` exactly once: with `encode(result)` (the full argument list for cb),
   * or with a negative errno.
   */
  run<T>(op: FuseOp, localPath: string, cb: FuseReply, work: () => Promise<T>, encode: (result: T) => unknown[]): void {
    this.#run(op, localPath, cb, undefined, work, encode)
  }

  /**
   * run() for work that writes into the kernel's buffer itself: `signal.aborted` is set before a deadline
   * answers, so that it stops first. A plain flag, not an AbortSignal: making an AbortController cost 5–15 µs
   * (measured in a loop), against about 35 µs of daemon CPU for a whole small read request.
   */
  runAbortable<T>(
    op: FuseOp,
    localPath: string,
    cb: FuseReply,
    work: (signal: ReadCancel) => Promise<T>,
    encode: (result: T) => unknown[],
  ): void {
    const signal = { aborted: false }
    this.#run(op, localPath, cb, () => (signal.aborted = true), () => work(signal), encode)
  }

  #run<T>(
    op: FuseOp,
    localPath: string,
    cb: FuseReply,
    abort: (() => void) | undefined,
    work: () => Promise<T>,
    encode: (result: T) => unknown[],
  ): void {
    const counter = this.counters.get(op)
    counter.calls++
    counter.inFlight++
    let answered = false
    let timer: unknown

    const answer = (args: unknown[]): void => {
      answered = true
      if (timer !== undefined) this.#timers.clear(timer)
      try {
        cb(...(args as [number, ...unknown[]]))
      } catch (e) {
        this.#log.error({ op, path: localPath, err: e }, `${op}: fuse-native callback threw`)
      }
    }
    const fail = (err: unknown): void => {
      counter.errors++
      answer([this.#errnoFor(op, localPath, err)])
    }

    const deadline = this.deadlineMs(op)
    if (deadline > 0 && Number.isFinite(deadline)) {
      timer = this.#timers.set(() => {
        if (answered) return
        counter.timeouts++
        abort?.()
        // What a request whose retries ran out answers (from-imagekit-error.ts): a failed transfer either way.
        this.#log.warn({ op, path: localPath, deadlineMs: deadline }, `${op} exceeded its deadline; answered EIO`)
        answer([FUSE_ERRNO.EIO])
      }, deadline)
    }

    let pending: Promise<T>
    try {
      pending = Promise.resolve(work())
    } catch (e) {
      pending = Promise.reject(e)
    }
    pending.then(
      (result) => {
        counter.inFlight--
        if (answered) return this.#late(op, localPath, counter)
        let args: unknown[]
        try {
          args = encode(result)
        } catch (e) {
          return fail(e)
        }
        answer(args)
      },
      (err: unknown) => {
        counter.inFlight--
        if (answered) return this.#late(op, localPath, counter, err)
        fail(err)
      },
    )
  }

  #errnoFor(op: FuseOp, localPath: string, err: unknown): number {
    if (isVfsError(err)) {
      // A refusal the VFS decided (a name it cannot store, a folder not empty) is told by its reason; the stack
      // and the cause chain are kept for failures underneath (API, disk) and for errors.
      const detail = err.cause === undefined && err.level !== 'error' ? { reason: err.message } : { err }
      const answered = answeredCode(op, err.code)
      const msg = answered === err.code ? `${op} failed: ${err.code}` : `${op} failed: ${err.code} (answered ${answered})`
      // A code the op's syscalls do not document reaches the program as EIO, which says nothing of the cause:
      // at least a warning names it, also when the code alone is routine (a fill of a file another machine
      // deleted after the open is ENOENT, a debug line, but the program's write(2) gets EIO).
      const level = answered !== err.code && err.level !== 'error' ? 'warn' : err.level
      this.#log[level]({ op, path: localPath, code: err.code, ...detail }, msg)
      return FUSE_ERRNO[answered]
    }
    this.#log.error({ op, path: localPath, err }, `${op}: unexpected error (answered EIO)`)
    return FUSE_ERRNO.EIO
  }

  #late(op: string, localPath: string, counter: OpCounter, err?: unknown): void {
    counter.late++
    this.#log.warn({ op, path: localPath, err }, `${op} finished after its deadline; result dropped`)
  }
}
