import { constants as osConstants } from 'node:os'
import { describe, expect, it } from 'vitest'
import { createIkfsFuseClass, fitInto } from '../../../native/ikfs-fuse.js'
import type { FuseBinding, FuseClass } from '../../../native/fuse-native-types.js'

const ERANGE = -osConstants.errno.ERANGE
const ENODATA = -osConstants.errno.ENODATA

// Stands in for fuse-native's Fuse: keeps mnt/ops like the real constructor.
class FakeFuse {
  mnt: string
  ops: Record<string, unknown>
  _thread: Buffer | null = null
  constructor(mnt: string, ops: Record<string, unknown>) {
    this.mnt = mnt
    this.ops = ops
  }
  _fuseOptions(): string {
    return '-obroken'
  }
}

function make(ops: Record<string, unknown>, unmounted: string[] = []) {
  const binding: FuseBinding = { fuse_native_unmount: (mnt) => void unmounted.push(mnt) }
  const Cls = createIkfsFuseClass(FakeFuse as unknown as FuseClass, binding, '-osubtype=ikfs')
  return new Cls('/mnt/x', ops, { timeout: false, force: false, mkdir: false }) as unknown as FakeFuse & {
    _op_getxattr: (...a: unknown[]) => void
    _op_listxattr: (...a: unknown[]) => void
    releaseNative(): void
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

  it('fitInto copies nothing on ERANGE', () => {
    const target = Buffer.alloc(2)
    expect(fitInto(target, Buffer.from('abc'))).toBe(ERANGE)
    expect([...target]).toEqual([0, 0])
  })
})
