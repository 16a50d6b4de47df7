import { constants as osConstants } from 'node:os'
import { describe, expect, it } from 'vitest'
import { createIkfsFuseClass, fitInto } from '../../../native/ikfs-fuse.js'
import type { FuseBinding, FuseClass, FuseHandler } from '../../../native/fuse-native-types.js'

const ERANGE = -osConstants.errno.ERANGE
const ENODATA = -osConstants.errno.ENODATA

/** fuse-native 2.2.6's op numbers of the ops that get their caller. */
const OP_NUMBERS = { flush: 6, open: 21, create: 27 }

// Stands in for fuse-native's Fuse: keeps mnt/ops and makes its handlers like the real constructor; each
// handler calls _op_<name>(signal, ...args) with a signal that keeps what the op answered.
class FakeFuse {
  mnt: string
  ops: Record<string, unknown>
  _thread: Buffer | null = null
  _handlers: FuseHandler[]
  answers: unknown[][] = []
  constructor(mnt: string, ops: Record<string, unknown>) {
    this.mnt = mnt
    this.ops = ops
    this._handlers = this._makeHandlerArray()
  }
  _fuseOptions(): string {
    return '-obroken'
  }
  _makeHandlerArray(): FuseHandler[] {
    const handlers: FuseHandler[] = []
    for (const [name, op] of Object.entries(OP_NUMBERS)) {
      handlers[op] = (_locals, _op, ...args) => {
        const opMethod = (this as unknown as Record<string, (...a: unknown[]) => void>)[`_op_${name}`]!
        opMethod.call(this, (...answer: unknown[]) => void this.answers.push(answer), ...args)
      }
    }
    return handlers
  }
}

function make(ops: Record<string, unknown>, unmounted: string[] = [], requestCaller?: (locals: Buffer) => number) {
  const binding: FuseBinding = { fuse_native_unmount: (mnt) => void unmounted.push(mnt), op_flush: 6, op_open: 21, op_create: 27 }
  const Cls = createIkfsFuseClass(FakeFuse as unknown as FuseClass, binding, '-osubtype=ikfs', requestCaller)
  return new Cls('/mnt/x', ops, { timeout: false, force: false, mkdir: false }) as unknown as FakeFuse & {
    _op_getxattr: (...a: unknown[]) => void
    _op_listxattr: (...a: unknown[]) => void
    releaseNative(): void
  }
}

/** Ops open, create and flush that note their path and caller, and answer handle 7. */
function callerOps(seen: unknown[][]) {
  type HandleCb = (code: number, fh?: number) => void
  return {
    open: (path: string, _flags: number, cb: HandleCb, caller?: number) => { seen.push(['open', path, caller]); cb(0, 7) },
    create: (path: string, _mode: number, cb: HandleCb, caller?: number) => { seen.push(['create', path, caller]); cb(0, 7) },
    flush: (path: string, _fh: number, cb: (code: number) => void, caller?: number) => { seen.push(['flush', path, caller]); cb(0) },
  }
}

function signalRecorder() {
  const calls: unknown[][] = []
  return { calls, signal: (...args: unknown[]) => void calls.push(args) }
}

describe('IkfsFuse subclass', () => {
  it('returns our option string instead of fuse-native’s', () => {
    expect(make({})._fuseOptions()).toBe('-osubtype=ikfs')
  })

  it('getxattr: size 0 answers the length, a small buffer ERANGE, a big one the copied value', () => {
    const value = Buffer.from('hello')
    const fuse = make({ getxattr: (_p: string, _n: string, _pos: number, cb: (c: number, v?: Buffer) => void) => cb(0, value) })
    const r = signalRecorder()
    fuse._op_getxattr(r.signal, '/f', 'user.a', Buffer.alloc(0), 0)
    fuse._op_getxattr(r.signal, '/f', 'user.a', Buffer.alloc(3), 0)
    const big = Buffer.alloc(16)
    fuse._op_getxattr(r.signal, '/f', 'user.a', big, 0)
    expect(r.calls.map((c) => c[0])).toEqual([5, ERANGE, 5])
    expect(big.subarray(0, 5).toString()).toBe('hello')
    expect(r.calls.every((c) => c[1] instanceof ArrayBuffer)).toBe(true) // the C side detaches argv[2]
  })

  it('getxattr: passes errors through and treats a missing value as ENODATA', () => {
    const r = signalRecorder()
    make({ getxattr: (_p: string, _n: string, _pos: number, cb: (c: number) => void) => cb(-13) })._op_getxattr(r.signal, '/f', 'x', Buffer.alloc(4), 0)
    make({ getxattr: (_p: string, _n: string, _pos: number, cb: (c: number) => void) => cb(0) })._op_getxattr(r.signal, '/f', 'x', Buffer.alloc(4), 0)
    expect(r.calls.map((c) => c[0])).toEqual([-13, ENODATA])
  })

  it('listxattr: NUL-separated names with exact size, ERANGE when they do not fit', () => {
    const fuse = make({ listxattr: (_p: string, cb: (c: number, n?: string[]) => void) => cb(0, ['user.a', 'user.bb']) })
    const r = signalRecorder()
    fuse._op_listxattr(r.signal, '/f', Buffer.alloc(0))
    fuse._op_listxattr(r.signal, '/f', Buffer.alloc(5))
    const buf = Buffer.alloc(64)
    fuse._op_listxattr(r.signal, '/f', buf)
    expect(r.calls.map((c) => c[0])).toEqual([15, ERANGE, 15])
    expect(buf.subarray(0, 15).toString()).toBe('user.a\0user.bb\0')
  })

  it('releaseNative calls the binding once, and only after a mount made a thread buffer', () => {
    const unmounted: string[] = []
    const fuse = make({}, unmounted)
    fuse.releaseNative()
    expect(unmounted).toEqual([])
    fuse._thread = Buffer.alloc(8)
    fuse.releaseNative()
    fuse.releaseNative()
    expect(unmounted).toEqual(['/mnt/x'])
  })

  it("open, create and flush tell the ops the process that requestCaller names for the worker's thread locals (W2)", () => {
    const seen: unknown[][] = []
    const shell = Buffer.alloc(64)
    const command = Buffer.alloc(64)
    const fuse = make(callerOps(seen), [], (locals) => (locals === shell ? 100 : locals === command ? 101 : 0))
    fuse._handlers[OP_NUMBERS.create]!(shell, OP_NUMBERS.create, '/out.log', 0o644)
    fuse._handlers[OP_NUMBERS.flush]!(command, OP_NUMBERS.flush, '/out.log', 7)
    fuse._handlers[OP_NUMBERS.open]!(Buffer.alloc(64), OP_NUMBERS.open, '/other.log', 1)
    fuse._handlers[OP_NUMBERS.flush]!(shell, OP_NUMBERS.flush, '/out.log', 7)
    // Was undefined for all: every close counted as the opener's, and each command's exit uploaded the file.
    expect(seen).toEqual([['create', '/out.log', 100], ['flush', '/out.log', 101], ['open', '/other.log', 0], ['flush', '/out.log', 100]])
    expect(fuse.answers).toEqual([[0, 7], [0], [0, 7], [0]])
  })

  it('without the helper addon the ops are told no caller', () => {
    const seen: unknown[][] = []
    const fuse = make(callerOps(seen))
    fuse._handlers[OP_NUMBERS.create]!(Buffer.alloc(64), OP_NUMBERS.create, '/out.log', 0o644)
    fuse._handlers[OP_NUMBERS.flush]!(Buffer.alloc(64), OP_NUMBERS.flush, '/out.log', 7)
    expect(seen).toEqual([['create', '/out.log', undefined], ['flush', '/out.log', undefined]])
    expect(fuse.answers).toEqual([[0, 7], [0]])
  })

  it('fitInto copies nothing on ERANGE', () => {
    const target = Buffer.alloc(2)
    expect(fitInto(target, Buffer.from('abc'))).toBe(ERANGE)
    expect([...target]).toEqual([0, 0])
  })
})
