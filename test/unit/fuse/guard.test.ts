import { describe, expect, it } from 'vitest'
import { FUSE_ERRNO } from '../../../src/fuse/errno.js'
import { DEFAULT_DEADLINE_MS, OpGuard, SLOW_OP_DEADLINE_MS, type DeadlineTimers } from '../../../src/fuse/guard.js'
import { VfsError } from '../../../src/vfs/errors.js'
import type { ReadCancel } from '../../../src/vfs/types.js'
import { captureLogger } from './log-capture.js'

/** Timers that fire only when told to. */
function manualTimers() {
  const pending = new Map<number, { fn: () => void; ms: number }>()
  let next = 1
  const timers: DeadlineTimers = {
    set: (fn, ms) => {
      pending.set(next, { fn, ms })
      return next++
    },
    clear: (h) => void pending.delete(h as number),
  }
  const fireAll = () => {
    for (const [h, t] of [...pending]) {
      pending.delete(h)
      t.fn()
    }
  }
  return { timers, pending, fireAll }
}

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject }
}

const flush = () => new Promise((r) => setImmediate(r))

describe('OpGuard', () => {
  it('answers with the encoded result once and counts the call', async () => {
    const { logger } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    const replies: unknown[][] = []
    guard.run('getattr', '/a', (...a) => void replies.push(a), async () => 41, (n) => [0, n + 1])
    await flush()
    expect(replies).toEqual([[0, 42]])
    expect(guard.counters.snapshot().getattr).toEqual({ calls: 1, errors: 0, timeouts: 0, late: 0, inFlight: 0 })
  })

  it('maps VfsError codes and logs them at the error’s level with op and path', async () => {
    const { logger, records } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    const replies: unknown[][] = []
    guard.run('rmdir', '/x', (...a) => void replies.push(a), () => Promise.reject(new VfsError('ENOTEMPTY', 'busy')), () => [0])
    guard.run('getattr', '/probe', (...a) => void replies.push(a), () => Promise.reject(new VfsError('ENOENT', 'none')), () => [0])
    await flush()
    expect(replies).toEqual([[FUSE_ERRNO.ENOTEMPTY], [FUSE_ERRNO.ENOENT]])
    expect(records.map((r) => [r.level, r.op, r.path, r.code])).toEqual([
      [40, 'rmdir', '/x', 'ENOTEMPTY'],
      [20, 'getattr', '/probe', 'ENOENT'],
    ])
    expect(guard.counters.get('rmdir').errors).toBe(1)
  })

  it('logs a refusal the VFS decided with its reason, and the error with its stack only when it has a cause or is an error', async () => {
    const { logger, records } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    const cb = () => undefined
    guard.run('create', '/tab\tx', cb, () => Promise.reject(new VfsError('EINVAL', 'the name would be listed as another')), () => [0])
    guard.run('read', '/a', cb, () => Promise.reject(new VfsError('EIO', 'read /a: server said no', { cause: new Error('503 from the CDN') })), () => [0])
    guard.run('write', '/b', cb, () => Promise.reject(new VfsError('EFBIG', 'too large', { level: 'error' })), () => [0])
    await flush()
    expect(records.map((r) => [r.op, r.reason, r.err?.message, r.err?.cause?.message])).toEqual([
      ['create', 'the name would be listed as another', undefined, undefined],
      ['read', undefined, 'read /a: server said no', '503 from the CDN'],
      ['write', undefined, 'too large', undefined],
    ])
    expect(records[1]?.err?.stack).toContain('server said no')
  })

  it('turns sync throws, plain rejections and encode bugs into EIO logged at error with a stack', async () => {
    const { logger, records } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    const replies: unknown[][] = []
    const cb = (...a: unknown[]) => void replies.push(a)
    guard.run('read', '/a', cb, () => { throw new Error('sync bug') }, () => [0])
    guard.run('read', '/b', cb, () => Promise.reject(new TypeError('async bug')), () => [0])
    guard.run('read', '/c', cb, async () => 1, () => { throw new Error('encode bug') })
    await flush()
    expect(replies).toEqual([[FUSE_ERRNO.EIO], [FUSE_ERRNO.EIO], [FUSE_ERRNO.EIO]])
    expect(records.filter((r) => r.level === 50).map((r) => r.err?.message)).toEqual(['sync bug', 'async bug', 'encode bug'])
    expect(records[0]?.err?.stack).toContain('sync bug')
  })

  it('makes no AbortController for any request, reads into the kernel\'s buffer included: each cost 5–15 µs', async () => {
    const { logger } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    const real = globalThis.AbortController
    let made = 0
    globalThis.AbortController = class extends real {
      constructor() {
        super()
        made++
      }
    }
    try {
      const replies: unknown[][] = []
      for (const op of ['getattr', 'open', 'flush', 'release'] as const) guard.run(op, '/a', (...a) => void replies.push(a), async () => 0, () => [0])
      let signal: ReadCancel | undefined
      guard.runAbortable('read', '/a', (...a) => void replies.push(a), async (s) => ((signal = s), 3), (n) => [n])
      await flush()
      expect(replies).toEqual([[0], [0], [0], [0], [3]])
      expect(made).toBe(0)
      expect(signal?.aborted).toBe(false)
    } finally {
      globalThis.AbortController = real
    }
  })

  it('R6: answers a read EIO (read(2) has no ETIMEDOUT) once at the deadline and drops the late result', async () => {
    const { logger, records } = captureLogger()
    const t = manualTimers()
    const guard = new OpGuard(logger, { timers: t.timers })
    const replies: unknown[][] = []
    const work = deferred<number>()
    let encoded = 0
    let signal: ReadCancel | undefined
    let abortedBeforeAnswer: boolean | undefined
    const cb = (...a: unknown[]) => {
      abortedBeforeAnswer = signal?.aborted
      replies.push(a)
    }
    guard.runAbortable('read', '/slow', cb, (s) => ((signal = s), work.promise), (n) => [++encoded, n])
    expect(signal?.aborted).toBe(false)
    expect([...t.pending.values()].map((p) => p.ms)).toEqual([DEFAULT_DEADLINE_MS])
    t.fireAll()
    expect(replies).toEqual([[FUSE_ERRNO.EIO]])
    expect(abortedBeforeAnswer).toBe(true) // work writing into the kernel's buffer was stopped first
    expect(guard.counters.get('read').inFlight).toBe(1)
    work.resolve(5)
    await flush()
    expect(replies).toHaveLength(1)
    expect(encoded).toBe(0) // never touched the (detached) buffer
    expect(guard.counters.snapshot().read).toMatchObject({ timeouts: 1, late: 1, inFlight: 0 })
    expect(records.map((r) => r.msg)).toEqual([
      'read exceeded its deadline; answered EIO',
      'read finished after its deadline; result dropped',
    ])
  })

  it('R13: answers every other op EIO at the deadline too (no filesystem syscall has ETIMEDOUT)', () => {
    const { logger, records } = captureLogger()
    const t = manualTimers()
    const guard = new OpGuard(logger, { timers: t.timers })
    const replies: unknown[][] = []
    const ops = ['getattr', 'readdir', 'mkdir', 'unlink', 'statfs'] as const
    for (const op of ops) guard.run(op, '/slow', (...a) => void replies.push(a), () => deferred<number>().promise, (n) => [0, n])
    t.fireAll()
    expect(replies).toEqual(ops.map(() => [FUSE_ERRNO.EIO]))
    expect(records.map((r) => r.msg)).toContain('readdir exceeded its deadline; answered EIO')
  })

  it('answers a code the op’s syscalls do not document as EIO, and logs both', async () => {
    const { logger, records } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    const replies: unknown[][] = []
    const reply = (...a: unknown[]) => void replies.push(a)
    const fail = (code: ConstructorParameters<typeof VfsError>[0]) => () => Promise.reject(new VfsError(code, 'refused'))
    guard.run('read', '/big', reply, fail('EFBIG'), () => [0]) // read(2) has no EFBIG
    guard.run('write', '/big', reply, fail('EFBIG'), () => [0]) // write(2) has
    guard.run('readdir', '/d', reply, fail('ENAMETOOLONG'), () => [0]) // getdents(2) has not
    guard.run('getattr', '/d/f', reply, fail('EACCES'), () => [0]) // stat(2) has
    guard.run('mkdir', '/d/f', reply, fail('EXDEV'), () => [0]) // mkdir(2) has not
    guard.run('create', '/d/f', reply, fail('EROFS'), () => [0])
    await flush()
    expect(replies).toEqual([[FUSE_ERRNO.EIO], [FUSE_ERRNO.EFBIG], [FUSE_ERRNO.EIO], [FUSE_ERRNO.EACCES], [FUSE_ERRNO.EIO], [FUSE_ERRNO.EROFS]])
    expect(records.map((r) => [r.code, r.msg])).toContainEqual(['EFBIG', 'read failed: EFBIG (answered EIO)'])
  })

  it('logs a code answered as EIO at least as a warning: the program sees an I/O error, which a debug line would leave unexplained', async () => {
    const { logger, records } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    // A write whose fill found the file deleted by another machine since the open (ENOENT, a debug-level code).
    guard.run('write', '/t/g1', () => undefined, () => Promise.reject(new VfsError('ENOENT', 'open for writing /t/g1: IK_NOT_FOUND')), () => [0])
    guard.run('getattr', '/t/g2', () => undefined, () => Promise.reject(new VfsError('ENOENT', 'no such entry')), () => [0]) // answered as it is
    guard.run('read', '/t/g3', () => undefined, () => Promise.reject(new VfsError('EFBIG', 'refused', { level: 'error' })), () => [0])
    await flush()
    expect(records.map((r) => [r.level, r.path, r.code, r.msg])).toEqual([
      [40, '/t/g1', 'ENOENT', 'write failed: ENOENT (answered EIO)'],
      [20, '/t/g2', 'ENOENT', 'getattr failed: ENOENT'],
      [50, '/t/g3', 'EFBIG', 'read failed: EFBIG (answered EIO)'],
    ])
  })

  it('keeps the few codes beyond man 2 that name the cause: a read of a file gone or refused, a refused listing, a close over the upload limit', async () => {
    const { logger } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    const replies: unknown[][] = []
    const reply = (...a: unknown[]) => void replies.push(a)
    const fail = (code: ConstructorParameters<typeof VfsError>[0]) => () => Promise.reject(new VfsError(code, 'refused'))
    guard.run('read', '/gone', reply, fail('ENOENT'), () => [0])
    guard.run('read', '/draft', reply, fail('EACCES'), () => [0])
    guard.run('readdir', '/d', reply, fail('EACCES'), () => [0])
    guard.run('flush', '/big', reply, fail('EFBIG'), () => [0])
    guard.run('fsync', '/big', reply, fail('EFBIG'), () => [0])
    guard.run('flush', '/big', reply, fail('EACCES'), () => [0]) // not kept: close(2) has no EACCES
    await flush()
    expect(replies).toEqual([[FUSE_ERRNO.ENOENT], [FUSE_ERRNO.EACCES], [FUSE_ERRNO.EACCES], [FUSE_ERRNO.EFBIG], [FUSE_ERRNO.EFBIG], [FUSE_ERRNO.EIO]])
  })

  it('clears the deadline when the op answers in time, and never calls cb twice', async () => {
    const { logger } = captureLogger()
    const t = manualTimers()
    const guard = new OpGuard(logger, { timers: t.timers })
    const replies: unknown[][] = []
    guard.run('open', '/a', (...a) => void replies.push(a), async () => 3, (fh) => [0, fh])
    await flush()
    expect(t.pending.size).toBe(0)
    t.fireAll()
    expect(replies).toEqual([[0, 3]])
  })

  it('gives release/flush/fsync the long deadline and honours overrides', () => {
    const { logger } = captureLogger()
    const guard = new OpGuard(logger, { deadlinesMs: { read: 1500 } })
    expect(guard.deadlineMs('flush')).toBe(SLOW_OP_DEADLINE_MS)
    expect(guard.deadlineMs('release')).toBe(SLOW_OP_DEADLINE_MS)
    expect(guard.deadlineMs('getattr')).toBe(DEFAULT_DEADLINE_MS)
    expect(guard.deadlineMs('read')).toBe(1500)
  })

  it('R13: an op that waits on ImageKit (lookup, getattr, readdir, read) fails (EIO) after the 2 minutes the README promises', () => {
    const { logger } = captureLogger()
    const guard = new OpGuard(logger)
    for (const op of ['lookup', 'getattr', 'readdir', 'read']) expect(guard.deadlineMs(op), op).toBe(2 * 60_000)
  })

  it('survives a callback that throws', async () => {
    const { logger, records } = captureLogger()
    const guard = new OpGuard(logger, { timers: manualTimers().timers })
    guard.run('getattr', '/a', () => { throw new Error('cb blew up') }, async () => 1, () => [0])
    await flush()
    expect(records.map((r) => r.msg)).toEqual(['getattr: fuse-native callback threw'])
  })
})
